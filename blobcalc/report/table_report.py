"""Plain-text table for a terminal: one line per layer, then the totals and any notices."""
from __future__ import annotations

from collections.abc import Iterator
from typing import TextIO

from blobcalc.api import NetReport
from blobcalc.escaping import escape_controls, table_cell
from blobcalc.report.figures import UNKNOWN_TEXT, batch_text
from blobcalc.report.rows import iter_layer_rows, shapes_text
from blobcalc.report.streaming import write_lines
from blobcalc.report.summary import notice_lines, summary_lines
from blobcalc.report.view import TextView, elide, plan_columns
from blobcalc.units import format_bytes

HEADERS = ("#", "layer", "type", "top shapes", "outputs", "params", "MACCs", "infer mem", "train mem")
RIGHT_ALIGNED = frozenset({0, 4, 5, 6, 7, 8})


def table_cells(report: NetReport, unit: str) -> Iterator[list[str]]:
    """Each layer's cells, one layer at a time, as the net gives them (each renderer escapes them)."""
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


def render(report: NetReport, unit: str = "MiB", view: TextView | None = None) -> str:
    return "\n".join(_lines(report, unit, view or TextView())) + "\n"


def write(report: NetReport, stream: TextIO, unit: str = "MiB", view: TextView | None = None) -> None:
    """Write render(report, unit, view) to `stream` line by line."""
    write_lines(stream, _lines(report, unit, view or TextView()))


# Narrowing the table to a terminal: names and shapes are shortened with '…' down to these widths, then
# the columns least needed to read the net are left out (they are in every other format).
_ELIDABLE = {1: 16, 2: 12, 3: 18}  # layer, type, top shapes → their narrowest
_KEEP_END = frozenset({1})  # layer names keep their end
_DROPPABLE = (4, 6, 8, 0)  # outputs, MACCs, train mem, #


def _lines(report: NetReport, unit: str, view: TextView) -> Iterator[str]:
    analysis = report.analysis
    # Names come from the file: control characters are shown escaped (blobcalc.escaping).
    yield escape_controls(f"net: {analysis.net_name or '(unnamed)'}   file: {analysis.source}   "
                          f"format: {analysis.era}   phase: {analysis.phase}   "
                          f"{batch_text(report.memory.batch).replace(' ', ': ')}")
    if not view.summary:
        yield from ("", *_table(report, unit, view.width))
    yield ""
    yield from map(escape_controls, (*summary_lines(report, unit), *notice_lines(report, verbose=view.verbose)))


def _safe_cells(report: NetReport, unit: str) -> Iterator[list[str]]:
    """table_cells escaped and cut to MAX_CELL_CHARS even at --width 0: one long name or a Split's
    10,000 tops must not widen every row (the output stays linear in the net)."""
    return ([table_cell(cell) for cell in cells] for cells in table_cells(report, unit))


def _table(report: NetReport, unit: str, width: int | None) -> Iterator[str]:
    # The cells are made twice, the first time for the column widths only: holding them all would
    # cost ~400 bytes a layer (a third of the analysis itself); making them again costs little time.
    natural = [len(h) for h in HEADERS]
    for cells in _safe_cells(report, unit):
        natural = [max(width, len(cell)) for width, cell in zip(natural, cells, strict=True)]
    plan = plan_columns(HEADERS, natural, width, _ELIDABLE, _DROPPABLE)

    def fmt(cells: list[str] | tuple[str, ...]) -> str:
        shown = ((elide(cells[i], w, i in _KEEP_END), w, i in RIGHT_ALIGNED)
                 for i, w in zip(plan.shown, plan.widths, strict=True))
        return "  ".join(cell.rjust(w) if right else cell.ljust(w) for cell, w, right in shown).rstrip()

    dashes = ["-" * natural[i] for i in range(len(HEADERS))]
    for i, w in zip(plan.shown, plan.widths, strict=True):
        dashes[i] = "-" * w
    yield from (fmt(HEADERS), fmt(dashes))
    yield from map(fmt, _safe_cells(report, unit))
    if plan.left_out or plan.elided:
        yield f"(fitted to {width} columns: long cells cut with '…'; --width 0 shows all)"
        if plan.left_out:
            yield f"(columns left out: {', '.join(plan.left_out)})"
