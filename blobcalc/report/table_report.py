"""Plain-text table for a terminal: one line per layer, then the totals and any notices."""
from __future__ import annotations

from collections.abc import Iterator
from typing import TextIO

from blobcalc.api import NetReport
from blobcalc.report.figures import UNKNOWN_TEXT, batch_text
from blobcalc.report.rows import iter_layer_rows, shapes_text
from blobcalc.report.streaming import write_lines
from blobcalc.report.summary import notice_lines, summary_lines
from blobcalc.units import format_bytes

HEADERS = ("#", "layer", "type", "top shapes", "outputs", "params", "MACCs", "infer mem", "train mem")
RIGHT_ALIGNED = frozenset({0, 4, 5, 6, 7, 8})


def table_cells(report: NetReport, unit: str) -> Iterator[list[str]]:
    """Each layer's cells, one layer at a time."""
    for row in iter_layer_rows(report):
        layer = row.layer
        kind = layer.type + (" (auto)" if layer.auto_split else "")
        if layer.replaced_type:
            kind = f"Input<-{layer.replaced_type}"
        if not layer.known:  # its figures are unknown, never 0 (report/figures.py)
            unknown = UNKNOWN_TEXT
            yield [str(layer.index), layer.name, kind, shapes_text(layer.top_shapes), unknown,
                   f"{row.param_count:,}" if row.param_count else unknown, unknown, unknown,
                   unknown if row.training is not None else "-"]
            continue
        yield [str(layer.index), layer.name, kind, shapes_text(layer.top_shapes),
               f"{row.output_elements:,}", f"{row.param_count:,}" if row.param_count else "-",
               f"{row.compute.maccs:,}" if row.compute.maccs else "-",
               format_bytes(row.inference.total, unit),
               format_bytes(row.training.total, unit) if row.training is not None else "-"]


def render(report: NetReport, unit: str = "MiB") -> str:
    return "\n".join(_lines(report, unit)) + "\n"


def write(report: NetReport, stream: TextIO, unit: str = "MiB") -> None:
    """Write render(report, unit) to `stream` line by line."""
    write_lines(stream, _lines(report, unit))


def _lines(report: NetReport, unit: str) -> Iterator[str]:
    analysis = report.analysis
    # The cells are made twice, the first time for the column widths only: holding them all would
    # cost ~400 bytes a layer (a third of the analysis itself); making them again costs little time.
    widths = [len(h) for h in HEADERS]
    for cells in table_cells(report, unit):
        widths = [max(width, len(cell)) for width, cell in zip(widths, cells, strict=True)]

    def fmt(cells: list[str] | tuple[str, ...]) -> str:
        return "  ".join(c.rjust(w) if i in RIGHT_ALIGNED else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

    yield from (f"net: {analysis.net_name or '(unnamed)'}   file: {analysis.source}   format: {analysis.era}   "
                f"phase: {analysis.phase}   {batch_text(report.memory.batch).replace(' ', ': ')}", "", fmt(HEADERS),
                fmt(["-" * w for w in widths]))
    yield from map(fmt, table_cells(report, unit))
    yield from ("", *summary_lines(report, unit), *notice_lines(report))
