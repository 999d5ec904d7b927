"""JSON: one object per net; the keys golden_check.py reads are part of a stable contract."""
from __future__ import annotations

import json
from typing import Any

from blobcalc.report.rows import layer_rows, totals
from blobcalc.result import NetAnalysis


def as_dict(analysis: NetAnalysis) -> dict[str, Any]:
    total = totals(analysis)
    layers = []
    for row in layer_rows(analysis):
        layer = row.layer
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
            "auto_split": layer.auto_split,
            "status": layer.status,
            "output_elements": row.output_elements,
            "output_bytes": row.output_bytes,
            "param_count": row.param_count,
        }
        if layer.reason:
            entry["reason"] = layer.reason
        if layer.replaced_type:
            entry["replaced_type"] = layer.replaced_type
        if layer.notes:
            entry["notes"] = list(layer.notes)
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
        "fork_types": {layer_type: origin for layer_type, origin in analysis.fork_types},
        "fork_fields": list(analysis.fork_fields),
        "unknown_layers": [layer.name for layer in analysis.unknown_layers],
        "notices": list(analysis.notices),
    }


def render(analysis: NetAnalysis) -> str:
    return json.dumps(as_dict(analysis), indent=1) + "\n"
