"""JSON: one object per net; the keys golden_check.py reads (layers, param_count,
caffe_memory_required_bytes) are a stable contract. All memory figures are in bytes."""
from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from blobcalc.api import NetReport
from blobcalc.memory import LayerMemory, NetMemory
from blobcalc.report.rows import totals
from blobcalc.result import NetAnalysis


def analysis_dict(analysis: NetAnalysis) -> dict[str, Any]:
    total = totals(analysis)
    layers = []
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
        layers.append(entry)
    return {
        "source": analysis.source,
        "net_name": analysis.net_name,
        "format": analysis.era,
        "phase": analysis.phase,
        "level": analysis.level,
        "stages": list(analysis.stages),
        "input_blobs": list(analysis.input_blobs),
        "output_blobs": list(analysis.output_blobs),
        "layers": layers,
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
            "layers": [_layer_memory(row, memory.element_bytes) for row in memory.rows]}


def as_dict(report: NetReport) -> dict[str, Any]:
    memory = report.memory
    seed = memory.seed
    result = analysis_dict(report.analysis)
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
        "layers": [asdict(row) for row in report.compute],
    }
    result["report_notices"] = list(report.notices)
    return result


def render(report: NetReport, unit: str = "MiB") -> str:
    return json.dumps(as_dict(report), indent=1) + "\n"
