"""The largest batch whose memory estimate fits a budget, found by re-propagating shapes at each
candidate batch (never by extrapolating: some tops, like SSD's prior boxes, do not grow with it)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

MAX_BATCH = 1 << 24  # a search bound far above any real batch


@dataclass(frozen=True, slots=True)
class FitResult:
    batch: int  # 0 when not even batch 1 fits
    bytes_at_batch: int | None  # the estimate at `batch` (None when batch is 0)
    bytes_at_next: int  # the estimate at batch + 1, which does not fit
    budget: int
    evaluations: int


def largest_batch(estimate: Callable[[int], int], budget: int, limit: int = MAX_BATCH) -> FitResult:
    """Exponential search for a batch that does not fit, then binary search; `estimate(batch)` must
    not decrease as the batch grows."""
    cache: dict[int, int] = {}

    def at(batch: int) -> int:
        if batch not in cache:
            cache[batch] = estimate(batch)
        return cache[batch]

    if at(1) > budget:
        return FitResult(0, None, at(1), budget, len(cache))
    low, high = 1, 2
    while high <= limit and at(high) <= budget:
        low, high = high, high * 2
    if high > limit:
        return FitResult(low, at(low), at(low), budget, len(cache))
    while high - low > 1:  # invariant: low fits, high does not
        middle = (low + high) // 2
        if at(middle) <= budget:
            low = middle
        else:
            high = middle
    return FitResult(low, at(low), at(high), budget, len(cache))
