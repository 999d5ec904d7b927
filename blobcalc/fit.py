"""The largest batch whose memory estimate fits a budget, found by re-propagating shapes at each
candidate batch (never by extrapolating: some tops, like SSD's prior boxes, do not grow with it).

A batch fits when Caffe can build the net at that batch and its estimate is within the budget; what
stops the batch growing (the budget, a check of Caffe's such as its INT_MAX blob size, a net whose
batch does not follow the request) is part of the answer."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from blobcalc.errors import BlobcalcError

MAX_BATCH = 1 << 24  # a search bound far above any real batch

# What stops the batch from growing.
LIMIT_MEMORY = "memory"  # the next batch needs more than the budget
LIMIT_CAFFE = "caffe"  # Caffe cannot build the net at the next batch (Trial.refusal says why)
LIMIT_SEARCH = "search bound"  # every batch up to MAX_BATCH fits
LIMIT_NONE = "batch-independent"  # the estimate is the same at every batch: one answer for all


class FitError(BlobcalcError):
    """The budget question has no answer for this net as given (e.g. its memory is unknown)."""


@dataclass(frozen=True, slots=True)
class Trial:
    """The estimate at one requested batch."""

    batch: int  # the batch asked for
    bytes: int | None  # None: Caffe cannot build the net at this batch
    refusal: str = ""  # why Caffe cannot build it (the check and the layer)
    partial: bool = False  # unknown layers are left out: the bytes are a lower bound
    built_batch: int | None = None  # the batch the built net really has (None: unknown)

    def fits(self, budget: int) -> bool:
        return self.bytes is not None and self.bytes <= budget


@dataclass(frozen=True, slots=True)
class FitResult:
    batch: int  # 0 when not even batch 1 fits
    at_batch: Trial | None  # the trial at `batch` (None when batch is 0)
    next: Trial  # the first batch that does not fit (at the search bound: at_batch; batch-independent: batch 2)
    budget: int
    evaluations: int
    limit: str  # LIMIT_*

    @property
    def bytes_at_batch(self) -> int | None:
        return None if self.at_batch is None else self.at_batch.bytes

    @property
    def bytes_at_next(self) -> int | None:
        return self.next.bytes


def largest_batch(trial: Callable[[int], Trial], budget: int, limit: int = MAX_BATCH) -> FitResult:
    """Exponential search for a batch that does not fit, then binary search. `trial(batch)` must not
    decrease as the batch grows, and a batch Caffe cannot build must not be followed by one it can
    (true of its INT_MAX checks and of layers that only accept one batch size)."""
    cache: dict[int, Trial] = {}

    def at(batch: int) -> Trial:
        if batch not in cache:
            cache[batch] = trial(batch)
        return cache[batch]

    first, second = at(1), at(2)
    if second.bytes == first.bytes:
        # Nothing grows with the batch (its inputs ignore the request, or nothing of it is known):
        # every batch gives the same answer, so there is no largest one to report.
        fits = first.fits(budget)
        return FitResult(int(fits), first if fits else None, second, budget, len(cache), LIMIT_NONE)
    if not first.fits(budget):
        return FitResult(0, None, first, budget, len(cache), LIMIT_MEMORY)
    low, high = 1, 2
    while high <= limit and at(high).fits(budget):
        low, high = high, high * 2
    if high > limit:
        return FitResult(low, at(low), at(low), budget, len(cache), LIMIT_SEARCH)
    while high - low > 1:  # invariant: low fits, high does not
        middle = (low + high) // 2
        if at(middle).fits(budget):
            low = middle
        else:
            high = middle
    refused = at(high).bytes is None
    return FitResult(low, at(low), at(high), budget, len(cache), LIMIT_CAFFE if refused else LIMIT_MEMORY)
