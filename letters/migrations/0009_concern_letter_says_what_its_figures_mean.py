"""The letter of concern says "all of them were authorised", not "14 ... and 0 were not"; says how little
a pupil in severe absence has been in school ("only 21.0%"), where it said only what falling below 90%
means; and that below 90% a child misses half a day "or more" every week (at 64% it is nearly two).
The first reminder says its figures run from the day a pupil joined, for one who joined during the year.

Each of the shipped lines is replaced wherever a school's template still has it word for word,
with a revision recording the change. As with the greeting (0008), this reaches edited letters
too: only those lines change. A template without them is left as the school wrote it.
"""

from django.db import migrations

#: (the shipped text, what replaces it): fixed here, whatever the shipped defaults say later.
REWORDED = (('- {{ attendance.authorised }} of these sessions {{ attendance.authorised|pluralize:"was,were" }} '
  'authorised (for example illness) and {{ attendance.unauthorised }} {{ '
  'attendance.unauthorised|pluralize:"was,were" }} not\n',
  '{% if not attendance.sessions_missed %}{% elif not attendance.unauthorised %}- {% if '
  'attendance.sessions_missed == 1 %}it was{% else %}all of them were{% endif %} authorised (for example '
  'illness)\n'
  '{% elif not attendance.authorised %}- {% if attendance.sessions_missed == 1 %}it was not{% else %}none of '
  'them were{% endif %} authorised\n'
  '{% else %}- {{ attendance.authorised }} of these sessions {{ attendance.authorised|pluralize:"was,were" '
  '}} authorised (for example illness) and {{ attendance.unauthorised }} {{ '
  'attendance.unauthorised|pluralize:"was,were" }} not authorised\n'
  '{% endif %}'),
 ('When attendance falls below 90%, a child is missing about half a day of school every week, and it becomes '
  'harder to keep up.',
  '{% if attendance.severe %}{{ pupil.forename }} has been in school for only {{ attendance.year_pct }} of '
  'this school year. A child who misses this much school finds it very hard to keep up with learning and '
  'with friends, and we are very worried.{% else %}When attendance falls below 90%, a child misses half a '
  'day of school or more every week, and it becomes harder to keep up.{% endif %}'),
 ('Up to {{ attendance.as_of }}, {{ pupil.forename }} has been in school for',
  'Up to {{ attendance.as_of }}{% if attendance.joined %}, since {{ pupil.forename }} joined us on {{ '
  'attendance.joined }}{% endif %}, {{ pupil.forename }} has been in school for'))


def reword(apps, schema_editor, pairs=REWORDED, forward=True):
    LetterTemplate = apps.get_model("letters", "LetterTemplate")
    LetterTemplateRevision = apps.get_model("letters", "LetterTemplateRevision")
    for template in LetterTemplate.objects.all():
        body = template.body
        for old, new in pairs:
            if not forward or new not in body:  # each new text holds the old one: never reword twice
                body = body.replace(old, new)
        if body == template.body:
            continue
        template.body = body
        template.save(update_fields=["body", "updated_at"])
        LetterTemplateRevision.objects.create(
            template=template, name=template.name, subject=template.subject, body=template.body, layout=template.layout
        )


def reword_back(apps, schema_editor):
    reword(apps, schema_editor, pairs=[(new, old) for old, new in REWORDED], forward=False)


class Migration(migrations.Migration):
    dependencies = [("letters", "0008_letters_greet_by_salutation")]

    operations = [migrations.RunPython(reword, reword_back)]
