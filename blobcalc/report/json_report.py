"""JSON: one object per net; the keys golden_check.py reads (layers, param_count,
caffe_memory_required_bytes) are a stable contract. All memory figures are in bytes.

`write` streams the same text `render` returns: the per-layer lists are built and encoded one entry
at a time, so a 100,000-layer net's output (tens of MB) is never held whole, as a dict or a string."""
from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any, TextIO

from blobcalc.api import NetReport
from blobcalc.memory import LayerMemory, NetMemory
from blobcalc.report.rows import totals
from blobcalc.report.streaming import write_pieces
from blobcalc.result import NetAnalysis

INDENT = 1
_ENCODER = json.JSONEncoder(indent=INDENT)  # json.dumps(value, indent=INDENT), piece by piece
_BATCH_PIECES = 4096


def analysis_dict(analysis: NetAnalysis) -> dict[str, Any]:
    return _materialized(_analysis_document(analysis))


def _layer_entries(analysis: NetAnalysis) -> Iterator[dict[str, Any]]:
    for layer in analysis.layers:
        entry: dict[str, Any] = {
            "index": layer.index,
            "name": layer.name,
            "type": layer.type,
            "bottoms": list(layer.bottoms),
            "tops": list(layer.tops),
            "top_shapes": [None if s is None else list(s) for s in layer.top_shapes],
            "param_shapes": [list(s) for s in layer.param_shapes],
            "param_shared": list(layer.param_shared),
            "in_place": list(layer.in_place),
            "loss_weights": list(layer.loss_weights),
            "auto_split": layer.auto_split,
            "status": layer.status,
            "output_elements": layer.output_elements,
            "output_bytes": 4 * layer.output_elements,
            "param_count": layer.param_count,
        }
        for key, value in (("reason", layer.reason), ("replaced_type", layer.replaced_type),
                           ("notes", list(layer.notes)), ("python_layer", layer.python_layer)):
            if value:
                entry[key] = value
        yield entry


def _analysis_document(analysis: NetAnalysis) -> dict[str, Any]:
    """analysis_dict with its per-layer list left as an iterator (see _materialized)."""
    total = totals(analysis)
    return {
        "source": analysis.source,
        "net_name": analysis.net_name,
        "format": analysis.era,
        "phase": analysis.phase,
        "level": analysis.level,
        "stages": list(analysis.stages),
        "input_blobs": list(analysis.input_blobs),
        "output_blobs": list(analysis.output_blobs),
        "layers": _layer_entries(analysis),
        "param_count": total.param_count,
        "output_elements": total.output_elements,
        "caffe_memory_required_bytes": total.caffe_memory_required_bytes,
        "partial": total.partial,
        "unsupported_types": list(analysis.unsupported_types),
        "unknown_layers": [layer.name for layer in analysis.unknown_layers],
        "fork_types": dict(analysis.fork_types),
        "fork_fields": list(analysis.fork_fields),
        "notices": list(analysis.notices),
    }


def _layer_memory(row: LayerMemory, element_bytes: int) -> dict[str, Any]:
    return {"index": row.index, "name": row.name, "type": row.type,
            "activation_data": row.activation_data, "activation_diff": row.activation_diff,
            "param_data": row.param_data, "param_diff": row.param_diff, "solver_state": row.solver_state,
            "buffers": [{"name": b.name, "elements": b.elements, "bytes": b.bytes(element_bytes)}
                        for b in row.buffers],
            "buffer_bytes": row.buffer_bytes, "total": row.total}


def _net_memory(memory: NetMemory) -> dict[str, Any]:
    return {"totals": {**asdict(memory.totals), "total": memory.totals.total}, "partial": memory.partial,
            "layers": (_layer_memory(row, memory.element_bytes) for row in memory.rows)}


def as_dict(report: NetReport) -> dict[str, Any]:
    return _materialized(_document(report))


def _document(report: NetReport) -> dict[str, Any]:
    """as_dict with its per-layer lists left as iterators (see _materialized)."""
    memory = report.memory
    seed = memory.seed
    result = _analysis_document(report.analysis)
    result["memory"] = {
        "dtype": memory.dtype,
        "element_bytes": memory.element_bytes,
        "device": memory.device,
        "batch": memory.batch,
        "caffe_log_bytes": memory.caffe_log_bytes,
        "unique_blob_bytes": memory.unique_blob_bytes,
        "inference": {**_net_memory(memory.inference),
                      "peak_with_freeing": {"bytes": memory.peak.peak_bytes,
                                            "during_layer": memory.peak.peak_layer}},
        "training": None if memory.training is None else {
            **_net_memory(memory.training),
            "solver": {"type": memory.solver.type,
                       "regularization_type": memory.solver.regularization_type,
                       "weight_decay": memory.solver.weight_decay, "source": memory.solver.source},
            "test_nets": [_net_memory(test) for test in memory.test_nets],
            "total_with_test_nets": memory.training_total},
        "training_error": memory.training_error,
        "training_notes": list(memory.training_notes),
        "seed": None if seed is None else {
            "activations_per_image": seed.activations_per_image, "params": seed.params,
            "input_elements_per_image": seed.input_elements_per_image, "batch": seed.batch,
            "activation_bytes_per_image": seed.activation_bytes_per_image, "param_bytes": seed.param_bytes,
            "misc_bytes": seed.misc_bytes, "training_bytes": seed.training_bytes,
            "inference_bytes": seed.inference_bytes},
        "seed_error": memory.seed_error,
        "seed_notes": list(memory.notes),
    }
    result["compute"] = {
        "forward_maccs": sum(row.maccs for row in report.compute),
        "unmodelled_layers": [row.name for row in report.compute if not row.modelled],
        "layers": (asdict(row) for row in report.compute),
    }
    result["report_notices"] = list(report.notices)
    return result


def render(report: NetReport, unit: str = "MiB") -> str:
    return json.dumps(as_dict(report), indent=INDENT) + "\n"


def write(report: NetReport, stream: TextIO, unit: str = "MiB") -> None:
    """Write render(report) to `stream` piece by piece."""
    write_pieces(stream, itertools.chain(_encoded(_document(report), 0), ("\n",)))


def _materialized(document: dict[str, Any]) -> dict[str, Any]:
    """The document with every iterator (a per-layer list) turned into a list."""
    return {key: _plain(value) for key, value in document.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return _materialized(value)
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, Iterator):
        return list(value)
    return value


def _encoded(value: Any, depth: int) -> Iterator[str]:
    """json.dumps(value, indent=INDENT) in pieces, for a document whose lists may be iterators: dicts,
    lists and tuples are walked, an iterator is a list whose items are each encoded whole (they are
    plain JSON values: one layer's entry), as is any other value."""
    if isinstance(value, dict):
        yield from _members(((json.dumps(key) + ": ", item) for key, item in value.items()), "{}", depth, False)
    elif isinstance(value, (list, tuple)):
        yield from _members((("", item) for item in value), "[]", depth, False)
    elif isinstance(value, Iterator):
        yield from _members((("", item) for item in value), "[]", depth, True)
    else:
        yield from _whole(value, depth)


def _members(members: Iterator[tuple[str, Any]], brackets: str, depth: int, whole: bool) -> Iterator[str]:
    """An object's or array's members, each (its key and ": ", or "" in an array; its value)."""
    separator = "\n" + " " * (INDENT * (depth + 1))
    empty = True
    for prefix, item in members:
        yield (brackets[0] if empty else ",") + separator + prefix
        empty = False
        if whole:
            yield from _whole(item, depth + 1)
        else:
            yield from _encoded(item, depth + 1)
    yield brackets if empty else "\n" + " " * (INDENT * depth) + brackets[1]


def _whole(value: Any, depth: int) -> Iterator[str]:
    # Nested at `depth`, every line but the first is indented by `depth` more; json escapes newlines
    # inside strings, so each newline of the encoding starts a line. Taken a batch of the encoder's
    # pieces at a time, since one entry can be large too (a Split of 100,000 tops).
    pieces = _ENCODER.iterencode(value)
    newline = "\n" + " " * (INDENT * depth)
    while batch := list(itertools.islice(pieces, _BATCH_PIECES)):
        text = "".join(batch)
        yield text.replace("\n", newline) if depth else text
