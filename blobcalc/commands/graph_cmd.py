"""`blobcalc graph NET -o FILE.{svg,png,dot,graphml}`: draw the layer DAG; the file's extension picks
the format (DOT and GraphML are written by us, SVG and PNG rendered by Graphviz's `dot`)."""
from __future__ import annotations

import argparse
import os
import sys

from blobcalc.api import analyze
from blobcalc.commands import Command
from blobcalc.commands.options import NET_HELP, add_net_options, net_options
from blobcalc.drawing import layer_drawing, render_graphviz, to_dot, to_graphml
from blobcalc.errors import InputFileError, UsageError
from blobcalc.escaping import escape_controls

FORMATS = ("svg", "png", "dot", "graphml")
RENDERED = frozenset({"svg", "png"})  # need Graphviz


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("net", help=NET_HELP)
    parser.add_argument("-o", "--output", required=True, metavar="FILE",
                        help="where to write the drawing: .svg or .png (Graphviz), .dot or .graphml")
    parser.add_argument("--format", choices=FORMATS,
                        help="the output format (default: from the output file's extension)")
    parser.add_argument("--direction", choices=("TB", "LR"), default="TB",
                        help="top to bottom (default) or left to right")
    add_net_options(parser)


def output_format(path: str, given: str | None) -> str:
    if given is not None:
        return given
    extension = os.path.splitext(path)[1].lower().lstrip(".")
    extension = {"gv": "dot", "xml": "graphml"}.get(extension, extension)
    if extension not in FORMATS:
        raise UsageError(f"cannot tell the format of {path!r} from its extension; use .svg, .png, .dot or "
                         ".graphml (or --format)")
    return extension


def drawing_bytes(dot_text: str, graphml_text: str | None, fmt: str) -> bytes:
    if fmt == "dot":
        return dot_text.encode("utf-8")
    if fmt == "graphml" and graphml_text is not None:
        return graphml_text.encode("utf-8")
    return render_graphviz(dot_text, fmt)


def run(args: argparse.Namespace) -> int:
    fmt = output_format(args.output, args.format)
    analysis = analyze(args.net, **net_options(args))
    if analysis.phase_notice:
        sys.stderr.write(escape_controls(f"blobcalc: notice: {analysis.phase_notice}") + "\n")
    drawing = layer_drawing(analysis)
    dot_text = to_dot(drawing, direction=args.direction)
    data = drawing_bytes(dot_text, to_graphml(drawing) if fmt == "graphml" else None, fmt)
    try:
        with open(args.output, "wb") as handle:
            handle.write(data)
    except OSError as exc:
        raise InputFileError(args.output, f"cannot write: {exc.strerror or exc}") from None
    return 0


COMMAND = Command("graph", add_arguments, run,
                  "draw the layer graph as SVG or PNG (Graphviz), DOT or GraphML")
