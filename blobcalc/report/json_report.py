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
from blobcalc.compute import LayerCompute
from blobcalc.memory import LayerMemory, NetMemory
from blobcalc.report.figures import exact
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
            "output_elements": exact(layer.output_elements, not layer.known),
            "output_bytes": exact(4 * layer.output_elements, not layer.known),
            "param_count": exact(layer.param_count, not layer.known and not layer.param_count),
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
        "param_count": exact(total.param_count, total.partial),
        "output_elements": exact(total.output_elements, total.partial),
        "caffe_memory_required_bytes": exact(total.caffe_memory_required_bytes, total.partial),
        "partial": total.partial,
        # A partial net's figures are null; the known layers' sums are lower bounds.
        "known_part": _known_part({"param_count": total.param_count, "output_elements": total.output_elements,
                                   "caffe_memory_required_bytes": total.caffe_memory_required_bytes}, total.partial),
        "unsupported_types": list(analysis.unsupported_types),
        "unknown_layers": [layer.name for layer in analysis.unknown_layers],
        "fork_types": dict(analysis.fork_types),
        "fork_fields": list(analysis.fork_fields),
        "notices": list(analysis.notices),
    }


def _known_part(figures: dict[str, int], partial: bool) -> dict[str, int] | None:
    """The lower bounds of a partial net's figures (None for a net whose figures are exact)."""
    return figures if partial else None


def _layer_memory(row: LayerMemory, element_bytes: int, unknown: bool) -> dict[str, Any]:
    figures: dict[str, Any] = {
        "activation_data": row.activation_data, "activation_diff": row.activation_diff,
        "param_data": row.param_data, "param_diff": row.param_diff, "solver_state": row.solver_state,
        "buffers": [{"name": b.name, "elements": b.elements, "bytes": b.bytes(element_bytes), "step": b.step}
                    for b in row.buffers if not b.bound_only],
        "buffer_bytes": row.buffer_bytes, "total": row.total}
    if unknown:  # a layer of unknown shapes: its figures are unknown, not 0
        figures = {key: None for key in figures}
    return {"index": row.index, "name": row.name, "type": row.type, **figures}


def _net_memory(memory: NetMemory, unknown: set[int]) -> dict[str, Any]:
    figures = {**asdict(memory.totals), "total": memory.totals.total}
    return {"totals": {key: exact(value, memory.partial) for key, value in figures.items()},
            "partial": memory.partial, "known_part": _known_part(figures, memory.partial),
            "not_modelled": list(memory.not_modelled),
            # cuDNN's cudaMalloc'd workspaces: an upper bound, in no figure above (its size is cuDNN's choice).
            "cudnn_workspace_bound": memory.workspace_bound,
            "layers": (_layer_memory(row, memory.element_bytes, row.index in unknown) for row in memory.rows)}


def _compute_row(row: LayerCompute, unknown: bool) -> dict[str, Any]:
    entry = asdict(row)
    if unknown:  # the compute of a layer of unknown shapes is unknown, not 0
        entry.update({key: None for key in ("maccs", "comparisons", "additions", "divisions", "exponentials",
                                            "backward_maccs")})
    return entry


def _training_block(report: NetReport, training: NetMemory) -> dict[str, Any]:
    """One training figure of the TRAIN net, with its solver and the solver's test nets."""
    memory = report.memory
    train_partial = memory.training_partial
    unknown = {layer.index for layer in report.analysis.unknown_layers} if report.analysis.phase == "TRAIN" else set()
    return {**_net_memory(training, unknown),
            "solver": {"type": memory.solver.type,
                       "regularization_type": memory.solver.regularization_type,
                       "weight_decay": memory.solver.weight_decay, "source": memory.solver.source},
            "test_nets": [_net_memory(test, set()) for test in memory.test_nets],
            "total_with_test_nets": exact(memory.with_test_nets(training), train_partial)}


def as_dict(report: NetReport) -> dict[str, Any]:
    return _materialized(_document(report))


def _document(report: NetReport) -> dict[str, Any]:
    """as_dict with its per-layer lists left as iterators (see _materialized)."""
    memory = report.memory
    seed, seed_inference = memory.seed, memory.seed_inference
    analysis = report.analysis
    partial, train_partial = memory.partial, memory.training_partial
    unknown = {layer.index for layer in analysis.unknown_layers}
    result = _analysis_document(analysis)
    result["memory"] = {
        "dtype": memory.dtype,
        "element_bytes": memory.element_bytes,
        "device": memory.device,
        # Every figure below is for the analysed net (`phase`, `batch`), except training and the seed
        # method's training figure, which are for the TRAIN net at `training_batch`.
        "phase": memory.phase,
        "engine": memory.engine,
        "batch": memory.batch,
        "training_batch": memory.training_batch,
        "partial": partial,
        "training_partial": train_partial,
        "caffe_log_bytes": exact(memory.caffe_log_bytes, partial),
        "unique_blob_bytes": exact(memory.unique_blob_bytes, partial),
        "known_part": _known_part({"caffe_log_bytes": memory.caffe_log_bytes,
                                   "unique_blob_bytes": memory.unique_blob_bytes,
                                   "peak_with_freeing": memory.peak.peak_bytes}, partial),
        "inference": {**_net_memory(memory.inference, unknown),
                      "peak_with_freeing": {"bytes": exact(memory.peak.peak_bytes, partial),
                                            "during_layer": memory.peak.peak_layer}},
        # `training`: what Caffe allocates training the file as written (golden-memory measures this);
        # when the TRAIN net has no loss weight, `training_with_assumed_loss` is beside it (see assumed_loss).
        "training": None if memory.training is None else _training_block(
            report, memory.training_as_written or memory.training),
        "training_with_assumed_loss": None if memory.training is None or not memory.assumed_loss
        else _training_block(report, memory.training),
        "training_error": memory.training_error,
        "training_notes": list(memory.training_notes),
        # Blobs given `loss_weight: 1` because the TRAIN net has no loss (empty: none assumed).
        "assumed_loss": list(memory.assumed_loss),
        "assumed_loss_note": memory.assumed_loss_text,
        "seed": None if seed is None else {
            "phase": "TRAIN", "batch": seed.batch, "partial": train_partial,
            "activations_per_image": exact(seed.activations_per_image, train_partial),
            "params": exact(seed.params, train_partial),
            "input_elements_per_image": exact(seed.input_elements_per_image, train_partial),
            "activation_bytes_per_image": exact(seed.activation_bytes_per_image, train_partial),
            "param_bytes": exact(seed.param_bytes, train_partial),
            "misc_bytes": exact(seed.misc_bytes, train_partial),
            "training_bytes": exact(seed.training_bytes, train_partial),
            "known_part": _known_part({"training_bytes": seed.training_bytes}, train_partial),
            # One image of the analysed net (the document's inference rule).
            "inference_bytes": None if seed_inference is None else exact(
                seed_inference.inference_bytes, memory.per_image_partial),
            "inference_phase": memory.phase},
        "seed_error": memory.seed_error,
        "seed_notes": list(memory.notes),
    }
    maccs = sum(row.maccs for row in report.compute)
    result["compute"] = {
        "phase": memory.phase,
        "batch": memory.batch,
        "partial": partial,
        "forward_maccs": exact(maccs, partial),
        "forward_maccs_per_image": None if memory.forward_maccs_per_image is None else exact(
            memory.forward_maccs_per_image, memory.per_image_partial),
        "known_part": _known_part({"forward_maccs": maccs}, partial),
        "unmodelled_layers": [row.name for row in report.compute if not row.modelled],
        "layers": (_compute_row(row, row.index in unknown) for row in report.compute),
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
