"""CSV files for spreadsheets: the download, and cells a spreadsheet reads as what they say."""

from __future__ import annotations

import csv
from typing import Any

from django.http import HttpResponse


def csv_download(filename: str) -> tuple[HttpResponse, Any]:
    """A CSV attachment and a writer for its rows; marked as UTF-8 so Excel reads names as written."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.write("\ufeff")  # the byte-order mark: so Excel reads the file as UTF-8
    return response, csv.writer(response)


def cell(value: Any) -> Any:
    """Text that a spreadsheet would run as a formula (=, +, -, @) is kept as text."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def pct_cell(value: Any) -> str:
    """A percentage to one place, as printed; blank when there is none."""
    return "" if value is None else f"{value:.1f}"
