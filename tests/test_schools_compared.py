"""The list of a person's schools, side by side: an LA or trust officer compares them by the year to date."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from interventions import nightly, services
from interventions.models import NightlyRun, Proposal, SchoolWeek, Task
from interventions.selectors import night_due, nightly_status, nightly_statuses
from pupils.models import StaffMembership
from tests.factories import MembershipFactory, PupilFactory, SchoolFactory, UserFactory
from tests.interventions.conftest import SIMPLE_LADDER, fill_register

Role = StaffMembership.Role
#: A Thursday; the register is kept from the Monday two weeks before.
NIGHT = date(2025, 11, 20)
FROM = date(2025, 11, 3)


def _school_with(name: str, urn: str, patterns: list[str]):
    """A school whose pupils each keep one pattern every day: "//" present all day, "/N" absent every afternoon."""
    school = SchoolFactory(name=name, urn=urn)
    services.ladder_load(school=school, document=SIMPLE_LADDER, activate=True)
    for n, pattern in enumerate(patterns):
        pupil = PupilFactory(school=school, surname=f"Pupil{n}")
        fill_register(pupil, FROM, NIGHT, lambda day, session, pattern=pattern: pattern[session])
    nightly.nightly_run(school=school, as_of=NIGHT)
    return school


@pytest.fixture
def schools(db):
    return {
        # One pupil at 100%, one at 50% (persistently and severely absent): 75% over the year's sessions.
        "ash": _school_with("Ash Primary", "200001", ["//", "/N"]),
        # Three pupils: two at 100%, one at 50%: 5 sessions in 6 attended.
        "beech": _school_with("Beech Primary", "200002", ["//", "//", "/N"]),
        # Every pupil present every session.
        "cedar": _school_with("Cedar Primary", "200003", ["//", "//"]),
    }


def _officer(schools, *, teacher_at=None):
    user = UserFactory(username="lena")
    for school in schools.values():
        role = Role.CLASS_TEACHER if school == teacher_at else Role.LA_OFFICER
        MembershipFactory(user=user, school=school, role=role)
    return user


def _rows(client, **query):
    body = client.get(reverse("home"), query).content.decode()
    table = body.split('<table class="table table-sm align-middle" id="schools">')[1].split("</table>")[0]
    return table.split("<tbody>")[1].split("<tr>")[1:]


def test_the_night_charts_the_year_to_date_as_the_dfe_counts_it(schools):
    """Worked by hand: attendance over every pupil's sessions; persistent and severe absence among the pupils."""
    latest = {key: SchoolWeek.objects.filter(school=s).latest("week_start") for key, s in schools.items()}
    assert latest["ash"].week_start == date(2025, 11, 17)
    assert (latest["ash"].pupils, latest["ash"].year_attendance_pct) == (2, Decimal(75))
    assert (latest["ash"].persistent_absence_pct, latest["ash"].severe_absence_pct) == (Decimal(50), Decimal(50))
    assert latest["beech"].year_attendance_pct == Decimal("83.3")  # 5 in 6, to one place as the DfE prints it
    assert latest["beech"].severe_absence_pct == Decimal("33.3")
    assert (latest["cedar"].year_attendance_pct, latest["cedar"].severe_absence_pct) == (Decimal(100), Decimal(0))
    # The week before holds the year as it stood then: the same shares, from the first week's marks.
    earlier = SchoolWeek.objects.get(school=schools["ash"], week_start=date(2025, 11, 3))
    assert (earlier.year_attendance_pct, earlier.severe_absence_pct) == (Decimal(75), Decimal(50))


def test_the_year_to_date_is_the_whole_years_not_the_last_weeks(db):
    """A pupil away every afternoon for two weeks, then there every session of the third (Mon 17 to Thu 20 Nov)."""
    school = SchoolFactory(name="Dale Primary", urn="200004")
    services.ladder_load(school=school, document=SIMPLE_LADDER, activate=True)
    fill_register(PupilFactory(school=school), FROM, NIGHT, lambda day, session: "/")
    fill_register(
        PupilFactory(school=school), FROM, NIGHT, lambda day, session: "N" if session and day.day < 17 else "/"
    )
    nightly.nightly_run(school=school, as_of=NIGHT)
    weeks = {w.week_start.day: w for w in SchoolWeek.objects.filter(school=school)}
    # The second week's end: 30 sessions of 40 attended; the absent pupil missed 10 of 20 (severe).
    assert (weeks[10].year_attendance_pct, weeks[10].severe_absence_pct) == (Decimal(75), Decimal(50))
    # The last week: every session of it attended, but the year is 46 of 56 (82.1%); 10 of 28 is persistent only.
    assert weeks[17].attendance_pct == Decimal(100)
    assert (weeks[17].year_attendance_pct, weeks[17].severe_absence_pct) == (Decimal("82.1"), Decimal(0))
    assert weeks[17].persistent_absence_pct == Decimal(50)


def test_an_la_officer_sees_every_schools_year_to_date_and_the_work_waiting(client, schools):
    Task.objects.filter(school=schools["beech"]).update(status=Task.Status.OPEN, due_on=date(2025, 11, 1))
    overdue = Task.objects.filter(school=schools["beech"]).count()
    assert overdue
    client.force_login(_officer(schools))
    rows = _rows(client)
    assert [row.split("</a>")[0].rsplit(">", 1)[1] for row in rows] == ["Ash Primary", "Beech Primary", "Cedar Primary"]
    assert "75.0%" in rows[0] and "50.0%" in rows[0]
    assert "83.3%" in rows[1] and "33.3%" in rows[1]
    assert f'<td class="text-end">{overdue}</td>' in rows[1]
    assert "(below national)" in rows[0] and "(below national)" not in rows[2]


@pytest.mark.parametrize(
    ("order", "names"),
    [
        ("attendance", ["Ash Primary", "Beech Primary", "Alder Primary"]),  # lowest first
        ("persistent", ["Ash Primary", "Beech Primary", "Alder Primary"]),  # highest first
        ("severe", ["Ash Primary", "Beech Primary", "Alder Primary"]),
        ("name", ["Alder Primary", "Ash Primary", "Beech Primary"]),
        ("nonsense", ["Alder Primary", "Ash Primary", "Beech Primary"]),  # an order it does not know: by name
    ],
)
def test_schools_can_be_put_worst_first(client, schools, order, names):
    schools["cedar"].name = "Alder Primary"  # the best school first by name, last by any figure
    schools["cedar"].save()
    client.force_login(_officer(schools))
    rows = _rows(client, order=order)
    assert [row.split("</a>")[0].rsplit(">", 1)[1] for row in rows] == names
    refused = (
        "cannot be ordered by “nonsense” (name, attendance, persistent, severe, awaiting, overdue): listed by name."
    )
    assert (refused in client.get(reverse("home"), {"order": order}).content.decode()) is (order == "nonsense")


def test_schools_can_be_put_most_work_waiting_first(client, schools):
    """Moves a person has yet to decide, and tasks past their day: a team falling behind shows first."""
    Task.objects.update(status=Task.Status.DONE)
    for school, overdue in ((schools["ash"], 2), (schools["beech"], 1)):
        ids = Task.objects.filter(school=school).values_list("pk", flat=True)[:overdue]
        Task.objects.filter(pk__in=list(ids)).update(status=Task.Status.OPEN, due_on=date(2025, 11, 1))
    Proposal.objects.all().delete()
    for school, waiting in ((schools["beech"], 2), (schools["cedar"], 1)):
        ladder = school.ladders.get(is_active=True)
        for pupil in school.pupils.order_by("pk")[:waiting]:
            Proposal.objects.create(
                pupil=pupil, ladder=ladder, to_stage=ladder.stages.last(), proposed_on=NIGHT, reasons=["why"]
            )
    schools["cedar"].name = "Alder Primary"  # first by name; its figures not shown to this person: last
    schools["cedar"].save()
    client.force_login(_officer(schools, teacher_at=schools["cedar"]))

    def names(order):
        return [row.split("</a>")[0].rsplit(">", 1)[1] for row in _rows(client, order=order)]

    assert names("overdue") == ["Ash Primary", "Beech Primary", "Alder Primary"]
    assert names("awaiting") == ["Beech Primary", "Ash Primary", "Alder Primary"]
    page = client.get(reverse("home"), {"order": "awaiting"}).content.decode()
    assert 'aria-sort="descending">Awaiting approval <span class="small fw-normal">(most first)</span>' in page


def test_a_school_with_no_night_yet_goes_last_when_ordered_by_a_figure(client, schools):
    starting = SchoolFactory(name="Aardvark Primary", urn="200009")
    user = _officer(schools)
    MembershipFactory(user=user, school=starting, role=Role.LA_OFFICER)
    client.force_login(user)
    rows = _rows(client, order="attendance")
    assert "Aardvark Primary" in rows[-1] and "No figures until a night has run." in rows[-1]
    assert "Aardvark Primary" in _rows(client)[0]


def test_a_school_where_the_person_teaches_a_class_shows_no_whole_school_figures(client, schools):
    client.force_login(_officer(schools, teacher_at=schools["ash"]))
    rows = _rows(client)
    assert "Whole-school figures are not shown for your role here." in rows[0]
    assert "75.0%" not in rows[0]
    table = io.StringIO(client.get(reverse("home"), {"format": "csv"}).content.decode("utf-8-sig"))
    ash = next(row for row in csv.DictReader(table) if row["School URN"] == "200001")
    assert ash["Attendance, year to date (%)"] == "" and ash["Moves awaiting approval"] == ""
    assert ash["Last night"].startswith("Night of")


def test_a_teacher_at_two_schools_gets_the_plain_list(client, schools):
    user = UserFactory(username="tom")
    for school in (schools["ash"], schools["beech"]):
        MembershipFactory(user=user, school=school, role=Role.CLASS_TEACHER)
    client.force_login(user)
    body = client.get(reverse("home")).content.decode()
    assert 'id="schools"' not in body and "Ash Primary" in body and "75.0%" not in body
    assert "Cedar Primary" not in body  # not one of theirs


def test_the_csv_has_a_row_a_school_starting_with_its_urn(client, schools):
    Proposal.objects.all().delete()
    client.force_login(_officer(schools))
    response = client.get(reverse("home"), {"format": "csv", "order": "attendance"})
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [row["School URN"] for row in rows] == ["200001", "200002", "200003"]
    overdue = Task.objects.filter(Task.overdue_on(timezone.localdate()), school=schools["ash"]).count()
    due = night_due(school=schools["ash"], now=timezone.now())  # long after the one night that ran
    assert rows[0] == {
        "School URN": "200001",
        "School": "Ash Primary",
        "Week of": "2025-11-17",
        "Pupils counted": "2",
        "Attendance, year to date (%)": "75.0",
        "Persistently absent (%)": "50.0",
        "Severely absent (%)": "50.0",
        "Moves awaiting approval": "0",
        "Overdue tasks": str(overdue),
        "Last night": f"Night of {due:%a} {due.day} {due:%b}: did not run",
    }


def test_a_school_at_the_national_figure_is_marked_neither_above_nor_below(client, schools, settings):
    client.force_login(_officer(schools))
    settings.NATIONAL_ATTENDANCE_PCT, settings.NATIONAL_PERSISTENT_ABSENCE_PCT = 75.0, 50.0  # Ash's own figures
    ash = _rows(client)[0]
    assert "75.0%" in ash and "(below national)" not in ash and "(above national)" not in ash
    settings.NATIONAL_PERSISTENT_ABSENCE_PCT = 33.3  # Beech's; as a float, a hair below 33.3
    assert "33.3%" in _rows(client)[1] and "(above national)" not in _rows(client)[1]
    settings.NATIONAL_ATTENDANCE_PCT, settings.NATIONAL_PERSISTENT_ABSENCE_PCT = 75.1, 49.9
    ash = _rows(client)[0]
    assert "(below national)" in ash and "(above national)" in ash


def test_a_school_name_a_spreadsheet_would_run_is_written_as_text(client, schools):
    schools["ash"].name = '=HYPERLINK("http://example.org")'
    schools["ash"].save()
    client.force_login(_officer(schools))
    rows = csv.DictReader(io.StringIO(client.get(reverse("home"), {"format": "csv"}).content.decode("utf-8-sig")))
    assert next(row for row in rows if row["School URN"] == "200001")["School"] == '\'=HYPERLINK("http://example.org")'


def _run(school, night, status):
    started = timezone.now()
    return NightlyRun.objects.create(
        school=school,
        run_on=night,
        status=status,
        started_at=started,
        finished_at=None if status == "running" else started,
    )


def test_each_schools_night_is_its_own_read_together_for_every_school(db, settings):
    """Read in one pass, each school's status comes from its own night's attempts, in its own time zone."""
    settings.NIGHTLY_MAX_ATTEMPTS = 2
    now = datetime(2025, 11, 28, 14, 0, tzinfo=UTC)  # Friday afternoon in London; Saturday 3 am in Auckland
    made = {}
    for name, zone in [
        ("ok", "Europe/London"),
        ("nz", "Pacific/Auckland"),
        ("failed", "Europe/London"),
        ("given-up", "Europe/London"),
        ("running", "Europe/London"),
        ("missed", "Europe/London"),
        ("first", "Europe/London"),
        ("off", "Europe/London"),
    ]:
        made[name] = SchoolFactory(name=name, time_zone=zone)
        if name != "off":
            services.ladder_load(school=made[name], document=SIMPLE_LADDER, activate=True)
    thursday, friday = date(2025, 11, 27), date(2025, 11, 28)
    _run(made["ok"], thursday, "failed")
    _run(made["ok"], thursday, "done")
    _run(made["ok"], friday, "failed")  # another night's attempt (Auckland's night): not London's
    _run(made["nz"], friday, "done")
    _run(made["failed"], thursday, "failed")
    _run(made["given-up"], thursday, "failed")
    _run(made["given-up"], thursday, "failed")
    _run(made["running"], thursday, "running")
    _run(made["missed"], date(2025, 11, 20), "done")
    _run(made["missed"], friday, "done")  # Auckland's night: London's Thursday still did not run
    statuses = nightly_statuses(list(made.values()), now=now)
    got = {name: (statuses[s.pk].state, statuses[s.pk].night_of, statuses[s.pk].will_retry) for name, s in made.items()}
    assert got == {
        "ok": ("ok", thursday, False),
        "nz": ("ok", friday, False),
        "failed": ("failed", thursday, True),
        "given-up": ("failed", thursday, False),
        "running": ("running", thursday, False),
        "missed": ("missed", thursday, False),
        "first": ("first", thursday, False),
        "off": ("off", thursday, False),
    }
    for school in made.values():  # one school at a time, the same
        assert nightly_status(school=school, now=now) == statuses[school.pk], school.name


def test_the_list_of_schools_takes_no_more_queries_for_more_schools(client, schools):
    user = _officer(schools)
    client.force_login(user)
    with CaptureQueriesContext(connection) as three:
        client.get(reverse("home"))
    for n in range(3):
        more = _school_with(f"Extra {n}", f"20002{n}", ["//"])
        MembershipFactory(user=user, school=more, role=Role.LA_OFFICER)
    with CaptureQueriesContext(connection) as six:
        assert len(_rows(client)) == 6
    assert len(six.captured_queries) == len(three.captured_queries)
