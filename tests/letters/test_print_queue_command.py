"""manage.py print_queue --school URN --output FILE.pdf"""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from letters.models import Letter
from tests.factories import PupilFactory
from tests.letters.conftest import pdf_pages, queue_letters


def run(*args: str) -> dict:
    out, err = StringIO(), StringIO()
    call_command("print_queue", *args, stdout=out, stderr=err)
    return json.loads(out.getvalue().strip().splitlines()[-1])


def test_prints_every_waiting_letter_into_one_pdf(school, family, tmp_path):
    letters = queue_letters(school, [family, PupilFactory(school=school), PupilFactory(school=school)])
    output = tmp_path / "queue.pdf"

    result = run("--school", school.urn, "--output", str(output))

    assert result["letters"] == 3 and result["pages"] == 3 and result["output"] == str(output)
    assert pdf_pages(output.read_bytes()) == 3
    assert set(Letter.objects.values_list("status", flat=True)) == {"printed"}
    assert {x.pk for x in Letter.objects.filter(print_batch_id=result["batch"])} == {x.pk for x in letters}


def test_a_second_run_has_nothing_to_print_and_writes_nothing(school, family, tmp_path):
    queue_letters(school, [family])
    run("--school", school.urn, "--output", str(tmp_path / "first.pdf"))

    result = run("--school", school.urn, "--output", str(tmp_path / "second.pdf"))

    assert result == {"letters": 0, "pages": 0, "output": None, "batch": None}
    assert not (tmp_path / "second.pdf").exists()


def test_big_queues_print_in_this_process(school, tmp_path, settings):
    settings.LETTERS_BACKGROUND_FROM = 1
    queue_letters(school, [PupilFactory(school=school) for _ in range(3)])

    assert run("--school", school.urn, "--output", str(tmp_path / "q.pdf"))["letters"] == 3


def test_an_unknown_school_is_an_error(db, tmp_path):
    with pytest.raises(CommandError, match="No school has URN 999999"):
        run("--school", "999999", "--output", str(tmp_path / "q.pdf"))


def test_a_missing_folder_is_an_error(school, tmp_path):
    with pytest.raises(CommandError, match="does not exist"):
        run("--school", school.urn, "--output", str(tmp_path / "nope" / "q.pdf"))
