"""Renderers of a NetReport: one module per format, each returning a string."""
from __future__ import annotations

from collections.abc import Callable

from blobcalc.api import NetReport
from blobcalc.report import csv_report, json_report, markdown_report, table_report

RENDERERS: dict[str, Callable[[NetReport, str], str]] = {
    "table": table_report.render,
    "json": json_report.render,
    "csv": csv_report.render,
    "markdown": markdown_report.render,
}


def render(report: NetReport, fmt: str, unit: str = "MiB") -> str:
    """`unit` sets how bytes are shown in the human formats (JSON and CSV always give bytes)."""
    return RENDERERS[fmt](report, unit)
