"""The `blobcalc` command line: dispatches to a subcommand, prints errors, picks the exit code.

Exit codes: 0 success, 1 the analysis failed (the input is wrong for Caffe), 2 usage error.
"""
from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence

from blobcalc.commands import all_commands
from blobcalc.errors import BlobcalcError, UsageError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="blobcalc", description="Exact blob shapes, parameters and memory "
                                     "of Caffe nets, as real Caffe computes them.")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for command in all_commands():
        sub = subparsers.add_parser(command.name, help=command.help, description=command.help)
        command.add_arguments(sub)
        sub.add_argument("--debug", action="store_true", help="show the traceback of an error")
        sub.set_defaults(run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.run(args)
        return code
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
