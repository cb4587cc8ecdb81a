"""Letters greet parents as the MIS does ("Dear Mrs Barker"): `carer.salutation` in place of `carer.name`.

Every template whose first line is the shipped greeting, "Dear {{ carer.name }},", gets
"Dear {{ carer.salutation }}," instead, with a revision recording the change, whether or
not the school has edited the rest: unlike the earlier rewordings (0003, 0005), which
leave an edited letter alone, because only the greeting line changes, it is still the
shipped line, and nothing a letter says changes until salutations are imported
(`contact_salutation`): until then a contact's salutation is their name. A template that
greets in any other way is left as the school wrote it.
"""

from django.db import migrations

OLD = "Dear {{ carer.name }},"
NEW = "Dear {{ carer.salutation }},"


def greet(apps, schema_editor, old=OLD, new=NEW):
    LetterTemplate = apps.get_model("letters", "LetterTemplate")
    LetterTemplateRevision = apps.get_model("letters", "LetterTemplateRevision")
    for template in LetterTemplate.objects.filter(body__startswith=old):
        first, newline, rest = template.body.partition("\n")
        if first.strip() != old:
            continue
        template.body = new + newline + rest
        template.save(update_fields=["body", "updated_at"])
        LetterTemplateRevision.objects.create(
            template=template, name=template.name, subject=template.subject, body=template.body, layout=template.layout
        )


def ungreet(apps, schema_editor):
    greet(apps, schema_editor, old=NEW, new=OLD)


class Migration(migrations.Migration):
    dependencies = [("letters", "0007_letters_keep_who_they_were_sent_to")]

    operations = [migrations.RunPython(greet, ungreet)]
