"""`blobcalc audit NET --weights MODEL.caffemodel`: would Caffe load these weights into this net?

Exit codes: 0 Caffe loads them (missing or unused layers are reported, not fatal), 1 Caffe aborts
(or a file cannot be read), 2 usage error.
"""
from __future__ import annotations

import argparse
import sys

from blobcalc.api import analyze
from blobcalc.audit import audit
from blobcalc.commands import Command
from blobcalc.commands.options import NET_HELP, add_net_options, net_options
from blobcalc.report.audit_report import RENDERERS, write
from blobcalc.weights import read_weights

EXIT_LOADS, EXIT_ABORTS = 0, 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("net", help=NET_HELP)
    parser.add_argument("--weights", required=True, metavar="MODEL.caffemodel",
                        help="a binary NetParameter with trained blobs (V0, V1 or V2 layers)")
    add_net_options(parser)
    parser.add_argument("--format", choices=sorted(RENDERERS), default="table")


def run(args: argparse.Namespace) -> int:
    analysis = analyze(args.net, **net_options(args))
    result = audit(analysis, read_weights(args.weights))
    write(result, args.format, sys.stdout)
    return EXIT_LOADS if result.ok else EXIT_ABORTS


COMMAND = Command("audit", add_arguments, run,
                  "check a .caffemodel's blobs against the net's parameter shapes, as Caffe loads them")
