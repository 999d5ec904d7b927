"""The `blobcalc` command line: dispatches to a subcommand, prints errors, picks the exit code.

Exit codes: 0 success, 1 the analysis failed (the input is wrong for Caffe), 2 usage error,
3 internal error (a bug of blobcalc: please report it). Errors are one line on stderr; `--debug`
adds the traceback. See docs/errors.md.
"""
from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence

from blobcalc import __version__
from blobcalc.commands import Command, all_commands, command_named
from blobcalc.errors import BlobcalcError, UsageError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


def build_parser(only: Command | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or of `only` (then only that command's module is imported)."""
    parser = argparse.ArgumentParser(prog="blobcalc", description="Exact blob shapes, parameters and memory "
                                     "of Caffe nets, as real Caffe computes them.")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    parser.add_argument("--version", action="version", version=f"blobcalc {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for command in all_commands() if only is None else (only,):
        sub = subparsers.add_parser(command.name, help=command.help, description=command.help)
        command.add_arguments(sub)
        # SUPPRESS: an unset --debug after the subcommand must not undo `blobcalc --debug COMMAND`.
        sub.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                         help="show the traceback of an error")
        sub.set_defaults(run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else list(argv)
    # `blobcalc COMMAND ...` imports that command alone: a scan answered from its cache needs no analysis.
    args = build_parser(command_named(arguments[0]) if arguments else None).parse_args(arguments)
    try:
        code: int = args.run(args)
        return code
    except UsageError as exc:
        _report(args, exc)
        return EXIT_USAGE
    except BlobcalcError as exc:
        _report(args, exc)
        return EXIT_FAILED
    except Exception as exc:  # a bug of ours: one line, never a traceback unless --debug
        if args.debug:
            traceback.print_exc()
        where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
        at = f" [{os.path.basename(where.filename)}:{where.lineno}]" if where is not None else ""
        detail = " ".join(str(exc).split())[:300]
        sys.stderr.write(f"blobcalc: internal error (please report it; --debug shows the traceback): "
                         f"{type(exc).__name__}: {detail}{at}\n")
        return EXIT_INTERNAL


def _report(args: argparse.Namespace, exc: BaseException) -> None:
    if args.debug:
        traceback.print_exc()
    sys.stderr.write(f"blobcalc: error: {exc}\n")  # one line: BlobcalcError escapes line breaks


def main_entry() -> None:
    sys.exit(main())
