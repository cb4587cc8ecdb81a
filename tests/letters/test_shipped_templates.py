"""Every shipped letter, printed for a pupil of the demo school: the PDF says the right figures."""

from __future__ import annotations

import re
import subprocess
from datetime import date, timedelta

import pytest

from letters import rules, services
from letters.defaults import DEFAULT_TEMPLATES
from letters.models import Letter
from letters.selectors import recipient_of
from pupils.models import Pupil
from pupils.selectors import school_summaries
from pupils.services import school_calendar
from pupils.statistics import hours_text, number_text
from tests.factories import TODAY
from tests.letters.conftest import pdf_pages, pdf_text

MM = 25.4 / 72  # millimetres in a PDF point


def words(text: str) -> str:
    return " ".join(text.split())


def figures(school, pupil, window) -> dict[str, str]:
    """The figures a letter should quote, from the set-based DfE summary (not the letters code)."""
    s = school_summaries(school=school, start=window[0], end=window[1])[pupil.pk]
    return {
        "pct": rules.pct_text(s.attendance_pct),
        "missed": str(s.absent),
        "authorised": str(s.authorised),
        "unauthorised": str(s.unauthorised),
        "lates": str(s.late),
        "hours": hours_text(s.hours_lost),
        "days": number_text(rules.days_missed(s.absent)),
        "weeks": number_text(rules.weeks_missed(s.absent)),
    }


@pytest.fixture
def demo_pupil(demo_school):
    """The demo pupil who has missed the most sessions this year (so every figure is non-zero)."""
    year = school_calendar(demo_school).academic_year_window(TODAY)
    summaries = school_summaries(school=demo_school, start=year[0], end=year[1])
    pupils = Pupil.objects.filter(school=demo_school, leaving_on__isnull=True).prefetch_related("contacts")
    return max(pupils, key=lambda p: (summaries[p.pk].absent, summaries[p.pk].unauthorised, p.pk))


def printed(school, pupil, key, tmp_path) -> tuple[str, bytes]:
    (letter,) = services.letter_queue(school=school, pupil=pupil, key=key, on=TODAY).letters
    batch = services.letters_print(school=school, letter_ids=[letter.pk], user=None)
    assert batch.status == "done", batch.error
    letter.refresh_from_db()
    data = letter.pdf.read()
    return words(pdf_text(data, tmp_path)), data


#: For each shipped letter: phrases it must print, with the figures for a window filled in.
EXPECTED = {
    "first_reminder": [
        ("year", "has been in school for {pct} of the time"),
        ("year", "has missed {missed} sessions"),
        ("year", "That is {days} school days, or {hours} hours of lost learning"),
    ],
    "second_warning": [
        ("year", "attendance is {pct} (this half-term:"),
        ("half", "(this half-term: {pct})"),
        ("year", "has missed {missed} sessions: {days} school days, about {weeks} weeks"),
        ("year", "that is {hours} hours of lost learning"),
        ("year", "{authorised} of these sessions were authorised (for example illness) and {unauthorised} were not"),
        ("year", "arrived late {lates} time"),
    ],
    "formal_warning": [
        ("year", "attendance this school year is {pct}"),
        ("year", "has missed {missed} sessions, which is {days} school days or {hours} hours of lost learning"),
        ("year", "{unauthorised} of these sessions were not authorised"),
    ],
    "attendance_contract": [
        ("year", "Attendance this school year is {pct}"),
        ("year", "has missed {days} school days, or {hours} hours of lost learning"),
    ],
    "la_referral_notice": [
        ("year", "attendance this school year is {pct}"),
        ("year", "has missed {missed} sessions: {days} school days, or {hours} hours of lost learning"),
        ("year", "{unauthorised} of these sessions were not authorised"),
    ],
    "congratulations": [
        ("half", "This half-term {forename}'s attendance is {pct}"),
        ("year", "over the school year it is now {pct}"),
    ],
    "termly_report": [
        ("term", "attendance was {pct}, which is"),
        ("term", "missed {missed} session"),
        ("term", "or {hours} hours of learning"),
    ],
}


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_shipped_letter_prints_the_pupils_own_figures(demo_school, demo_pupil, key, tmp_path):
    calendar = school_calendar(demo_school)
    windows = {
        "year": calendar.academic_year_window(TODAY),
        "term": calendar.term_window(TODAY),
        "half": calendar.half_term_window(TODAY),
    }

    text, data = printed(demo_school, demo_pupil, key, tmp_path)

    assert pdf_pages(data) == 1, "a shipped letter fits on one page"
    assert demo_school.name in text
    for window, phrase in EXPECTED[key]:
        wanted = phrase.format(forename=demo_pupil.forename, **figures(demo_school, demo_pupil, windows[window]))
        assert wanted in text, f"{key}: {wanted!r} not in {text!r}"


def test_termly_report_shows_the_colour_and_the_table(demo_school, demo_pupil, tmp_path):
    term = school_calendar(demo_school).term_window(TODAY)
    summary = school_summaries(school=demo_school, start=term[0], end=term[1])[demo_pupil.pk]
    colour = rules.rag_colour(summary.attendance_pct, green_from=96, amber_from=90)

    text, _ = printed(demo_school, demo_pupil, "termly_report", tmp_path)

    assert f"{rules.RAG_LABELS[colour].upper()} {demo_pupil.full_name}, the Autumn term" in text
    assert f"Sessions attended {summary.attended} of {summary.possible}" in text
    assert f"Hours of lost learning {hours_text(summary.hours_lost)}" in text
    assert "Green: 96% or more. Amber: 90% up to 96%. Red: below 90%." in text


def test_certificates_go_only_to_pupils_with_every_session_attended(demo_school, tmp_path):
    term = school_calendar(demo_school).term_window(TODAY)
    summaries = school_summaries(school=demo_school, start=term[0], end=term[1])
    full = {
        p.full_name
        for p in Pupil.objects.filter(school=demo_school)
        if summaries[p.pk].possible and not summaries[p.pk].absent
    }
    assert full, "the demo school has pupils with 100% attendance this term"

    queued = services.letters_bulk_queue(
        school=demo_school,
        key="certificate_100",
        start=term[0],
        end=term[1],
        period_name="the Autumn term",
        on=TODAY,
        full_attendance_only=True,
    )
    batch = services.letters_print(school=demo_school, letter_ids=[x.pk for x in queued.letters], user=None)
    text = words(pdf_text(batch.pdf.read(), tmp_path))

    assert {letter.pupil.full_name for letter in queued.letters} == full
    assert text.count("Certificate of 100% attendance") == len(full) == batch.pages
    assert all(name in text for name in full)


def test_address_sits_in_the_window_of_a_dl_envelope(demo_school, demo_pupil, tmp_path):
    _, data = printed(demo_school, demo_pupil, "first_reminder", tmp_path)
    source = tmp_path / "letter.pdf"
    source.write_bytes(data)
    html = subprocess.run(["pdftotext", "-bbox", str(source), "-"], check=True, capture_output=True, text=True).stdout
    boxes = [
        (float(x0) * MM, float(y0) * MM, float(y1) * MM, word)
        for x0, y0, _x1, y1, word in re.findall(
            r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>', html
        )
    ]
    recipient = recipient_of(Letter.objects.get(pupil=demo_pupil))
    first_word, last_word = recipient.names[0].split()[0], recipient.address_lines[-1].split()[-1]
    first = next(b for b in boxes if b[3] == first_word and b[1] < 80)
    last = next(b for b in boxes if b[3] == last_word and b[1] < 80)

    assert 20 <= first[0] <= 30, "the address starts inside the window, from the left"
    assert 45 <= first[1] <= 55, "and from the top"
    assert last[2] <= 80, "the last line is above the window's bottom edge (45 + 35 mm)"


def test_every_shipped_key_is_tested():
    assert set(EXPECTED) | {"certificate_100"} == set(DEFAULT_TEMPLATES)


def test_letters_date_is_the_day_they_print(demo_school, demo_pupil, tmp_path):
    text, _ = printed(demo_school, demo_pupil, "congratulations", tmp_path)

    assert rules.date_text(date.today()) in text


def concern_letter(*, missed, authorised, unauthorised, severe="", year_pct="80.0%"):
    """The letter of concern's text for these year figures (only the lines that use them matter here)."""
    from letters import sandbox

    days, weeks, hours = (number_text(value) for value in (missed / 2, missed / 10, missed * 3))
    attendance = {
        "sessions_missed": missed,
        "days_missed": days,
        "weeks_missed": weeks,
        "hours_lost": hours,
        "authorised": authorised,
        "unauthorised": unauthorised,
        "severe": severe,
        "year_pct": year_pct,
    }
    text = sandbox.render(
        DEFAULT_TEMPLATES["second_warning"].body, {"attendance": attendance, "pupil": {"forename": "Sam"}}
    )
    return words(text)


def test_the_letter_of_concern_agrees_with_its_numbers():
    one = concern_letter(missed=1, authorised=1, unauthorised=0)
    many = concern_letter(missed=3, authorised=2, unauthorised=1)

    assert "has missed 1 session: 0.5 school days, about 0.1 weeks - that is 3 hours of lost learning" in one
    assert "has missed 3 sessions: 1.5 school days, about 0.3 weeks - that is 9 hours of lost learning" in many
    assert "- it was authorised (for example illness)" in one
    assert "2 of these sessions were authorised (for example illness) and 1 was not authorised" in many
    assert "1 of these sessions was authorised (for example illness) and 2 were not authorised" in concern_letter(
        missed=3, authorised=1, unauthorised=2
    )


@pytest.mark.parametrize(
    ("authorised", "unauthorised", "says"),
    [
        (14, 0, "- all of them were authorised (for example illness)"),
        (0, 14, "- none of them were authorised"),
        (0, 1, "- it was not authorised"),
    ],
)
def test_the_letter_of_concern_never_says_none_were_not(authorised, unauthorised, says):
    text = concern_letter(missed=authorised + unauthorised, authorised=authorised, unauthorised=unauthorised)

    assert says in text
    assert " 0 were not" not in text and "0 of these" not in text


def test_the_letter_of_concern_says_how_serious_severe_absence_is():
    severe = concern_letter(missed=158, authorised=120, unauthorised=38, severe="yes", year_pct="21.0%")
    persistent = concern_letter(missed=30, authorised=20, unauthorised=10, year_pct="64.5%")

    assert "Sam has been in school for only 21.0% of this school year." in severe
    assert "very worried" in severe and "below 90%" not in severe
    assert "When attendance falls below 90%, a child misses half a day of school or more every week" in persistent
    assert "only 64.5%" not in persistent


def test_the_first_reminder_says_its_figures_start_when_a_pupil_joined_during_the_year():
    from letters import sandbox

    def text(joined):
        attendance = {"as_of": "4 December 2026", "joined": joined, "year_pct": "94.7%", "sessions_missed": 4}
        body = DEFAULT_TEMPLATES["first_reminder"].body
        return words(sandbox.render(body, {"attendance": attendance, "pupil": {"forename": "Adam"}}))

    assert "Up to 4 December 2026, since Adam joined us on 6 October 2026, Adam has been in school for 94.7%" in (
        text("6 October 2026")
    )
    assert "Up to 4 December 2026, Adam has been in school for 94.7% of the time." in text("")


@pytest.mark.parametrize(
    ("key", "joined_says", "from_the_start_says"),
    [
        (
            "second_warning",
            "This school year, up to 4 December 2026 (since Adam joined us on 6 October 2026): - attendance is 94.7%",
            "This school year, up to 4 December 2026: - attendance is 94.7%",
        ),
        (
            "formal_warning",
            "Up to 4 December 2026, since Adam joined us on 6 October 2026, Adam's attendance this school year is 94.7%.",
            "Up to 4 December 2026, Adam's attendance this school year is 94.7%.",
        ),
        (
            "la_referral_notice",
            "Up to 4 December 2026, since Adam joined us on 6 October 2026, Adam's attendance this school year is 94.7%.",
            "Up to 4 December 2026, Adam's attendance this school year is 94.7%.",
        ),
        (
            "attendance_contract",
            "Attendance this school year, since Adam joined us on 6 October 2026, is 94.7%:",
            "Attendance this school year is 94.7%:",
        ),
    ],
)
def test_every_letter_with_the_years_figures_says_they_start_when_a_pupil_joined(key, joined_says, from_the_start_says):
    from letters import sandbox

    def text(joined):
        attendance = {"as_of": "4 December 2026", "joined": joined, "year_pct": "94.7%", "sessions_missed": 4}
        body = DEFAULT_TEMPLATES[key].body
        return words(sandbox.render(body, {"attendance": attendance, "pupil": {"forename": "Adam"}}))

    assert joined_says in text("6 October 2026")
    assert from_the_start_says in text("") and "joined" not in text("")


def test_a_termly_report_for_a_pupil_who_missed_nothing_says_so_in_words():
    from letters import sandbox

    def text(missed):
        period = {"sessions_missed": missed, "days_missed": missed / 2, "hours_lost": missed * 3, "pct": "100.0%"}
        body = DEFAULT_TEMPLATES["termly_report"].body
        return words(sandbox.render(body, {"period": period, "pupil": {"forename": "Tobi"}}))

    assert "Tobi did not miss a single session." in text(0) and "missed 0" not in text(0)
    assert "Tobi missed 3 sessions (1.5 school days, or 9 hours of learning)." in text(3)


def test_the_letter_of_concern_says_late_once_not_one_time():
    from letters import sandbox

    def text(lates):
        attendance = {"lates": lates, "sessions_missed": 2, "authorised": 2, "unauthorised": 0}
        body = DEFAULT_TEMPLATES["second_warning"].body
        return words(sandbox.render(body, {"attendance": attendance, "pupil": {"forename": "Yusuf"}}))

    assert "- Yusuf arrived late once " in text(1) and "1 time" not in text(1)
    assert "- Yusuf arrived late 4 times " in text(4)
    assert "arrived late" not in text(0)


@pytest.mark.parametrize("key", ["formal_warning", "la_referral_notice"])
@pytest.mark.parametrize(
    ("missed", "unauthorised", "says"),
    [
        (14, 0, "All of them were authorised."),
        (1, 0, "It was authorised."),
        (14, 1, "1 of these sessions was not authorised."),
        (14, 3, "3 of these sessions were not authorised."),
    ],
)
def test_formal_letters_never_say_none_were_not_authorised(key, missed, unauthorised, says):
    from letters import sandbox

    attendance = {"sessions_missed": missed, "unauthorised": unauthorised, "authorised": missed - unauthorised}
    body = DEFAULT_TEMPLATES[key].body
    text = words(sandbox.render(body, {"attendance": attendance, "pupil": {"forename": "Adam"}}))

    assert says in text
    assert "0 of these" not in text


def test_a_pupil_who_joined_after_the_first_week_has_their_joining_day_on_the_letter(school, family):
    from letters.selectors import letter_facts, letter_settings_get

    year_start = school_calendar(school).academic_year_window(TODAY)[0]
    (letter,) = services.letter_queue(school=school, pupil=family, key="first_reminder", on=TODAY).letters
    for start_on, joined in (
        (year_start, None),
        (year_start + timedelta(days=7), None),  # the first week: the year's figures
        (year_start + timedelta(days=35), year_start + timedelta(days=35)),
    ):
        Pupil.objects.filter(pk=family.pk).update(start_on=start_on)
        letter.pupil.refresh_from_db()
        settings = letter_settings_get(school=school)
        (facts,) = letter_facts([letter], school=school, settings=settings, dated=TODAY)
        assert facts.joined == joined
