"""Renderers of a NetAnalysis: one module per format, each returning a string."""
from __future__ import annotations

from collections.abc import Callable

from blobcalc.report import csv_report, json_report, markdown_report, table_report
from blobcalc.result import NetAnalysis

RENDERERS: dict[str, Callable[[NetAnalysis], str]] = {
    "table": table_report.render,
    "json": json_report.render,
    "csv": csv_report.render,
    "markdown": markdown_report.render,
}


def render(analysis: NetAnalysis, fmt: str) -> str:
    return RENDERERS[fmt](analysis)
