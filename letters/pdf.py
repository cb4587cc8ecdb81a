"""Letters to PDF with WeasyPrint: many letters as one document, and each letter's own pages.

Layout is the slow part (about 30-40 ms a page). Letters are laid out in
chunks of 50, so progress can be shown and memory stays flat; each chunk's
PDF is cut into the letters' own PDFs (their pages exactly as printed) and
the chunks are joined into the one PDF the office prints.

WeasyPrint fetches nothing: the logo is a data: URL and the stylesheet is read
from disk once, so a letter cannot make the server load a URL.
"""

from __future__ import annotations

import functools
import io
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STYLESHEET = Path(__file__).resolve().parent / "static" / "letters" / "letter.css"

# WeasyPrint logs each of its steps at INFO: seven lines a batch that say nothing to an operator.
logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)

#: Letters laid out between progress reports.
CHUNK = 50


# WeasyPrint is imported when first needed: loading Pango costs time at every start-up otherwise.


@functools.cache
def _fonts() -> Any:
    from weasyprint.text.fonts import FontConfiguration

    return FontConfiguration()


def _fetcher() -> Any:
    from weasyprint.urls import URLFetcher

    # Only data: URLs (the logo): a letter can never make the server fetch a file or a web address.
    return URLFetcher(allowed_protocols={"data"}, fail_on_errors=False)


@functools.cache
def stylesheet() -> Any:
    from weasyprint import CSS

    return CSS(filename=str(STYLESHEET), font_config=_fonts())


def document_html(sections: Sequence[str]) -> str:
    """The printed document: the letters' own HTML, one after the other, and nothing else."""
    return (
        '<!doctype html><html lang="en-GB"><head><meta charset="utf-8"><title>Letters</title></head><body>'
        + "\n".join(sections)
        + "</body></html>"
    )


@dataclass
class Rendered:
    pdf: bytes  # the whole batch, as the office prints it
    pages: int
    letters: list[tuple[bytes, int]]  # each letter's own PDF and its page count, in order


def _render(html: str) -> Any:
    from weasyprint import HTML

    return HTML(string=html, url_fetcher=_fetcher(), base_url=str(STYLESHEET.parent)).render(
        stylesheets=[stylesheet()], font_config=_fonts()
    )


def _spans(document: Any, anchors: Sequence[str]) -> list[tuple[int, int]]:
    """(first page, page count) of each letter in a laid-out document, from the anchor each sheet carries."""
    on_page: dict[str, int] = {}
    for index, page in enumerate(document.pages):
        for anchor in page.anchors:
            on_page.setdefault(anchor, index)
    missing = [anchor for anchor in anchors if anchor not in on_page]
    if missing:
        raise ValueError(f"letter {missing[0]} has no page")
    firsts = [on_page[anchor] for anchor in anchors]
    ends = [*firsts[1:], len(document.pages)]
    return [(first, end - first) for first, end in zip(firsts, ends, strict=True)]


def pdf_render(
    sheets: Sequence[tuple[str, str]],
    *,
    progress: Callable[[int, int], None] | None = None,
    chunk: int | None = None,
) -> Rendered:
    """Lay out (anchor, html) sheets as one PDF, each letter on new pages, and cut out each letter's own.

    Each chunk is laid out, written, and cut into its letters before the next
    is started, so memory depends on the chunk, not the batch (a 2,000-pupil
    school's termly reports are one batch). The chunks' PDFs are then joined
    with pypdf: the batch's pages are the letters' pages, object for object.
    `progress(done, total)` is called after each chunk. Raises ValueError if
    there is nothing to print or a letter's first page cannot be found.
    """
    if not sheets:
        raise ValueError("no letters to print")
    try:
        from pypdf import PdfReader, PdfWriter
    except ImportError:  # see _render_whole
        return _render_whole(sheets, progress=progress)
    chunk = chunk or CHUNK
    batch = PdfWriter()
    letters: list[tuple[bytes, int]] = []
    for start in range(0, len(sheets), chunk):
        part = sheets[start : start + chunk]
        document = _render(document_html([html for _, html in part]))
        spans = _spans(document, [anchor for anchor, _ in part])
        reader = PdfReader(io.BytesIO(document.write_pdf()))
        del document  # the laid-out pages are the memory-hungry part
        for first, count in spans:
            letters.append((_cut(reader, first, count, PdfWriter), count))
        batch.append(reader)
        if progress:
            progress(len(letters), len(sheets))
    buffer = io.BytesIO()
    batch.write(buffer)
    return Rendered(pdf=buffer.getvalue(), pages=len(batch.pages), letters=letters)


def _cut(reader: Any, first: int, count: int, writer_class: Any) -> bytes:
    writer = writer_class()
    for index in range(first, first + count):
        writer.add_page(reader.pages[index])
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def _render_whole(sheets: Sequence[tuple[str, str]], *, progress: Callable[[int, int], None] | None) -> Rendered:
    """Without pypdf (a bare install): one document, and each letter written again from its own pages.

    Slower, and memory grows with the batch; pypdf is a dependency of the app.
    """
    document = _render(document_html([html for _, html in sheets]))
    spans = _spans(document, [anchor for anchor, _ in sheets])
    letters = [(document.copy(document.pages[first : first + count]).write_pdf(), count) for first, count in spans]
    if progress:
        progress(len(sheets), len(sheets))
    return Rendered(pdf=document.write_pdf(), pages=len(document.pages), letters=letters)


def pdf_one(html: str) -> bytes:
    """One letter's PDF, for a preview: the same document and stylesheet as printing."""
    return _render(document_html([html])).write_pdf()
