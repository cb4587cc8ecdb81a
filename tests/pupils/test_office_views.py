"""The office pages: imports from the web, the register grid with corrections, and the first-day calls.

Owen works in Oakfield's office; Alice is its attendance lead. Everyone else
(teacher, senior leader, DSL, LA officer, and Olivia from Birchwood) gets a 404.
"""

from __future__ import annotations

from datetime import date

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from pupils import selectors, uploads
from pupils.models import AttendanceMark, AuditEvent, ImportBatch, MarkChange, Pupil, StaffMembership
from tests.factories import (
    ContactFactory,
    MarkFactory,
    MembershipFactory,
    PupilFactory,
    RegistrationGroupFactory,
    UserFactory,
    make_upn,
)
from tests.pupils.importing import database_picture

Role = StaffMembership.Role

MONDAY = date(2025, 11, 24)
WEEK = MONDAY.isoformat()
MARKS_HEADER = "upn,date,session,code\n"


@pytest.fixture(autouse=True)
def clean_cache_and_media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def staff(school, attendance_lead, class_teacher, outsider):
    """Everyone, by name: alice lead, owen office, bob teacher, sam SLT, dana DSL, lara LA officer, olivia outsider."""

    def member(username, role):
        return MembershipFactory(user=UserFactory(username=username), school=school, role=role).user

    return {
        "alice": attendance_lead,
        "owen": member("owen", Role.OFFICE),
        "bob": class_teacher,
        "sam": member("sam", Role.SENIOR_LEADER),
        "dana": member("dana", Role.DSL),
        "lara": member("lara", Role.LA_OFFICER),
        "olivia": outsider,
    }


@pytest.fixture
def owen(client, staff):
    client.force_login(staff["owen"])
    return client


@pytest.fixture
def class_4b(school):
    return RegistrationGroupFactory(school=school, name="4B")


@pytest.fixture
def alex(school, class_4b):
    return PupilFactory(school=school, forename="Alex", surname="Smith", registration_group=class_4b)


@pytest.fixture
def sam(school, class_4b):
    return PupilFactory(school=school, forename="Sam", surname="Jones", registration_group=class_4b)


def url(name, school, *args):
    return reverse(f"pupils:{name}", args=[school.urn, *args])


def upload(client, school, text, *, name="marks.csv", kind="marks", **extra):
    file = SimpleUploadedFile(name, text.encode("utf-8"), content_type="text/csv")
    return client.post(url("office", school), {"kind": kind, "file": file}, **extra)


def mark_url(school, pupil, day, session="am"):
    return url("register_mark", school, pupil.pk, day.isoformat(), session)


def cell_html(body, pupil, day, session):
    """The <td> of one cell in a page or fragment."""
    start = body.index(f'<td id="cell-{pupil.pk}-{day:%Y%m%d}-{session}"')
    return body[start : body.index("</td>", start)]


# --- the office's home page ------------------------------------------------------------------


def test_office_lands_on_the_office_page_from_the_front_door(owen, school):
    response = owen.get(reverse("school_home", args=[school.urn]), follow=True)
    assert response.redirect_chain[-1][0] == url("office", school)
    body = response.content.decode()
    assert "Import a file" in body and "Recent imports" in body


def test_the_office_page_shows_this_years_term_dates_that_marks_are_checked_against(owen, school):
    from pupils.models import HalfTerm

    today = timezone.localdate()
    halves = HalfTerm.objects.filter(school=school, academic_year__end_on__gte=today).order_by("start_on")
    assert halves.exists()
    page = owen.get(url("office", school)).content.decode()
    terms = page.split('id="term-dates"')[1].split("</section>")[0]
    for half in halves:
        assert f"{half.start_on:%a} {half.start_on.day} {half.start_on:%b %Y}" in terms and half.name in terms
    assert school.half_terms.exclude(pk__in=halves).exists()  # last year's, not to be shown
    shown = [f"{o.start_on:%a} {o.start_on.day} {o.start_on:%b %Y}" for o in school.half_terms.exclude(pk__in=halves)]
    assert [day for day in shown if day in terms] == []  # earlier years' dates left out
    HalfTerm.objects.filter(school=school).delete()
    page = owen.get(url("office", school)).content.decode()
    assert "The school has no term dates for this school year yet" in page


def test_blank_files_to_start_from_have_every_column_an_import_reads_and_import_cleanly(owen, school, alex):
    page = owen.get(url("office", school)).content.decode()
    marks_url = reverse("pupils:blank_csv", args=[school.urn, "marks"])
    assert f'<a href="{marks_url}" download>a blank marks CSV</a>' in page
    marks = owen.get(marks_url)
    assert marks["Content-Type"] == "text/csv; charset=utf-8"
    assert marks["Content-Disposition"] == f'attachment; filename="marks-{school.urn}.csv"'
    assert marks.content.decode() == "upn,date,session,code,minutes_late,comment\r\n"
    header = owen.get(reverse("pupils:blank_csv", args=[school.urn, "pupils"])).content.decode().strip()
    assert header.startswith("upn,surname,forename,date_of_birth,year_group,registration_group,sen,flags,")
    assert "contact_salutation" in header.split(",")
    # Filled in, the blank file imports.
    response = upload(owen, school, marks.content.decode() + f"{alex.upn},2025-11-24,AM,/,,\n", name="filled.csv")
    assert AttendanceMark.objects.filter(pupil=alex).count() == 1, response.content.decode()[:500]
    assert owen.get(reverse("pupils:blank_csv", args=[school.urn, "secrets"])).status_code == 404


def test_office_page_lists_recent_imports_with_their_status(owen, school, alex, staff):
    staff["owen"].first_name, staff["owen"].last_name = "Owen", "Price"
    staff["owen"].save()
    upload(owen, school, MARKS_HEADER + f"{alex.upn},2025-11-24,AM,/\n", name="good.csv")
    upload(owen, school, MARKS_HEADER + f"{alex.upn},2025-11-24,AM,ZZ\n", name="bad.csv")
    body = owen.get(url("office", school)).content.decode()
    assert "good.csv" in body and "bad.csv" in body
    assert "Imported" in body and "Rejected" in body
    assert body.count('<td class="small">Owen Price</td>') == 2  # by the name people know, not the login


# --- uploading files ---------------------------------------------------------------------------


def test_a_good_marks_file_is_imported_and_its_counts_shown(owen, school, alex, sam):
    response = upload(
        owen,
        school,
        MARKS_HEADER
        + f"{alex.upn},2025-11-24,AM,/\n{alex.upn},2025-11-24,PM,\\\n{sam.upn},2025-11-24,AM,I\n{sam.upn},2025-11-24,PM,-\n",
        follow=True,
    )
    batch = ImportBatch.objects.get()
    assert response.redirect_chain[-1][0] == url("import", school, batch.pk)
    body = response.content.decode()
    assert "Imported." in body
    assert "4 rows in the file: 3 new marks, 0 changed" in body
    assert "1 session(s) have no mark yet" in body  # the warning, listed
    # Its row numbers are the spreadsheet's, header included: said beside the count that leaves it out.
    assert (
        '4 <span class="text-body-secondary">(after the header: problems give the row as a spreadsheet numbers it'
        in body
    )
    assert (batch.status, batch.created_by.username, batch.filename) == ("done", "owen", "marks.csv")
    assert sorted(AttendanceMark.objects.values_list("code", flat=True)) == ["/", "I", "\\"]


def test_x_for_a_pupil_of_compulsory_school_age_is_imported_and_the_warning_shown(owen, school, alex):
    # Alex was born on 1 October 2016: 8 on 31 August 2025, so of compulsory school age all of 2025/26.
    response = upload(owen, school, MARKS_HEADER + f"{alex.upn},2025-11-24,AM,X\n", follow=True)
    body = response.content.decode()
    assert "Imported." in body and "Warnings: imported, but worth a look" in body
    assert '<td class="text-nowrap">2</td>' in body and "<code>code</code>" in body
    assert (
        f"UPN {alex.upn}: X (not required to attend: below or above compulsory school age) on 2025-11-24, "
        "but the pupil was 8 on 31 August 2025"
    ) in body
    assert alex.marks.get().code == "X"


def test_a_bad_marks_file_changes_nothing_and_every_problem_is_shown_by_row_and_column(owen, school, alex):
    MarkFactory(pupil=alex, date=MONDAY, code="/")
    before = database_picture()
    response = upload(
        owen,
        school,
        MARKS_HEADER + f"{alex.upn},2025-11-24,AM,N\n{alex.upn},2023-11-20,AM,J1\n{make_upn(99)},2025-11-24,XX,/\n",
        follow=True,
    )
    assert database_picture() == before
    batch = ImportBatch.objects.get()
    assert batch.status == ImportBatch.Status.FAILED
    body = response.content.decode()
    assert "The file was rejected and nothing was changed" in body
    assert "3 problems" in body
    rows = [(p["row"], p["column"]) for p in batch.errors]
    assert rows == [(3, "code"), (4, "upn"), (4, "session")]
    assert "code &#x27;J1&#x27; is only in force from 19 Aug 2024" in body
    assert '<td class="text-nowrap">3</td>' in body and "<code>code</code>" in body
    assert "session must be AM or PM, not &#x27;XX&#x27;" in body


def test_a_refused_files_warnings_do_not_say_its_rows_were_imported(owen, school, alex):
    row = f"{alex.upn},2025-11-24,AM,/\n"
    response = upload(owen, school, MARKS_HEADER + row + row + f"{alex.upn},2025-11-24,PM,XX\n", follow=True)
    body = response.content.decode()
    assert "repeats row 2 exactly: imported once" in body  # what importing it would do
    assert (
        "Warnings: nothing was imported; once the problems above are put right, the file would import these rows"
        in body
    )
    assert "imported, but worth a look" not in body


def test_a_file_with_more_problems_than_are_kept_says_how_many_in_all(owen, school, alex):
    text = MARKS_HEADER + "".join(f"{alex.upn},2025-11-24,AM,Q{i}\n" for i in range(1500))
    response = upload(owen, school, text, follow=True)
    body = response.content.decode()
    assert "1500 problems, listed below by row and column (the first 1000)." in body
    assert "1500 in all: only the first 1000 are kept." in body
    assert body.count("unknown attendance code") == 1000
    assert ">1500</span>" in owen.get(url("office", school)).content.decode()


def test_a_pupils_file_adds_pupils(owen, school):
    text = "upn,surname,forename,date_of_birth,year_group,registration_group,contact_name,contact_phone\n"
    text += f"{make_upn(7)},Patel,Riya,2017-03-02,3,3A,Asha Patel,07700 900123\n"
    response = upload(owen, school, text, name="roll.csv", kind="pupils", follow=True)
    riya = Pupil.objects.get(upn=make_upn(7))
    assert (riya.forename, riya.registration_group.name) == ("Riya", "3A")
    body = response.content.decode()
    assert "1 pupil in the file: 1 new" in body
    assert "Created registration group 3A (row 2)." in body  # the import's notes


def test_a_refused_pupils_file_does_not_claim_to_have_created_anything(owen, school):
    from pupils.models import Flag

    Flag.objects.get_or_create(school=school, key="fsm", defaults={"name": "Free school meals"})
    header = "upn,surname,forename,date_of_birth,year_group,registration_group,flags\n"
    rows = f"{make_upn(31)},Ng,Ada,2016-10-01,4,Oak 9,forest_club\n{make_upn(32)},Ng,Bo,2016-10-01,4,4B,fms\n"
    before = database_picture()
    response = upload(owen, school, header + rows, name="roll.csv", kind="pupils", follow=True)
    assert database_picture() == before
    body = response.content.decode()
    assert "&#x27;fms&#x27; is not one of the school&#x27;s flags" in body
    assert "Created registration group" not in body and "created it as one of the school" not in body


def test_a_bad_pupils_file_names_the_missing_column(owen, school):
    before = database_picture()
    response = upload(owen, school, "upn,surname\nA,B\n", name="roll.csv", kind="pupils", follow=True)
    assert database_picture() == before
    body = response.content.decode()
    assert "required column is missing" in body and "<code>forename</code>" in body


def test_a_ctf_file_is_told_apart_by_its_content(owen, school, alex):
    from tests.pupils.test_import_ctf import ctf, pupil_xml

    response = upload(owen, school, ctf(pupil_xml(alex.upn, "2025-11-24", "/\\")), name="transfer.xml", follow=True)
    batch = ImportBatch.objects.get()
    assert batch.kind == ImportBatch.Kind.CTF and batch.status == "done"
    assert "CTF XML" in response.content.decode()
    assert alex.marks.count() == 2
    page = owen.get(reverse("pupils:import", args=[school.urn, batch.pk])).content.decode()
    assert "Marks in the file" in page and "their place in the file and their UPN" in page
    assert "as a spreadsheet numbers it" not in page  # there are no spreadsheet rows in XML


def test_an_upload_with_no_file_is_refused_in_place(owen, school):
    response = owen.post(url("office", school), {"kind": "marks"})
    assert response.status_code == 422
    assert "This field is required." in response.content.decode()
    assert not ImportBatch.objects.exists()


def test_an_upload_goes_to_a_temporary_file_never_whole_into_memory(owen, school, alex, monkeypatch):
    from django.core.files.uploadedfile import TemporaryUploadedFile

    seen = []
    start = uploads.upload_start
    monkeypatch.setattr(uploads, "upload_start", lambda **kw: (seen.append(type(kw["upload"])), start(**kw))[1])
    upload(owen, school, MARKS_HEADER + f"{alex.upn},2025-11-24,AM,/\n")
    assert seen == [TemporaryUploadedFile]


def test_uploading_still_needs_the_csrf_token(school, staff, alex):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(staff["owen"])
    response = upload(client, school, MARKS_HEADER + f"{alex.upn},2025-11-24,AM,/\n")
    assert response.status_code == 403
    assert not ImportBatch.objects.exists()


def test_the_uploaded_file_is_not_kept(owen, school, alex, settings):
    upload(owen, school, MARKS_HEADER + f"{alex.upn},2025-11-24,AM,/\n")
    assert list((settings.MEDIA_ROOT / "imports").iterdir()) == []


# --- large files: in the background, with progress ----------------------------------------------


def test_a_large_file_is_imported_by_the_task(owen, school, alex, settings, monkeypatch):
    from pupils.tasks import import_upload_task

    settings.OFFICE_IMPORT_INLINE_BYTES = 10  # everything is "large"; tasks run eagerly in tests
    queued = []
    delay = import_upload_task.delay
    monkeypatch.setattr(import_upload_task, "delay", lambda *args: (queued.append(args), delay(*args))[1])
    response = upload(owen, school, MARKS_HEADER + f"{alex.upn},2025-11-24,AM,/\n", follow=True)
    batch = ImportBatch.objects.get()
    assert response.redirect_chain[-1][0] == url("import", school, batch.pk)
    assert [(school_id, user_id) for _, school_id, user_id in queued] == [(school.pk, batch.created_by_id)]
    assert batch.status == "done" and alex.marks.get().code == "/"


def test_progress_is_shown_while_the_file_is_read_and_polled_by_htmx(owen, school, staff):
    progress = uploads.UploadProgress(
        token="abc123", school_id=school.pk, kind="marks", filename="year.csv", size=4000, uploaded_by="owen"
    )
    progress.state, progress.bytes_read = "reading", 1000
    uploads._save(progress)
    page = owen.get(url("upload", school, "abc123"))
    body = page.content.decode()
    assert "Reading and checking every row" in body and "25%" in body
    assert 'hx-trigger="every 1s"' in body and "<nav" in body
    fragment = owen.get(url("upload", school, "abc123"), HTTP_HX_REQUEST="true").content.decode()
    assert fragment.lstrip().startswith('<div id="upload-progress"') and "<nav" not in fragment


def test_a_finished_upload_sends_the_page_to_its_import(owen, school, alex, settings):
    settings.OFFICE_IMPORT_INLINE_BYTES = 10
    upload(owen, school, MARKS_HEADER + f"{alex.upn},2025-11-24,AM,/\n")
    token = cache.get(f"pupils:uploads:{school.pk}")[0]
    batch = ImportBatch.objects.get()
    response = owen.get(url("upload", school, token), HTTP_HX_REQUEST="true")
    assert response["HX-Redirect"] == url("import", school, batch.pk)
    assert owen.get(url("upload", school, token)).url == url("import", school, batch.pk)


def test_the_import_reports_each_stage_of_its_progress(school, alex, staff, monkeypatch, tmp_path):
    seen = []
    real_save = uploads._save
    monkeypatch.setattr(uploads, "_save", lambda p: (seen.append(p.state), real_save(p)))
    weekdays = [d for d in range(3, 29) if date(2025, 11, d).weekday() < 5]
    text = MARKS_HEADER + "".join(f"{alex.upn},2025-11-{d:02d},AM,/\n" for d in weekdays)
    progress = uploads.upload_start(
        school=school,
        user=staff["owen"],
        kind="marks",
        upload=SimpleUploadedFile("m.csv", text.encode()),
    )
    assert progress.state == "done" and progress.batch_id == ImportBatch.objects.get().pk
    states = [s for i, s in enumerate(seen) if i == 0 or seen[i - 1] != s]
    assert states == ["queued", "checking", "reading", "writing", "done"]


def test_an_import_that_breaks_shows_as_stopped_and_changes_nothing(owen, school, alex, monkeypatch, settings):
    def broken(**kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("pupils.services.marks_import", broken)
    response = upload(owen, school, MARKS_HEADER + f"{alex.upn},2025-11-24,AM,/\n", follow=True)
    body = response.content.decode()
    assert "The import stopped before it finished: disk on fire" in body
    assert not AttendanceMark.objects.exists()
    assert list((settings.MEDIA_ROOT / "imports").iterdir()) == []
    assert "Stopped" in owen.get(url("office", school)).content.decode()


def test_an_import_that_cannot_be_queued_shows_as_stopped(owen, school, alex, monkeypatch, settings):
    from pupils.tasks import import_upload_task

    def no_broker(*args):
        raise ConnectionError("Redis is not answering")

    settings.OFFICE_IMPORT_INLINE_BYTES = 10
    monkeypatch.setattr(import_upload_task, "delay", no_broker)
    response = upload(owen, school, MARKS_HEADER + f"{alex.upn},2025-11-24,AM,/\n", follow=True)
    assert "The import stopped before it finished: the import could not start (Redis is not answering)" in (
        response.content.decode()
    )
    assert list((settings.MEDIA_ROOT / "imports").iterdir()) == []


def test_another_schools_upload_and_import_are_404(client, school, other_school, staff, alex):
    upload_client = client
    upload_client.force_login(staff["owen"])
    upload(upload_client, school, MARKS_HEADER + f"{alex.upn},2025-11-24,AM,/\n")
    batch = ImportBatch.objects.get()
    olivia = MembershipFactory(user=UserFactory(username="olga2"), school=other_school, role=Role.OFFICE).user
    client.force_login(olivia)
    assert client.get(url("import", other_school, batch.pk)).status_code == 404
    progress = uploads.UploadProgress(
        token="t1", school_id=school.pk, kind="marks", filename="x.csv", size=1, uploaded_by="owen"
    )
    uploads._save(progress)
    assert client.get(url("upload", other_school, "t1")).status_code == 404


# --- the register grid ----------------------------------------------------------------------


def test_the_grid_shows_each_pupils_codes_coloured_by_category(owen, school, alex, sam):
    MarkFactory(pupil=alex, date=MONDAY, session=0, code="/")
    MarkFactory(pupil=alex, date=MONDAY, session=1, code="I")
    MarkFactory(pupil=sam, date=date(2025, 11, 26), session=0, code="O")
    MarkFactory(pupil=sam, date=date(2025, 11, 28), session=1, code="#")
    MarkFactory(pupil=sam, date=date(2025, 12, 1), session=0, code="N")  # next week: not shown
    response = owen.get(url("register", school), {"class": alex.registration_group_id, "week": "2025-11-26"})
    assert response.status_code == 200
    week = response.context["week"]
    assert week.monday == MONDAY
    assert [p.surname for p, _ in week.rows] == ["Jones", "Smith"]
    codes = {(p.surname, c.day.isoformat(), c.session_name): (c.code, c.css) for p, cells in week.rows for c in cells}
    assert codes[("Smith", "2025-11-24", "AM")] == ("/", "mark-present")
    assert codes[("Smith", "2025-11-24", "PM")] == ("I", "mark-authorised")
    assert codes[("Jones", "2025-11-26", "AM")] == ("O", "mark-unauthorised")
    assert codes[("Jones", "2025-11-28", "PM")] == ("#", "mark-not_possible")
    assert codes[("Jones", "2025-11-24", "AM")] == ("", "mark-none")
    body = response.content.decode()
    assert "mark-authorised" in cell_html(body, alex, MONDAY, 1) and ">I</a>" in cell_html(body, alex, MONDAY, 1)
    assert "week of Monday 24 November 2025" in body
    assert "week=2025-11-17" in body and "week=2025-12-01" in body  # previous and next weeks


def test_the_grid_defaults_to_the_first_class_and_this_week(owen, school, alex):
    RegistrationGroupFactory(school=school, name="6C")
    response = owen.get(url("register", school))
    assert response.context["group"].name == "4B"
    assert response.context["monday"].weekday() == 0


def test_the_grid_leaves_out_pupils_not_on_roll_that_week_and_greys_days_off_roll(owen, school, alex, class_4b):
    PupilFactory(
        school=school,
        registration_group=class_4b,
        surname="Gone",
        start_on=date(2021, 9, 1),
        leaving_on=date(2025, 11, 1),
    )
    PupilFactory(school=school, registration_group=class_4b, surname="Newcomer", start_on=date(2025, 11, 26))
    week = owen.get(url("register", school), {"class": class_4b.pk, "week": WEEK}).context["week"]
    assert [p.surname for p, _ in week.rows] == ["Newcomer", "Smith"]
    newcomer = week.rows[0][1]
    assert [c.on_roll for c in newcomer] == [False] * 4 + [True] * 6


def test_the_grid_marks_holidays_as_no_school(owen, school, alex):
    response = owen.get(url("register", school), {"class": alex.registration_group_id, "week": "2025-12-22"})
    assert [d.is_school_day for d in response.context["week"].days] == [False] * 5
    assert "no school" in response.content.decode()


def test_htmx_navigation_returns_only_the_grid(owen, school, alex):
    response = owen.get(
        url("register", school), {"class": alex.registration_group_id, "week": WEEK}, HTTP_HX_REQUEST="true"
    )
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="register-grid"') and '<nav class="navbar' not in body


def test_the_grid_takes_a_fixed_number_of_queries_whatever_the_class_size(owen, school, class_4b):
    def queries_for(size, group_name):
        group = RegistrationGroupFactory(school=school, name=group_name)
        for i in range(size):
            pupil = PupilFactory(school=school, registration_group=group)
            for session in (0, 1):
                MarkFactory(pupil=pupil, date=MONDAY, session=session, code="/")
            if i % 2:
                MarkChange.objects.create(
                    mark=pupil.marks.first(), old_code="N", new_code="/", changed_at=MONDAY.isoformat() + "T09:00Z"
                )
        with CaptureQueriesContext(connection) as captured:
            response = owen.get(url("register", school), {"class": group.pk, "week": WEEK})
        assert len(response.context["week"].rows) == size
        return len(captured)

    assert queries_for(3, "3S") == queries_for(30, "3L")


def test_bad_class_or_week_is_404(owen, school, other_school, alex):
    other_class = RegistrationGroupFactory(school=other_school, name="4B")
    assert owen.get(url("register", school), {"class": other_class.pk}).status_code == 404
    assert owen.get(url("register", school), {"class": "x"}).status_code == 404
    assert owen.get(url("register", school), {"week": "2025-13-01"}).status_code == 404


def test_viewing_a_register_is_audited(owen, school, alex):
    owen.get(url("register", school), {"class": alex.registration_group_id, "week": WEEK})
    event = AuditEvent.objects.get(verb="view")
    assert event.what == "register of 4B, week of 24 Nov 2025" and event.user.username == "owen"


# --- correcting a mark -------------------------------------------------------------------------


def test_a_correction_keeps_the_old_value_and_the_reason(owen, school, alex):
    mark = MarkFactory(pupil=alex, date=MONDAY, code="N", minutes_late=None, comment="no call")
    before = mark.changed_at
    response = owen.post(mark_url(school, alex, MONDAY), {"code": "i", "reason": "Mum rang: flu"})
    assert response.status_code == 302
    assert response.url == f"{url('register', school)}?class={alex.registration_group_id}&week={WEEK}"
    mark.refresh_from_db()
    assert (mark.code, mark.recorded_by.username, mark.batch_id) == ("I", "owen", None)
    assert mark.changed_at > before
    change = mark.history.get()
    assert (change.old_code, change.new_code, change.reason, change.changed_by.username, change.old_comment) == (
        "N",
        "I",
        "Mum rang: flu",
        "owen",
        "no call",
    )
    event = AuditEvent.objects.get(verb="change")
    assert event.pupil == alex and event.what == f"mark {alex.upn} 2025-11-24 AM: N → I (Mum rang: flu)"


def test_htmx_opens_the_editor_in_the_cell_and_saves_in_place(owen, school, alex):
    MarkFactory(pupil=alex, date=MONDAY, code="N")
    editor = owen.get(mark_url(school, alex, MONDAY), HTTP_HX_REQUEST="true").content.decode()
    assert editor.lstrip().startswith(f'<td id="cell-{alex.pk}-20251124-0"')
    assert 'hx-post="' in editor and 'method="post"' in editor and 'action="' in editor
    assert '<option value="I" label="I: Illness' in editor
    saved = owen.post(mark_url(school, alex, MONDAY), {"code": "M", "reason": "Dentist"}, HTTP_HX_REQUEST="true")
    body = saved.content.decode()
    assert saved.status_code == 200
    assert body.lstrip().startswith(f'<td id="cell-{alex.pk}-20251124-0"')
    assert "mark-authorised" in cell_html(body, alex, MONDAY, 0)
    assert ">M<sup" in body and "Saved" in body
    cancel = owen.get(mark_url(school, alex, MONDAY) + "?cancel=1", HTTP_HX_REQUEST="true").content.decode()
    assert "<form" not in cancel and ">M<sup" in cancel


def test_x_for_a_pupil_of_compulsory_school_age_is_saved_with_a_warning(owen, school, alex):
    warning = (
        "Alex Smith: X (not required to attend: below or above compulsory school age) on 2025-11-24, but the pupil "
        "was 8 on 31 August 2025, so of compulsory school age (5 to 15 on the 31 August before the school year): "
        "check the mark."
    )
    response = owen.post(mark_url(school, alex, MONDAY), {"code": "X", "reason": "Not required"}, follow=True)
    assert alex.marks.get().code == "X"
    assert [(m.level_tag, str(m)) for m in response.context["messages"]] == [
        ("success", "Alex Smith, Mon 24 Nov AM: X."),
        ("warning", warning),
    ]
    assert '<div class="alert alert-warning" role="status">' in response.content.decode()


def test_htmx_saves_x_in_place_and_the_cell_asks_for_a_check(owen, school, alex):
    saved = owen.post(
        mark_url(school, alex, MONDAY, "pm"), {"code": "X", "reason": "Not required"}, HTTP_HX_REQUEST="true"
    )
    assert saved.status_code == 200
    cell = cell_html(saved.content.decode(), alex, MONDAY, 1)
    assert "check the age" in cell and "was 8 on 31 August 2025, so of compulsory school age" in cell
    assert alex.marks.get().code == "X"


def test_x_for_a_reception_pupil_is_saved_without_a_warning(owen, school, class_4b):
    reception = PupilFactory(  # 4 on 31 August 2025
        school=school,
        forename="Rae",
        surname="Hill",
        date_of_birth=date(2021, 1, 10),
        start_on=date(2025, 9, 1),
        registration_group=class_4b,
    )
    response = owen.post(mark_url(school, reception, MONDAY), {"code": "X", "reason": "Not required"}, follow=True)
    assert [m.level_tag for m in response.context["messages"]] == ["success"]
    saved = owen.post(
        mark_url(school, reception, MONDAY, "pm"), {"code": "X", "reason": "Not required"}, HTTP_HX_REQUEST="true"
    )
    assert "check the age" not in saved.content.decode()
    assert [m.code for m in reception.marks.all()] == ["X", "X"]


def test_other_codes_are_saved_without_a_warning(owen, school, alex):
    response = owen.post(mark_url(school, alex, MONDAY), {"code": "D", "reason": "Dual registered"}, follow=True)
    assert [m.level_tag for m in response.context["messages"]] == ["success"]


@pytest.mark.parametrize(
    ("day", "code", "message"),
    [
        (
            date(2023, 11, 20),
            "J1",
            "Code J1 cannot be used on Monday 20 November 2023: code &#x27;J1&#x27; is only in force from 19 Aug 2024.",
        ),
        (MONDAY, "ZZ", "ZZ is not an attendance code: choose one from the list, for example / or \\ (present),"),
        (
            MONDAY,
            "H",
            "Code H cannot be used on Monday 24 November 2025: code &#x27;H&#x27; was withdrawn after 18 Aug 2024: "
            "record C for leave the school agreed in exceptional circumstances, G for a holiday it did not agree.",
        ),
        (MONDAY, "-", "Enter an attendance code"),
    ],
)
def test_an_invalid_code_is_refused_in_place_and_changes_nothing(owen, school, alex, day, code, message, terms_2023):
    MarkFactory(pupil=alex, date=day, code="N")
    before = database_picture()
    response = owen.post(mark_url(school, alex, day), {"code": code, "reason": "typo"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    body = response.content.decode()
    assert message in body
    assert body.lstrip().startswith("<td")
    assert database_picture() == before
    assert not AuditEvent.objects.filter(verb="change").exists()


def test_without_javascript_an_invalid_code_shows_the_page_again_with_the_message(owen, school, alex):
    response = owen.post(mark_url(school, alex, MONDAY), {"code": "ZZ", "reason": "x"})
    assert response.status_code == 422
    body = response.content.decode()
    assert "ZZ is not an attendance code" in body and "<nav" in body and "History" in body


def test_a_reason_is_required(owen, school, alex):
    MarkFactory(pupil=alex, date=MONDAY, code="N")
    response = owen.post(mark_url(school, alex, MONDAY), {"code": "I", "reason": ""}, HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    assert "Give a reason: it is kept with the mark&#x27;s history." in response.content.decode()
    assert alex.marks.get().code == "N"


def test_a_bad_code_and_a_missing_reason_are_named_together(owen, school, alex):
    MarkFactory(pupil=alex, date=MONDAY, code="N")
    response = owen.post(mark_url(school, alex, MONDAY), {"code": "ZZ", "reason": ""}, HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    body = response.content.decode()
    assert "ZZ is not an attendance code" in body and "Give a reason" in body
    assert alex.marks.get().code == "N"


def test_a_date_outside_the_pupils_time_on_roll_is_refused(owen, school, alex):
    alex.start_on, day = date(2025, 11, 25), MONDAY
    alex.save()
    response = owen.post(mark_url(school, alex, day), {"code": "/", "reason": "x"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    assert "Alex Smith was not on roll on Monday 24 November 2025 (on roll from Tuesday 25 November 2025)." in (
        response.content.decode()
    )
    assert not alex.marks.exists()
    page = owen.get(mark_url(school, alex, day)).content.decode()
    assert (
        "was not on roll that day, so the session cannot be marked" in page
        and '<form method="post" action="/school' not in page
    )


def test_a_mark_can_be_recorded_where_there_was_none(owen, school, alex):
    owen.post(mark_url(school, alex, MONDAY, "pm"), {"code": "/", "reason": "Register not taken"})
    mark = alex.marks.get()
    assert (mark.session, mark.code, mark.recorded_by.username) == (1, "\\", "owen")  # the afternoon's present mark
    assert not mark.history.exists()
    assert (
        AuditEvent.objects.get(verb="change").what
        == f"mark {alex.upn} 2025-11-24 PM: no mark → \\ (Register not taken)"
    )


def test_the_mark_page_shows_its_history(owen, school, alex):
    MarkFactory(pupil=alex, date=MONDAY, code="N")
    owen.post(mark_url(school, alex, MONDAY), {"code": "I", "reason": "Mum rang"})
    owen.post(mark_url(school, alex, MONDAY), {"code": "M", "reason": "It was the dentist"})
    body = owen.get(mark_url(school, alex, MONDAY)).content.decode()
    assert body.index("It was the dentist") < body.index("Mum rang")


def test_the_mark_page_says_who_recorded_the_mark_or_only_when(owen, school, alex):
    mark = MarkFactory(pupil=alex, date=MONDAY, code="/")  # recorded by no one the app knows (a data load)
    body = owen.get(mark_url(school, alex, MONDAY)).content.decode()
    assert f"(recorded {mark.changed_at:%-d %b %Y} " in body and "from unknown" not in body
    owen.post(mark_url(school, alex, MONDAY), {"code": "L", "reason": "Came in at 9:20"})
    assert "(from owen, " in owen.get(mark_url(school, alex, MONDAY)).content.decode()


def test_a_bad_session_or_date_in_the_address_is_404(owen, school, alex):
    assert owen.get(url("register_mark", school, alex.pk, "2025-11-24", "xm")).status_code == 404
    assert owen.get(url("register_mark", school, alex.pk, "24-11-2025", "am")).status_code == 404


# --- first-day calls ---------------------------------------------------------------------------


@pytest.fixture
def absent(school, alex, sam, other_school):
    """Alex is N all day with two contacts; Sam is present; a Birchwood pupil is N too."""
    MarkFactory(pupil=alex, date=MONDAY, session=0, code="N")
    MarkFactory(pupil=alex, date=MONDAY, session=1, code="N")
    MarkFactory(pupil=sam, date=MONDAY, session=0, code="/")
    ContactFactory(pupil=alex, name="Jo Smith", phone="01234 567890", priority=1)
    ContactFactory(pupil=alex, name="Lee Smith", phone="07700 900456", priority=2)
    elsewhere = PupilFactory(school=other_school, surname="Elsewhere")
    MarkFactory(pupil=elsewhere, date=MONDAY, code="N")
    return alex


def test_first_day_calls_list_pupils_with_no_reason_and_their_phone_numbers(owen, school, absent):
    response = owen.get(url("first_day", school), {"on": WEEK})
    body = response.content.decode()
    assert "Smith, Alex" in body and "Jones, Sam" not in body and "Elsewhere" not in body
    assert 'href="tel:01234567890"' in body and "07700 900456" in body
    assert body.index("Jo Smith") < body.index("Lee Smith")
    calls = [row[0] for row in response.context["rows"]]
    assert [(c.pupil, c.sessions) for c in calls] == [(absent, [0, 1])]
    # The reasons parents give most (illness, an appointment) lead the code list; N is not offered.
    groups = response.context["rows"][0][1].fields["code"].choices[1:]
    assert groups[0] == (
        "Most often",
        [
            ("I", "I: Illness (not medical or dental appointment)"),
            ("M", "M: Leave for a medical or dental appointment"),
        ],
    )
    offered = [code for _, options in groups for code, _ in options]
    assert "N" not in offered and offered.count("I") == 1
    # Present marks are not reasons, so their group is not offered as an empty heading.
    assert all(options for _, options in groups) and "Present" not in [label for label, _ in groups]
    assert '<optgroup label="Present">' not in body
    # The record of who looked at the families' phone numbers counts them in words.
    assert AuditEvent.objects.get(verb="view").what == "first-day calls for 24 Nov 2025 (contacts of 1 pupil)"


def test_first_day_calls_list_earlier_days_still_waiting_for_a_reason(owen, school, absent, sam, monkeypatch):
    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: date(2025, 11, 26))
    MarkFactory(pupil=sam, date=date(2025, 11, 10), session=1, code="N")  # two and a half weeks ago
    MarkFactory(pupil=sam, date=date(2025, 11, 26), session=0, code="N")  # the day shown: not an earlier day
    response = owen.get(url("first_day", school), {"on": "2025-11-26"})
    assert [(d.day, d.pupils, d.school_days_open, d.overdue) for d in response.context["earlier"]] == [
        (MONDAY, 1, 2, False),  # Alex; the Birchwood pupil's N that day is not ours
        (date(2025, 11, 10), 1, 12, True),
    ]
    body = response.content.decode()
    assert '<a href="?on=2025-11-24">Mon 24 Nov</a>: 1 pupil</li>' in body
    assert (
        '<a href="?on=2025-11-10">Mon 10 Nov</a>: 1 pupil <span class="badge text-bg-danger">12 school days waiting'
        in body
    )

    owen.post(url("first_day_reason", school, absent.pk), {"on": WEEK, "code": "I", "reason": "Mum rang"})
    later = owen.get(url("first_day", school), {"on": "2025-11-26"}).context["earlier"]
    assert [d.day for d in later] == [date(2025, 11, 10)]


def test_every_absence_still_waiting_is_on_one_list_oldest_first_to_work_through(
    owen, school, absent, sam, monkeypatch
):
    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: date(2025, 11, 26))
    MarkFactory(pupil=sam, date=date(2025, 11, 10), session=1, code="N")
    MarkFactory(pupil=sam, date=date(2025, 11, 26), session=0, code="N")  # today's, too
    MarkFactory(pupil=sam, date=date(2025, 11, 12), session=0, code="I")  # explained: not waiting
    response = owen.get(url("first_day_waiting", school))
    calls = [
        (c.pupil.surname, c.day, c.sessions, c.school_days_open, c.overdue) for c in response.context["waiting"].calls
    ]
    assert calls == [
        ("Jones", date(2025, 11, 10), [1], 12, True),
        ("Smith", MONDAY, [0, 1], 2, False),  # the Birchwood pupil's N that day is not ours
        ("Jones", date(2025, 11, 26), [0], 0, False),
    ]
    body = response.content.decode()
    assert 'Monday 10 November <span class="badge text-bg-danger">12 school days waiting</span>' in body
    assert 'Monday 24 November <span class="text-body-secondary fw-normal small">2 school days ago</span>' in body
    table = body.split("<tbody")[1]
    assert table.index("Monday 10 November") < table.index("Monday 24 November") < table.index("Wednesday 26 November")
    assert 'href="tel:01234567890"' in body and "Elsewhere" not in body
    assert AuditEvent.objects.get(verb="view").what == "absences still without a reason (contacts of 2 pupils)"

    # A reason recorded from the list, without JavaScript, comes back to the list, one fewer.
    response = owen.post(
        url("first_day_reason", school, sam.pk),
        {"on": "2025-11-10", "code": "M", "reason": "Dentist", "back": "waiting"},
    )
    assert response.url == url("first_day_waiting", school)
    assert [c.day for c in owen.get(response.url).context["waiting"].calls] == [MONDAY, date(2025, 11, 26)]
    # In place, the row says what was done.
    row = owen.post(
        url("first_day_reason", school, absent.pk),
        {"on": WEEK, "code": "I", "reason": "Mum rang", "back": "waiting"},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert row.lstrip().startswith(f'<tr id="call-{absent.pk}-20251124"') and "AM and PM now I" in row


def test_the_list_of_every_absence_waiting_shows_the_oldest_and_says_how_many_more(
    owen, school, absent, sam, monkeypatch
):
    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: date(2025, 11, 26))
    monkeypatch.setattr(selectors, "WAITING_SHOWN", 1)
    MarkFactory(pupil=sam, date=date(2025, 11, 10), session=1, code="N")
    response = owen.get(url("first_day_waiting", school))
    assert [c.day for c in response.context["waiting"].calls] == [date(2025, 11, 10)]
    assert "Showing the oldest 1 of 2" in response.content.decode()
    sam.marks.filter(code="N").update(code="I")
    absent.marks.update(code="I")
    assert (
        "None: every absence this school year up to 26 November has its reason."
        in owen.get(url("first_day_waiting", school)).content.decode()
    )


def test_looking_at_an_earlier_day_shows_the_backlog_as_it_stands_today(owen, school, absent, sam, monkeypatch):
    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: date(2025, 11, 26))
    MarkFactory(pupil=sam, date=date(2025, 11, 10), session=1, code="N")
    response = owen.get(url("first_day", school), {"on": "2025-11-03"})
    waiting = [(d.day, d.school_days_open, d.overdue) for d in response.context["earlier"]]
    assert waiting == [(MONDAY, 2, False), (date(2025, 11, 10), 12, True)]  # later days too, counted to today
    on_view = owen.get(url("first_day", school), {"on": "2025-11-10"}).context["earlier"]
    assert [d.day for d in on_view] == [MONDAY]  # the day shown is in the table, not the backlog
    far_back = owen.get(url("first_day", school), {"on": "1900-01-01"}).context["earlier"]
    assert [d.day for d in far_back] == [MONDAY, date(2025, 11, 10)]
    MarkFactory(pupil=sam, date=date(2025, 11, 26), session=0, code="N")  # today's, still waiting too
    with_today = owen.get(url("first_day", school), {"on": "2025-11-03"}).context["earlier"]
    assert [(d.day, d.school_days_open) for d in with_today][0] == (date(2025, 11, 26), 0)
    assert date(2025, 11, 26) not in [d.day for d in owen.get(url("first_day", school)).context["earlier"]]


def test_first_day_calls_tell_an_untaken_register_from_a_day_with_no_absences(owen, school, absent, sam):
    untaken = owen.get(url("first_day", school), {"on": "2025-11-25"}).content.decode()
    assert "No marks for that day yet: the register has not been taken or imported." in untaken
    assert "every absence" not in untaken
    MarkFactory(pupil=sam, date=date(2025, 11, 25), session=0, code="/")
    taken = owen.get(url("first_day", school), {"on": "2025-11-25"}).content.decode()
    assert "Nobody: every absence that day has a reason." in taken
    # Only Sam's mark is in: nobody absent may only mean "not yet".
    assert "The register is not all in yet: 1 of 2 pupils have a mark that day, so more absences may follow." in taken
    MarkFactory(pupil=absent, date=date(2025, 11, 25), session=0, code="/")
    assert "data-progress" not in owen.get(url("first_day", school), {"on": "2025-11-25"}).content.decode()


def test_the_office_home_says_how_much_of_todays_register_is_in(owen, school, absent, sam, monkeypatch):
    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: date(2025, 11, 25))
    MarkFactory(pupil=absent, date=date(2025, 11, 25), session=0, code="N")
    home = owen.get(url("office", school)).content.decode()
    assert "so far: 1 of 2 pupils have a mark" in home
    MarkFactory(pupil=sam, date=date(2025, 11, 25), session=0, code="/")
    assert "data-progress" not in owen.get(url("office", school)).content.decode()


def test_first_day_calls_for_a_day_long_before_the_schools_term_dates_say_no_register_is_held(owen, school):
    page = owen.get(url("first_day", school), {"on": "1900-01-01"}).content.decode()
    assert "No marks for that day: the school's term dates do not cover its school year" in page
    assert "has not been taken" not in page


def test_first_day_calls_on_a_weekend_or_a_day_to_come_say_so_and_wait_no_longer_than_today(
    owen, school, absent, sam, monkeypatch
):
    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: date(2025, 11, 26))
    weekend = owen.get(url("first_day", school), {"on": "2025-11-22"}).content.decode()
    assert "Saturday 22 November 2025 is a weekend, not a school day." in weekend
    assert "the register has not been taken" not in weekend
    coming = date(2025, 12, 10)
    response = owen.get(url("first_day", school), {"on": coming.isoformat()})
    assert "is still to come: marks are recorded on the day or after it." in response.content.decode()
    now = owen.get(url("first_day", school)).context["earlier"]
    assert response.context["earlier"] == now and now  # Alex's N is waiting as long as it is today, no longer


def test_first_day_calls_for_a_mistyped_date_say_so_and_show_today(owen, school, absent):
    response = owen.get(url("first_day", school), {"on": "26/11/2025"})
    assert response.status_code == 302 and response["Location"] == url("first_day", school)
    page = owen.get(response["Location"]).content.decode()
    assert "&#x27;26/11/2025&#x27; is not a date (YYYY-MM-DD): showing today&#x27;s calls." in page


def test_office_home_counts_earlier_absences_still_without_a_reason(owen, school, absent, sam, monkeypatch):
    MarkFactory(pupil=sam, date=date(2025, 11, 10), session=1, code="N")
    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: date(2025, 11, 26))
    body = owen.get(url("office", school)).content.decode()
    assert "and 2 earlier absences still without a reason" in body


def test_reason_received_corrects_every_n_that_day_and_keeps_the_reason(owen, school, absent):
    response = owen.post(
        url("first_day_reason", school, absent.pk), {"on": WEEK, "code": "I", "reason": "Dad rang: sickness bug"}
    )
    assert response.status_code == 302
    assert [m.code for m in absent.marks.order_by("session")] == ["I", "I"]
    assert MarkChange.objects.filter(reason="Dad rang: sickness bug", old_code="N", new_code="I").count() == 2
    body = owen.get(response.url).content.decode()
    assert "Alex Smith: AM and PM now I (Illness (not medical or dental appointment))." in body


@pytest.mark.parametrize("code", ["/", "\\", "L", "#", "Z", "X"])
def test_a_reason_received_cannot_mark_the_pupil_present_or_the_school_closed(owen, school, absent, code):
    page = owen.get(url("first_day", school) + f"?on={WEEK}").content.decode()
    picker = page.split(f'id="id_code_{absent.pk}_20251124"')[1].split("</select>")[0]
    assert f'value="{escape(code)}"' not in picker and 'value="I"' in picker
    response = owen.post(url("first_day_reason", school, absent.pk), {"on": WEEK, "code": code, "reason": "Mum rang"})
    assert response.status_code == 422 and "Select a valid choice." in response.content.decode()
    assert set(absent.marks.values_list("code", flat=True)) == {"N"}


def test_reason_received_in_place_with_htmx(owen, school, absent):
    response = owen.post(
        url("first_day_reason", school, absent.pk),
        {"on": WEEK, "code": "M", "reason": "Hospital appointment"},
        HTTP_HX_REQUEST="true",
    )
    body = response.content.decode()
    assert body.lstrip().startswith(f'<tr id="call-{absent.pk}-20251124"') and "now M" in body
    again = owen.post(
        url("first_day_reason", school, absent.pk), {"on": WEEK, "code": "M", "reason": "again"}, HTTP_HX_REQUEST="true"
    )
    assert "someone has already recorded the reason" in again.content.decode()
    assert MarkChange.objects.count() == 2


@pytest.mark.parametrize(
    ("on", "problem"),
    [
        ("2025-11-29", "Saturday 29 November 2025 is a weekend, not a school day."),
        ("2099-01-05", "Monday 5 January 2099 is still to come"),
    ],
)
def test_a_reason_sent_for_a_day_with_no_register_is_refused_and_says_why(owen, school, absent, on, problem):
    response = owen.post(
        url("first_day_reason", school, absent.pk),
        {"on": on, "code": "I", "reason": "Mum rang"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 422
    body = response.content.decode()
    assert problem in body and "already recorded" not in body
    assert not MarkChange.objects.exists()


def test_reason_received_needs_a_code_and_a_reason(owen, school, absent):
    response = owen.post(
        url("first_day_reason", school, absent.pk), {"on": WEEK, "code": "", "reason": ""}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 422
    body = response.content.decode()
    assert body.count("This field is required.") == 2
    assert "N</span> AM" in body and "Jo Smith" in body  # the row as it was, with the messages in place
    assert set(absent.marks.values_list("code", flat=True)) == {"N"}


def test_without_javascript_a_refused_reason_shows_the_list_again_with_the_message(owen, school, absent):
    response = owen.post(url("first_day_reason", school, absent.pk), {"on": WEEK, "code": "I", "reason": ""})
    assert response.status_code == 422
    body = response.content.decode()
    assert "This field is required." in body and "<nav" in body and "Smith, Alex" in body


def test_reason_received_cannot_reach_another_schools_pupil(owen, school, other_school, absent):
    elsewhere = Pupil.objects.get(surname="Elsewhere")
    response = owen.post(url("first_day_reason", school, elsewhere.pk), {"on": WEEK, "code": "I", "reason": "x"})
    assert response.status_code == 404
    assert elsewhere.marks.get().code == "N"


# --- who may use these pages -------------------------------------------------------------------


def every_url(school, pupil):
    return [
        ("get", url("office", school)),
        ("post", url("office", school)),
        ("get", url("upload", school, "abc")),
        ("get", url("import", school, 1)),
        ("get", url("register", school)),
        ("get", mark_url(school, pupil, MONDAY)),
        ("post", mark_url(school, pupil, MONDAY)),
        ("get", url("first_day", school)),
        ("get", url("first_day_waiting", school)),
        ("post", url("first_day_reason", school, pupil.pk)),
    ]


@pytest.mark.parametrize("username", ["bob", "sam", "dana", "lara", "olivia"])
def test_everyone_but_the_office_and_the_lead_gets_404(client, school, staff, alex, username):
    client.force_login(staff[username])
    first_day_lists = {url("first_day", school), url("first_day_waiting", school)}
    for method, address in every_url(school, alex):
        response = getattr(client, method)(address, {"on": WEEK})
        if username in ("sam", "dana") and address in first_day_lists:
            continue  # the DSL and senior leaders see who is absent with no reason (below)
        assert response.status_code == 404, (username, method, address)
    assert not AttendanceMark.objects.exists()


@pytest.mark.parametrize("username", ["sam", "dana"])
def test_the_dsl_and_senior_leaders_see_the_first_day_lists_but_record_nothing(
    client, school, staff, absent, username, monkeypatch
):
    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: date(2025, 11, 26))
    client.force_login(staff[username])
    for name in ("first_day", "first_day_waiting"):
        page = client.get(url(name, school), {"on": WEEK})
        assert page.status_code == 200
        body = page.content.decode()
        assert "Smith, Alex" in body and "01234 567890" in body
        assert "Reason received for" not in body and "The office records the reason when it comes." in body
        assert f'href="{url("office", school)}"' not in body  # no Imports tab: not theirs
    response = client.post(url("first_day_reason", school, absent.pk), {"on": WEEK, "code": "I", "reason": "Ill"})
    assert response.status_code == 404
    assert set(absent.marks.values_list("code", flat=True)) == {"N"}


@pytest.mark.parametrize("username", ["owen", "alice"])
def test_the_office_and_the_lead_may_use_every_page(client, school, staff, alex, username):
    client.force_login(staff[username])
    assert client.get(url("office", school)).status_code == 200
    assert client.get(url("register", school)).status_code == 200
    assert client.get(mark_url(school, alex, MONDAY)).status_code == 200
    assert client.get(url("first_day", school)).status_code == 200


def test_another_schools_pupil_is_404_even_for_the_office(owen, school, other_school):
    elsewhere = PupilFactory(school=other_school)
    assert owen.get(mark_url(school, elsewhere, MONDAY)).status_code == 404
    assert owen.post(mark_url(school, elsewhere, MONDAY), {"code": "/", "reason": "x"}).status_code == 404
    assert not elsewhere.marks.exists()


def test_signed_out_visitors_are_sent_to_sign_in(client, school):
    response = client.get(url("office", school))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))


def test_days_without_school_cannot_be_marked_in_the_register(owen, school, alex):
    saturday = date(2025, 11, 22)
    response = owen.post(mark_url(school, alex, saturday), {"code": "/", "reason": "x"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    assert "Saturday 22 November 2025 is a weekend, not a school day" in response.content.decode()
    assert not alex.marks.exists()
    page = owen.get(mark_url(school, alex, saturday)).content.decode()
    assert "this session cannot be marked" in page and '<form method="post" action="/school' not in page


def test_the_register_offers_no_editor_in_half_term_week(owen, school, alex, class_4b):
    # 27-31 October 2025 is half-term: no cell is a link to mark it.
    grid = owen.get(url("register", school), {"class": class_4b.pk, "week": "2025-10-27"}).content.decode()
    assert "outside the school&#x27;s term dates" in grid
    assert mark_url(school, alex, date(2025, 10, 27)) not in grid
    term = owen.get(url("register", school), {"class": class_4b.pk, "week": "2025-11-24"}).content.decode()
    assert mark_url(school, alex, MONDAY) in term


def test_on_a_weekend_the_office_shows_fridays_register(owen, school, absent, monkeypatch):
    # `absent` is marked N on Monday 24 November; on Saturday 29th the office looks at Friday 28th.
    MarkFactory(pupil=absent, date=date(2025, 11, 28), session=0, code="N")
    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: date(2025, 11, 29))
    home = owen.get(url("office", school)).content.decode()
    assert "absent with no reason yet on Friday 28 November, the last school day" in home
    calls = owen.get(url("first_day", school)).content.decode()
    assert "Friday 28 November 2025 (the last school day)" in calls and "Alex Smith" in calls


def test_in_a_holiday_the_register_leads_back_to_the_last_school_week(owen, school, alex, class_4b, monkeypatch):
    # Wednesday 29 October 2025 is half-term: the last school week began on Monday 20 October.
    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: date(2025, 10, 29))
    page = owen.get(url("register", school), {"class": class_4b.pk, "week": "2025-11-24"}).content.decode()
    assert "week=2025-10-20" in page and "Last school week" in page
    assert "week=2025-10-27" not in page  # the holiday week itself is neither the way back nor this week
    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: date(2025, 11, 26))
    page = owen.get(url("register", school), {"class": class_4b.pk, "week": "2025-10-20"}).content.decode()
    assert "week=2025-11-24" in page and ">This week<" in page


def test_first_day_lists_put_the_youngest_classes_first_and_show_each_pupils_flags(client, school, staff, monkeypatch):
    from pupils.models import Flag, YearGroup

    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: MONDAY)
    reception = RegistrationGroupFactory(
        school=school, name="RA", year_group=YearGroup.objects.get(school=school, code="R")
    )
    ward = PupilFactory(school=school, forename="Freddie", surname="Ward", registration_group=class_4b_of(school))
    hall = PupilFactory(school=school, forename="Amelia", surname="Hall", registration_group=reception)
    hall.flags.add(Flag.objects.get(school=school, key="social_worker"))
    ward.flags.add(Flag.objects.get(school=school, key="young_carer"), Flag.objects.get(school=school, key="fsm"))
    for pupil in (ward, hall):
        MarkFactory(pupil=pupil, date=MONDAY, session=0, code="N")

    def names(body, first, second):
        return body.index(first) < body.index(second)

    client.force_login(staff["owen"])
    calls = client.get(url("first_day", school), {"on": WEEK}).content.decode()
    assert names(calls, "Hall, Amelia", "Ward, Freddie")  # Reception before Year 4, whatever the names
    hall_row = calls[calls.index("Hall, Amelia") : calls.index("Ward, Freddie")]
    assert ">Has a social worker</span>" in hall_row and "Young carer" not in hall_row
    ward_row = calls[calls.index("Ward, Freddie") :]
    assert ">Free school meals</span>" in ward_row and ">Young carer</span>" in ward_row
    waiting = client.get(url("first_day_waiting", school)).content.decode()
    assert names(waiting, "Hall, Amelia", "Ward, Freddie") and ">Has a social worker</span>" in waiting

    from interventions import services as interventions_services
    from tests.interventions.conftest import SIMPLE_LADDER

    interventions_services.ladder_load(school=school, document=SIMPLE_LADDER, activate=True)
    client.force_login(staff["dana"])  # the designated safeguarding lead
    dashboard = client.get(reverse("interventions:dashboard", args=[school.urn])).content.decode()
    absent = dashboard[dashboard.index('id="absent-heading"') :]
    assert names(absent, "Amelia Hall", "Freddie Ward")
    assert ">Has a social worker</span>" in absent[: absent.index("Freddie Ward")]
    assert f'<a href="{url("first_day", school)}">The list, with whom to ring</a>' in absent


def class_4b_of(school):
    return RegistrationGroupFactory(school=school, name="4B")
