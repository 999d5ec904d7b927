"""How a figure is shown when some of the layers it sums are unknown: never as 0. The known layers'
sum is a lower bound ("at least X"); with nothing known the figure is unknown ("?" in text, null in
JSON and an empty cell in CSV). Every format goes through these functions."""
from __future__ import annotations

from blobcalc.units import format_bytes

UNKNOWN_TEXT = "?"


def bytes_text(value: int, partial: bool, unit: str) -> str:
    if not partial:
        return format_bytes(value, unit)
    return f"at least {format_bytes(value, unit)}" if value else UNKNOWN_TEXT


def count_text(value: int, partial: bool) -> str:
    if not partial:
        return f"{value:,}"
    return f"at least {value:,}" if value else UNKNOWN_TEXT


def exact(value: int, partial: bool) -> int | None:
    """The figure for a machine format: None (null) unless every layer it sums is known."""
    return None if partial else value


def known_part(value: int, partial: bool) -> int | None:
    """The lower bound a partial figure has (None when the figure is exact, or when nothing is known)."""
    return value if partial and value else None


def batch_text(batch: int | None) -> str:
    return f"batch {batch}" if batch is not None else f"batch {UNKNOWN_TEXT}"
