"""Benchmark: 500 letters as one PDF, against WeasyPrint rendering the same HTML with no app in between.

    python benchmarks/letters.py [--letters 500]
    DATABASE_URL=postgres://... python benchmarks/letters.py

Builds its own data in a throw-away test database (SQLite in memory, or a
`test_...` copy of DATABASE_URL's database): a demo school with one pupil
per letter and its register from September to 26 November 2025, and one
letter queued per pupil, cycling through the shipped letters (one letter
per pupil: joint addressing). Then, in the same run, it times:

- app: `letters.services.letters_print` of the whole queue, in this
  process: the figures for every letter, the merge, the layout, the one PDF,
  each letter's own PDF kept, every letter marked printed;
- baseline: WeasyPrint alone turning the same 500 merged letters (the HTML
  the app printed, with the same stylesheet) into one PDF.

The last line printed is JSON: letters, seconds, baseline_s, ratio,
peak_rss_mb (the process's peak by the end of the app's run),
peak_rss_mb_with_baseline, pages, setup_s. The target is a ratio within 1.5.
Not a test: it never fails on a timing.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "attendance_site.settings")

import django  # noqa: E402

TODAY = date(2025, 11, 26)
KEYS = (
    "first_reminder",
    "second_warning",
    "formal_warning",
    "attendance_contract",
    "la_referral_notice",
    "congratulations",
    "termly_report",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--letters", type=int, default=500)
    args = parser.parse_args()
    django.setup()

    from django.conf import settings
    from django.test.utils import setup_databases, setup_test_environment, teardown_databases

    media = tempfile.TemporaryDirectory(prefix="letters-bench-")
    settings.MEDIA_ROOT = media.name
    setup_test_environment()
    databases = setup_databases(verbosity=0, interactive=False)
    try:
        result = run(args.letters)
    finally:
        teardown_databases(databases, verbosity=0)
        media.cleanup()
    print(json.dumps(result))


def run(count: int) -> dict[str, object]:
    from django.utils import timezone
    from weasyprint import CSS, HTML

    from letters import pdf, selectors, services
    from letters.models import Letter, LetterSettings
    from pupils import demo

    started = time.perf_counter()
    school = demo.generate(schools=1, pupils_per_school=max(count, 14), today=TODAY).schools[0]
    LetterSettings.objects.create(school=school, addressing=LetterSettings.Addressing.JOINT)
    pupils = list(school.pupils.order_by("pk")[:count])
    for n, pupil in enumerate(pupils):
        services.letter_queue(school=school, pupil=pupil, key=KEYS[n % len(KEYS)], on=TODAY)
    setup_s = time.perf_counter() - started
    print(f"set up {len(pupils)} pupils and letters in {setup_s:.1f}s", file=sys.stderr)

    # Warm both paths up (fonts, Pango, the stylesheet) on one letter, outside the timings.
    warm = selectors.letters_for_render(Letter.objects.filter(school=school))[:1]
    warm_html = services.letter_sheets(warm, school=school, dated=timezone.localdate())
    pdf.pdf_render(warm_html)
    HTML(string=pdf.document_html([h for _, h in warm_html])).write_pdf(stylesheets=[CSS(filename=str(pdf.STYLESHEET))])

    started = time.perf_counter()
    batch = services.letters_print(school=school, letter_ids=None, user=None, background_from=count + 1)
    seconds = time.perf_counter() - started
    app_peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert batch.status == "done", batch.error
    print(f"app: {batch.total} letters, {batch.pages} pages in {seconds:.1f}s", file=sys.stderr)

    # The same HTML the app printed: rebuilt from the printed letters, outside the timing.
    letters = selectors.letters_for_render(Letter.objects.filter(print_batch=batch))
    sheets = [html for _, html in services.letter_sheets(letters, school=school, dated=timezone.localdate())]
    document = pdf.document_html(sheets)
    started = time.perf_counter()
    baseline = HTML(string=document).write_pdf(stylesheets=[CSS(filename=str(pdf.STYLESHEET))])
    baseline_s = time.perf_counter() - started
    print(f"baseline: WeasyPrint alone, {len(baseline)} bytes in {baseline_s:.1f}s", file=sys.stderr)

    return {
        "letters": batch.total,
        "seconds": round(seconds, 2),
        "baseline_s": round(baseline_s, 2),
        "ratio": round(seconds / baseline_s, 3),
        # The process's peak up to the end of the app's run (the baseline holds all 500 pages at once, so more).
        "peak_rss_mb": round(app_peak_mb, 1),
        "peak_rss_mb_with_baseline": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "pages": batch.pages,
        "setup_s": round(setup_s, 1),
    }


if __name__ == "__main__":
    main()
