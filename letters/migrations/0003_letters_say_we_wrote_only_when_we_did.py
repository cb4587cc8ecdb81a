"""The shipped second and formal letters no longer say "we wrote to you before" unless a letter was printed.

They now ask `earlier.count` (letters printed for the pupil earlier this
school year). A school's copy that is still word for word the old shipped
text gets the new text, with a revision recording the change; a copy the
school has edited is left as the school wrote it.
"""

from django.db import migrations

#: (key, the old shipped body, the new one): fixed here, whatever the shipped defaults say later.
REWORDED = (('second_warning',
  'Dear {{ carer.name }},\n'
  '\n'
  "We wrote to you before about {{ pupil.forename }}'s attendance. We are still concerned, and we would like "
  'to work with you to help {{ pupil.forename }} be in school more often.\n'
  '\n'
  'This school year, up to {{ attendance.as_of }}:\n'
  '- attendance is {{ attendance.year_pct }} (this half-term: {{ attendance.half_term_pct }})\n'
  '- {{ pupil.forename }} has missed {{ attendance.sessions_missed }} sessions: {{ attendance.days_missed }} '
  'school days, about {{ attendance.weeks_missed }} weeks\n'
  '- that is {{ attendance.hours_lost }} hours of lost learning\n'
  '- {{ attendance.authorised }} of these sessions were authorised (for example illness) and {{ '
  'attendance.unauthorised }} were not\n'
  '{% if attendance.lates %}- {{ pupil.forename }} arrived late {{ attendance.lates }} time{{ '
  'attendance.lates|pluralize }}\n'
  '{% endif %}\n'
  'When attendance falls below 90%, a child is missing about half a day of school every week, and it becomes '
  'harder to keep up.\n'
  '\n'
  'We would like to talk with you about what might help. {% if meeting.date %}We have set aside time on {{ '
  'meeting.date }}{% if meeting.time %} at {{ meeting.time }}{% endif %}{% if meeting.place %} in {{ '
  'meeting.place }}{% endif %}. If that time does not suit you, please let us know and we will find '
  'another.{% else %}Please get in touch so that we can find a time that suits you.{% endif %} You can call '
  'the school office{% if school.phone %} on {{ school.phone }}{% endif %}{% if school.email %}, e-mail {{ '
  'school.email }}{% endif %}, or speak to any of us at the gate.\n'
  '{% if note %}\n'
  '{{ note }}\n'
  '{% endif %}\n'
  'Yours sincerely,\n'
  '\n'
  '\n'
  '{{ school.signatory_name }}\n'
  '{{ school.signatory_role }}',
  'Dear {{ carer.name }},\n'
  '\n'
  "{% if earlier.count %}We wrote to you on {{ earlier.last_date }} about {{ pupil.forename }}'s attendance. "
  "We are still concerned{% else %}We are writing because we are concerned about {{ pupil.forename }}'s "
  'attendance{% endif %}, and we would like to work with you to help {{ pupil.forename }} be in school more '
  'often.\n'
  '\n'
  'This school year, up to {{ attendance.as_of }}:\n'
  '- attendance is {{ attendance.year_pct }} (this half-term: {{ attendance.half_term_pct }})\n'
  '- {{ pupil.forename }} has missed {{ attendance.sessions_missed }} sessions: {{ attendance.days_missed }} '
  'school days, about {{ attendance.weeks_missed }} weeks\n'
  '- that is {{ attendance.hours_lost }} hours of lost learning\n'
  '- {{ attendance.authorised }} of these sessions were authorised (for example illness) and {{ '
  'attendance.unauthorised }} were not\n'
  '{% if attendance.lates %}- {{ pupil.forename }} arrived late {{ attendance.lates }} time{{ '
  'attendance.lates|pluralize }}\n'
  '{% endif %}\n'
  'When attendance falls below 90%, a child is missing about half a day of school every week, and it becomes '
  'harder to keep up.\n'
  '\n'
  'We would like to talk with you about what might help. {% if meeting.date %}We have set aside time on {{ '
  'meeting.date }}{% if meeting.time %} at {{ meeting.time }}{% endif %}{% if meeting.place %} in {{ '
  'meeting.place }}{% endif %}. If that time does not suit you, please let us know and we will find '
  'another.{% else %}Please get in touch so that we can find a time that suits you.{% endif %} You can call '
  'the school office{% if school.phone %} on {{ school.phone }}{% endif %}{% if school.email %}, e-mail {{ '
  'school.email }}{% endif %}, or speak to any of us at the gate.\n'
  '{% if note %}\n'
  '{{ note }}\n'
  '{% endif %}\n'
  'Yours sincerely,\n'
  '\n'
  '\n'
  '{{ school.signatory_name }}\n'
  '{{ school.signatory_role }}'),
 ('formal_warning',
  'Dear {{ carer.name }},\n'
  '\n'
  "We have written to you before about {{ pupil.forename }}'s attendance, and we know this may be a "
  'difficult time. Attendance has not improved, so we are inviting you to a meeting with us to agree '
  'together what will help.\n'
  '\n'
  '{% if meeting.date %}The meeting is on {{ meeting.date }}{% if meeting.time %} at {{ meeting.time }}{% '
  'endif %}{% if meeting.place %} in {{ meeting.place }}{% endif %}. If you cannot come at that time, please '
  'tell us straight away and we will arrange another.{% else %}Please contact us within the next week so '
  'that we can arrange a time that suits you.{% endif %}\n'
  '\n'
  "Up to {{ attendance.as_of }}, {{ pupil.forename }}'s attendance this school year is {{ "
  'attendance.year_pct }}. {{ pupil.forename }} has missed {{ attendance.sessions_missed }} sessions, which '
  'is {{ attendance.days_missed }} school days or {{ attendance.hours_lost }} hours of lost learning. {{ '
  'attendance.unauthorised }} of these sessions were not authorised.\n'
  '\n'
  'At the meeting we will listen to you and to {{ pupil.forename }}, talk about anything that is getting in '
  'the way, and agree a plan with support from school and, where it helps, from other services. If {{ '
  'pupil.forename }} has been unwell, please bring any medical letters or appointment cards you have.\n'
  '\n'
  'You are welcome to bring someone with you. You can call the school office{% if school.phone %} on {{ '
  'school.phone }}{% endif %}{% if school.email %}, e-mail {{ school.email }}{% endif %}, or speak to any of '
  'us at the gate.\n'
  '{% if note %}\n'
  '{{ note }}\n'
  '{% endif %}\n'
  'Yours sincerely,\n'
  '\n'
  '\n'
  '{{ school.signatory_name }}\n'
  '{{ school.signatory_role }}',
  'Dear {{ carer.name }},\n'
  '\n'
  "{% if earlier.count %}We have written to you before about {{ pupil.forename }}'s attendance, and we know "
  'this may be a difficult time. Attendance has not improved, so we{% else %}We are writing about {{ '
  "pupil.forename }}'s attendance, and we know this may be a difficult time. We are concerned, so we{% endif "
  '%} are inviting you to a meeting with us to agree together what will help.\n'
  '\n'
  '{% if meeting.date %}The meeting is on {{ meeting.date }}{% if meeting.time %} at {{ meeting.time }}{% '
  'endif %}{% if meeting.place %} in {{ meeting.place }}{% endif %}. If you cannot come at that time, please '
  'tell us straight away and we will arrange another.{% else %}Please contact us within the next week so '
  'that we can arrange a time that suits you.{% endif %}\n'
  '\n'
  "Up to {{ attendance.as_of }}, {{ pupil.forename }}'s attendance this school year is {{ "
  'attendance.year_pct }}. {{ pupil.forename }} has missed {{ attendance.sessions_missed }} sessions, which '
  'is {{ attendance.days_missed }} school days or {{ attendance.hours_lost }} hours of lost learning. {{ '
  'attendance.unauthorised }} of these sessions were not authorised.\n'
  '\n'
  'At the meeting we will listen to you and to {{ pupil.forename }}, talk about anything that is getting in '
  'the way, and agree a plan with support from school and, where it helps, from other services. If {{ '
  'pupil.forename }} has been unwell, please bring any medical letters or appointment cards you have.\n'
  '\n'
  'You are welcome to bring someone with you. You can call the school office{% if school.phone %} on {{ '
  'school.phone }}{% endif %}{% if school.email %}, e-mail {{ school.email }}{% endif %}, or speak to any of '
  'us at the gate.\n'
  '{% if note %}\n'
  '{{ note }}\n'
  '{% endif %}\n'
  'Yours sincerely,\n'
  '\n'
  '\n'
  '{{ school.signatory_name }}\n'
  '{{ school.signatory_role }}'))


def reword(apps, schema_editor):
    LetterTemplate = apps.get_model("letters", "LetterTemplate")
    LetterTemplateRevision = apps.get_model("letters", "LetterTemplateRevision")
    for key, old, new in REWORDED:
        for template in LetterTemplate.objects.filter(key=key, body=old):
            template.body = new
            template.save(update_fields=["body"])
            LetterTemplateRevision.objects.create(
                template=template, name=template.name, subject=template.subject, body=new, layout=template.layout
            )


class Migration(migrations.Migration):
    dependencies = [("letters", "0002_print_queue")]

    operations = [migrations.RunPython(reword, migrations.RunPython.noop)]
