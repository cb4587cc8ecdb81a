"""The DfE ladder's bands no longer leave pupils far below 80% at the bottom of the ladder.

Listen and understand held only from 80% to 90%, and Facilitate support
(which needs a person's approval) only above 50%. So a pupil at 70% sat at
Expect while their move waited, and a severely absent pupil below compulsory
school age (not for Enforce) was proposed nothing. Listen now holds at 90% or
below, and Facilitate below 80%. A school's DfE ladder whose stages still
have the criteria as shipped gets the new ones; changed stages are left.
"""

from django.db import migrations

#: (ladder key, stage key, criteria as shipped before, criteria now): fixed here, whatever the file says later.
REBANDED = (('dfe',
  'listen-and-understand',
  {'any': [{'attendance': {'at_most': 90, 'at_least': 80}},
           {'count': {'measure': 'consecutive_days_absent', 'at_least': 10}},
           {'count': {'measure': 'illness', 'at_least': 30, 'window': 'year'}}]},
  {'any': [{'attendance': {'at_most': 90}},
           {'count': {'measure': 'consecutive_days_absent', 'at_least': 10}},
           {'count': {'measure': 'illness', 'at_least': 30, 'window': 'year'}}]}),
 ('dfe',
  'facilitate-support',
  {'any': [{'attendance': {'below': 80, 'above': 50}},
           {'held_for': {'weeks': 4, 'criterion': {'attendance': {'at_most': 90}}}}]},
  {'any': [{'attendance': {'below': 80}},
           {'held_for': {'weeks': 4, 'criterion': {'attendance': {'at_most': 90}}}}]}))


def reband(apps, schema_editor):
    Stage = apps.get_model("interventions", "Stage")
    for ladder_key, stage_key, old, new in REBANDED:
        for stage in Stage.objects.filter(ladder__key=ladder_key, key=stage_key):
            if stage.criteria == old:
                stage.criteria = new
                stage.save(update_fields=["criteria"])


class Migration(migrations.Migration):
    dependencies = [("interventions", "0009_legal_stages_need_compulsory_school_age")]

    operations = [migrations.RunPython(reband, migrations.RunPython.noop)]
