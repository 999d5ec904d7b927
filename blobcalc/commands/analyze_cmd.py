"""`blobcalc analyze NET`: the per-layer table of one net, with its memory and compute summary."""
from __future__ import annotations

import argparse
import shutil
import sys

from blobcalc.api import report
from blobcalc.commands import Command
from blobcalc.commands.options import NET_OR_SOLVER_HELP, add_memory_options, add_net_options, net_options
from blobcalc.errors import UsageError
from blobcalc.report import RENDERERS, TEXT_WRITERS, write_report
from blobcalc.report.view import TextView


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("net", nargs="?", help=NET_OR_SOLVER_HELP)
    add_net_options(parser, phase_default=None)
    add_memory_options(parser)
    parser.add_argument("--format", choices=sorted(RENDERERS), default="table",
                        help="table (default), json (one object), csv (a row per layer and a TOTAL row) or "
                             "markdown")
    parser.add_argument("--summary", action="store_true",
                        help="the totals and notices only, without the per-layer table (table, markdown)")
    parser.add_argument("--verbose", action="store_true",
                        help="every notice and note on its own line (default: one line per kind)")
    parser.add_argument("--width", type=int, metavar="COLUMNS",
                        help="narrow the table to this many columns, eliding long names and shapes and leaving "
                             "out the least needed columns (default: the terminal's width; 0: no limit)")


def text_view(args: argparse.Namespace) -> TextView:
    """The layout asked for; the width of the terminal when standard output is one."""
    if args.summary and args.format not in TEXT_WRITERS:
        raise UsageError(f"--summary is for the table and markdown formats; --format {args.format} always "
                         "holds every layer")
    if args.width is not None and args.width < 0:
        raise UsageError(f"--width must be 0 (no limit) or a number of columns, not {args.width}")
    width = args.width or None
    if args.width is None and sys.stdout.isatty():
        width = shutil.get_terminal_size().columns
    return TextView(verbose=args.verbose, summary=args.summary, width=width)


def run(args: argparse.Namespace) -> int:
    view = text_view(args)
    result = report(args.net, solver=args.solver, dtype=args.dtype, device=args.device, engine=args.engine,
                    assume_loss=args.assume_loss, **net_options(args))
    write_report(result, args.format, sys.stdout, args.units, view)
    return 0


COMMAND = Command("analyze", add_arguments, run, "per-layer shapes, parameters, memory and compute of one net")
