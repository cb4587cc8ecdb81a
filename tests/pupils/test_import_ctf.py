"""import_marks with a Common Transfer File (CTF XML), told apart from CSV by its content."""

from __future__ import annotations

from datetime import date

import pytest

from pupils.imports import split_ctf_marks
from pupils.models import ImportBatch, MarkChange
from tests.factories import PupilFactory, make_upn
from tests.pupils.importing import database_picture, run, run_rejected, write


def ctf(*pupils: str) -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<CTfile>
  <Header>
    <DocumentName>Common Transfer File</DocumentName><CTFversion>25.0</CTFversion>
    <DateTime>2025-11-26T10:00:00</DateTime><DocumentQualifier>partial</DocumentQualifier>
    <SourceSchool><LEA>999</LEA><Estab>1234</Estab><SchoolName>Example School</SchoolName></SourceSchool>
  </Header>
  <CTFpupilData>{"".join(pupils)}
  </CTFpupilData>
</CTfile>
"""


def pupil_xml(upn: str, start: str, marks: str, *more_sessions: tuple[str, str]) -> str:
    sessions = "".join(
        f"<AttendSessions><AttendanceStartDate>{s}</AttendanceStartDate>"
        f"<AttendanceMarks>{m}</AttendanceMarks></AttendSessions>"
        for s, m in ((start, marks), *more_sessions)
    )
    return f"""
    <Pupil>
      <UPN>{upn}</UPN><Surname>Smith</Surname><Forename>Alex</Forename><DOB>2016-10-01</DOB><Sex>F</Sex>
      <Attendance>
        <YearData>
          <Year>2025</Year><LEA>999</LEA><Estab>1234</Estab><SessionsPossible>8</SessionsPossible>
          {sessions}
        </YearData>
      </Attendance>
    </Pupil>"""


def marks_of(pupil):
    return [(m.date.isoformat(), m.get_session_display(), m.code) for m in pupil.marks.order_by("date", "session")]


def import_ctf(tmp_path, text, name="transfer.xml"):
    return run("import_marks", "--school", "100001", write(tmp_path, name, text))


def rejected(tmp_path, text):
    before = database_picture()
    message = run_rejected("import_marks", "--school", "100001", write(tmp_path, "transfer.xml", text))
    assert database_picture() == before
    batch = ImportBatch.objects.latest("id")
    assert (batch.kind, batch.status) == (ImportBatch.Kind.CTF, ImportBatch.Status.FAILED)
    return message


# 2025-11-21 is a Friday: Friday AM, PM; Saturday AM, PM; Sunday AM, PM; Monday AM, PM.
FRI_TO_MON_COMMAS = "/,\\,#,#,#,#,L,C1"
FRI_TO_MON_RUN_TOGETHER = "/\\####LI"


def test_comma_separated_marks_run_am_then_pm_from_the_start_date(tmp_path, pupil):
    out = import_ctf(tmp_path, ctf(pupil_xml(pupil.upn, "2025-11-21", FRI_TO_MON_COMMAS)))
    assert marks_of(pupil) == [
        ("2025-11-21", "AM", "/"),
        ("2025-11-21", "PM", "\\"),
        ("2025-11-24", "AM", "L"),
        ("2025-11-24", "PM", "C1"),
    ]
    assert out.strip().splitlines()[-1] == (
        "Imported transfer.xml: rows=8 inserted=4 updated=0 unchanged=0 no-mark=4 warnings=1"
    )
    assert ImportBatch.objects.get().kind == ImportBatch.Kind.CTF


def test_the_old_run_together_form_is_read_one_character_a_session(tmp_path, pupil):
    import_ctf(tmp_path, ctf(pupil_xml(pupil.upn, "2025-11-21", FRI_TO_MON_RUN_TOGETHER)))
    assert marks_of(pupil) == [
        ("2025-11-21", "AM", "/"),
        ("2025-11-21", "PM", "\\"),
        ("2025-11-24", "AM", "L"),
        ("2025-11-24", "PM", "I"),
    ]


@pytest.mark.parametrize(
    ("text", "marks"),
    [
        ("/,\\,C1,J1", ["/", "\\", "C1", "J1"]),
        # Old form: a space is a session with no mark, so the marks after it stay on their own sessions.
        ("  /\\L ", [" ", " ", "/", "\\", "L"]),
        # A digit belongs to the code before it: no code is a digit alone.
        ("C1", ["C1"]),
        ("/\\C1Y1", ["/", "\\", "C1", "Y1"]),
        # Broken over indented lines: the layout is not marks.
        ("\n      /\\L\n    ", ["/", "\\", "L"]),
        ("/,,I", ["/", "", "I"]),
        ("", []),
    ],
)
def test_splitting_attendance_marks(text, marks):
    assert split_ctf_marks(text) == marks


def test_old_form_blanks_keep_later_marks_on_their_own_days(tmp_path, pupil):
    # Friday 2025-11-21 unmarked (two spaces), the weekend as filler, Monday's marks: still Monday's.
    out = import_ctf(tmp_path, ctf(pupil_xml(pupil.upn, "2025-11-21", "  ####IN")))
    assert marks_of(pupil) == [("2025-11-24", "AM", "I"), ("2025-11-24", "PM", "N")]
    assert "rows=8 inserted=2" in out
    assert "warning: file, column AttendanceMarks: 6 session(s) have no mark yet" in out  # the CTF's own name


def test_a_closure_on_a_school_day_is_stored(tmp_path, pupil):
    # Monday 2025-11-24 is in term: '#' there is a real closure (an INSET day), kept in the register.
    import_ctf(tmp_path, ctf(pupil_xml(pupil.upn, "2025-11-24", "#,#")))
    assert marks_of(pupil) == [("2025-11-24", "AM", "#"), ("2025-11-24", "PM", "#")]


def test_files_with_a_namespace_are_read(tmp_path, pupil):
    text = ctf(pupil_xml(pupil.upn, "2025-11-24", "/,\\")).replace("<CTfile>", '<CTfile xmlns="urn:example:ctf">')
    import_ctf(tmp_path, text)
    assert len(marks_of(pupil)) == 2


def test_several_pupils_and_several_runs_of_sessions(tmp_path, pupil):
    sam = PupilFactory(school=pupil.school)
    out = import_ctf(
        tmp_path,
        ctf(
            pupil_xml(pupil.upn, "2025-11-24", "/,\\", ("2025-11-26", "I,I")),
            pupil_xml(sam.upn, "2025-11-24", "N,N"),
        ),
    )
    assert "rows=6 inserted=6" in out
    assert marks_of(pupil) == [
        ("2025-11-24", "AM", "/"),
        ("2025-11-24", "PM", "\\"),
        ("2025-11-26", "AM", "I"),
        ("2025-11-26", "PM", "I"),
    ]


def test_importing_the_same_ctf_twice_changes_nothing(tmp_path, pupil):
    text = ctf(pupil_xml(pupil.upn, "2025-11-21", FRI_TO_MON_COMMAS))
    import_ctf(tmp_path, text)
    before = database_picture()
    out = import_ctf(tmp_path, text)
    assert database_picture() == before
    assert "rows=8 inserted=0 updated=0 unchanged=4 no-mark=4" in out


def test_a_later_ctf_corrects_marks_with_history(tmp_path, pupil):
    import_ctf(tmp_path, ctf(pupil_xml(pupil.upn, "2025-11-24", "N,N")), name="first.xml")
    out = import_ctf(tmp_path, ctf(pupil_xml(pupil.upn, "2025-11-24", "M,N")), name="second.xml")
    assert "updated=1 unchanged=1" in out
    change = MarkChange.objects.get()
    assert (change.old_code, change.new_code) == ("N", "M")
    assert change.batch == ImportBatch.objects.get(filename="second.xml")


def test_a_ctf_replacing_a_mark_corrected_in_the_app_names_the_pupil_and_the_mark(tmp_path, pupil, attendance_lead):
    from django.utils import timezone

    from pupils.services import mark_correct

    import_ctf(tmp_path, ctf(pupil_xml(pupil.upn, "2025-11-24", "N,N")), name="first.xml")
    mark_correct(pupil=pupil, date=date(2025, 11, 24), session=1, code="M", reason="GP letter", user=attendance_lead)
    out = import_ctf(tmp_path, ctf(pupil_xml(pupil.upn, "2025-11-24", "N,N")), name="again.xml")
    today = timezone.localdate()
    assert (
        f"warning: pupil 1 (UPN {pupil.upn}), mark 2 (2025-11-24 PM), column AttendanceMarks: replaces M with N: "
        f"M was recorded in the app by alice on {today.day} {today:%b %Y}; check which is right"
    ) in out


def test_past_the_kept_warnings_the_rest_are_counted_in_one_line(tmp_path, pupil, attendance_lead, monkeypatch):
    from pupils import imports
    from pupils.services import mark_correct

    monkeypatch.setattr(imports, "KEEP", 1)
    import_ctf(tmp_path, ctf(pupil_xml(pupil.upn, "2025-11-24", "N,N")), name="first.xml")
    for session in (0, 1):
        mark_correct(pupil=pupil, date=date(2025, 11, 24), session=session, code="M", reason="GP", user=attendance_lead)
    out = import_ctf(tmp_path, ctf(pupil_xml(pupil.upn, "2025-11-24", "N,N")), name="again.xml")
    assert "mark 1 (2025-11-24 AM), column AttendanceMarks: replaces M with N" in out
    assert "mark 2 (2025-11-24 PM)" not in out
    assert "1 more marks replaced like these: see each pupil's register history" in out


def test_a_csv_and_a_ctf_agree_on_the_same_marks(tmp_path, pupil):
    import_ctf(tmp_path, ctf(pupil_xml(pupil.upn, "2025-11-24", "/,N")))
    out = run(
        "import_marks",
        "--school",
        "100001",
        write(
            tmp_path, "same.csv", f"upn,date,session,code\n{pupil.upn},2025-11-24,AM,/\n{pupil.upn},2025-11-24,PM,N\n"
        ),
    )
    assert "unchanged=2" in out


def test_x_for_a_pupil_of_compulsory_school_age_is_imported_with_one_warning_at_the_first(tmp_path, school):
    # 2025-09-03 is a Wednesday in the first week of 2025/26: ages are taken on 31 August 2025.
    maya = PupilFactory(school=school, date_of_birth=date(2018, 3, 14), start_on=date(2025, 9, 1))  # 7: Year 3
    reception = PupilFactory(school=school, date_of_birth=date(2021, 1, 10), start_on=date(2025, 9, 1))  # 4
    out = import_ctf(
        tmp_path,
        ctf(
            pupil_xml(reception.upn, "2025-09-03", "X,X"),
            pupil_xml(maya.upn, "2025-09-03", "/,X,X,X,/,\\"),
        ),
    )
    message = (
        "3 sessions coded X (not required to attend: below or above compulsory school age) from 2025-09-03 to "
        "2025-09-04, but the pupil was 7 on 31 August 2025, so of compulsory school age (5 to 15 on the 31 August "
        "before the school year): check the marks"
    )
    assert f"warning: pupil 2 (UPN {maya.upn}), mark 2 (2025-09-03 PM), column AttendanceMarks: {message}" in out
    assert "rows=8 inserted=8 updated=0 unchanged=0 no-mark=0 warnings=1" in out
    assert ImportBatch.objects.get().warnings == [
        {
            "row": 2,
            "column": "AttendanceMarks",
            "message": message,
            "upn": maya.upn,
            "position": 2,
            "when": "2025-09-03 PM",
        }
    ]
    assert [code for _, _, code in marks_of(maya)] == ["/", "X", "X", "X", "/", "\\"]
    assert [code for _, _, code in marks_of(reception)] == ["X", "X"]


# --- bad files change nothing ---------------------------------------------------------------------


def test_a_pupil_not_on_the_roll_is_named_by_upn(tmp_path, pupil):
    stranger = make_upn(4242)
    message = rejected(
        tmp_path, ctf(pupil_xml(pupil.upn, "2025-11-24", "/,\\"), pupil_xml(stranger, "2025-11-24", "/"))
    )
    assert f"pupil 2 (UPN {stranger}), column UPN: UPN {stranger} is not on this school's roll" in message


def test_an_unknown_code_is_named_by_upn_position_date_and_session(tmp_path, pupil):
    message = rejected(tmp_path, ctf(pupil_xml(pupil.upn, "2025-11-21", "/,\\,#,#,#,#,L,QQ")))
    assert (
        f"pupil 1 (UPN {pupil.upn}), mark 8 (2025-11-24 PM), column AttendanceMarks: unknown attendance code 'QQ'"
        in message
    )


def test_a_code_not_in_force_on_its_date_is_an_error(tmp_path, pupil):
    message = rejected(tmp_path, ctf(pupil_xml(pupil.upn, "2023-11-20", "/,J1")))
    assert (
        f"pupil 1 (UPN {pupil.upn}), mark 2 (2023-11-20 PM), column AttendanceMarks: "
        "code 'J1' is only in force from 19 Aug 2024" in message
    )


def test_a_mark_outside_the_pupils_time_on_roll_is_an_error(tmp_path, school):
    newcomer = PupilFactory(school=school, start_on=date(2025, 11, 25))
    message = rejected(tmp_path, ctf(pupil_xml(newcomer.upn, "2025-11-24", "/,\\,/,\\")))
    assert (
        f"pupil 1 (UPN {newcomer.upn}), mark 1 (2025-11-24 AM), column AttendanceMarks: "
        "the pupil is not on roll on 2025-11-24 (on roll from 2025-11-25)" in message
    )
    assert "2 problem(s)" in message


def test_a_bad_start_date_is_an_error(tmp_path, pupil):
    message = rejected(tmp_path, ctf(pupil_xml(pupil.upn, "24/11/2025", "/,\\")))
    assert (
        f"pupil 1 (UPN {pupil.upn}), column AttendanceStartDate: '24/11/2025' is not a date in the form YYYY-MM-DD"
        in message
    )


def test_the_same_session_twice_with_different_marks_is_an_error(tmp_path, pupil):
    message = rejected(tmp_path, ctf(pupil_xml(pupil.upn, "2025-11-24", "/,\\", ("2025-11-24", "N,\\"))))
    assert (
        f"pupil 1 (UPN {pupil.upn}), mark 1 (2025-11-24 AM), column AttendanceMarks: "
        "conflicts with mark 1 of pupil 1 for the same pupil, date and session (code 'N' here, '/' there)" in message
    )


def test_xml_that_is_not_well_formed_is_an_error(tmp_path, pupil):
    message = rejected(tmp_path, ctf(pupil_xml(pupil.upn, "2025-11-24", "/,\\")).replace("</CTfile>", ""))
    assert "file: the XML is not well formed at line" in message


def test_xml_that_is_not_a_ctf_is_an_error(tmp_path, pupil):
    message = rejected(tmp_path, "<register><mark/></register>")
    assert "file: not a Common Transfer File: the root element is 'register', not 'CTfile'" in message


def test_a_ctf_without_pupils_is_an_error(tmp_path, pupil):
    message = rejected(tmp_path, ctf())
    assert "file: the file has no CTFpupilData/Pupil elements" in message


def test_a_mark_on_a_weekend_is_named_by_upn_position_and_date(tmp_path, pupil):
    # Friday 21 November: the Saturday's AM is mark 3; '#' is the filler a weekend should carry.
    message = rejected(tmp_path, ctf(pupil_xml(pupil.upn, "2025-11-21", "/,\\,/,#,#,#,L,I")))
    assert (
        f"pupil 1 (UPN {pupil.upn}), mark 3 (2025-11-22 AM), column AttendanceMarks:"
        " Saturday 22 November 2025 is a weekend, not a school day" in message
    )
    assert "mark 4" not in message


def test_attendance_at_an_earlier_school_is_left_out_with_a_warning(tmp_path, pupil):
    earlier_school = """
        <YearData>
          <Year>2025</Year><LEA>888</LEA><Estab>5678</Estab><SchoolName>Oak Primary</SchoolName>
          <AttendSessions><AttendanceStartDate>2025-11-21</AttendanceStartDate>
          <AttendanceMarks>N,N</AttendanceMarks></AttendSessions>
        </YearData>"""
    xml = pupil_xml(pupil.upn, "2025-11-24", "/,L").replace("</Attendance>", f"{earlier_school}</Attendance>")
    out = import_ctf(tmp_path, ctf(xml))
    assert marks_of(pupil) == [("2025-11-24", "AM", "/"), ("2025-11-24", "PM", "L")]
    assert (
        "attendance in 2025 at Oak Primary (LEA 888, Estab 5678) is another school's, not the file's source"
        " school's (LEA 999, Estab 1234): not imported"
    ) in out
    assert "rows=2 inserted=2" in out.strip().splitlines()[-1]
