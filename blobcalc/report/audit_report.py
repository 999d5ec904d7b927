"""Renderers of an AuditResult (`blobcalc audit`): one function per format, each returning a string."""
from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from typing import Any, TextIO

from blobcalc.audit import MISSING, UNCHECKED, AuditResult, LayerAudit
from blobcalc.escaping import CsvWriter, escape_controls, spreadsheet_safe, table_cell
from blobcalc.report.rows import human_bytes, shape_text
from blobcalc.report.streaming import write_lines
from blobcalc.shapes.registry import Shape


def verdict(result: AuditResult) -> str:
    """One sentence: does Caffe load these weights into this net, and if not, where does it stop."""
    if result.abort is None:
        missing = len(result.with_status(MISSING))
        tail = f"; {missing} layer(s) with parameters keep their initial values" if missing else ""
        return f"Caffe loads these weights{tail}"
    abort = result.abort
    if not abort.layer:
        return f"Caffe aborts before copying any layer: {abort.message}"
    others = result.fatal_count - 1
    tail = f"; {others} more layer(s) would fail after it" if others > 0 else ""
    return f"Caffe aborts at layer '{abort.layer}' ({abort.status}){tail}"


def _shapes(shapes: tuple[Shape, ...]) -> str:
    return " ".join(shape_text(shape) for shape in shapes) if shapes else "-"


def _found(layer: LayerAudit) -> str:
    # A legacy 4-D blob is shown as Caffe reads it, marked so the reader knows why it may still match.
    texts = [shape_text(b.found) + (" (4-D legacy)" if b.legacy else "")
             for b in layer.blobs if b.found is not None]
    return " ".join(texts) if texts else "-"


def _params(layer: LayerAudit) -> str:
    # The net's figure for a net layer, the file's for a layer only the weights have.
    params = layer.found_params if layer.net_index is None else layer.expected_params
    return f"{params:,}" if params else "-"


def _index(layer: LayerAudit) -> str:
    return "-" if layer.net_index is None else str(layer.net_index)


# --------------------------------------------------------------------------------------------
# table
# --------------------------------------------------------------------------------------------

HEADERS = ("#", "layer", "type", "status", "expected (net)", "found (weights)", "params")


def _table_rows(result: AuditResult) -> Iterator[list[str]]:
    # Escaped and elided: one 100 KB layer name must not widen every row (the table stays linear).
    for layer in result.layers:
        yield [table_cell(cell) for cell in (_index(layer), layer.name, layer.type, layer.status,
                                             _shapes(layer.expected_shapes), _found(layer), _params(layer))]


def render_table(result: AuditResult) -> str:
    return "\n".join(_table_lines(result)) + "\n"


def write_table(result: AuditResult, stream: TextIO) -> None:
    """render_table written to `stream` line by line (the rows are made twice, never all held)."""
    write_lines(stream, _table_lines(result))


def _table_lines(result: AuditResult) -> Iterator[str]:
    widths = [len(h) for h in HEADERS]
    for cells in _table_rows(result):
        widths = [max(width, len(cell)) for width, cell in zip(widths, cells, strict=True)]
    right = {0, 6}

    def fmt(cells: list[str] | tuple[str, ...]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

    weights = result.weights
    yield escape_controls(f"net: {result.net_name or '(unnamed)'}   file: {result.net_source}   "
                          f"phase: {result.phase}")
    yield escape_controls(f"weights: {weights.path}   format: {weights.era}   size: {weights.file_bytes:,} bytes "
                          f"({human_bytes(weights.file_bytes)})   data: {weights.data_type}")
    yield from ("", fmt(HEADERS), fmt(["-" * w for w in widths]))
    yield from map(fmt, _table_rows(result))
    yield from map(escape_controls, _summary_lines(result))


def _summary_lines(result: AuditResult) -> Iterator[str]:
    weights = result.weights
    out = ["", f"parameters: {result.weights_param_count:,} in the weights, {result.net_param_count:,} in "
                f"the net; {result.loaded_param_count:,} loaded, {result.missing_param_count:,} missing, "
                f"{result.unused_param_count:,} unused"]
    if result.net_learnable_count != result.net_param_count:
        out.append(f"(the net's {result.net_learnable_count:,} learnable parameters are fewer: layers that "
                   "share a blob each store a copy of it)")
    if weights.diff_count:
        out.append(f"the weights also hold {weights.diff_count:,} gradient (diff) values")
    for layer in result.layers:
        if layer.fatal or layer.status in (MISSING, UNCHECKED):
            out.append(f"{layer.status}: layer '{layer.name}': {layer.message}")
    if result.abort is not None and not result.abort.layer:
        out.append(f"{result.abort.status}: {result.abort.message}")
    out += [f"notice: weights: {notice}" for notice in weights.notices]
    out.append(f"result: {verdict(result)}")
    yield from out


# --------------------------------------------------------------------------------------------
# json
# --------------------------------------------------------------------------------------------

def _blob_dict(layer: LayerAudit) -> list[dict[str, Any]]:
    return [{"index": b.index, "expected": None if b.expected is None else list(b.expected),
             "found": None if b.found is None else list(b.found), "legacy_4d": b.legacy,
             "status": b.status, **({"message": b.message} if b.message else {})} for b in layer.blobs]


def as_dict(result: AuditResult) -> dict[str, Any]:
    weights = result.weights
    return {
        "net": {"source": result.net_source, "net_name": result.net_name, "phase": result.phase},
        "weights": {"path": weights.path, "file_bytes": weights.file_bytes, "format": weights.era,
                    "net_name": weights.net_name, "data_type": weights.data_type,
                    "payload_bytes": weights.payload_bytes, "diff_values": weights.diff_count,
                    "layers": len(weights.layers), "notices": list(weights.notices)},
        "layers": [{"name": layer.name, "type": layer.type, "net_index": layer.net_index,
                    "weights_index": layer.weights_index, "status": layer.status, "fatal": layer.fatal,
                    "expected_params": layer.expected_params, "found_params": layer.found_params,
                    "blobs": _blob_dict(layer), **({"message": layer.message} if layer.message else {})}
                   for layer in result.layers],
        "weights_param_count": result.weights_param_count,
        "net_param_count": result.net_param_count,
        "net_learnable_count": result.net_learnable_count,
        "loaded_param_count": result.loaded_param_count,
        "missing_param_count": result.missing_param_count,
        "unused_param_count": result.unused_param_count,
        "partial": result.partial,
        "ok": result.ok,
        "abort": None if result.abort is None else {
            "layer": result.abort.layer, "status": result.abort.status, "message": result.abort.message},
        "result": verdict(result),
    }


def render_json(result: AuditResult) -> str:
    return json.dumps(as_dict(result), indent=1) + "\n"


# --------------------------------------------------------------------------------------------
# csv
# --------------------------------------------------------------------------------------------

COLUMNS = ("net_index", "weights_index", "name", "type", "status", "expected_shapes", "found_shapes",
           "expected_params", "found_params", "message")


def _csv_shapes(shapes: tuple[Shape, ...]) -> str:
    return " ".join("x".join(map(str, s)) or "scalar" for s in shapes)


def render_csv(result: AuditResult) -> str:
    out = io.StringIO()
    write_csv(result, out)
    return out.getvalue()


def write_csv(result: AuditResult, stream: TextIO) -> None:
    """The CSV, row by row; names exact but never a formula a spreadsheet would run."""
    writer = CsvWriter(stream)
    writer.writerow(COLUMNS)
    for layer in result.layers:
        writer.writerow(["" if layer.net_index is None else layer.net_index,
                         "" if layer.weights_index is None else layer.weights_index,
                         *map(spreadsheet_safe, (layer.name, layer.type)),
                         layer.status, _csv_shapes(layer.expected_shapes), _csv_shapes(layer.found_shapes),
                         layer.expected_params, layer.found_params, spreadsheet_safe(layer.message)])
    writer.writerow(["", "", "TOTAL", "", "ok" if result.ok else "abort", "", "", result.net_param_count,
                     result.weights_param_count, spreadsheet_safe(verdict(result))])


def write_json(result: AuditResult, stream: TextIO) -> None:
    # Compact separators at indent 1 as render_json; json.dump writes in pieces.
    json.dump(as_dict(result), stream, indent=1)
    stream.write("\n")


RENDERERS: dict[str, Callable[[AuditResult], str]] = {
    "table": render_table,
    "json": render_json,
    "csv": render_csv,
}


WRITERS: dict[str, Callable[[AuditResult, TextIO], None]] = {
    "table": write_table,
    "json": write_json,
    "csv": write_csv,
}


def render(result: AuditResult, fmt: str) -> str:
    return RENDERERS[fmt](result)


def write(result: AuditResult, fmt: str, stream: TextIO) -> None:
    """render(result, fmt) written to `stream` in pieces."""
    WRITERS[fmt](result, stream)
