"""Withdraw moves still awaiting approval on ladders an earlier activation replaced.

Until now activating a ladder left the old one's proposals pending, where no
one could decide them (only the active ladder's are shown). Activation now
withdraws them (`services.ladder_activate`); this does the same for those left
behind before, saying which ladder replaced them. Schools with no active
ladder keep theirs.
"""

from django.db import migrations
from django.utils import timezone


def withdraw(apps, schema_editor):
    Ladder = apps.get_model("interventions", "Ladder")
    Proposal = apps.get_model("interventions", "Proposal")
    now = timezone.now()
    for active in Ladder.objects.filter(is_active=True):
        Proposal.objects.filter(ladder__school_id=active.school_id, status="pending").exclude(ladder=active).update(
            status="withdrawn", decided_at=now, decision_reason=f"The school's ladder is now {active.name}"
        )


class Migration(migrations.Migration):
    dependencies = [("interventions", "0015_weeks_count_without_study_leave")]

    operations = [migrations.RunPython(withdraw, migrations.RunPython.noop)]
