"""CSV: one row per layer, then a TOTAL row; shapes as 'NxCxHxW' separated by spaces; bytes."""
from __future__ import annotations

import io
from typing import TextIO

from blobcalc.api import NetReport
from blobcalc.escaping import CsvWriter, spreadsheet_safe
from blobcalc.report.rows import iter_layer_rows, totals
from blobcalc.shapes.registry import Shape

COLUMNS = ("index", "name", "type", "bottoms", "tops", "top_shapes", "param_shapes", "status",
           "output_elements", "caffe_log_bytes", "param_count", "forward_maccs",
           "inference_activation_bytes", "inference_param_bytes", "inference_buffer_bytes", "inference_bytes",
           "training_activation_bytes", "training_gradient_bytes", "training_param_bytes",
           "training_param_gradient_bytes", "training_solver_bytes", "training_buffer_bytes", "training_bytes",
           "reason", "phase", "batch")
# An empty figure cell is unknown (a layer of unknown shapes), never 0. The TOTAL row of a partial net
# has status "partial: at least" and sums the known layers only: lower bounds.

def _shapes(shapes: tuple[Shape | None, ...]) -> str:
    return " ".join("?" if s is None else "x".join(map(str, s)) or "scalar" for s in shapes)


def render(report: NetReport, unit: str = "MiB") -> str:
    out = io.StringIO()
    write(report, out, unit)
    return out.getvalue()


def write(report: NetReport, stream: TextIO, unit: str = "MiB") -> None:
    """Write the CSV to `stream` row by row."""
    writer = CsvWriter(stream)
    writer.writerow(COLUMNS)
    memory = report.memory
    phase, batch = report.analysis.phase, "" if memory.batch is None else memory.batch
    sums = [0] * 15
    trained = False
    for row in iter_layer_rows(report):
        layer, infer, train = row.layer, row.inference, row.training
        figures: list[int | str] = [row.output_elements, row.output_bytes, row.param_count, row.compute.maccs,
                                    infer.activation_data, infer.param_data, infer.buffer_bytes, infer.total]
        figures += ([train.activation_data, train.activation_diff, train.param_data, train.param_diff,
                     train.solver_state, train.buffer_bytes, train.total] if train is not None else [0] * 7)
        trained = trained or train is not None
        sums = [a + int(b) for a, b in zip(sums, figures, strict=True)]
        if not layer.known:
            figures = ["", "", row.param_count or "", *[""] * 12]
        # Names are the file's, exact, but never a formula a spreadsheet would run.
        writer.writerow([layer.index, *map(spreadsheet_safe, (layer.name, layer.type, " ".join(layer.bottoms),
                                                              " ".join(layer.tops))),
                         _shapes(layer.top_shapes), _shapes(layer.param_shapes), layer.status,
                         *(figures if train is not None else [*figures[:8], *[""] * 7]),
                         spreadsheet_safe(layer.reason), phase, batch])
    total = totals(report.analysis)
    cells: list[int | str] = [*(sums if trained else [*sums[:8], *[""] * 7])]
    if total.partial:
        cells = [value or "" for value in cells]  # nothing known: unknown, not 0
    writer.writerow(["", "TOTAL", "", "", "", "", "", "partial: at least" if total.partial else "ok",
                     *cells, "", phase, batch])
