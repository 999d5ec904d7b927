"""Benchmark of `blobcalc scan` over a corpus, next to the time parsing alone takes.

Prints the files and megabytes scanned, the wall time of the real command (a fresh process running the
`blobcalc` entry point, default --jobs = cores, output to /dev/null, best of --runs), and then, in this
process, the time to parse every file with protobuf's text_format, with our fast reader alone, and with
parse_message (the fast reader, text_format where it gives up). A file is parsed as a NetParameter and,
when that fails, as a SolverParameter, as the scan classifies it. A benchmark, not a test: nothing is asserted.

    python3 benchmarks/bench_scan.py ../shared/corpus [--runs 3] [--jobs N] [--compare-text-format]
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
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


def scan_seconds(corpus: str, runs: int, jobs: int | None, entry: str = _ENTRY) -> tuple[float, float]:
    """Best wall time of `blobcalc scan CORPUS` in a fresh process, all output to /dev/null, and the CPU time
    (user + system, the workers included) of that run: on a busy machine the CPU time varies less."""
    command = [sys.executable, "-c", entry, "scan", corpus, "--no-progress"]
    if jobs is not None:
        command += ["--jobs", str(jobs)]
    best, best_cpu = float("inf"), float("inf")
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        result = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
        elapsed = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        # Exit code 1 is expected (some corpus files are error rows), but a crash exits with 1 as well.
        if result.returncode not in (0, 1) or b"Traceback (most recent call last)" in result.stderr:
            tail = result.stderr.decode("utf-8", "replace")[-2000:]
            raise SystemExit(f"blobcalc scan failed (exit code {result.returncode}):\n{tail}")
        if elapsed < best:
            best = elapsed
            best_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return best, best_cpu


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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", help="a directory of prototxt files (e.g. ../shared/corpus)")
    parser.add_argument("--runs", type=int, default=3, help="best of this many runs (default 3)")
    parser.add_argument("--jobs", type=int, help="passed to blobcalc scan (default: its own, the number of cores)")
    parser.add_argument("--compare-text-format", action="store_true",
                        help="also time the scan with the fast reader switched off")
    args = parser.parse_args(argv)

    paths = [candidate.path for candidate in discover([args.corpus]) if not candidate.skip_reason]
    total_bytes = sum(os.path.getsize(path) for path in paths)
    megabytes = total_bytes / 1e6
    texts = read_texts(paths)
    jobs = args.jobs or os.cpu_count() or 1

    print(f"corpus: {args.corpus}: {len(paths)} files, {megabytes:.2f} MB ({len(texts)} text files)")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, best of {args.runs} runs")
    print()
    scan, cpu = scan_seconds(args.corpus, args.runs, args.jobs)
    print(f"blobcalc scan (--jobs {jobs}):   {scan:7.3f} s wall   {len(paths) / scan:8.1f} files/s"
          f"   {megabytes / scan:6.2f} MB/s   ({cpu:.2f} s CPU)")
    if args.compare_text_format:
        slow, slow_cpu = scan_seconds(args.corpus, args.runs, args.jobs, _ENTRY_TEXT_FORMAT)
        print(f"  same, text_format only:   {slow:7.3f} s wall   {len(paths) / slow:8.1f} files/s"
              f"   {megabytes / slow:6.2f} MB/s   ({slow_cpu:.2f} s CPU)")
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
