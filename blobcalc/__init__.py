"""blobcalc: exact blob shapes, parameter counts and memory of Caffe nets, as real Caffe computes them."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from blobcalc.api import analyze
    from blobcalc.errors import BlobcalcError
    from blobcalc.result import LayerResult, NetAnalysis

__all__ = ["BlobcalcError", "LayerResult", "NetAnalysis", "analyze"]
__version__ = "0.1.0"

# Loaded on first use (PEP 562), so that a command that needs no analysis (a scan answered from its
# cache) does not pay for importing it.
_EXPORTS = {"analyze": "blobcalc.api", "BlobcalcError": "blobcalc.errors", "LayerResult": "blobcalc.result",
            "NetAnalysis": "blobcalc.result"}


if not TYPE_CHECKING:  # type checkers see the imports above (and a submodule is never this function's)

    def __getattr__(name: str) -> object:
        if name in _EXPORTS:
            import importlib

            return getattr(importlib.import_module(_EXPORTS[name]), name)
        raise AttributeError(f"module 'blobcalc' has no attribute {name!r}")
