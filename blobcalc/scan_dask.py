"""The distributed engine of a scan: Dask (`pip install 'blobcalc[dask]'`).

Each task analyses a batch of files on a worker (which must see the same paths, e.g. a shared file
system, and have blobcalc installed); the rows come back to the scanning process, which puts them in
the order of a local scan. Scheduling, retries and a lost worker's tasks are Dask's: a task whose
worker dies is rescheduled by the scheduler, and retried (`RETRIES`) if it raises. A batch that still
fails is split and its files submitted one by one, so only a file that kills every worker it reaches
gets an error row, and every path keeps its row.
"""
from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Sequence
from typing import Any

from blobcalc.errors import UsageError
from blobcalc.scan import ERROR, UNREADABLE, Analysed, Candidate, ScanOptions, ScanRow, analyse_file

RETRIES = 2  # a task that raises (an unreachable worker's file system, say) is run again this often
BATCH_BYTES = 4 * 1024 * 1024  # of prototxt per task: ~1 s of analysis, well above Dask's per-task cost
BATCH_FILES = 256  # and at most this many files
CONNECT_TIMEOUT = "20s"  # to reach a scheduler that is up; longer means it is not


def analyse_batch(batch: Sequence[Candidate], options: ScanOptions) -> list[Analysed]:
    """One task: the results of a batch of files, in the batch's order (runs on a worker)."""
    return [analyse_file(candidate, options) for candidate in batch]


@contextlib.contextmanager
def connect(address: str) -> Iterator[Any]:
    """A distributed.Client for `address`, closed at the end: a scheduler address (tcp://host:8786), a
    scheduler file written by `dask scheduler --scheduler-file`, or `local[:N]` (N worker processes on
    this machine, default one per core, started here and stopped at the end)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise UsageError("--dask needs Dask's distributed scheduler: pip install 'blobcalc[dask]'") from None
    if address == "local" or address.startswith("local:"):
        count = address.partition(":")[2]
        if count and not count.isdigit():
            raise UsageError(f"--dask local:N takes a number of workers (got {address!r})")
        workers = int(count or os.cpu_count() or 1)
        # Its logs are silenced: a cluster started and stopped by the scan itself has nothing to tell the
        # user that the rows do not, and under load its shutdown logs harmless heartbeat tracebacks.
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                          silence_logs=logging.CRITICAL) as cluster, Client(cluster) as client:
            yield client
        return
    try:
        client = Client(scheduler_file=address, timeout=CONNECT_TIMEOUT) if os.path.isfile(address) else Client(
            address, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as exc:
        raise UsageError(f"--dask {address}: cannot reach the Dask scheduler: {exc}") from None
    with client:
        yield client


def batches_of(work: Sequence[tuple[int, Candidate]]) -> list[list[tuple[int, Candidate]]]:
    """Consecutive files up to BATCH_BYTES or BATCH_FILES each, the batches with the most bytes first."""
    batches: list[list[tuple[int, Candidate]]] = []
    current: list[tuple[int, Candidate]] = []
    size = 0
    for item in work:
        if current and (size + item[1].size > BATCH_BYTES or len(current) >= BATCH_FILES):
            batches.append(current)
            current, size = [], 0
        current.append(item)
        size += item[1].size
    if current:
        batches.append(current)
    return sorted(batches, key=lambda batch: -sum(candidate.size for _, candidate in batch))


def run_on_dask(work: Sequence[tuple[int, Candidate]], options: ScanOptions,
                client: Any) -> Iterator[tuple[int, Analysed]]:
    """(index, result) for every item of `work`, in completion order, on a distributed.Client."""
    from distributed import as_completed

    batches = batches_of(work)
    futures = {}
    for rank, batch in enumerate(batches):
        # Larger batches first: a higher priority runs earlier.
        future = client.submit(analyse_batch, [candidate for _, candidate in batch], options, retries=RETRIES,
                               pure=False, priority=len(batches) - rank)
        futures[future] = batch
    pending = as_completed(list(futures))
    for future in pending:
        batch = futures.pop(future)
        if future.status == "finished":
            results = future.result()
            yield from ((index, result) for (index, _), result in zip(batch, results, strict=True))
            continue
        if len(batch) > 1:  # failed after Dask's retries: find the file that fails, one per task
            for index, candidate in batch:
                single = client.submit(analyse_batch, [candidate], options, retries=RETRIES, pure=False)
                futures[single] = [(index, candidate)]
                pending.add(single)
            continue
        index, candidate = batch[0]
        yield index, Analysed(ScanRow(candidate.path, UNREADABLE, ERROR, message=(
            f"the Dask task analysing this file failed on every try: {_failure(future)}")))


def _failure(future: Any) -> str:
    try:
        exception = future.exception(timeout=5)
    except Exception as exc:  # the reason itself may be unreachable
        return type(exc).__name__
    return f"{type(exception).__name__}: {exception}"
