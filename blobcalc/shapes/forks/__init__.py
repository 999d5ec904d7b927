"""Shape rules of layer types that BVLC Caffe lacks, one module per fork family.

Every module in this package is imported (and so registers its rules) automatically."""
from __future__ import annotations

import importlib
import pkgutil


def load_all() -> None:
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
