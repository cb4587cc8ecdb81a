"""One letter as HTML: the sheet that the preview shows and the PDF prints, byte for byte.

`sheet_html` is the only place a letter becomes HTML. The page preview puts
its output inside the app page; `letters.pdf` puts the same strings, one per
letter, into a document for WeasyPrint. Only the stylesheet's media rules
differ (a paper-like sheet on screen, A4 pages in print).
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

from django.template.loader import render_to_string
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from pupils.statistics import hours_text, number_text

from . import merge, rules, sandbox
from .models import LetterSettings, LetterTemplate
from .selectors import TemplateText

logger = logging.getLogger(__name__)

#: The most a logo may weigh: it is embedded in every letter.
LOGO_MAX_BYTES = 500 * 1024
_IMAGE_TYPES = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg"}


@dataclass(frozen=True)
class Letterhead:
    school: merge.SchoolFacts
    logo_src: str = ""
    footer: str = ""


def image_type(data: bytes) -> str | None:
    """'image/png' or 'image/jpeg' from the file's first bytes; None for anything else."""
    for magic, mime in _IMAGE_TYPES.items():
        if data.startswith(magic):
            return mime
    return None


def logo_src(settings: LetterSettings) -> str:
    """The logo as a data: URL, so the preview and WeasyPrint need fetch nothing. '' without one."""
    if not settings.logo:
        return ""
    try:
        with settings.logo.open("rb") as handle:
            data = handle.read(LOGO_MAX_BYTES + 1)
    except OSError:
        logger.warning("letter logo %s for school %s is missing", settings.logo.name, settings.school_id)
        return ""
    mime = image_type(data)
    if mime is None or len(data) > LOGO_MAX_BYTES:
        return ""
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def letterhead(*, school_facts: merge.SchoolFacts, settings: LetterSettings) -> Letterhead:
    return Letterhead(school=school_facts, logo_src=logo_src(settings), footer=settings.footer)


_BLANK_LINES = re.compile(r"\n[ \t]*\n\s*")


def text_to_html(text: str) -> SafeString:
    """Plain letter text as HTML: a blank line starts a paragraph, lines starting '- ' make a list.

    Everything is escaped first: a template is text with merge fields, not HTML.
    """
    blocks: list[str] = []
    for block in _BLANK_LINES.split(text.strip().replace("\r\n", "\n")):
        lines = [line.strip() for line in block.split("\n") if line.strip()]
        run: list[str] = []
        items: list[str] = []
        for line in lines:
            if line.startswith("- "):
                if run:
                    blocks.append(f"<p>{'<br>'.join(run)}</p>")
                    run = []
                items.append(f"<li>{escape(line[2:].strip())}</li>")
            else:
                if items:
                    blocks.append(f"<ul>{''.join(items)}</ul>")
                    items = []
                run.append(str(escape(line)))
        if run:
            blocks.append(f"<p>{'<br>'.join(run)}</p>")
        if items:
            blocks.append(f"<ul>{''.join(items)}</ul>")
    # Safe: every piece of text was escaped above.
    return mark_safe("\n".join(blocks))


def report_rows(facts: merge.LetterFacts) -> list[tuple[str, str]]:
    """The figures table of a termly report, for the period it covers."""
    summary = facts.period.summary
    return [
        ("Attendance", rules.pct_text(summary.attendance_pct)),
        ("Sessions attended", f"{summary.attended} of {summary.possible}"),
        ("Sessions missed", str(summary.absent)),
        ("School days missed", number_text(rules.days_missed(summary.absent))),
        ("Authorised absence (such as illness)", str(summary.authorised)),
        ("Unauthorised absence", str(summary.unauthorised)),
        ("Late arrivals", str(summary.late)),
        ("Hours of lost learning", hours_text(summary.hours_lost)),
    ]


def _pairs(rows: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    return [rows[i : i + 2] for i in range(0, len(rows), 2)]


def sheet_html(*, facts: merge.LetterFacts, text: TemplateText, head: Letterhead) -> str:
    """The HTML of one letter (an <article>), from its facts and its template's wording.

    The template was checked when it was saved; rendering uses only the
    merge context, so nothing here can reach the database.
    """
    context = merge.merge_context(facts)
    subject = " ".join(sandbox.render(text.subject, context).split())
    body = sandbox.render(text.body, context)
    rag = facts.rag
    return render_to_string(
        "letters/letter_sheet.html",
        {
            "anchor": f"letter-{facts.reference}",
            "layout": text.layout,
            "is_certificate": text.layout == LetterTemplate.Layout.CERTIFICATE,
            "is_report": text.layout == LetterTemplate.Layout.REPORT,
            "head": head,
            "school_lines": head.school.address_lines,
            "recipient": facts.recipient,
            "address_lines": [facts.recipient.name, *facts.recipient.address_lines],
            "date": rules.date_text(facts.dated),
            "reference": facts.reference,
            "subject": subject,
            "body": text_to_html(body),
            "pupil": facts.pupil,
            "period": facts.period,
            "period_dates": f"{rules.date_text(facts.period.start)} to {rules.date_text(facts.period.end)}",
            "rag": rag,
            "rag_label": rules.RAG_LABELS.get(rag or "", "No figures yet"),
            "row_pairs": _pairs(report_rows(facts)) if text.layout == LetterTemplate.Layout.REPORT else [],
            "green_from": number_text(facts.rag_green_from, 2),
            "amber_from": number_text(facts.rag_amber_from, 2),
        },
    )


def sheets_html(
    facts: Sequence[merge.LetterFacts], texts: Sequence[TemplateText], *, head: Letterhead
) -> list[tuple[str, str]]:
    """(anchor, html) for each letter, in order: what `letters.pdf.pdf_render` takes."""
    return [
        (f"letter-{fact.reference}", sheet_html(facts=fact, text=text, head=head))
        for fact, text in zip(facts, texts, strict=True)
    ]
