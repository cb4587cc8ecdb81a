"""An entry on a pupil's record knows the referral it records or whose change it logs (`ActionLog.referral`),
so that correcting a referral's date moves its own entry, not another with the same words.

Entries written before this are linked by what they said: the entry `referral_record` wrote (its title,
day and author, the earliest first where two match), and the status changes `referral_update` logged
where the pupil has only one referral to that service. Any other entry stays unlinked.
"""

import django.db.models.deletion
from django.db import migrations, models

#: The services' names as entries were written with them: frozen here, whatever the model says later.
NAMES = {
    "la_attendance": "LA attendance service",
    "early_help": "Early help / MARF",
    "camhs": "CAMHS / mental health",
    "school_nurse": "School nurse",
    "social_care": "Children's social care",
    "penalty_notice": "Penalty notice",
    "other": "Other",
}


def entries_link(apps, schema_editor):
    Referral = apps.get_model("interventions", "Referral")
    ActionLog = apps.get_model("interventions", "ActionLog")
    referrals = list(Referral.objects.order_by("pk"))
    per_service = {}
    for referral in referrals:
        per_service.setdefault((referral.pupil_id, referral.to), []).append(referral)
    for referral in referrals:
        name = NAMES.get(referral.to)
        if name is None:
            continue
        entries = ActionLog.objects.filter(pupil_id=referral.pupil_id, kind="referral", referral__isnull=True)
        recorded = (
            entries.filter(title=f"Referral: {name}", occurred_on=referral.made_on, by_id=referral.by_id)
            .order_by("created_at", "pk")
            .first()
        )
        if recorded is not None:
            recorded.referral = referral
            recorded.save(update_fields=["referral"])
        if len(per_service[referral.pupil_id, referral.to]) == 1:
            entries.filter(title__startswith=f"Referral to {name}: ").update(referral=referral)


class Migration(migrations.Migration):
    dependencies = [
        ("interventions", "0024_review_pupils_approved_onto_enforce_for_severe_absence"),
    ]

    operations = [
        migrations.AddField(
            model_name="actionlog",
            name="referral",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="entries",
                to="interventions.referral",
            ),
        ),
        migrations.RunPython(entries_link, migrations.RunPython.noop),
    ]
