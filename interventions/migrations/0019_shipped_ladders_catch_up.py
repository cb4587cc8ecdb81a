"""Shipped ladders already loaded catch up with the files: plainer notes, `logged_as`, the DfE follow-up's `when`.

A ladder is copied into the database when a school loads it, so a change to the
shipped files reaches only schools that load them afresh. Here, for ladders
loaded before, each change is made only where the ladder still says exactly
what was shipped: anything the school has edited is left as they made it.

- The notes of choices for the school to confirm, and the DfE description,
  were partly written for developers ("the engine's compulsory_school_age
  flag", "the product defaults"): now in words a school reads.
- Actions the logging of a kind of action does (`logged_as`): a class
  teacher's one-click conversation does the DfE "Talk to the pupil" task.
- The DfE first-day follow-up is given only to a pupil with an absence still
  unexplained (its `when`), as the file has said since 6 Dec 2026.
"""

from __future__ import annotations

from django.db import migrations

#: (ladder key, note as shipped before, note now): fixed here, whatever the files say later.
NOTES = [
    (
        "dfe",
        "The stage labels Expect / Monitor / Listen and understand / Facilitate support / Formalise support / Enforce "
        "are unverified: confirm against the gov.uk PDF of 'Working together to improve school attendance' (summary "
        "table of responsibilities)",
        "The stage names Expect / Monitor / Listen and understand / Facilitate support / Formalise support / Enforce "
        "come from summaries of the guidance: check them against the summary table of responsibilities in 'Working "
        "together to improve school attendance' on gov.uk",
    ),
    (
        "dfe",
        "Enforce is only for pupils of compulsory school age (the engine's compulsory_school_age flag: aged 5 to 15 on "
        "the 31 August before the school year): penalty notices and prosecution are for parents of compulsory-age "
        "children. A severely absent Reception child below that age stays at Facilitate support",
        "Enforce is only for pupils of compulsory school age (aged 5 to 15 on the 31 August before the school year): "
        "penalty notices and prosecution are for parents of compulsory-age children. A severely absent Reception child "
        "below that age stays at Facilitate support",
    ),
    (
        "dfe",
        "LA notification 'irregular attendance / 10+ consecutive school days of unauthorised absence' is the "
        "consecutive_days_unauthorised measure: school days on which every possible session was unauthorised (G, N, O, "
        "U); a day with any session attended or authorised ends the run, and days with no possible session (closures, "
        "not yet marked) neither end nor extend it",
        "The LA notification for irregular attendance, 10 or more school days in a row of unauthorised absence, counts "
        "school days on which every session was unauthorised (G, N, O or U): a day with any session attended or "
        "authorised ends the run, and a day with no session to mark (a closure, or one not yet marked) neither ends nor "
        "extends it",
    ),
    (
        "dfe",
        "min_possible_sessions 20 (as DfE's Monitor your school attendance bandings) and descent (4 weeks sustained, 1 "
        "point margin) are the product defaults",
        "A pupil is placed by their attendance only once they have 20 possible sessions this year (10 school days, as in "
        "DfE's 'Monitor your school attendance'), and comes down a stage after 4 school weeks with attendance at least 1 "
        "percentage point clear of the stage's threshold: both are this product's defaults, not the guidance's",
    ),
    (
        "firs",
        "All band edges are defaults (the seed's diagram with the percentages was lost): Congratulate 97% and above",
        "All band edges are defaults (the document's diagram with the percentages was lost): Congratulate 97% and above",
    ),
    (
        "firs",
        "At risk of PA: 90% to below 95% (default; the seed says PA is below 90%)",
        "At risk of PA: 90% to below 95% (default; the document says PA is below 90%)",
    ),
    (
        "firs",
        "Persistently absent: 85% to below 90% (default lower edge; the seed says PA is below 90%)",
        "Persistently absent: 85% to below 90% (default lower edge; the document says PA is below 90%)",
    ),
    (
        "firs",
        "Serious concern: below 85% (the seed: 'A pupil whose attendance is below 85% is a serious concern')",
        "Serious concern: below 85% (the document: 'A pupil whose attendance is below 85% is a serious concern')",
    ),
    (
        "firs",
        "Referral to WAS: attendance 85% or below at the end of each of the last 6 school weeks (the seed: 'After 6 "
        "weeks of a pupil being at 85% or below'); entry needs approval as the MOU criteria must be checked",
        "Referral to WAS: attendance 85% or below at the end of each of the last 6 school weeks (the document: 'After 6 "
        "weeks of a pupil being at 85% or below'); entry needs approval as the MOU criteria must be checked",
    ),
    (
        "firs",
        "Bottom 10% of the school for attendance (footnote 2) is monitored at 'Beginning to cause concern' (speak to "
        "child and parent about reasons). The seed's diagram puts 'Ofsted 10%' in the Persistently Absent box; it is not "
        "placed there so that pupils above 90% are not sent a formal warning letter (school to confirm)",
        "Bottom 10% of the school for attendance (footnote 2) is monitored at 'Beginning to cause concern' (speak to "
        "child and parent about reasons). The document's diagram puts 'Ofsted 10%' in the Persistently Absent box; it is "
        "not placed there so that pupils above 90% are not sent a formal warning letter (school to confirm)",
    ),
    (
        "firs",
        "Task due days are defaults (the seed gives none): 5 school days for conversations and checks, 10 for targets, "
        "strategies and contacts, 15 for plans, meetings and the casework record, 20 for pre-legal steps",
        "Task due days are defaults (the document gives none): 5 school days for conversations and checks, 10 for "
        "targets, strategies and contacts, 15 for plans, meetings and the casework record, 20 for pre-legal steps",
    ),
    (
        "firs",
        "min_possible_sessions 20 and descent (4 weeks sustained, 1 point margin) are the product defaults",
        "A pupil is placed by their attendance only once they have 20 possible sessions this year (10 school days), and "
        "comes down a stage after 4 school weeks with attendance at least 1 percentage point clear of the stage's "
        "threshold: both are this product's defaults",
    ),
    (
        "generic",
        "Seed bands kept as written (95-93, 92.9-90.1, 90-80, 79.9-50, below 50): the gaps (93-92.9, 90.1-90, 80-79.9) "
        "go to the more concerning stage, as the validator resolves them",
        "The document's bands kept as written (95-93, 92.9-90.1, 90-80, 79.9-50, below 50): the gaps (93-92.9, 90.1-90, "
        "80-79.9) go to the more concerning stage, so a pupil on the line goes to the stage of more concern",
    ),
    (
        "generic",
        "Stages 3, 4 and 5 are reviewed weekly, like Stage 2 ('tracked and reviewed weekly by attendance staff'); the "
        "seed gives no interval above Stage 2",
        "Stages 3, 4 and 5 are reviewed weekly, like Stage 2 ('tracked and reviewed weekly by attendance staff'); the "
        "document gives no interval above Stage 2",
    ),
    (
        "generic",
        "Task due days are defaults (the seed gives none): 2 school days for recording and reporting, 5 for first "
        "conversations and checks, 10 for meetings and in-class support, 15 for plans, referrals and provision decisions",
        "Task due days are defaults (the document gives none): 2 school days for recording and reporting, 5 for first "
        "conversations and checks, 10 for meetings and in-class support, 15 for plans, referrals and provision "
        "decisions",
    ),
    (
        "generic",
        "min_possible_sessions 20 and descent (4 weeks sustained, 1 point margin) are the product defaults",
        "A pupil is placed by their attendance only once they have 20 possible sessions this year (10 school days), and "
        "comes down a stage after 4 school weeks with attendance at least 1 percentage point clear of the stage's "
        "threshold: both are this product's defaults",
    ),
    (
        "kirkby",
        "Level 1 (school-based interventions) entry: attendance below 96% this year (seed gives no figure; school to "
        "confirm)",
        "Level 1 (school-based interventions) entry: attendance below 96% this year (the document gives no figure; "
        "school to confirm)",
    ),
    (
        "kirkby",
        "Level 1 (school-based interventions) entry: 3 or more lates in a half-term (seed gives no figure; school to "
        "confirm)",
        "Level 1 (school-based interventions) entry: 3 or more lates in a half-term (the document gives no figure; "
        "school to confirm)",
    ),
    (
        "kirkby",
        "Level 2 Step 1 entry: attendance 90% or below this year, i.e. persistent absence as the DfE defines it (seed "
        "gives no figure; school to confirm)",
        "Level 2 Step 1 entry: attendance 90% or below this year, i.e. persistent absence as the DfE defines it (the "
        "document gives no figure; school to confirm)",
    ),
    (
        "kirkby",
        "Task due days are defaults (the seed gives none except the 3-week review): 3 school days for a first phone "
        "call, 5 for conversations and first steps, 10 for meetings and evidence gathering, 15 for plans, referrals and "
        "casework discussion",
        "Task due days are defaults (the document gives none except the 3-week review): 3 school days for a first phone "
        "call, 5 for conversations and first steps, 10 for meetings and evidence gathering, 15 for plans, referrals and "
        "casework discussion",
    ),
    (
        "kirkby",
        "min_possible_sessions 20 and descent (4 weeks sustained, 1 point margin) are the product defaults; the seed "
        "says nothing about coming back down",
        "A pupil is placed by their attendance only once they have 20 possible sessions this year (10 school days), and "
        "comes down a stage after 4 school weeks with attendance at least 1 percentage point clear of the stage's "
        "threshold: both are this product's defaults; the school's document says nothing about coming back down",
    ),
    (
        "mickley",
        "Emerging Need 'Lates': 5 or more lates (L or U) in a half-term (the seed gives no number)",
        "Emerging Need 'Lates': 5 or more lates (L or U) in a half-term (the document gives no number)",
    ),
    (
        "mickley",
        "Intensive Need 'Lates': 10 or more lates in a half-term (the seed gives no number)",
        "Intensive Need 'Lates': 10 or more lates in a half-term (the document gives no number)",
    ),
    (
        "mickley",
        "Bands kept as the seed writes them (90-95%, 80-90%, less than 80%): the shared 90% edge goes to Intensive Need, "
        "the more concerning stage",
        "Bands kept as the document writes them (90-95%, 80-90%, less than 80%): the shared 90% edge goes to Intensive "
        "Need, the more concerning stage",
    ),
    (
        "mickley",
        "Task due days are defaults (the seed gives none): 1 school day for the CME protocol, 5 for phone calls and "
        "letters, 10 for meetings and the panel, 15 for referrals and plans, 20 for escalation to the LA",
        "Task due days are defaults (the document gives none): 1 school day for the CME protocol, 5 for phone calls and "
        "letters, 10 for meetings and the panel, 15 for referrals and plans, 20 for escalation to the LA",
    ),
    (
        "mickley",
        "min_possible_sessions 20 is the product default",
        "A pupil is placed by their attendance only once they have 20 possible sessions this year (10 school days): this "
        "product's default",
    ),
    (
        "sherrier",
        "The seed's Stage One is 96%-100% and Stage Two 93%-95%: attendance above 95% and below 96% falls in neither "
        "band and stays at Stage One as written (school to confirm, or widen Stage Two to below 96%)",
        "The document's Stage One is 96%-100% and Stage Two 93%-95%: attendance above 95% and below 96% falls in neither "
        "band and stays at Stage One as written (school to confirm, or widen Stage Two to below 96%)",
    ),
    (
        "sherrier",
        "Stage Five (legal measures) is only for pupils of compulsory school age (the engine's compulsory_school_age "
        "flag: aged 5 to 15 on the 31 August before the school year)",
        "Stage Five (legal measures) is only for pupils of compulsory school age (aged 5 to 15 on the 31 August before "
        "the school year)",
    ),
    (
        "sherrier",
        "Task due days are defaults (the seed gives none): 5 school days for conversations, forms and notifying the LA, "
        "10 for meetings, plans and penalty-notice consideration, 15 for referrals and the attendance contract",
        "Task due days are defaults (the document gives none): 5 school days for conversations, forms and notifying the "
        "LA, 10 for meetings, plans and penalty-notice consideration, 15 for referrals and the attendance contract",
    ),
    (
        "sherrier",
        "min_possible_sessions 20 and descent (4 weeks sustained, 1 point margin) are the product defaults",
        "A pupil is placed by their attendance only once they have 20 possible sessions this year (10 school days), and "
        "comes down a stage after 4 school weeks with attendance at least 1 percentage point clear of the stage's "
        "threshold: both are this product's defaults",
    ),
]

#: (ladder key, description as shipped before, description now).
DESCRIPTIONS = [
    (
        "dfe",
        "The national guidance sets out a three-step approach with families: first, understand and remove\n"
        "barriers in school, meet the families of pupils at risk of persistent or severe absence and refer\n"
        "to support; if absence worsens, work with the local authority and partners, hold more formal\n"
        "conversations and use an early-help / whole-family plan; if support fails or is not engaged,\n"
        "formal and legal routes. The legal ladder runs attendance contract (which replaced the parenting\n"
        "contract in 2024; voluntary, not legally binding) → education supervision order → prosecution or a\n"
        "penalty notice. Each school must have a senior attendance champion.\n"
        "\n"
        "The six stage labels (Expect, Monitor, Listen and understand, Facilitate support, Formalise\n"
        'support, Enforce) are taken from the DfE "Summary table of responsibilities for school attendance"\n'
        "as reported second-hand: they are not yet checked against the gov.uk PDF.\n"
        "\n"
        "Penalty notice (national framework, from 19 August 2024): one must be considered when a pupil\n"
        "reaches 10 sessions of unauthorised absence (any mix of G, N, O, U) within a rolling 10 school\n"
        "weeks. Persistent absence: 10% or more of possible sessions missed (attendance 90% or below).\n"
        "Severe absence: 50% or more missed (attendance 50% or below).\n",
        "The national guidance sets out a three-step approach with families: first, understand and remove\n"
        "barriers in school, meet the families of pupils at risk of persistent or severe absence and refer\n"
        "to support; if absence worsens, work with the local authority and partners, hold more formal\n"
        "conversations and use an early-help / whole-family plan; if support fails or is not engaged,\n"
        "formal and legal routes. The legal ladder runs attendance contract (which replaced the parenting\n"
        "contract in 2024; voluntary, not legally binding) → education supervision order → prosecution or a\n"
        "penalty notice. Each school must have a senior attendance champion.\n"
        "\n"
        "The six stage labels (Expect, Monitor, Listen and understand, Facilitate support, Formalise\n"
        'support, Enforce) are taken from the DfE "Summary table of responsibilities for school attendance"\n'
        "as summaries of the guidance report them: check them against the guidance itself on gov.uk.\n"
        "\n"
        "Penalty notice (national framework, from 19 August 2024): one must be considered when a pupil\n"
        "reaches 10 sessions of unauthorised absence (any mix of G, N, O, U) within a rolling 10 school\n"
        "weeks. Persistent absence: 10% or more of possible sessions missed (attendance 90% or below).\n"
        "Severe absence: 50% or more missed (attendance 50% or below).\n",
    )
]

#: (ladder key, stage key, the action exactly as shipped before, field to add, its value): an action a school
#: has changed in any way (its title, its role, its timing) is theirs, and is left alone.
ACTIONS = (
    (
        "dfe",
        "monitor",
        {
            "key": "first-day-follow-up",
            "title": "First-day follow-up: contact the family about any unexplained absence and record the reason",
            "role": "office",
            "due_in_school_days": 1,
        },
        "when",
        {"count": {"measure": "unexplained", "at_least": 1, "window": "half_term"}},
    ),
    (
        "dfe",
        "monitor",
        {
            "key": "talk-to-pupil",
            "title": "Talk to the pupil about how school is going and anything making it hard to attend",
            "role": "class_teacher",
            "due_in_school_days": 5,
        },
        "logged_as",
        "pupil_conversation",
    ),
    (
        "firs",
        "beginning-to-cause-concern",
        {
            "key": "speak-to-child",
            "title": "Speak to child about reasons",
            "role": "class_teacher",
            "due_in_school_days": 5,
        },
        "logged_as",
        "pupil_conversation",
    ),
    (
        "firs",
        "beginning-to-cause-concern",
        {
            "key": "speak-to-parent",
            "title": "Speak to parent about reasons & concerns",
            "role": "class_teacher",
            "due_in_school_days": 5,
        },
        "logged_as",
        "parent_conversation",
    ),
    (
        "generic",
        "stage-1",
        {
            "key": "parent-conversation",
            "title": "Conversation with parents (class teacher, tutor or family support worker) to consider what might help "
            "improve attendance; offer help to support the child back into school",
            "role": "class_teacher",
            "due_in_school_days": 10,
        },
        "logged_as",
        "parent_conversation",
    ),
)


def catch_up(apps, schema_editor):
    Ladder = apps.get_model("interventions", "Ladder")
    Stage = apps.get_model("interventions", "Stage")
    for ladder in Ladder.objects.filter(key__in={key for key, *_ in (*NOTES, *DESCRIPTIONS)}):
        notes = ladder.settings.get("to_confirm") or []
        now = {before: after for key, before, after in NOTES if key == ladder.key}
        if any(note in now for note in notes):
            ladder.settings["to_confirm"] = [now.get(note, note) for note in notes]
            ladder.save(update_fields=["settings"])
        for key, before, after in DESCRIPTIONS:
            if key == ladder.key and ladder.description == before:
                ladder.description = after
                ladder.save(update_fields=["description"])
    for ladder_key, stage_key, before, field, value in ACTIONS:
        for stage in Stage.objects.filter(ladder__key=ladder_key, key=stage_key):
            actions = [{**action, field: value} if action == before else action for action in stage.actions]
            if actions != stage.actions:
                stage.actions = actions
                stage.save(update_fields=["actions"])


class Migration(migrations.Migration):
    dependencies = [("interventions", "0018_nightly_run_alerted")]

    operations = [migrations.RunPython(catch_up, migrations.RunPython.noop)]
