"""The other letters with a year's figures say, like the first reminder (0009), that for a pupil who
joined during the year they run from the day the pupil joined: the letter of concern, the formal
warning, the attendance contract and the notice of referral to the local authority. The letter of
concern says a pupil was late "once", not "1 time"; the formal warning and the notice of referral
say "all of them were authorised", not "0 of these sessions were not authorised"; and the termly
report says a pupil "did not miss a single session", not "missed 0 sessions (0 school days...)".

Each shipped line is replaced wherever a school's template still has it word for word, with a
revision recording the change; a template without it is left as the school wrote it.
"""

from django.db import migrations

#: (the shipped text, what replaces it): fixed here, whatever the shipped defaults say later.
REWORDED = (
    (
        "This school year, up to {{ attendance.as_of }}:",
        "This school year, up to {{ attendance.as_of }}{% if attendance.joined %} (since {{ pupil.forename }}"
        " joined us on {{ attendance.joined }}){% endif %}:",
    ),
    (
        "Up to {{ attendance.as_of }}, {{ pupil.forename }}'s attendance this school year is",
        "Up to {{ attendance.as_of }}{% if attendance.joined %}, since {{ pupil.forename }} joined us on"
        " {{ attendance.joined }}{% endif %}, {{ pupil.forename }}'s attendance this school year is",
    ),
    (
        "Attendance this school year is {{ attendance.year_pct }}:",
        "Attendance this school year{% if attendance.joined %}, since {{ pupil.forename }} joined us on"
        " {{ attendance.joined }},{% endif %} is {{ attendance.year_pct }}:",
    ),
    (
        "arrived late {{ attendance.lates }} time{{ attendance.lates|pluralize }}",
        "arrived late {% if attendance.lates == 1 %}once{% else %}{{ attendance.lates }} times{% endif %}",
    ),
    (
        '{{ attendance.unauthorised }} of these sessions {{ attendance.unauthorised|pluralize:"was,were" }} not '
        "authorised.",
        "{% if not attendance.sessions_missed %}{% elif not attendance.unauthorised %}{% if "
        "attendance.sessions_missed == 1 %}It was{% else %}All of them were{% endif %} authorised.{% else %}{{ "
        'attendance.unauthorised }} of these sessions {{ attendance.unauthorised|pluralize:"was,were" }} not '
        "authorised.{% endif %}",
    ),
    (
        "{{ pupil.forename }} missed {{ period.sessions_missed }} session{{ period.sessions_missed|pluralize }} ({{ "
        "period.days_missed }} school day{{ period.days_missed|pluralize }}, or {{ period.hours_lost }} hour{{ "
        "period.hours_lost|pluralize }} of learning).",
        "{% if period.sessions_missed %}{{ pupil.forename }} missed {{ period.sessions_missed }} session{{ "
        "period.sessions_missed|pluralize }} ({{ period.days_missed }} school day{{ period.days_missed|pluralize "
        "}}, or {{ period.hours_lost }} hour{{ period.hours_lost|pluralize }} of learning).{% else %}{{ "
        "pupil.forename }} did not miss a single session.{% endif %}",
    ),
)


def reword(apps, schema_editor, pairs=REWORDED, forward=True):
    LetterTemplate = apps.get_model("letters", "LetterTemplate")
    LetterTemplateRevision = apps.get_model("letters", "LetterTemplateRevision")
    for template in LetterTemplate.objects.all():
        body = template.body
        for old, new in pairs:
            if not forward or new not in body:  # never reword twice (a new text may hold its old one)
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
    dependencies = [("letters", "0009_concern_letter_says_what_its_figures_mean")]

    operations = [migrations.RunPython(reword, reword_back)]
