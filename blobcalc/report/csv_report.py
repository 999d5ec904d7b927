"""CSV: one row per layer, then a TOTAL row; shapes as 'NxCxHxW' separated by spaces."""
from __future__ import annotations

import csv
import io

from blobcalc.report.rows import layer_rows, totals
from blobcalc.result import NetAnalysis
from blobcalc.shapes.registry import Shape

COLUMNS = ("index", "name", "type", "bottoms", "tops", "top_shapes", "param_shapes", "status",
           "output_elements", "output_bytes", "param_count", "reason")


def _shapes(shapes: tuple[Shape | None, ...]) -> str:
    return " ".join("?" if s is None else "x".join(map(str, s)) or "scalar" for s in shapes)


def render(analysis: NetAnalysis) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in layer_rows(analysis):
        layer = row.layer
        writer.writerow([layer.index, layer.name, layer.type, " ".join(layer.bottoms), " ".join(layer.tops),
                         _shapes(layer.top_shapes), _shapes(layer.param_shapes), layer.status,
                         row.output_elements, row.output_bytes, row.param_count, layer.reason])
    total = totals(analysis)
    writer.writerow(["", "TOTAL", "", "", "", "", "", "partial" if total.partial else "ok",
                     total.output_elements, total.caffe_memory_required_bytes, total.param_count, ""])
    return out.getvalue()
