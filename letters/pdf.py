"""Letters to PDF with WeasyPrint: many letters as one document, and each letter's own pages.

Layout is the slow part (about 30-40 ms a page), so letters are laid out in
chunks (progress can be shown between them) and written once as a single
PDF. Each letter's own PDF is then cut from that PDF: its own pages, exactly
as they were printed.

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
    pdf: bytes
    pages: int
    first_pages: list[int]  # index of each letter's first page, in order
    _documents: list[Any]

    def letter_pages(self) -> list[tuple[int, int]]:
        """(first page, page count) of each letter."""
        ends = [*self.first_pages[1:], self.pages]
        return [(start, end - start) for start, end in zip(self.first_pages, ends, strict=True)]

    def letter_pdfs(self, progress: Callable[[int, int], None] | None = None) -> list[bytes]:
        """Each letter's own PDF: its pages of the printed PDF, exactly as they were sent.

        Split from the one PDF with pypdf (the same page objects, content
        streams and fonts). Without pypdf installed, each letter's pages are
        written again by WeasyPrint from the same layout, which is slower.
        """
        try:
            from pypdf import PdfReader, PdfWriter
        except ImportError:  # pragma: no cover - pypdf ships with the app; kept for a bare install
            return self._letter_pdfs_weasyprint(progress)
        reader = PdfReader(io.BytesIO(self.pdf))
        out = []
        spans = self.letter_pages()
        for number, (start, count) in enumerate(spans, start=1):
            writer = PdfWriter()
            for index in range(start, start + count):
                writer.add_page(reader.pages[index])
            buffer = io.BytesIO()
            writer.write(buffer)
            out.append(buffer.getvalue())
            if progress and (number % CHUNK == 0 or number == len(spans)):
                progress(number, len(spans))
        return out

    def _letter_pdfs_weasyprint(self, progress: Callable[[int, int], None] | None = None) -> list[bytes]:
        pages = [page for document in self._documents for page in document.pages]
        out = []
        spans = self.letter_pages()
        for number, (start, count) in enumerate(spans, start=1):
            out.append(self._documents[0].copy(pages[start : start + count]).write_pdf())
            if progress and (number % CHUNK == 0 or number == len(spans)):
                progress(number, len(spans))
        return out


def _render(html: str) -> Any:
    from weasyprint import HTML

    return HTML(string=html, url_fetcher=_fetcher(), base_url=str(STYLESHEET.parent)).render(
        stylesheets=[stylesheet()], font_config=_fonts()
    )


def pdf_render(
    sheets: Sequence[tuple[str, str]],
    *,
    progress: Callable[[int, int], None] | None = None,
    chunk: int = CHUNK,
) -> Rendered:
    """Lay out (anchor, html) sheets and write them as one PDF, each letter starting a new page.

    `progress(done, total)` is called after each chunk. Raises ValueError if a
    letter's first page cannot be found (its HTML lost its anchor).
    """
    documents: list[Any] = []
    first_pages: list[int] = []
    offset = 0
    for start in range(0, len(sheets), chunk):
        part = sheets[start : start + chunk]
        document = _render(document_html([html for _, html in part]))
        on_page = {}
        for index, page in enumerate(document.pages):
            for anchor in page.anchors:
                on_page.setdefault(anchor, index)
        for anchor, _ in part:
            if anchor not in on_page:
                raise ValueError(f"letter {anchor} has no page")
            first_pages.append(offset + on_page[anchor])
        offset += len(document.pages)
        documents.append(document)
        if progress:
            progress(min(start + chunk, len(sheets)), len(sheets))
    if not documents:
        raise ValueError("no letters to print")
    pages = [page for document in documents for page in document.pages]
    pdf = documents[0].copy(pages).write_pdf()
    return Rendered(pdf=pdf, pages=len(pages), first_pages=first_pages, _documents=documents)


def pdf_one(html: str) -> bytes:
    """One letter's PDF, for a preview: the same document and stylesheet as printing."""
    return _render(document_html([html])).write_pdf()
