"""`blobcalc analyze NET`: the per-layer table of one net, with its memory and compute summary."""
from __future__ import annotations

import argparse
import sys

from blobcalc.api import report
from blobcalc.commands import Command
from blobcalc.commands.options import NET_OR_SOLVER_HELP, add_memory_options, add_net_options, net_options
from blobcalc.report import RENDERERS, write_report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("net", nargs="?", help=NET_OR_SOLVER_HELP)
    add_net_options(parser, phase_default=None)
    add_memory_options(parser)
    parser.add_argument("--format", choices=sorted(RENDERERS), default="table")


def run(args: argparse.Namespace) -> int:
    result = report(args.net, solver=args.solver, dtype=args.dtype, device=args.device,
                    assume_loss=args.assume_loss, **net_options(args))
    write_report(result, args.format, sys.stdout, args.units)
    return 0


COMMAND = Command("analyze", add_arguments, run, "per-layer shapes, parameters, memory and compute of one net")
