"""The `blobcalc` command line: parses arguments, calls the API, prints, and picks the exit code.

Exit codes: 0 success, 1 the analysis failed (the input is wrong for Caffe), 2 usage error.
"""
from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence

from blobcalc.api import analyze
from blobcalc.errors import BlobcalcError, UsageError
from blobcalc.report import RENDERERS, render
from blobcalc.shapes.registry import Shape

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def parse_shape_option(text: str, option: str) -> tuple[str, Shape]:
    """'data=1,3,224,224' → ('data', (1, 3, 224, 224)); an empty shape after '=' is a scalar."""
    name, sep, dims = text.partition("=")
    if not sep or not name:
        raise UsageError(f"{option} takes NAME=d0,d1,... (got {text!r})")
    try:
        shape = tuple(int(d) for d in dims.split(",")) if dims.strip() else ()
    except ValueError:
        raise UsageError(f"{option} {text!r}: dimensions must be whole numbers separated by commas") from None
    if any(d < 0 for d in shape):
        raise UsageError(f"{option} {text!r}: dimensions cannot be negative")
    return name, shape


def _shape_map(values: Sequence[str] | None, option: str) -> dict[str, Shape]:
    return dict(parse_shape_option(v, option) for v in values or ())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="blobcalc", description="Exact blob shapes, parameters and memory "
                                     "of Caffe nets, as real Caffe computes them.")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    commands = parser.add_subparsers(dest="command", required=True)
    analyze_cmd = commands.add_parser("analyze", help="per-layer shapes, parameters and memory of one net")
    analyze_cmd.add_argument("net", help="a .prototxt net definition (V0, V1 or V2)")
    analyze_cmd.add_argument("--phase", choices=("TRAIN", "TEST"), default="TEST",
                             help="which layers to keep, by their include/exclude rules (default TEST)")
    analyze_cmd.add_argument("--level", type=int, default=0, help="net state level (default 0)")
    analyze_cmd.add_argument("--stage", action="append", default=[], help="net state stage (repeatable)")
    analyze_cmd.add_argument("--batch", type=int, help="set the first dimension of every input")
    analyze_cmd.add_argument("--input-shape", action="append", metavar="TOP=d0,d1,...",
                             help="shape of an input or data layer top (repeatable); a data layer "
                                  "whose tops are all given becomes an Input layer")
    analyze_cmd.add_argument("--top-shape", action="append", metavar="BLOB=d0,d1,...",
                             help="shape of a top no rule can infer, e.g. of a Python layer (repeatable)")
    analyze_cmd.add_argument("--format", choices=sorted(RENDERERS), default="table")
    analyze_cmd.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    return parser


def run(args: argparse.Namespace) -> int:
    analysis = analyze(args.net, phase=args.phase, level=args.level, stages=args.stage, batch=args.batch,
                       input_shapes=_shape_map(args.input_shape, "--input-shape"),
                       top_shapes=_shape_map(args.top_shape, "--top-shape"))
    sys.stdout.write(render(analysis, args.format))
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except UsageError as exc:
        _report(args, exc)
        return EXIT_USAGE
    except BlobcalcError as exc:
        _report(args, exc)
        return EXIT_FAILED


def _report(args: argparse.Namespace, exc: BaseException) -> None:
    if args.debug:
        traceback.print_exc()
    sys.stderr.write(f"blobcalc: error: {exc}\n")


def main_entry() -> None:
    sys.exit(main())
