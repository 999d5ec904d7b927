"""Renderers of a NetReport: one module per format, each returning a string, and writing the same text
to a stream piece by piece (`write_report`: the JSON of a 100,000-layer chain net is ~150 MB)."""
from __future__ import annotations

from collections.abc import Callable
from typing import TextIO

from blobcalc.api import NetReport
from blobcalc.report import csv_report, json_report, markdown_report, table_report
from blobcalc.report.view import TextView

RENDERERS: dict[str, Callable[[NetReport, str], str]] = {
    "table": table_report.render,
    "json": json_report.render,
    "csv": csv_report.render,
    "markdown": markdown_report.render,
}

WRITERS: dict[str, Callable[[NetReport, TextIO, str], None]] = {
    "table": table_report.write,
    "json": json_report.write,
    "csv": csv_report.write,
    "markdown": markdown_report.write,
}


def render(report: NetReport, fmt: str, unit: str = "MiB") -> str:
    """`unit` sets how bytes are shown in the human formats (JSON and CSV always give bytes)."""
    return RENDERERS[fmt](report, unit)


# The formats laid out for a reader (TextView: grouped notices, summary only, terminal width).
TEXT_WRITERS: dict[str, Callable[[NetReport, TextIO, str, TextView | None], None]] = {
    "table": table_report.write,
    "markdown": markdown_report.write,
}


def write_report(report: NetReport, fmt: str, stream: TextIO, unit: str = "MiB", view: TextView | None = None) -> None:
    """Write render(report, fmt, unit) to `stream`, piece by piece; `view` lays out table and markdown."""
    if fmt in TEXT_WRITERS:
        TEXT_WRITERS[fmt](report, stream, unit, view)
    else:
        WRITERS[fmt](report, stream, unit)
