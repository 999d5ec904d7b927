"""`blobcalc analyze NET`: the per-layer table of one net."""
from __future__ import annotations

import argparse
import sys

from blobcalc.api import analyze
from blobcalc.commands import Command
from blobcalc.commands.options import add_net_options, net_options
from blobcalc.report import RENDERERS, render


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("net", help="a .prototxt net definition (V0, V1 or V2)")
    add_net_options(parser)
    parser.add_argument("--format", choices=sorted(RENDERERS), default="table")


def run(args: argparse.Namespace) -> int:
    analysis = analyze(args.net, **net_options(args))
    sys.stdout.write(render(analysis, args.format))
    return 0


COMMAND = Command("analyze", add_arguments, run, "per-layer shapes, parameters and memory of one net")
