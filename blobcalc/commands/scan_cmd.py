"""`blobcalc scan PATH...`: one row per file of whole trees of nets, in parallel, never stopping.

The rows go to a temporary file beside --output, renamed over it at the end: an earlier output is never
emptied by a scan that fails or is stopped. Ctrl-C or SIGTERM ends the scan early, but every path still
gets its row (the files not analysed say so) and the output is written before exiting 130 or 143.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import signal
import stat
import string
import sys
from collections.abc import Iterator
from types import FrameType
from typing import Any, TextIO

from blobcalc.commands import Command
from blobcalc.errors import UsageError
from blobcalc.regular_files import file_kind
from blobcalc.scan import (
    DEFAULT_MAX_BYTES,
    ERROR,
    SKIPPED,
    UNSCANNED,
    Candidate,
    ScanOptions,
    ScanRow,
    discover,
    in_shard,
    scan_candidates,
)
from blobcalc.scan_format import render_csv, render_json, render_jsonl_row, render_table, summary_text
from blobcalc.scan_progress import ScanProgress
from blobcalc.scan_walk import TEMP_PREFIX

EXIT_SIGNAL_BASE = 128  # a shell's convention: 130 after Ctrl-C (SIGINT), 143 after SIGTERM


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="files or directories (scanned recursively)")
    parser.add_argument("--format", choices=("table", "csv", "jsonl", "json", "html"), default="table",
                        help="html: one page linking each net's own report, written beside --output")
    parser.add_argument("--output", "-o", help="write the rows here (replaced at the end) instead of standard "
                                               "output; never read by the scan itself")
    parser.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 1,
                        help="worker processes (default: the number of cores)")
    parser.add_argument("--phase", choices=("TRAIN", "TEST"), default="TEST",
                        help="which layers to keep (default TEST); a net that only builds in the other "
                             "phase is analysed in that one, said in its row")
    parser.add_argument("--batch", type=int, help="set the first dimension of every input")
    parser.add_argument("--glob", action="append", default=[], metavar="PATTERN",
                        help="only files whose name matches (repeatable; default: every file)")
    parser.add_argument("--max-bytes", type=int, default=DEFAULT_MAX_BYTES,
                        help=f"skip larger files, with a reason (default {DEFAULT_MAX_BYTES})")
    parser.add_argument("--weights-pattern", metavar="PATTERN", default="",
                        help="audit each net's weights, found by this pattern with {dir} and {stem}, e.g. "
                             "'{dir}/{stem}.caffemodel' (see also --pair-weights)")
    parser.add_argument("--pair-weights", action="store_true",
                        help="audit NAME.caffemodel beside each NAME.prototxt (same stem)")
    parser.add_argument("--follow-links", action="store_true",
                        help="follow every symlink, also out of the given folders (each folder is still "
                             "scanned once); by default only links to files inside them are followed")
    parser.add_argument("--cache", metavar="DIR",
                        help="result cache folder (default: blobcalc/scan in the user's cache folder)")
    parser.add_argument("--no-cache", action="store_true", help="analyse every file, read and write no cache")
    parser.add_argument("--dask", metavar="ADDRESS",
                        help="analyse on a Dask cluster: tcp://HOST:8786, a scheduler file, or 'local[:N]' "
                             "(needs pip install 'blobcalc[dask]')")
    parser.add_argument("--shard", metavar="K/N", help="process only the K-th of N stable parts of the files")
    parser.add_argument("--no-progress", action="store_true", help="no progress line even on a terminal")


def _shard(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    try:
        index, total = (int(part) for part in text.split("/"))
    except ValueError:
        raise UsageError(f"--shard takes K/N, e.g. 2/8 (got {text!r})") from None
    if not 1 <= index <= total:
        raise UsageError(f"--shard {text}: K must be between 1 and N")
    return index, total


class ScanInterrupted(Exception):
    """Ctrl-C or SIGTERM arrived: the scan stops and writes what it has."""

    def __init__(self, signal_number: int) -> None:
        self.signal_number = signal_number
        super().__init__(signal.Signals(signal_number).name)


def run(args: argparse.Namespace) -> int:
    if args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    shard = _shard(args.shard)
    if args.format == "html" and not args.output:
        raise UsageError("--format html needs --output: each net's report is written beside that file")
    own_output = _check_output(args.output, args.paths, args.format)
    pattern = check_weights_pattern(args.weights_pattern) or ("{dir}/{stem}.caffemodel" if args.pair_weights else "")
    options = ScanOptions(phase=args.phase, batch=args.batch, max_bytes=args.max_bytes, weights_pattern=pattern)
    cache = None
    if not args.no_cache:
        from blobcalc.scan_cache import ScanCache

        cache = ScanCache(args.cache)
    with _interrupts() as interrupted, contextlib.ExitStack() as stack:
        candidates = [c for c in discover(args.paths, args.glob, follow_links=args.follow_links, exclude=own_output)
                      if in_shard(c.path, shard)]
        dask = None
        if args.dask:
            from blobcalc.scan_dask import connect

            dask = stack.enter_context(connect(args.dask))
        out = stack.enter_context(_Output(args.output))
        progress = None
        if not args.no_progress and sys.stderr.isatty():
            progress = ScanProgress(sys.stderr, len(candidates), sum(c.size for c in candidates))
            stack.callback(progress.close)
        finished: dict[str, ScanRow] = {}

        def on_file(candidate: Candidate, row: ScanRow, cached: bool) -> None:
            finished[candidate.path] = row
            if progress is not None:
                progress.file_done(candidate.size, cached)

        rows: list[ScanRow] = []
        stopped_by: int | None = None
        rows_iter = scan_candidates(candidates, options, jobs=args.jobs, cache=cache, dask=dask, on_file=on_file)
        try:
            for row in rows_iter:
                rows.append(row)
                if args.format == "jsonl":
                    out.write(render_jsonl_row(row))  # streamed: shards concatenate into the full result
                interrupted.check()
            interrupted.check()
        except (KeyboardInterrupt, ScanInterrupted) as exc:
            stopped_by = exc.signal_number if isinstance(exc, ScanInterrupted) else signal.SIGINT
            interrupted.received = None
            interrupted.stop()  # a second signal ends the process as usual
            rows_iter.close()  # stops the workers at once
            reason = f"not scanned: the scan was interrupted ({signal.Signals(stopped_by).name})"
            rest = [finished.get(c.path) or ScanRow(c.path, UNSCANNED, SKIPPED, message=reason)
                    for c in candidates[len(rows):]]
            rows += rest
            if args.format == "jsonl":
                out.write("".join(map(render_jsonl_row, rest)))
        if progress is not None:
            progress.close()
        if args.format == "table":
            out.write(render_table(rows))
        elif args.format == "csv":
            out.write(render_csv(rows))
        elif args.format == "json":
            out.write(render_json(rows))
        elif args.format == "html":
            from blobcalc.report import scan_html

            out.write(scan_html.write_reports(rows, args.output, options, jobs=args.jobs))
        if args.format in ("csv", "jsonl"):
            sys.stderr.write(summary_text(rows))  # the rows stay machine-readable
        if stopped_by is not None:
            left = sum(1 for c in candidates if c.path not in finished)
            sys.stderr.write(f"scan interrupted by {signal.Signals(stopped_by).name}: {left} of {len(candidates)} "
                             "files were not analysed (their rows say so)\n")
        out.commit()
    if cache is not None and os.environ.get("BLOBCALC_SCAN_STATS"):
        sys.stderr.write(f"cache: {cache.hits} reused, {cache.misses} analysed, {cache.stored} stored\n")
    if stopped_by is not None:
        return EXIT_SIGNAL_BASE + stopped_by
    return 1 if any(row.status == ERROR for row in rows) else 0


def _check_output(output: str | None, paths: list[str], format_name: str) -> list[str]:
    """The scan's own output (never read, never an input it would destroy)."""
    if output is None:
        return []
    if os.path.isdir(output):
        raise UsageError(f"--output {output} is a folder: give a file name")
    for path in paths:
        if os.path.exists(output) and os.path.exists(path) and os.path.samefile(output, path):
            raise UsageError(f"--output {output} is one of the paths to scan: it would be replaced by the rows")
    folder = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(folder):
        raise UsageError(f"--output {output}: the folder {folder} does not exist")
    if format_name != "html":
        return [output]
    from blobcalc.report import scan_html

    return [output, scan_html.reports_dir(output)]


class _Output:
    """Standard output, or a temporary file beside --output that commit() renames over it."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.temporary = ""
        self.stream: TextIO = sys.stdout

    def __enter__(self) -> _Output:
        if self.path is None:
            reconfigure = getattr(sys.stdout, "reconfigure", None)
            if reconfigure is not None:  # file names that are not UTF-8 are written as their own bytes
                with contextlib.suppress(ValueError, OSError):
                    reconfigure(errors="surrogateescape")
            return self
        with contextlib.suppress(OSError):
            mode = os.stat(self.path).st_mode
            if not stat.S_ISREG(mode):
                # The rename at the end would replace it: never a device (/dev/full), a FIFO or a folder.
                raise UsageError(f"--output {self.path}: is {file_kind(mode)}; scan writes its rows to a regular "
                                 "file (use standard output for a pipe or a device)")
        folder, name = os.path.split(os.path.abspath(self.path))
        self.temporary = os.path.join(folder, f"{TEMP_PREFIX}{os.getpid()}-{name}.tmp")
        try:
            descriptor = os.open(self.temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        except OSError as exc:
            raise UsageError(f"--output {self.path}: cannot write: {exc.strerror or exc}") from None
        self.stream = open(descriptor, "w", encoding="utf-8", errors="surrogateescape", newline="")
        return self

    def write(self, text: str) -> None:
        self.stream.write(text)

    def commit(self) -> None:
        if self.temporary:
            self.stream.close()
            os.replace(self.temporary, str(self.path))
            self.temporary = ""
        else:
            self.stream.flush()

    def __exit__(self, *exc: object) -> None:
        if self.temporary:  # not committed: an error; the earlier output stays as it was
            self.stream.close()
            with contextlib.suppress(OSError):
                os.unlink(self.temporary)


class _Interrupts:
    """Ctrl-C (SIGINT) and SIGTERM raise ScanInterrupted until stop(). The signal is also remembered:
    an exception raised where Python ignores it (a fork handler of a worker being started, a finalizer)
    is raised again by check() once the next row is in."""

    def __init__(self) -> None:
        self.previous: dict[int, Any] = {}
        self.received: int | None = None

    def _handler(self, signal_number: int, frame: FrameType | None) -> None:
        self.received = signal_number
        raise ScanInterrupted(signal_number)

    def check(self) -> None:
        if self.received is not None:
            raise ScanInterrupted(self.received)

    def stop(self) -> None:
        for number, previous in self.previous.items():
            signal.signal(number, previous)
        self.previous = {}


@contextlib.contextmanager
def _interrupts() -> Iterator[_Interrupts]:
    interrupts = _Interrupts()
    try:
        for number in (signal.SIGINT, signal.SIGTERM):
            interrupts.previous[number] = signal.signal(number, interrupts._handler)
    except ValueError:  # not the main thread: signals stay as they are
        interrupts.stop()
    try:
        yield interrupts
    finally:
        interrupts.stop()



WEIGHTS_PATTERN_FIELDS = ("dir", "stem")


def check_weights_pattern(pattern: str) -> str:
    """A --weights-pattern that names only {dir} and {stem}, with no conversion or format spec (str.format
    would otherwise fail per file, or read attributes: '{dir.__class__}'); braces double as {{ }}."""
    try:
        fields = list(string.Formatter().parse(pattern))
    except ValueError as exc:
        raise UsageError(f"--weights-pattern {pattern!r}: {exc} (use {{dir}} and {{stem}}; "
                         "{{ and }} for a brace)") from None
    for _, name, spec, conversion in fields:
        if name is None:
            continue
        if name not in WEIGHTS_PATTERN_FIELDS or spec or conversion:
            shown = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            raise UsageError(f"--weights-pattern {pattern!r}: {shown} is not a field it knows; use {{dir}} and "
                             "{stem} only, e.g. '{dir}/{stem}.caffemodel'")
    return pattern


COMMAND = Command("scan", add_arguments, run, "one row per file for whole directory trees of nets")
