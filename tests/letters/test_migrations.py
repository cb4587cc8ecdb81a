"""Data migrations of letters: what they change in a database that already holds a school's templates."""

from __future__ import annotations

import importlib

import pytest

from letters.defaults import DEFAULT_TEMPLATES
from letters.models import LetterTemplate, LetterTemplateRevision
from tests.factories import SchoolFactory
from tests.migrating import migrate_to

REWORD = importlib.import_module("letters.migrations.0003_letters_say_we_wrote_only_when_we_did")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_unedited_copies_of_the_old_wording_get_the_new_and_edited_ones_are_left_alone():
    migrate_to(("letters", "0002_print_queue"))
    try:
        (_, old_second, new_second), (_, old_formal, new_formal) = REWORD.REWORDED
        oakfield, birchwood = SchoolFactory(), SchoolFactory()
        unedited = LetterTemplate.objects.create(school=oakfield, key="second_warning", name="Second", body=old_second)
        edited = LetterTemplate.objects.create(
            school=birchwood, key="second_warning", name="Second", body=old_second + "\nOur own words."
        )
        formal = LetterTemplate.objects.create(school=oakfield, key="formal_warning", name="Formal", body=old_formal)
    finally:
        migrate_to(("letters", "0003_letters_say_we_wrote_only_when_we_did"))
    for template in (unedited, edited, formal):
        template.refresh_from_db()
    assert (unedited.body, formal.body) == (new_second, new_formal)
    assert new_second == DEFAULT_TEMPLATES["second_warning"].body  # as shipped when the migration was written
    assert edited.body.endswith("Our own words.") and "We wrote to you before" in edited.body
    assert list(LetterTemplateRevision.objects.filter(template=unedited).values_list("body", flat=True)) == [
        unedited.body
    ]
    assert not LetterTemplateRevision.objects.filter(template=edited).exists()
