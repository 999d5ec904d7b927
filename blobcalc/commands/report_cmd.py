"""`blobcalc report NET -o report.html`: one self-contained HTML page with the summary, a sortable
per-layer table, memory charts and the layer graph (when Graphviz is installed)."""
from __future__ import annotations

import argparse

from blobcalc.api import report
from blobcalc.commands import Command
from blobcalc.commands.options import NET_OR_SOLVER_HELP, add_memory_options, add_net_options, net_options
from blobcalc.drawing import graph_svg
from blobcalc.errors import InputFileError
from blobcalc.report.html_report import render


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("net", nargs="?", help=NET_OR_SOLVER_HELP)
    parser.add_argument("-o", "--output", required=True, metavar="FILE.html", help="where to write the page")
    parser.add_argument("--no-graph", action="store_true", help="leave out the layer graph (no Graphviz run)")
    add_net_options(parser, phase_default=None)
    add_memory_options(parser)


def write_text(path: str, text: str) -> None:
    try:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        raise InputFileError(path, f"cannot write: {exc.strerror or exc}") from None


def run(args: argparse.Namespace) -> int:
    result = report(args.net, solver=args.solver, dtype=args.dtype, device=args.device, engine=args.engine,
                    assume_loss=args.assume_loss, **net_options(args))
    svg, note = (None, "The layer graph was left out (--no-graph).")
    if not args.no_graph:
        svg, note = graph_svg(result.analysis)
    write_text(args.output, render(result, svg, unit=args.units, graph_note=note))
    return 0


COMMAND = Command("report", add_arguments, run,
                  "one self-contained HTML page: summary, sortable layer table, memory charts, graph")
