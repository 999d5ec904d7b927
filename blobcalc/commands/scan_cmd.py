"""`blobcalc scan PATH...`: one row per file of whole trees of nets, in parallel, never stopping."""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator

from blobcalc.commands import Command
from blobcalc.errors import UsageError
from blobcalc.report import scan_html
from blobcalc.report.scan_report import render_csv, render_json, render_jsonl_row, render_table, summary_text
from blobcalc.scan import DEFAULT_MAX_BYTES, ERROR, ScanOptions, ScanRow, discover, in_shard, scan


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="files or directories (scanned recursively)")
    parser.add_argument("--format", choices=("table", "csv", "jsonl", "json", "html"), default="table",
                        help="html: one page linking each net's own report, written beside --output")
    parser.add_argument("--output", "-o", help="write the rows here instead of standard output")
    parser.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 1,
                        help="worker processes (default: the number of cores)")
    parser.add_argument("--phase", choices=("TRAIN", "TEST"), default="TEST")
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
    parser.add_argument("--shard", metavar="K/N", help="process only the K-th of N stable parts of the files")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar even on a terminal")


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


def run(args: argparse.Namespace) -> int:
    if args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    shard = _shard(args.shard)
    if args.format == "html" and not args.output:
        raise UsageError("--format html needs --output: each net's report is written beside that file")
    candidates = [c for c in discover(args.paths, args.glob) if in_shard(c.path, shard)]
    pattern = args.weights_pattern or ("{dir}/{stem}.caffemodel" if args.pair_weights else "")
    options = ScanOptions(phase=args.phase, batch=args.batch, max_bytes=args.max_bytes, weights_pattern=pattern)
    rows_iter: Iterator[ScanRow] = scan(candidates, options, jobs=args.jobs)
    out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout  # noqa: SIM115
    progress = _progress(len(candidates), args.no_progress)
    rows: list[ScanRow] = []
    try:
        for row in rows_iter:
            rows.append(row)
            if progress is not None:
                progress.update(1)
            if args.format == "jsonl":
                out.write(render_jsonl_row(row))  # streamed: shards concatenate into the full result
        if progress is not None:
            progress.close()
        if args.format == "table":
            out.write(render_table(rows))
        elif args.format == "csv":
            out.write(render_csv(rows))
        elif args.format == "json":
            out.write(render_json(rows))
        elif args.format == "html":
            out.write(scan_html.write_reports(rows, args.output, options, jobs=args.jobs))
        if args.format in ("csv", "jsonl"):
            sys.stderr.write(summary_text(rows))  # the rows stay machine-readable
    finally:
        if out is not sys.stdout:
            out.close()
    return 1 if any(row.status == ERROR for row in rows) else 0


def _progress(total: int, disabled: bool):  # type: ignore[no-untyped-def]
    if disabled or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="file", file=sys.stderr, leave=False)


COMMAND = Command("scan", add_arguments, run, "one row per file for whole directory trees of nets")
