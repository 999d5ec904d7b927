"""Markdown: the per-layer table as a GitHub table, with the totals below it."""
from __future__ import annotations

from blobcalc.report.rows import human_bytes, totals
from blobcalc.report.table_report import HEADERS, table_lines
from blobcalc.result import NetAnalysis


def render(analysis: NetAnalysis) -> str:
    out = [f"### {analysis.net_name or '(unnamed)'} ({analysis.phase})", "",
           "| " + " | ".join(HEADERS) + " |",
           "|" + "|".join("---:" if h in ("#", "outputs", "params") else "---" for h in HEADERS) + "|"]
    for line in table_lines(analysis):
        out.append("| " + " | ".join(cell.replace("|", "\\|") for cell in line) + " |")
    total = totals(analysis)
    partial = " (partial)" if total.partial else ""
    out += ["", f"- parameters: {total.param_count:,}{partial}",
            f"- Caffe's \"Memory required for data\": {total.caffe_memory_required_bytes:,} bytes "
            f"({human_bytes(total.caffe_memory_required_bytes)}){partial}"]
    out += [f"- unknown: `{layer.name}` ({layer.type}): {layer.reason}" for layer in analysis.unknown_layers]
    return "\n".join(out) + "\n"
