"""Benchmark of `blobcalc scan` over a corpus: cold scan, warm rescan, rescan after changing 1% of the
files, and a scan on a local multi-process Dask cluster, next to the time parsing alone takes.

The corpus is copied to a temporary folder first (the 1% rescan changes files). Each scan is the real
command (a fresh process running the `blobcalc` entry point, default --jobs = cores, output to /dev/null,
best of --runs, of at least 10 for the warm rescan); each cold run starts from an empty cache folder,
each 1% run changes the content of other files. The rows of the warm rescan must be those of the cold
scan, and the rows of the Dask scan those of a local scan (checked, not timed). The Dask scan is timed
in this process on a cluster already started (two worker processes), and once as `--dask local:2` (the
command starting its own cluster). Parsing alone: every file parsed with protobuf's text_format, with
our fast reader alone, and with parse_message, one process. A benchmark, not a test: only the identical
rows are asserted.

    python3 benchmarks/bench_scan.py ../shared/corpus [--runs 3] [--jobs N] [--compare-text-format]
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence

from google.protobuf import message as pb_message
from google.protobuf import text_format

from blobcalc import caffe_pb2, fastparse
from blobcalc.errors import BlobcalcError
from blobcalc.parse import decode_text, parse_message
from blobcalc.scan import discover

MESSAGE_TYPES: tuple[type[pb_message.Message], ...] = (caffe_pb2.NetParameter, caffe_pb2.SolverParameter)

# The console script's own entry point; the variant switches the fast reader off (worker processes are
# forked, so they inherit the switch) to show what the scan costs with text_format alone.
_ENTRY = "import sys; from blobcalc.cli import main_entry; sys.argv[0] = 'blobcalc'; main_entry()"
_ENTRY_TEXT_FORMAT = ("import multiprocessing, blobcalc.fastparse as f; multiprocessing.set_start_method('fork'); "
                      "f.try_parse = lambda text, message: False; " + _ENTRY)


def run_scan(corpus: str, extra: Sequence[str], jobs: int | None, entry: str = _ENTRY,
             before: Callable[[], object] | None = None) -> tuple[float, float, bytes]:
    """One `blobcalc scan CORPUS --format jsonl` in a fresh process: wall time, CPU time (user + system, the
    workers included: on a busy machine it varies less) and the rows. `before` runs first, untimed."""
    command = [sys.executable, "-c", entry, "scan", corpus, "--no-progress", "--format", "jsonl", *extra]
    if jobs is not None:
        command += ["--jobs", str(jobs)]
    if before is not None:
        before()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, check=False)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # Exit code 1 is expected (some corpus files are error rows), but a crash exits with 1 as well.
    if result.returncode not in (0, 1) or b"Traceback (most recent call last)" in result.stderr:
        tail = result.stderr.decode("utf-8", "replace")[-2000:]
        raise SystemExit(f"blobcalc scan failed (exit code {result.returncode}):\n{tail}")
    cpu = (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)
    return elapsed, cpu, result.stdout


def best_scan(corpus: str, extra: Sequence[str], jobs: int | None, runs: int, entry: str = _ENTRY,
              before: Callable[[], object] | None = None) -> tuple[float, float, bytes]:
    """The fastest of `runs` scans (its wall time, CPU time and rows)."""
    return min((run_scan(corpus, extra, jobs, entry, before) for _ in range(runs)), key=lambda result: result[0])


def scan_seconds(corpus: str, runs: int, jobs: int | None, entry: str = _ENTRY) -> tuple[float, float]:
    """Best wall time and its CPU time of an uncached scan (what `--compare-text-format` compares)."""
    wall, cpu, _ = best_scan(corpus, ["--no-cache"], jobs, runs, entry)
    return wall, cpu


def read_texts(paths: Sequence[str]) -> list[str]:
    texts = []
    for path in paths:
        with open(path, "rb") as handle:
            data = handle.read()
        try:
            texts.append(decode_text(data, path))
        except BlobcalcError:
            continue  # binary weights and the like never reach a text parser
    return texts


def with_text_format(text: str) -> bool:
    for message_type in MESSAGE_TYPES:
        try:
            text_format.Parse(text, message_type())
            return True
        except text_format.ParseError:
            continue
    return False


def with_fast_reader(text: str) -> bool:
    return any(fastparse.try_parse(text, message_type()) for message_type in MESSAGE_TYPES)


def with_parse_message(text: str) -> bool:
    for message_type in MESSAGE_TYPES:
        try:
            parse_message(text, "bench", message_type())
            return True
        except BlobcalcError:
            continue
    return False


def parse_seconds(texts: Sequence[str], parse: Callable[[str], bool], runs: int) -> tuple[float, int]:
    """Best time to parse every text, and how many of them parsed."""
    best, parsed = float("inf"), 0
    for _ in range(runs):
        start = time.perf_counter()
        parsed = sum(parse(text) for text in texts)
        best = min(best, time.perf_counter() - start)
    return best, parsed


def line(label: str, wall: float, cpu: float | None, files: int, megabytes: float,
         cold: tuple[float, float] | None = None) -> str:
    """One result; with `cold` (its wall and CPU time), how many times faster, in wall and in CPU time."""
    text = f"  {label:38} {wall:7.3f} s wall   {files / wall:8.1f} files/s   {megabytes / wall:6.2f} MB/s"
    if cpu is not None:
        text += f"   ({cpu:.2f} s CPU)"
    if cold is not None:
        text += f"   {cold[0] / wall:5.1f}x faster than cold"
        if cpu:
            text += f" ({cold[1] / cpu:.1f}x in CPU)"
    return text


class Touch:
    """Changes the content of 1% of the files (at least one): a comment appended, new at every run."""

    def __init__(self, paths: Sequence[str]) -> None:
        texts = [path for path in paths if path.endswith((".prototxt", ".txt", ".pt"))]
        self.paths = texts[::100][: max(1, len(paths) // 100)]  # spread over the tree
        self.round = 0

    def __call__(self) -> None:
        self.round += 1
        for path in self.paths:
            with open(path, "a", encoding="utf-8") as handle:
                handle.write(f"\n# touched by bench_scan.py, round {self.round}\n")


def warm_in_process(corpus: str, cache: str, runs: int, jobs: int) -> float:
    """Best time of the warm rescan through the Python API in this process: what the cache costs without
    the start of Python and the import of blobcalc, which bound the command's own time."""
    from blobcalc.scan import ScanOptions, scan
    from blobcalc.scan_cache import ScanCache

    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        for _row in scan([corpus], ScanOptions(), jobs=jobs, cache=ScanCache(cache)):
            pass
        best = min(best, time.perf_counter() - start)
    return best


def dask_seconds(corpus: str, runs: int) -> tuple[float, bytes, bytes] | None:
    """Best time of a scan on a running two-process local Dask cluster (in this process), its rows and
    those of a local scan; None without the [dask] extra."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        return None
    from blobcalc.scan import ScanOptions, scan
    from blobcalc.scan_format import render_jsonl_row

    local = "".join(map(render_jsonl_row, scan([corpus], ScanOptions(), jobs=2))).encode()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        best, rows = float("inf"), b""
        for _ in range(runs):
            start = time.perf_counter()
            rows = "".join(map(render_jsonl_row, scan([corpus], ScanOptions(), dask=client))).encode()
            best = min(best, time.perf_counter() - start)
    return best, rows, local


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", help="a directory of prototxt files (e.g. ../shared/corpus)")
    parser.add_argument("--runs", type=int, default=3, help="best of this many runs (default 3)")
    parser.add_argument("--jobs", type=int, help="passed to blobcalc scan (default: its own, the number of cores)")
    parser.add_argument("--compare-text-format", action="store_true",
                        help="also time the scan with the fast reader switched off")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench-scan-") as work:
        corpus = os.path.join(work, "corpus")
        shutil.copytree(args.corpus, corpus, symlinks=True)
        return _bench(args, corpus, work)


def _bench(args: argparse.Namespace, corpus: str, work: str) -> int:
    paths = [candidate.path for candidate in discover([corpus]) if not candidate.skip_reason]
    megabytes = sum(os.path.getsize(path) for path in paths) / 1e6
    texts = read_texts(paths)
    jobs = args.jobs or os.cpu_count() or 1
    files = len(paths)

    print(f"corpus: {args.corpus} (copied): {files} files, {megabytes:.2f} MB ({len(texts)} text files)")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, best of {args.runs} runs, "
          f"blobcalc scan --jobs {jobs}")
    print()
    cache = os.path.join(work, "cache")

    def fresh_cache() -> None:
        shutil.rmtree(cache, ignore_errors=True)

    cold, cold_cpu, cold_rows = best_scan(corpus, ["--cache", cache], args.jobs, args.runs, before=fresh_cache)
    print(line("cold scan (empty cache)", cold, cold_cpu, files, megabytes))
    # A rescan takes a fraction of a second: more runs, so that the best is not one a busy machine slowed.
    warm, warm_cpu, warm_rows = best_scan(corpus, ["--cache", cache], args.jobs, max(args.runs, 10))
    print(line("warm rescan (nothing changed)", warm, warm_cpu, files, megabytes, (cold, cold_cpu)))
    if warm_rows != cold_rows:
        raise SystemExit("the warm rescan's rows differ from the cold scan's")
    inside = warm_in_process(corpus, cache, args.runs, jobs)
    print(line("  same, in this process (no start-up)", inside, None, files, megabytes, (cold, cold_cpu)))
    touch = Touch(paths)
    touched, touched_cpu, _ = best_scan(corpus, ["--cache", cache], args.jobs, args.runs, before=touch)
    print(line(f"rescan, {len(touch.paths)} files (1%) changed", touched, touched_cpu, files, megabytes,
               (cold, cold_cpu)))
    uncached, uncached_cpu, _ = best_scan(corpus, ["--no-cache"], args.jobs, args.runs)
    print(line("scan without cache (--no-cache)", uncached, uncached_cpu, files, megabytes))
    if args.compare_text_format:
        slow, slow_cpu = scan_seconds(corpus, args.runs, args.jobs, _ENTRY_TEXT_FORMAT)
        print(line("  same, text_format only", slow, slow_cpu, files, megabytes))
    dask = dask_seconds(corpus, args.runs)
    if dask is None:
        print("  Dask: not installed (pip install 'blobcalc[dask]')")
    else:
        seconds, rows, local = dask
        if rows != local:
            raise SystemExit("the Dask scan's rows differ from the local scan's")
        print(line("Dask, local cluster of 2 processes", seconds, None, files, megabytes)
              + "   (cluster running; rows = local scan's)")
        started, started_cpu, _ = run_scan(corpus, ["--no-cache", "--dask", "local:2"], None)
        print(line("  same, --dask local:2 (starts it)", started, started_cpu, files, megabytes))
    print()
    text_megabytes = sum(len(text.encode("utf-8")) for text in texts) / 1e6
    print(f"parsing alone ({text_megabytes:.2f} MB of text, one process; a net, else a solver):")
    for label, parse in (("text_format", with_text_format), ("fast reader", with_fast_reader),
                         ("parse_message", with_parse_message)):
        seconds, parsed = parse_seconds(texts, parse, args.runs)
        print(f"  {label:14} {seconds:7.3f} s   {text_megabytes / seconds:6.2f} MB/s   "
              f"{parsed} of {len(texts)} parsed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
