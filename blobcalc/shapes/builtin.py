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
