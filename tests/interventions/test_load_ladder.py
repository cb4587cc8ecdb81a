"""`manage.py load_ladder`: validates a ladder file, says on which line each problem is, loads it into a school."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from interventions.models import Ladder

GOOD = """key: ours
name: Our ladder
stages:
  - key: base
    name: Everyone
  - key: concern
    name: Concern
    criteria:
      attendance: {below: 90}
"""


def run(*args):
    out, err = StringIO(), StringIO()
    call_command("load_ladder", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_a_shipped_ladder_is_checked_without_a_school(db):
    out, err = run("dfe")
    assert out.startswith("dfe: valid (") and "0 warning(s)" in out
    assert err == ""


def test_a_file_loads_into_a_school_and_can_be_made_active(tmp_path, school):
    path = tmp_path / "ours.yaml"
    path.write_text(GOOD)
    out, _ = run(str(path), "--school", school.urn, "--activate")
    assert out.strip() == f"ours: 2 stages into {school.name} (active)."
    assert Ladder.objects.get(school=school, key="ours").is_active


def test_a_bad_file_names_the_line_of_each_problem_and_changes_nothing(tmp_path, school):
    path = tmp_path / "ours.yaml"
    path.write_text(GOOD.replace("{below: 90}", "{below: 190}").replace("    name: Concern\n", ""))
    with pytest.raises(CommandError, match=r"2 error\(s\); nothing was changed"):
        run(str(path), "--school", school.urn)
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("load_ladder", str(path), "--school", school.urn, stderr=err)
    assert err.getvalue().splitlines() == [
        "error: line 6, stage 'concern': 'name' is missing: add it",
        "error: line 8, stage 'concern', criteria › attendance › below: "
        "190 is not a percentage: attendance thresholds run from 0 to 100",
    ]
    assert not Ladder.objects.filter(school=school).exists()


def test_a_file_that_is_not_yaml_says_where(tmp_path, db):
    path = tmp_path / "ours.yaml"
    path.write_text(GOOD.replace("    name: Concern", "\tname: Concern"))
    err = StringIO()
    with pytest.raises(CommandError, match="1 error"):
        call_command("load_ladder", str(path), stderr=err)
    assert err.getvalue().startswith("error: file ours.yaml: not valid YAML or JSON, at line 7, column 1: a tab")
