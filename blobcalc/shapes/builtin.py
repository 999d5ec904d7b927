"""Imports every built-in rule module so that their @shape_rule registrations run."""
from __future__ import annotations

from blobcalc.shapes import (  # noqa: F401
    common,
    data,
    loss,
    misc,
    neuron,
    normalization,
    recurrent,
    vision,
)
from blobcalc.shapes.forks import load_all as _load_fork_rules

_load_fork_rules()
