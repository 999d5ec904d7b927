"""blobcalc: exact blob shapes, parameter counts and memory of Caffe nets, as real Caffe computes them."""
from __future__ import annotations

from blobcalc.api import analyze
from blobcalc.errors import BlobcalcError
from blobcalc.result import LayerResult, NetAnalysis

__all__ = ["BlobcalcError", "LayerResult", "NetAnalysis", "analyze"]
__version__ = "0.1.0"
