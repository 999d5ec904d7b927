"""Markdown: the per-layer table as a GitHub table, with the summary below it."""
from __future__ import annotations

from collections.abc import Iterator
from typing import TextIO

from blobcalc.api import NetReport
from blobcalc.escaping import markdown_cell, markdown_text
from blobcalc.report.figures import batch_text
from blobcalc.report.streaming import write_lines
from blobcalc.report.summary import notice_lines, summary_lines
from blobcalc.report.table_report import HEADERS, RIGHT_ALIGNED, table_cells
from blobcalc.report.view import TextView


def render(report: NetReport, unit: str = "MiB", view: TextView | None = None) -> str:
    return "\n".join(_lines(report, unit, view or TextView())) + "\n"


def write(report: NetReport, stream: TextIO, unit: str = "MiB", view: TextView | None = None) -> None:
    """Write render(report, unit, view) to `stream` line by line."""
    write_lines(stream, _lines(report, unit, view or TextView()))


def _lines(report: NetReport, unit: str, view: TextView) -> Iterator[str]:
    analysis = report.analysis
    yield from (f"### {markdown_text(analysis.net_name or '(unnamed)')} ({analysis.phase}, "
                f"{batch_text(report.memory.batch)})", "")
    if not view.summary:
        yield from ("| " + " | ".join(HEADERS) + " |",
                    "|" + "|".join("---:" if i in RIGHT_ALIGNED else "---" for i in range(len(HEADERS))) + "|")
        for cells in table_cells(report, unit):
            yield "| " + " | ".join(map(markdown_cell, cells)) + " |"
        yield ""
    yield from (f"- {markdown_text(line)}"
                for line in (*summary_lines(report, unit), *notice_lines(report, verbose=view.verbose)))
