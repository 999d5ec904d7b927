"""The local engine of a scan: worker processes on this machine, and what happens when one dies.

A worker killed while it analyses (the out-of-memory killer, a signal) breaks the whole process pool,
and every file in flight fails with it. Those files are not lost: each is analysed again alone, in a
fresh process, so the file that killed the worker is the only one to get an error row saying so; the
files not yet started go on in a new pool.
"""
from __future__ import annotations

import signal
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from blobcalc.scan import ERROR, UNREADABLE, Analysed, Candidate, ScanOptions, ScanRow, analyse_file

# Files queued per worker: enough to keep every worker busy, few enough that a dead worker takes
# only a handful of files with it (each then analysed again alone).
_QUEUED_PER_WORKER = 2


def run_in_processes(work: Sequence[tuple[int, Candidate]], options: ScanOptions,
                     jobs: int) -> Iterator[tuple[int, Analysed]]:
    """(index, result) for every item of `work`, in completion order, largest files first."""
    _load_analysis_modules()  # once, before the workers fork, instead of once in every worker
    # Largest first, so that no worker is left with a big net when the others are done.
    queue = deque(sorted(work, key=lambda item: -item[1].size))
    while queue:
        suspects: list[tuple[int, Candidate]] = []
        pool = ProcessPoolExecutor(max_workers=jobs, initializer=_worker_signals)
        try:
            in_flight: dict[Future[Analysed], tuple[int, Candidate]] = {}
            while queue or in_flight:
                broken = False
                while queue and len(in_flight) < jobs * _QUEUED_PER_WORKER:
                    try:
                        future = pool.submit(analyse_file, queue[0][1], options)
                    except BrokenProcessPool:  # a worker died since the last wait: this file never started
                        broken = True
                        break
                    in_flight[future] = queue.popleft()
                if not broken:
                    finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                    for future in finished:
                        item = in_flight.pop(future)
                        try:
                            yield item[0], future.result()
                        except BrokenProcessPool:
                            suspects.append(item)
                if suspects or broken:  # the pool is broken: everything still in flight failed with it
                    suspects += in_flight.values()
                    break
        finally:
            stop_pool(pool)
        for index, candidate in sorted(suspects):
            yield index, _analyse_alone(candidate, options)


def _analyse_alone(candidate: Candidate, options: ScanOptions) -> Analysed:
    """A file whose worker died, analysed again in a process of its own."""
    pool = ProcessPoolExecutor(max_workers=1, initializer=_worker_signals)
    try:
        return pool.submit(analyse_file, candidate, options).result()
    except BrokenProcessPool:
        return Analysed(ScanRow(candidate.path, UNREADABLE, ERROR, message=(
            "the process analysing this file died twice (killed by a signal, e.g. the out-of-memory killer); "
            "it was retried alone")))
    finally:
        stop_pool(pool)


def stop_pool(pool: ProcessPoolExecutor) -> None:
    """Stop at once: queued files are dropped and running workers are terminated, so that an interrupted
    scan (or a broken pool) does not wait for the analyses still running."""
    workers = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in workers:
        if process.is_alive():
            process.terminate()
    for process in workers:
        process.join(5)


def _worker_signals() -> None:
    # Ctrl-C reaches every process of the terminal's group: only the parent decides what it means
    # (write the rows so far). SIGTERM ends a worker as the default action does.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _load_analysis_modules() -> None:
    from blobcalc import api, memory, weights  # noqa: F401
    from blobcalc.shapes.registry import rule_for

    rule_for("Input")  # loads the built-in rules and installed plugins
