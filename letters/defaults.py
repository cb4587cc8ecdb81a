"""The letters every school starts with, written plainly and kindly.

Schools edit their own copies (the first save makes one); these are the
starting text. Merge fields are listed in `letters.merge`; the language is
Django's template syntax in a sandbox (`letters.sandbox`).

How they are written, after the seeds: short sentences and everyday words;
figures as a percentage and as days and hours of lost learning, with what
they mean; no blame ("we know there can be many reasons"); help offered before
anything formal; every letter says how to talk to someone; and no letter says
"we wrote to you before" unless we did (`earlier.count`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DefaultTemplate:
    name: str
    subject: str
    body: str
    layout: str = "letter"


_SIGN_OFF = """Yours sincerely,


{{ school.signatory_name }}
{{ school.signatory_role }}"""

_NOTE = """{% if note %}
{{ note }}
{% endif %}"""

_CONTACT = (
    "You can call the school office{% if school.phone %} on {{ school.phone }}{% endif %}"
    "{% if school.email %}, e-mail {{ school.email }}{% endif %}, or speak to any of us at the gate."
)

#: A letter's year figures say where they start for a pupil who joined during the year (migrations 0009, 0010).
JOINED_LINE_START = (
    "Up to {{ attendance.as_of }}{% if attendance.joined %}, since {{ pupil.forename }} joined us on"
    " {{ attendance.joined }}{% endif %},"
)

FIRST_REMINDER = f"""Dear {{{{ carer.salutation }}}},

We are writing to let you know how {{{{ pupil.forename }}}}'s attendance is going this school year, and to ask whether there is anything we can do to help.

{JOINED_LINE_START} {{{{ pupil.forename }}}} has been in school for {{{{ attendance.year_pct }}}} of the time. {{{{ pupil.forename }}}} has missed {{{{ attendance.sessions_missed }}}} session{{{{ attendance.sessions_missed|pluralize }}}} (a session is a morning or an afternoon). That is {{{{ attendance.days_missed }}}} school day{{{{ attendance.days_missed|pluralize }}}}, or {{{{ attendance.hours_lost }}}} hour{{{{ attendance.hours_lost|pluralize }}}} of lost learning.

We know there can be many reasons why a child misses school, and that illness cannot always be avoided. Every day in school helps {{{{ pupil.forename }}}} keep up with learning and with friends.

If something is making it hard for {{{{ pupil.forename }}}} to come to school, please tell us. {_CONTACT} We are here to help.
{_NOTE}
{_SIGN_OFF}"""

#: The letter of concern's line on why sessions were missed: no "and 0 were not" (letters migration 0009).
AUTHORISED_LINE = (
    "{% if not attendance.sessions_missed %}{% elif not attendance.unauthorised %}"
    "- {% if attendance.sessions_missed == 1 %}it was{% else %}all of them were{% endif %}"
    " authorised (for example illness)\n"
    "{% elif not attendance.authorised %}"
    "- {% if attendance.sessions_missed == 1 %}it was not{% else %}none of them were{% endif %} authorised\n"
    "{% else %}"
    '- {{ attendance.authorised }} of these sessions {{ attendance.authorised|pluralize:"was,were" }}'
    " authorised (for example illness) and {{ attendance.unauthorised }}"
    ' {{ attendance.unauthorised|pluralize:"was,were" }} not authorised\n{% endif %}'
)

#: Why it matters, said as strongly as the figures are: below 50% is severe absence (migration 0009).
WHY_IT_MATTERS_LINE = (
    "{% if attendance.severe %}{{ pupil.forename }} has been in school for only {{ attendance.year_pct }} of this"
    " school year. A child who misses this much school finds it very hard to keep up with learning and with"
    " friends, and we are very worried.{% else %}When attendance falls below 90%, a child misses half a day of"
    " school or more every week, and it becomes harder to keep up.{% endif %}"
)

#: How often a pupil was late, as people say it: "once", not "1 time" (letters migration 0010).
LATE_TIMES = "{% if attendance.lates == 1 %}once{% else %}{{ attendance.lates }} times{% endif %}"

#: How many missed sessions were not authorised: never "0 of these sessions were not authorised" (migration 0010).
UNAUTHORISED_SENTENCE = (
    "{% if not attendance.sessions_missed %}{% elif not attendance.unauthorised %}"
    "{% if attendance.sessions_missed == 1 %}It was{% else %}All of them were{% endif %} authorised."
    '{% else %}{{ attendance.unauthorised }} of these sessions {{ attendance.unauthorised|pluralize:"was,were" }}'
    " not authorised.{% endif %}"
)

#: What a termly report says was missed: never "missed 0 sessions (0 school days, or 0 hours)" (migration 0010).
PERIOD_MISSED = (
    "{% if period.sessions_missed %}{{ pupil.forename }} missed {{ period.sessions_missed }}"
    " session{{ period.sessions_missed|pluralize }} ({{ period.days_missed }} school"
    " day{{ period.days_missed|pluralize }}, or {{ period.hours_lost }} hour{{ period.hours_lost|pluralize }}"
    " of learning).{% else %}{{ pupil.forename }} did not miss a single session.{% endif %}"
)

SECOND_WARNING = f"""Dear {{{{ carer.salutation }}}},

{{% if earlier.count %}}We wrote to you on {{{{ earlier.last_date }}}} about {{{{ pupil.forename }}}}'s attendance. We are still concerned{{% else %}}We are writing because we are concerned about {{{{ pupil.forename }}}}'s attendance{{% endif %}}, and we would like to work with you to help {{{{ pupil.forename }}}} be in school more often.

This school year, up to {{{{ attendance.as_of }}}}{{% if attendance.joined %}} (since {{{{ pupil.forename }}}} joined us on {{{{ attendance.joined }}}}){{% endif %}}:
- attendance is {{{{ attendance.year_pct }}}} (this half-term: {{{{ attendance.half_term_pct }}}})
- {{{{ pupil.forename }}}} has missed {{{{ attendance.sessions_missed }}}} session{{{{ attendance.sessions_missed|pluralize }}}}: {{{{ attendance.days_missed }}}} school day{{{{ attendance.days_missed|pluralize }}}}, about {{{{ attendance.weeks_missed }}}} week{{{{ attendance.weeks_missed|pluralize }}}}
- that is {{{{ attendance.hours_lost }}}} hour{{{{ attendance.hours_lost|pluralize }}}} of lost learning
{AUTHORISED_LINE}{{% if attendance.lates %}}- {{{{ pupil.forename }}}} arrived late {LATE_TIMES}
{{% endif %}}
{WHY_IT_MATTERS_LINE}

We would like to talk with you about what might help. {{% if meeting.date %}}We have set aside time on {{{{ meeting.date }}}}{{% if meeting.time %}} at {{{{ meeting.time }}}}{{% endif %}}{{% if meeting.place %}} in {{{{ meeting.place }}}}{{% endif %}}. If that time does not suit you, please let us know and we will find another.{{% else %}}Please get in touch so that we can find a time that suits you.{{% endif %}} {_CONTACT}
{_NOTE}
{_SIGN_OFF}"""

FORMAL_WARNING = f"""Dear {{{{ carer.salutation }}}},

{{% if earlier.count %}}We have written to you before about {{{{ pupil.forename }}}}'s attendance, and we know this may be a difficult time. Attendance has not improved, so we{{% else %}}We are writing about {{{{ pupil.forename }}}}'s attendance, and we know this may be a difficult time. We are concerned, so we{{% endif %}} are inviting you to a meeting with us to agree together what will help.

{{% if meeting.date %}}The meeting is on {{{{ meeting.date }}}}{{% if meeting.time %}} at {{{{ meeting.time }}}}{{% endif %}}{{% if meeting.place %}} in {{{{ meeting.place }}}}{{% endif %}}. If you cannot come at that time, please tell us straight away and we will arrange another.{{% else %}}Please contact us within the next week so that we can arrange a time that suits you.{{% endif %}}

{JOINED_LINE_START} {{{{ pupil.forename }}}}'s attendance this school year is {{{{ attendance.year_pct }}}}. {{{{ pupil.forename }}}} has missed {{{{ attendance.sessions_missed }}}} session{{{{ attendance.sessions_missed|pluralize }}}}, which is {{{{ attendance.days_missed }}}} school day{{{{ attendance.days_missed|pluralize }}}} or {{{{ attendance.hours_lost }}}} hour{{{{ attendance.hours_lost|pluralize }}}} of lost learning. {UNAUTHORISED_SENTENCE}

At the meeting we will listen to you and to {{{{ pupil.forename }}}}, talk about anything that is getting in the way, and agree a plan with support from school and, where it helps, from other services. If {{{{ pupil.forename }}}} has been unwell, please bring any medical letters or appointment cards you have.

You are welcome to bring someone with you. {_CONTACT}
{_NOTE}
{_SIGN_OFF}"""

ATTENDANCE_CONTRACT = f"""Dear {{{{ carer.salutation }}}},

Thank you for working with us on {{{{ pupil.forename }}}}'s attendance. Attendance this school year{{% if attendance.joined %}}, since {{{{ pupil.forename }}}} joined us on {{{{ attendance.joined }}}},{{% endif %}} is {{{{ attendance.year_pct }}}}: {{{{ pupil.forename }}}} has missed {{{{ attendance.days_missed }}}} school day{{{{ attendance.days_missed|pluralize }}}}, or {{{{ attendance.hours_lost }}}} hour{{{{ attendance.hours_lost|pluralize }}}} of lost learning.

We would now like to agree an attendance contract with you. This is a written agreement between you and the school. It sets out what you will do, what the school will do, and the support that will be offered to help {{{{ pupil.forename }}}} attend every day. It is voluntary and is not a punishment.

{{% if meeting.date %}}We would like to agree the contract with you on {{{{ meeting.date }}}}{{% if meeting.time %}} at {{{{ meeting.time }}}}{{% endif %}}{{% if meeting.place %}} in {{{{ meeting.place }}}}{{% endif %}}.{{% else %}}Please contact us so that we can meet and agree the contract together.{{% endif %}}{{% if review.date %}} We will look at how things are going together on {{{{ review.date }}}}.{{% endif %}}

If it is not possible to agree a contract, or it is not kept, the local authority may consider other steps. We very much hope that will not be needed, and we will support you as much as we can. {_CONTACT}
{_NOTE}
{_SIGN_OFF}"""

LA_REFERRAL_NOTICE = f"""Dear {{{{ carer.salutation }}}},

We are writing to let you know that we are referring {{{{ pupil.forename }}}}'s attendance to the local authority's attendance support team. We know this letter may be worrying. Its purpose is to bring in more help for you and {{{{ pupil.forename }}}}.

{JOINED_LINE_START} {{{{ pupil.forename }}}}'s attendance this school year is {{{{ attendance.year_pct }}}}. {{{{ pupil.forename }}}} has missed {{{{ attendance.sessions_missed }}}} session{{{{ attendance.sessions_missed|pluralize }}}}: {{{{ attendance.days_missed }}}} school day{{{{ attendance.days_missed|pluralize }}}}, or {{{{ attendance.hours_lost }}}} hour{{{{ attendance.hours_lost|pluralize }}}} of lost learning. {UNAUTHORISED_SENTENCE}

Someone from the local authority will contact you. They will want to understand what is making it hard for {{{{ pupil.forename }}}} to come to school and to agree support with you. The law expects every child of school age to receive a full-time education, and where support does not lead to better attendance, the local authority can use formal measures. We will keep working with you to avoid that.

{{% if meeting.date %}}We would like to meet you on {{{{ meeting.date }}}}{{% if meeting.time %}} at {{{{ meeting.time }}}}{{% endif %}}{{% if meeting.place %}} in {{{{ meeting.place }}}}{{% endif %}} to explain what happens next.{{% else %}}Please contact us if you would like to talk about this letter.{{% endif %}} {_CONTACT}
{_NOTE}
{_SIGN_OFF}"""

CONGRATULATIONS = f"""Dear {{{{ carer.salutation }}}},

We wanted to write to say well done to {{{{ pupil.forename }}}}, and thank you for your support at home.

This half-term {{{{ pupil.forename }}}}'s attendance is {{{{ attendance.half_term_pct }}}}, and over the school year it is now {{{{ attendance.year_pct }}}}. Every extra day in school makes a real difference to learning and to friendships.

Please keep it up, and let us know if there is anything we can do to help.
{_NOTE}
{_SIGN_OFF}"""

TERMLY_REPORT = f"""Dear {{{{ carer.salutation }}}},

This is {{{{ pupil.forename }}}}'s attendance report for {{{{ period.name }}}}, from {{{{ period.start }}}} to {{{{ period.end }}}}. We send one to every family each term.

{{{{ pupil.forename }}}}'s attendance was {{{{ period.pct }}}}, which is {{{{ period.rag }}}}. {{{{ period.rag_meaning }}}} {PERIOD_MISSED}

If you have any questions, or if something is making it hard for {{{{ pupil.forename }}}} to come to school, please talk to us. {_CONTACT}
{_NOTE}
{_SIGN_OFF}"""

CERTIFICATE_100 = """Awarded to

{{ pupil.full_name }}

for 100% attendance in {{ period.name }}

Well done, {{ pupil.forename }}! You came to school every single day, from {{ period.start }} to {{ period.end }}. Thank you for being here.

{{ school.signatory_name }}, {{ school.signatory_role }}
{{ letter.date }}"""


DEFAULT_TEMPLATES: dict[str, DefaultTemplate] = {
    "first_reminder": DefaultTemplate("First reminder", "{{ pupil.forename }}'s attendance", FIRST_REMINDER),
    "second_warning": DefaultTemplate(
        "Letter of concern about attendance", "We are concerned about {{ pupil.forename }}'s attendance", SECOND_WARNING
    ),
    "formal_warning": DefaultTemplate(
        "Formal warning and invitation to meet",
        "Invitation to a meeting about {{ pupil.full_name }}'s attendance",
        FORMAL_WARNING,
    ),
    "attendance_contract": DefaultTemplate(
        "Attendance contract", "An attendance contract for {{ pupil.full_name }}", ATTENDANCE_CONTRACT
    ),
    "la_referral_notice": DefaultTemplate(
        "Notice of referral to the local authority",
        "Referral to the local authority about {{ pupil.full_name }}'s attendance",
        LA_REFERRAL_NOTICE,
    ),
    "congratulations": DefaultTemplate(
        "Congratulations on improvement",
        "Thank you: {{ pupil.forename }}'s attendance is getting better",
        CONGRATULATIONS,
    ),
    "termly_report": DefaultTemplate(
        "Termly attendance report", "Attendance report: {{ period.name }}", TERMLY_REPORT, "report"
    ),
    "certificate_100": DefaultTemplate(
        "100% attendance certificate", "Certificate of 100% attendance", CERTIFICATE_100, "certificate"
    ),
}

#: The body a school-made template starts with.
NEW_TEMPLATE_BODY = f"""Dear {{{{ carer.salutation }}}},

{{{{ pupil.forename }}}}'s attendance this school year is {{{{ attendance.year_pct }}}}.

{_SIGN_OFF}"""
