"""The shipped "Second letter: attendance concern" is now "Letter of concern about attendance".

The night queues it for a pupil who enters the stage, which may be their first
letter (a first night, or a fall straight past the first stage); its text says
"we wrote to you before" only when the school did. A school's copy still under
the shipped name takes the new one; a name the school chose is left.
"""

from django.db import migrations

OLD, NEW = "Second letter: attendance concern", "Letter of concern about attendance"


def rename(apps, schema_editor):
    apps.get_model("letters", "LetterTemplate").objects.filter(key="second_warning", name=OLD).update(name=NEW)


def rename_back(apps, schema_editor):
    apps.get_model("letters", "LetterTemplate").objects.filter(key="second_warning", name=NEW).update(name=OLD)


class Migration(migrations.Migration):
    dependencies = [("letters", "0005_letters_agree_with_their_numbers")]

    operations = [migrations.RunPython(rename, rename_back)]
