"""Plain-text table for a terminal: one line per layer, then the totals and any notices."""
from __future__ import annotations

from blobcalc.api import NetReport
from blobcalc.report.rows import layer_rows, shapes_text
from blobcalc.report.summary import notice_lines, summary_lines
from blobcalc.units import format_bytes

HEADERS = ("#", "layer", "type", "top shapes", "outputs", "params", "MACCs", "infer mem", "train mem")
RIGHT_ALIGNED = frozenset({0, 4, 5, 6, 7, 8})


def table_lines(report: NetReport, unit: str) -> list[list[str]]:
    lines = []
    for row in layer_rows(report):
        layer = row.layer
        kind = layer.type + (" (auto)" if layer.auto_split else "")
        if layer.replaced_type:
            kind = f"Input<-{layer.replaced_type}"
        lines.append([str(layer.index), layer.name, kind, shapes_text(layer.top_shapes),
                      f"{row.output_elements:,}", f"{row.param_count:,}" if row.param_count else "-",
                      f"{row.compute.maccs:,}" if row.compute.maccs else "-",
                      format_bytes(row.inference.total, unit),
                      format_bytes(row.training.total, unit) if row.training is not None else "-"])
    return lines


def render(report: NetReport, unit: str = "MiB") -> str:
    analysis = report.analysis
    lines = table_lines(report, unit)
    widths = [max(len(h), *(len(line[i]) for line in lines)) if lines else len(h)
              for i, h in enumerate(HEADERS)]

    def fmt(cells: list[str] | tuple[str, ...]) -> str:
        return "  ".join(c.rjust(w) if i in RIGHT_ALIGNED else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

    out = [f"net: {analysis.net_name or '(unnamed)'}   file: {analysis.source}   format: {analysis.era}   "
           f"phase: {analysis.phase}", "", fmt(HEADERS), fmt(["-" * w for w in widths])]
    out += [fmt(line) for line in lines]
    out += ["", *summary_lines(report, unit), *notice_lines(report)]
    return "\n".join(out) + "\n"
