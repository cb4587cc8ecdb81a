"""import_marks with a marks CSV: all or nothing, every problem by row and column, history kept.

These run on SQLite and, with DATABASE_URL set, on PostgreSQL (COPY into a
staging table): the same files must give the same results and messages.
"""

from __future__ import annotations

from datetime import date, timedelta
from itertools import islice

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from pupils.models import AttendanceMark, ImportBatch, MarkChange, YearGroup
from pupils.services import school_calendar
from tests.factories import TODAY, PupilFactory, SchoolFactory, make_upn
from tests.pupils.importing import database_picture, run, run_rejected, write

HEADER = "upn,date,session,code\n"


@pytest.fixture
def sam(school):
    return PupilFactory(school=school, forename="Sam", surname="Jones")


def marks_of(pupil):
    return [(m.date.isoformat(), m.get_session_display(), m.code) for m in pupil.marks.order_by("date", "session")]


def import_marks(tmp_path, text, name="marks.csv"):
    return run("import_marks", "--school", "100001", write(tmp_path, name, text))


def rejected(tmp_path, text, name="marks.csv"):
    """Import a bad file; check it changed nothing and left a rejected batch. Returns the message."""
    before = database_picture()
    message = run_rejected("import_marks", "--school", "100001", write(tmp_path, name, text))
    assert database_picture() == before
    batch = ImportBatch.objects.latest("id")
    assert batch.status == ImportBatch.Status.FAILED
    assert batch.errors
    return message


# --- what a good file does -------------------------------------------------------------------


def test_imports_marks_and_prints_one_summary_line(tmp_path, pupil, sam):
    out = import_marks(
        tmp_path,
        HEADER
        + f"{pupil.upn},2025-11-24,AM,/\n"
        + f"{pupil.upn},2025-11-24,PM,\\\n"
        + f"{sam.upn},2025-11-24,am,I\n"
        + f"{sam.upn},2025-11-24,pm,c2\n",
    )
    assert out.strip().splitlines()[-1] == (
        "Imported marks.csv: rows=4 inserted=4 updated=0 unchanged=0 no-mark=0 warnings=0"
    )
    assert marks_of(pupil) == [("2025-11-24", "AM", "/"), ("2025-11-24", "PM", "\\")]
    assert marks_of(sam) == [("2025-11-24", "AM", "I"), ("2025-11-24", "PM", "C2")]


def test_records_a_done_batch_with_counts_and_sha256(tmp_path, pupil):
    import_marks(tmp_path, HEADER + f"{pupil.upn},2025-11-24,AM,/\n{pupil.upn},2025-11-24,PM,-\n")
    batch = ImportBatch.objects.get()
    assert batch.kind == ImportBatch.Kind.MARKS
    assert batch.status == ImportBatch.Status.DONE
    assert (batch.rows, batch.inserted, batch.updated, batch.unchanged) == (2, 1, 0, 0)
    assert len(batch.sha256) == 64
    assert batch.finished_at is not None
    assert pupil.marks.get().batch_id == batch.id


def test_header_names_are_case_insensitive_and_dates_may_be_written_day_first(tmp_path, pupil):
    import_marks(tmp_path, f"UPN,Date,Session,Code\n{pupil.upn},24/11/2025,AM,L\n")
    assert marks_of(pupil) == [("2025-11-24", "AM", "L")]


def test_present_is_stored_as_the_sessions_own_mark_whichever_was_written(tmp_path, pupil):
    import_marks(
        tmp_path,
        HEADER + f"{pupil.upn},2025-11-24,AM,\\\n{pupil.upn},2025-11-24,PM,/\n"
        f"{pupil.upn},2025-11-25,AM,/\n{pupil.upn},2025-11-25,PM,\\\n",
    )
    assert marks_of(pupil) == [
        ("2025-11-24", "AM", "/"),
        ("2025-11-24", "PM", "\\"),
        ("2025-11-25", "AM", "/"),
        ("2025-11-25", "PM", "\\"),
    ]


def test_marks_in_a_year_with_no_term_dates_are_stored_with_a_warning_that_holidays_went_unchecked(tmp_path, pupil):
    pupil.start_on = date(2022, 9, 1)
    pupil.save()
    out = import_marks(
        tmp_path,
        HEADER + f"{pupil.upn},2022-11-23,AM,O\n{pupil.upn},2022-11-23,PM,O\n{pupil.upn},2025-11-24,AM,/\n",
    )
    assert (
        "marks on 1 day in 2022/23 could not be checked against the school's holidays: "
        "the school has no term dates for that year" in out
    )
    assert "inserted=3" in out and "warnings=1" in out


def test_no_mark_yet_is_not_stored_but_counted_and_warned(tmp_path, pupil):
    out = import_marks(
        tmp_path,
        HEADER + f"{pupil.upn},2025-11-24,AM,-\n{pupil.upn},2025-11-24,PM,*\n{pupil.upn},2025-11-25,AM,\n"
        f"{pupil.upn},2025-11-25,PM,/\n",
    )
    assert "rows=4 inserted=1 updated=0 unchanged=0 no-mark=3 warnings=1" in out
    assert "3 session(s) have no mark yet" in out
    assert marks_of(pupil) == [("2025-11-25", "PM", "\\")]  # present in the afternoon is "\\"


def test_minutes_late_and_comment_are_stored(tmp_path, pupil):
    import_marks(
        tmp_path,
        "upn,date,session,code,minutes_late,comment\n"
        f'{pupil.upn},2025-11-24,AM,L,12,"Bus late, mum rang"\n'
        f"{pupil.upn},2025-11-24,PM,\\,,\n",
    )
    am, pm = pupil.marks.order_by("session")
    assert (am.code, am.minutes_late, am.comment) == ("L", 12, "Bus late, mum rang")
    assert (pm.code, pm.minutes_late, pm.comment) == ("\\", None, "")


def test_comments_with_tabs_backslashes_and_newlines_survive(tmp_path, pupil):
    import_marks(tmp_path, f'upn,date,session,code,comment\n{pupil.upn},2025-11-24,AM,I,"a\\b\tc\nd"\n')
    assert pupil.marks.get().comment == "a\\b\tc\nd"


def test_a_retired_sub_code_maps_to_the_code_it_became_on_old_dates(tmp_path, pupil, terms_2023):
    import_marks(tmp_path, HEADER + f"{pupil.upn},2023-11-20,AM,I01\n{pupil.upn},2023-11-20,PM,H\n")
    assert marks_of(pupil) == [("2023-11-20", "AM", "I"), ("2023-11-20", "PM", "H")]


def test_an_exact_repeat_is_imported_once_with_a_warning(tmp_path, pupil):
    out = import_marks(tmp_path, HEADER + f"{pupil.upn},2025-11-24,AM,/\n{pupil.upn},2025-11-24,AM,/\n")
    assert "warning: row 3: repeats row 2 exactly: imported once" in out
    assert "rows=2 inserted=1 updated=0 unchanged=0 no-mark=0 warnings=1" in out
    assert pupil.marks.count() == 1
    assert ImportBatch.objects.get().warnings[0]["message"] == "repeats row 2 exactly: imported once"


def test_unknown_columns_are_ignored_with_a_warning(tmp_path, pupil):
    out = import_marks(tmp_path, f"upn,date,session,code,teacher\n{pupil.upn},2025-11-24,AM,/,Ms Reed\n")
    assert "warning: row 1, column teacher: not a column this import uses: ignored" in out
    assert pupil.marks.count() == 1


def test_blank_lines_are_not_rows(tmp_path, pupil):
    out = import_marks(tmp_path, HEADER + f"{pupil.upn},2025-11-24,AM,/\n\n,,,\n")
    assert "rows=1 inserted=1" in out


# --- X for a pupil of compulsory school age: imported, with one warning per pupil --------------------
# The school year 2025/26 starts on Monday 1 September 2025: ages are taken on Sunday 31 August 2025.

X_MEANING = "X (not required to attend: below or above compulsory school age)"
AGE_RULE = "so of compulsory school age (5 to 15 on the 31 August before the school year)"


def pupil_born(school, born, year_group, **fields):
    return PupilFactory(
        school=school,
        date_of_birth=born,
        year_group=YearGroup.objects.get(school=school, code=year_group),
        start_on=date(2025, 9, 1),
        **fields,
    )


def x_warnings():
    return [w for w in ImportBatch.objects.latest("id").warnings if "X (not required" in w["message"]]


def test_x_for_a_year_3_pupil_is_imported_with_a_warning(tmp_path, school):
    maya = pupil_born(school, date(2018, 3, 14), "3")  # 7 on 31 August 2025
    out = import_marks(tmp_path, HEADER + f"{maya.upn},2025-09-03,AM,/\n{maya.upn},2025-09-03,PM,X\n")
    message = (
        f"UPN {maya.upn}: {X_MEANING} on 2025-09-03, but the pupil was 7 on 31 August 2025, {AGE_RULE}: check the mark"
    )
    assert f"warning: row 3, column code: {message}" in out
    assert "rows=2 inserted=2 updated=0 unchanged=0 no-mark=0 warnings=1" in out
    assert x_warnings() == [{"row": 3, "column": "code", "message": message, "upn": "", "position": 0, "when": ""}]
    assert marks_of(maya) == [("2025-09-03", "AM", "/"), ("2025-09-03", "PM", "X")]


def test_many_x_marks_for_one_pupil_give_one_warning_with_the_count_and_the_dates(tmp_path, school):
    maya = pupil_born(school, date(2018, 3, 14), "3")
    out = import_marks(
        tmp_path,
        HEADER
        + f"{maya.upn},2025-09-03,AM,X\n"
        + f"{maya.upn},2025-09-03,PM,X\n"
        + f"{maya.upn},2025-09-04,AM,/\n"
        + f"{maya.upn},2025-09-05,AM,X\n"
        + f"{maya.upn},2025-09-05,PM,X\n",
    )
    assert "warnings=1" in out
    assert [(w["row"], w["message"]) for w in x_warnings()] == [
        (
            2,
            f"UPN {maya.upn}: 4 sessions coded {X_MEANING} from 2025-09-03 to 2025-09-05 (the last on row 6), "
            f"but the pupil was 7 on 31 August 2025, {AGE_RULE}: check the marks",
        )
    ]
    assert [code for _, _, code in marks_of(maya)] == ["X", "X", "/", "X", "X"]


def test_x_marks_across_two_school_years_give_the_age_at_the_start_of_each(tmp_path, pupil):
    # The default pupil was born on 1 October 2016: 7 on 31 August 2024, 8 on 31 August 2025.
    import_marks(tmp_path, HEADER + f"{pupil.upn},2025-07-14,AM,X\n{pupil.upn},2025-09-08,AM,X\n")
    assert [w["message"] for w in x_warnings()] == [
        f"UPN {pupil.upn}: 2 sessions coded {X_MEANING} from 2025-07-14 to 2025-09-08 (the last on row 3), "
        f"but the pupil was 7 on 31 August 2024 and 8 on 31 August 2025, {AGE_RULE}: check the marks"
    ]


def test_x01_from_before_2024_is_x_and_checked_the_same_way(tmp_path, pupil, terms_2023):
    import_marks(tmp_path, HEADER + f"{pupil.upn},2023-11-20,AM,X01\n")
    assert marks_of(pupil) == [("2023-11-20", "AM", "X")]
    assert [w["message"] for w in x_warnings()] == [
        f"UPN {pupil.upn}: {X_MEANING} on 2023-11-20, but the pupil was 6 on 31 August 2023, {AGE_RULE}: check the mark"
    ]


@pytest.mark.parametrize(
    ("born", "year_group", "who"),
    [
        (date(2021, 1, 10), "R", "Reception, 4 on 31 August 2025"),
        (date(2020, 9, 1), "R", "Reception, turns 5 on 1 September 2025"),
        (date(2009, 5, 1), "12", "sixth form, 16 on 31 August 2025"),
        (date(2009, 8, 31), "12", "sixth form, turned 16 on 31 August 2025 exactly"),
    ],
)
def test_x_for_a_pupil_not_of_compulsory_school_age_is_imported_without_a_warning(
    tmp_path, school, born, year_group, who
):
    child = pupil_born(school, born, year_group)
    out = import_marks(tmp_path, HEADER + f"{child.upn},2025-09-03,AM,X\n{child.upn},2026-07-17,PM,X\n")
    assert "rows=2 inserted=2 updated=0 unchanged=0 no-mark=0 warnings=0" in out, who
    assert [code for _, _, code in marks_of(child)] == ["X", "X"]


def test_the_boundary_a_child_who_turned_5_on_31_august_is_of_compulsory_age_one_born_a_day_later_is_not(
    tmp_path, school
):
    august = pupil_born(school, date(2020, 8, 31), "1")
    september = pupil_born(school, date(2020, 9, 1), "R")
    import_marks(tmp_path, HEADER + f"{september.upn},2025-09-03,AM,X\n{august.upn},2025-09-03,AM,X\n")
    assert [w["message"] for w in x_warnings()] == [
        f"UPN {august.upn}: {X_MEANING} on 2025-09-03, but the pupil was 5 on 31 August 2025, {AGE_RULE}: check the mark"
    ]


def test_each_pupil_with_x_gets_a_warning_of_their_own(tmp_path, school):
    maya = pupil_born(school, date(2018, 3, 14), "3")
    leo = pupil_born(school, date(2012, 12, 1), "7")  # 12 on 31 August 2025
    import_marks(
        tmp_path,
        HEADER + f"{maya.upn},2025-09-03,AM,X\n{leo.upn},2025-09-03,AM,X\n{maya.upn},2025-09-03,PM,X\n",
    )
    assert [(w["row"], w["message"].split(":")[0]) for w in x_warnings()] == [
        (2, f"UPN {maya.upn}"),
        (3, f"UPN {leo.upn}"),
    ]


# --- the same file twice, and corrections ------------------------------------------------------


def test_importing_the_same_file_twice_changes_nothing(tmp_path, pupil, sam):
    text = HEADER + f"{pupil.upn},2025-11-24,AM,/\n{pupil.upn},2025-11-24,PM,N\n{sam.upn},2025-11-24,AM,I\n"
    import_marks(tmp_path, text)
    before = database_picture()
    out = import_marks(tmp_path, text)
    assert database_picture() == before
    assert "rows=3 inserted=0 updated=0 unchanged=3 no-mark=0 warnings=0" in out
    assert "This file was imported before" in out


def test_a_later_file_corrects_marks_and_keeps_the_old_value_in_history(tmp_path, pupil):
    import_marks(tmp_path, HEADER + f"{pupil.upn},2025-11-24,AM,N\n{pupil.upn},2025-11-24,PM,N\n", name="monday.csv")
    untouched = pupil.marks.get(session=AttendanceMark.Session.PM)
    started = timezone.now()

    out = import_marks(
        tmp_path,
        HEADER + f"{pupil.upn},2025-11-24,AM,I\n{pupil.upn},2025-11-24,PM,N\n{pupil.upn},2025-11-25,AM,/\n",
        name="tuesday.csv",
    )

    assert "rows=3 inserted=1 updated=1 unchanged=1" in out
    second = ImportBatch.objects.get(filename="tuesday.csv")
    corrected = pupil.marks.get(session=AttendanceMark.Session.AM, date=date(2025, 11, 24))
    assert corrected.code == "I"
    assert corrected.batch_id == second.id
    assert corrected.changed_at >= started
    change = MarkChange.objects.get()
    assert (change.mark_id, change.old_code, change.new_code, change.batch_id) == (corrected.id, "N", "I", second.id)
    assert change.changed_at >= started
    assert "tuesday.csv" in change.reason
    # An unchanged mark keeps its changed_at: the nightly job's incremental run relies on it.
    assert pupil.marks.get(pk=untouched.pk).changed_at == untouched.changed_at


def test_a_changed_comment_is_a_correction_too(tmp_path, pupil):
    import_marks(tmp_path, f"upn,date,session,code,comment\n{pupil.upn},2025-11-24,AM,I,flu\n")
    out = import_marks(tmp_path, f"upn,date,session,code,comment\n{pupil.upn},2025-11-24,AM,I,flu (GP note)\n")
    assert "updated=1" in out
    change = MarkChange.objects.get()
    assert (change.old_code, change.new_code, change.old_comment) == ("I", "I", "flu")
    assert pupil.marks.get().comment == "flu (GP note)"


def test_a_file_without_a_comment_column_leaves_stored_comments_alone(tmp_path, pupil):
    import_marks(tmp_path, f"upn,date,session,code,comment\n{pupil.upn},2025-11-24,AM,I,flu\n")
    out = import_marks(tmp_path, HEADER + f"{pupil.upn},2025-11-24,AM,I\n")
    assert "unchanged=1" in out
    assert pupil.marks.get().comment == "flu"


# --- bad files change nothing ---------------------------------------------------------------------


def test_a_upn_not_on_the_roll_is_an_error(tmp_path, pupil):
    stranger = make_upn(999)
    message = rejected(tmp_path, HEADER + f"{pupil.upn},2025-11-24,AM,/\n{stranger},2025-11-24,AM,/\n")
    assert f"row 3, column upn: UPN {stranger} is not on this school's roll" in message
    assert "marks.csv was rejected and nothing was changed: 1 problem(s)." in message


def test_marks_before_any_pupils_are_refused_in_one_line_not_one_a_row(tmp_path, school):
    rows = "".join(f"{make_upn(n)},2025-11-24,{session},/\n" for n in range(1, 40) for session in ("AM", "PM"))
    message = rejected(tmp_path, HEADER + rows)
    assert message.splitlines() == [
        "marks.csv was rejected and nothing was changed: 1 problem(s).",
        "file: the school has no pupils yet: import the pupils file first, then this one",
    ]
    assert ImportBatch.objects.latest("id").rows == 78  # the file's rows, counted though not read


def test_another_schools_pupil_is_not_on_this_schools_roll(tmp_path, pupil, other_school):
    elsewhere = PupilFactory(school=other_school)
    message = rejected(tmp_path, HEADER + f"{elsewhere.upn},2025-11-24,AM,/\n")
    assert f"row 2, column upn: UPN {elsewhere.upn} is not on this school's roll" in message


def test_a_upn_with_a_wrong_check_letter_is_an_error(tmp_path, pupil):
    wrong = ("A" if pupil.upn[0] != "A" else "B") + pupil.upn[1:]
    message = rejected(tmp_path, HEADER + f"{wrong},2025-11-24,AM,/\n")
    assert f"row 2, column upn: UPN '{wrong}' looks mistyped: its first letter" in message


def test_an_unknown_code_is_an_error(tmp_path, pupil):
    message = rejected(tmp_path, HEADER + f"{pupil.upn},2025-11-24,AM,/\n{pupil.upn},2025-11-24,PM,QQ\n")
    assert "row 3, column code: unknown attendance code 'QQ'" in message


def test_a_code_not_in_force_on_the_date_is_an_error(tmp_path, pupil):
    message = rejected(tmp_path, HEADER + f"{pupil.upn},2023-11-20,AM,J1\n{pupil.upn},2025-11-24,AM,H\n")
    assert "row 2, column code: code 'J1' is only in force from 19 Aug 2024" in message
    assert "row 3, column code: code 'H' was withdrawn after 18 Aug 2024" in message


def test_a_bad_date_is_an_error(tmp_path, pupil):
    message = rejected(tmp_path, HEADER + f"{pupil.upn},2025-13-01,AM,/\n{pupil.upn},,PM,/\n")
    assert "row 2, column date: '2025-13-01' is not a date (write YYYY-MM-DD or DD/MM/YYYY)" in message
    assert "row 3, column date: a date is required" in message


def test_marks_on_days_without_school_or_still_to_come_are_errors_naming_the_day(tmp_path, pupil):
    tomorrow = timezone.localdate() + timedelta(days=1)
    message = rejected(
        tmp_path,
        HEADER
        + f"{pupil.upn},2025-11-24,AM,/\n"  # a Monday in term: fine
        + f"{pupil.upn},22/11/2025,AM,/\n"
        + f"{pupil.upn},2025-10-29,PM,N\n"
        + f"{pupil.upn},{tomorrow.isoformat()},AM,/\n",
    )
    assert "row 2" not in message
    assert "row 3, column date: Saturday 22 November 2025 is a weekend, not a school day" in message
    assert (
        "row 4, column date: Wednesday 29 October 2025 is outside the school's term dates, not a school day"
        " (if the school was open, correct its term dates first)"
    ) in message
    when = f"{tomorrow:%A} {tomorrow.day} {tomorrow:%B %Y}"
    assert f"row 5, column date: {when} is still to come: marks are recorded on the day or after it" in message


def test_no_mark_and_closure_fillers_on_days_without_school_are_skipped_not_refused(tmp_path, pupil):
    out = import_marks(tmp_path, HEADER + f"{pupil.upn},2025-11-22,AM,#\n{pupil.upn},2025-11-22,PM,-\n")
    assert "no-mark=2" in out
    assert not pupil.marks.exists()


def test_a_bad_session_is_an_error(tmp_path, pupil):
    message = rejected(tmp_path, HEADER + f"{pupil.upn},2025-11-24,morning,/\n")
    assert "row 2, column session: session must be AM or PM, not 'morning'" in message


def test_repeated_rows_with_different_codes_are_an_error(tmp_path, pupil):
    message = rejected(
        tmp_path, HEADER + f"{pupil.upn},2025-11-24,AM,/\n{pupil.upn},2025-11-25,AM,/\n{pupil.upn},24/11/2025,AM,N\n"
    )
    assert (
        "row 4, column code: conflicts with row 2 for the same pupil, date and session (code 'N' here, '/' there)"
        in message
    )


def test_a_mark_before_the_pupil_started_is_an_error(tmp_path, school):
    newcomer = PupilFactory(school=school, start_on=date(2025, 11, 25))
    message = rejected(tmp_path, HEADER + f"{newcomer.upn},2025-11-24,AM,/\n{newcomer.upn},2025-11-25,AM,/\n")
    assert "row 2, column date: the pupil is not on roll on 2025-11-24 (on roll from 2025-11-25)" in message
    assert "row 3" not in message


def test_a_mark_after_the_pupil_left_is_an_error(tmp_path, school):
    leaver = PupilFactory(school=school, leaving_on=date(2025, 11, 21))
    message = rejected(tmp_path, HEADER + f"{leaver.upn},2025-11-24,AM,/\n")
    assert "row 2, column date: the pupil is not on roll on 2025-11-24 (left on 2025-11-21)" in message


def test_bad_minutes_late_and_long_comments_are_errors(tmp_path, pupil):
    long = "x" * 201
    message = rejected(
        tmp_path,
        "upn,date,session,code,minutes_late,comment\n"
        f"{pupil.upn},2025-11-24,AM,L,ten,\n{pupil.upn},2025-11-24,PM,L,5,{long}\n",
    )
    assert "row 2, column minutes_late: must be a whole number of minutes from 0 to 600, not 'ten'" in message
    assert "row 3, column comment: is 201 characters long; the most allowed is 200" in message


def test_a_row_with_too_few_values_is_an_error(tmp_path, pupil):
    message = rejected(tmp_path, HEADER + f"{pupil.upn},2025-11-24,AM\n")
    assert "row 2: the row has 3 values but the header has 4 columns" in message


def test_a_missing_required_column_is_an_error(tmp_path, pupil):
    message = rejected(tmp_path, f"upn,date,code\n{pupil.upn},2025-11-24,/\n{pupil.upn},2025-11-25,/\n\n")
    assert "row 1, column session: required column is missing" in message
    assert ImportBatch.objects.latest("id").rows == 2  # the rows are there, though not read


def test_a_column_under_the_name_an_mis_gives_it_says_which_column_it_should_be(tmp_path, pupil):
    message = rejected(tmp_path, f"upn,date,AM/PM,Mark\n{pupil.upn},2025-11-24,AM,/\n")
    assert (
        "row 1, column session: required column is missing: the file has a column 'am/pm'; if that is the "
        "session, name the column session" in message
    )
    assert (
        "row 1, column code: required column is missing: the file has a column 'mark'; if that is the code, "
        "name the column code" in message
    )


def test_an_empty_file_is_an_error(tmp_path, school):
    message = rejected(tmp_path, "")
    assert "file: the file is empty" in message


def test_a_spreadsheet_workbook_is_refused_with_advice(tmp_path, school):
    before = database_picture()
    path = tmp_path / "marks.xlsx"
    path.write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    message = run_rejected("import_marks", "--school", "100001", path)
    assert "save it as CSV" in message
    assert database_picture() == before


def test_one_bad_row_rejects_the_whole_file(tmp_path, pupil, sam):
    message = rejected(
        tmp_path, HEADER + f"{pupil.upn},2025-11-24,AM,/\n{sam.upn},2025-11-24,AM,/\n{sam.upn},2025-11-24,PM,??\n"
    )
    assert "1 problem(s)" in message
    assert AttendanceMark.objects.count() == 0


def test_a_bad_correction_keeps_the_earlier_marks(tmp_path, pupil):
    import_marks(tmp_path, HEADER + f"{pupil.upn},2025-11-24,AM,N\n")
    message = rejected(tmp_path, HEADER + f"{pupil.upn},2025-11-24,AM,I\n{pupil.upn},2025-11-24,PM,ZZ\n")
    assert "row 3, column code" in message
    assert marks_of(pupil) == [("2025-11-24", "AM", "N")]
    assert not MarkChange.objects.exists()


def test_every_problem_is_reported_at_once(tmp_path, pupil):
    message = rejected(
        tmp_path,
        HEADER + f"{pupil.upn},2025-11-24,XM,QQ\n{make_upn(555)},not a date,AM,/\n",
    )
    assert "4 problem(s)" in message
    assert "row 2, column session: session must be AM or PM, not 'XM'" in message
    assert "row 2, column code: unknown attendance code 'QQ'" in message
    assert f"row 3, column upn: UPN {make_upn(555)} is not on this school's roll" in message
    assert "row 3, column date: 'not a date' is not a date" in message


def test_output_is_capped_with_a_count_of_the_rest(tmp_path, pupil):
    rows = "".join(f"{pupil.upn},2025-11-24,AM,Q{n % 10}\n" for n in range(250))
    message = rejected(tmp_path, HEADER + rows)
    lines = message.splitlines()
    assert lines[0] == "marks.csv was rejected and nothing was changed: 250 problem(s)."
    assert len(lines) == 1 + 200 + 1
    assert lines[-1] == "... and 50 more"


def test_warnings_are_printed_when_a_file_is_rejected(tmp_path, pupil):
    from io import StringIO

    from django.core.management import CommandError, call_command

    err = StringIO()
    path = write(tmp_path, "marks.csv", f"upn,date,session,code,extra\n{pupil.upn},2025-11-24,AM,QQ,1\n")
    with pytest.raises(CommandError):
        call_command("import_marks", "--school", "100001", path, stdout=StringIO(), stderr=err)
    assert "warning: row 1, column extra: not a column this import uses: ignored" in err.getvalue()


def test_an_unknown_school_is_refused(tmp_path, db):
    message = run_rejected("import_marks", "--school", "999999", write(tmp_path, "marks.csv", HEADER))
    assert message == "There is no school with URN 999999."


# --- size ------------------------------------------------------------------------------------------


def test_a_larger_file_imports_whole_and_reimports_unchanged(tmp_path, school):
    pupils = [PupilFactory(school=school) for _ in range(20)]
    days = [date(2025, 9, 3) + timedelta(days=n) for n in range(60)]
    days = [d for d in days if d.weekday() < 5 and not date(2025, 10, 27) <= d <= date(2025, 10, 31)]
    rows = [
        f"{p.upn},{d.isoformat()},{s},{'/' if s == 'AM' else chr(92)}\n"
        for p in pupils
        for d in days
        for s in ("AM", "PM")
    ]
    out = import_marks(tmp_path, HEADER + "".join(rows))
    assert f"rows={len(rows)} inserted={len(rows)} updated=0" in out
    assert AttendanceMark.objects.count() == len(rows)
    out = import_marks(tmp_path, HEADER + "".join(rows))
    assert f"rows={len(rows)} inserted=0 updated=0 unchanged={len(rows)}" in out


def test_postgres_import_runs_the_same_statements_whatever_the_file_size(tmp_path, postgres_only):
    def statements(days):
        school = SchoolFactory()
        pupils = [PupilFactory(school=school) for _ in range(10)]
        school_days = list(islice(school_calendar(school).school_days(date(2024, 9, 2), TODAY), days))
        text = HEADER + "".join(f"{p.upn},{d.isoformat()},AM,/\n" for p in pupils for d in school_days)
        path = write(tmp_path, f"{days}.csv", text)
        with CaptureQueriesContext(connection) as queries:
            run("import_marks", "--school", school.urn, path)
        return len(queries)

    assert statements(5) == statements(300)


def test_other_schools_marks_are_untouched(tmp_path, pupil, other_school):
    elsewhere = PupilFactory(school=other_school)
    run(
        "import_marks",
        "--school",
        "200002",
        write(tmp_path, "theirs.csv", HEADER + f"{elsewhere.upn},2025-11-24,AM,N\n"),
    )
    import_marks(tmp_path, HEADER + f"{pupil.upn},2025-11-24,AM,/\n")
    assert marks_of(elsewhere) == [("2025-11-24", "AM", "N")]
    assert SchoolFactory._meta.model.objects.count() == 2


# --- the reader on its own (no database) -------------------------------------------------------------


def test_the_marks_reader_streams_rows_one_at_a_time():
    from itertools import count

    from pupils.calendar import calendar_from, england_default_half_terms
    from pupils.imports import ImportReport, MarkColumns, RollEntry, read_marks_csv

    upn = make_upn(7)
    endless = (HEADER if n == 0 else f"{upn},2025-11-24,{'AM' if n % 2 else 'PM'},/\n" for n in count())
    report = ImportReport(filename="endless.csv", kind="marks")
    marks = read_marks_csv(
        endless,  # type: ignore[arg-type]
        roll={upn: RollEntry(1, date(2021, 9, 1), None)},
        calendar=calendar_from(england_default_half_terms(2025)),
        today=TODAY,
        report=report,
        columns_out=MarkColumns(),
    )
    first = list(islice(marks, 3))
    assert [(m.line, m.pupil_id, m.session, m.code) for m in first] == [(2, 1, 0, "/"), (3, 1, 1, "\\"), (4, 1, 0, "/")]


def test_problems_beyond_the_kept_ones_are_counted_not_stored():
    from pupils.imports import Problem, ProblemLog

    log = ProblemLog(keep=3)
    for row in range(2, 12):
        log.add(Problem(row, "code", "unknown attendance code 'QQ'"))
    assert len(log) == 10
    assert len(log.kept) == 3
    assert log.lines(limit=2) == [
        "row 2, column code: unknown attendance code 'QQ'",
        "row 3, column code: unknown attendance code 'QQ'",
        "... and 8 more",
    ]
    assert log.as_json()[-1] == {"row": 0, "column": "", "message": "7 more not listed"}


@pytest.mark.parametrize(
    ("text", "day"),
    [("2025-11-24", date(2025, 11, 24)), ("24/11/2025", date(2025, 11, 24)), (" 4/1/2026 ", date(2026, 1, 4))],
)
def test_dates_are_read_year_first_or_day_first(text, day):
    from pupils.calendar import parse_date

    assert parse_date(text) == day


@pytest.mark.parametrize("text", ["11/24/2025", "2025-1-4", "20251124", "24-11-2025", ""])
def test_other_date_forms_are_refused(text):
    from pupils.calendar import parse_date

    with pytest.raises(ValueError):
        parse_date(text)


# --- an old file undoing a correction ------------------------------------------------------------


def test_an_import_replacing_a_mark_corrected_in_the_app_says_so(tmp_path, pupil, sam, attendance_lead):
    from pupils.people import person_name
    from pupils.services import mark_correct

    import_marks(tmp_path, HEADER + f"{pupil.upn},2025-11-24,AM,O\n{sam.upn},2025-11-24,AM,O\n", name="monday.csv")
    mark_correct(
        pupil=pupil, date=date(2025, 11, 24), session=0, code="M", reason="letter from the GP", user=attendance_lead
    )
    out = import_marks(tmp_path, HEADER + f"{pupil.upn},2025-11-24,AM,O\n{sam.upn},2025-11-24,AM,N\n", name="mis.csv")
    today = timezone.localdate()
    assert (
        f"warning: row 2, column code: replaces M with O: M was recorded in the app by "
        f"{person_name(attendance_lead)} on {today.day} {today:%b %Y}; check which is right"
    ) in out
    assert "row 3" not in out  # Sam's O came from the earlier import: a file correcting a file is no news
    assert marks_of(pupil) == [("2025-11-24", "AM", "O")]  # the file still wins; the M is in the history
    assert MarkChange.objects.filter(mark__pupil=pupil, old_code="M", new_code="O").exists()


def test_reimporting_a_file_warns_of_each_mark_changed_since_it_was_first_imported(tmp_path, pupil, sam):
    monday = HEADER + f"{pupil.upn},2025-11-24,AM,O\n{sam.upn},2025-11-24,AM,O\n{sam.upn},2025-11-24,PM,O\n"
    import_marks(tmp_path, monday, name="monday.csv")
    import_marks(tmp_path, HEADER + f"{pupil.upn},2025-11-24,AM,M\n", name="corrections.csv")
    out = import_marks(tmp_path, monday, name="monday.csv")
    today = timezone.localdate()
    assert "This file was imported before" in out
    assert (
        f"warning: row 2, column code: replaces M with O: M was recorded on {today.day} {today:%b %Y}, "
        "after this file was first imported; check which is right"
    ) in out
    assert "warnings=1" in out


def test_an_import_is_in_the_audit_trail_with_every_mark_it_corrected(tmp_path, pupil, sam, monkeypatch):
    from pupils import services
    from pupils.models import AuditEvent

    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: date(2025, 11, 26))
    file = HEADER + f"{pupil.upn},2025-11-24,AM,N\n{sam.upn},2025-11-24,AM,/\n"
    import_marks(tmp_path, file)
    # The office corrects the N by hand; the same file imported again puts it back.
    services.mark_correct(pupil=pupil, date=date(2025, 11, 24), session=0, code="I", reason="Mum rang", user=None)
    import_marks(tmp_path, file)
    first, again = ImportBatch.objects.order_by("pk")
    lines = list(AuditEvent.objects.order_by("pk").values_list("pupil_id", "what"))
    assert lines == [
        (None, f"imported Marks CSV marks.csv (import #{first.pk}): 2 new, 0 changed, 0 unchanged"),
        (pupil.pk, f"mark {pupil.upn} 2025-11-24 AM: N → I (Mum rang)"),
        (None, f"imported Marks CSV marks.csv (import #{again.pk}): 0 new, 1 changed, 1 unchanged"),
        (pupil.pk, f"mark {pupil.upn} 2025-11-24 AM: I → N (import #{again.pk}, marks.csv)"),
    ]
