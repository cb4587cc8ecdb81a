"""Legal stages of the shipped ladders are only for pupils of compulsory school age.

The DfE ladder's Enforce stage and Sherrier's Stage Five now also require the
engine's `compulsory_school_age` flag (penalty notices and prosecution are for
the parents of compulsory-age children). A school's ladder loaded from those
files, whose stage still has the criteria as shipped, gets the new criteria;
a stage the school has changed is left as the school made it.
"""

from django.db import migrations

#: (ladder key, stage key, criteria as shipped before, criteria now): fixed here, whatever the files say later.
GUARDED = (('dfe',
  'enforce',
  {'any': [{'count': {'measure': 'unauthorised', 'at_least': 10, 'window': {'weeks': 10}}},
           {'attendance': {'at_most': 50}}]},
  {'all': [{'flag': 'compulsory_school_age'},
           {'any': [{'count': {'measure': 'unauthorised', 'at_least': 10, 'window': {'weeks': 10}}},
                    {'attendance': {'at_most': 50}}]}]}),
 ('sherrier',
  'stage-5',
  {'any': [{'all': [{'held_for': {'weeks': 6, 'criterion': {'attendance': {'below': 90}}}},
                    {'attendance': {'below': 90, 'window': {'weeks': 6}}}]},
           {'count': {'measure': 'unauthorised', 'at_least': 10, 'window': {'weeks': 10}}}]},
  {'all': [{'flag': 'compulsory_school_age'},
           {'any': [{'all': [{'held_for': {'weeks': 6, 'criterion': {'attendance': {'below': 90}}}},
                             {'attendance': {'below': 90, 'window': {'weeks': 6}}}]},
                    {'count': {'measure': 'unauthorised', 'at_least': 10, 'window': {'weeks': 10}}}]}]}))


def guard(apps, schema_editor):
    Stage = apps.get_model("interventions", "Stage")
    for ladder_key, stage_key, old, new in GUARDED:
        for stage in Stage.objects.filter(ladder__key=ladder_key, key=stage_key):
            if stage.criteria == old:
                stage.criteria = new
                stage.save(update_fields=["criteria"])


class Migration(migrations.Migration):
    dependencies = [("interventions", "0008_chart_counts_leavers")]

    operations = [migrations.RunPython(guard, migrations.RunPython.noop)]
