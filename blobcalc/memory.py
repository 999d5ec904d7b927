"""Memory figures computed from a propagated net (pure functions, no I/O)."""
from __future__ import annotations

from blobcalc.result import NetAnalysis
from blobcalc.shapes.registry import count

FLOAT32_BYTES = 4  # Caffe's Net<float>: every blob element is a 4-byte float


def caffe_memory_required_bytes(analysis: NetAnalysis) -> int:
    """What Caffe logs as "Memory required for data" (net.cpp Net::Init, memory_used_): every layer's
    tops summed, in-place tops again, inserted Split tops and automatic loss tops included."""
    return FLOAT32_BYTES * sum(count(shape) for layer in analysis.layers for shape in layer.top_shapes
                               if shape is not None)
