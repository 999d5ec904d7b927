"""Markdown: the per-layer table as a GitHub table, with the summary below it."""
from __future__ import annotations

from blobcalc.api import NetReport
from blobcalc.report.summary import notice_lines, summary_lines
from blobcalc.report.table_report import HEADERS, RIGHT_ALIGNED, table_lines


def render(report: NetReport, unit: str = "MiB") -> str:
    analysis = report.analysis
    out = [f"### {analysis.net_name or '(unnamed)'} ({analysis.phase})", "",
           "| " + " | ".join(HEADERS) + " |",
           "|" + "|".join("---:" if i in RIGHT_ALIGNED else "---" for i in range(len(HEADERS))) + "|"]
    for line in table_lines(report, unit):
        out.append("| " + " | ".join(cell.replace("|", "\\|") for cell in line) + " |")
    out += [""] + [f"- {line}" for line in (*summary_lines(report, unit), *notice_lines(report))]
    return "\n".join(out) + "\n"
