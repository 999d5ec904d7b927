"""Byte units, IEC (KiB, MiB, GiB: powers of 1024) and SI (KB, MB, GB: powers of 1000), always
labelled as what they are."""
from __future__ import annotations

import re
from decimal import Decimal
from fractions import Fraction

from blobcalc.errors import UsageError

UNIT_BYTES = {"B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3, "TiB": 1024**4,
              "KB": 1000, "MB": 1000**2, "GB": 1000**3, "TB": 1000**4}
_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*$")


_FLOAT_SAFE = 2**1000  # below this a float quotient is exact enough and cannot overflow


def _scaled(value: int, unit_bytes: int, spec: str) -> str:
    # A figure beyond float range (a batch of 10^400) is divided exactly instead of overflowing.
    if abs(value) < _FLOAT_SAFE:
        return format(value / unit_bytes, spec)
    return format(Decimal(value) / Decimal(unit_bytes), spec)


def format_bytes(value: int, unit: str = "MiB") -> str:
    if unit == "B":
        return f"{value:,} B"
    return f"{_scaled(value, UNIT_BYTES[unit], ',.2f')} {unit}"


def parse_size(text: str) -> int:
    """'11GiB' → 11811160064; '12 GB' → 12000000000; '4096B' → 4096. A number without a unit is
    refused: '11' could be GiB, GB or bytes, and a wrong guess answers a different question."""
    match = _SIZE.match(text)
    if not match:
        raise UsageError(f"cannot read {text!r} as a memory size (e.g. 11GiB, 12GB, 8000MiB)")
    number, unit = match.groups()
    if not unit:
        raise UsageError(f"memory size {text!r} has no unit; say which: e.g. {number}GiB (1024³ bytes), "
                         f"{number}GB (10⁹ bytes) or {number}B")
    canonical = {u.lower(): u for u in UNIT_BYTES}.get(unit.lower())
    if canonical is None:
        raise UsageError(f"unknown unit {unit!r} in {text!r}; use one of {', '.join(UNIT_BYTES)}")
    return int(Fraction(number) * UNIT_BYTES[canonical])  # exact: no float overflow for 10^400 GiB


def human_bytes(value: int) -> str:
    """Auto-scaled binary units: '812 B', '4.93 MiB', '1.20 GiB'."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 * UNIT_BYTES[unit] or unit == "GiB":
            return f"{value} B" if unit == "B" else f"{_scaled(value, UNIT_BYTES[unit], '.2f')} {unit}"
    return format_bytes(value, "TiB")
