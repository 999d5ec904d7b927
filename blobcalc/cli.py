"""The `blobcalc` command line: dispatches to a subcommand, prints errors, picks the exit code.

Exit codes: 0 success, 1 the analysis failed (the input is wrong for Caffe), 2 usage error,
3 internal error (a bug of blobcalc: please report it). Errors are one line on stderr; `--debug`
adds the traceback. See docs/errors.md.
"""
from __future__ import annotations

import argparse
import contextlib
import errno
import io
import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any, TextIO

from blobcalc import __version__
from blobcalc.commands import Command, all_commands, command_named
from blobcalc.errors import BlobcalcError, InputFileError, UsageError
from blobcalc.escaping import escape_controls

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a program stopped by Ctrl-C


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
    real_stdout = sys.stdout
    sys.stdout = GuardedOutput(real_stdout)
    try:
        code: int = args.run(args)
        sys.stdout.flush()  # a full disk or a closed stdout shows up here, while we can still say so
        return code
    except ClosedPipe:
        # The reader went away (`blobcalc analyze NET | head -1`): stop quietly, as Unix tools do.
        _silence(real_stdout)
        return EXIT_FAILED
    except UsageError as exc:
        _report(args, exc)
        return EXIT_USAGE
    except BlobcalcError as exc:
        _report(args, exc)
        return EXIT_FAILED
    except OSError as exc:
        if not exc.filename:
            return _internal_error(args, exc)
        # The system refused a file we were given (-o into a directory, a full disk): not a bug of ours.
        _report(args, InputFileError(str(exc.filename), f"cannot use it: {exc.strerror or exc}"))
        return EXIT_FAILED
    except KeyboardInterrupt:
        # Ctrl-C: one line and the shell's code for SIGINT, not a traceback (scan writes its rows first).
        with contextlib.suppress(OSError):
            sys.stderr.write("blobcalc: interrupted\n")
        return EXIT_INTERRUPTED
    except Exception as exc:  # a bug of ours: one line, never a traceback unless --debug
        return _internal_error(args, exc)
    finally:
        if isinstance(sys.stdout, GuardedOutput):
            sys.stdout = real_stdout


def _internal_error(args: argparse.Namespace, exc: BaseException) -> int:
    with contextlib.suppress(OSError):
        if args.debug:
            traceback.print_exc()
        where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
        at = f" [{os.path.basename(where.filename)}:{where.lineno}]" if where is not None else ""
        detail = escape_controls(" ".join(str(exc).split())[:300])
        sys.stderr.write(f"blobcalc: internal error (please report it; --debug shows the traceback): "
                         f"{type(exc).__name__}: {detail}{at}\n")
    return EXIT_INTERNAL


def _report(args: argparse.Namespace, exc: BaseException) -> None:
    with contextlib.suppress(OSError):  # a closed stderr leaves only the exit code to tell
        if args.debug:
            traceback.print_exc()
        sys.stderr.write(f"blobcalc: error: {exc}\n")  # one line: BlobcalcError escapes line breaks


class ClosedPipe(Exception):
    """Standard output's reader has gone (EPIPE)."""


class OutputError(BlobcalcError):
    """Standard output cannot be written (closed, a full disk): exit 1 with one line."""


class GuardedOutput:
    """Standard output as the commands see it: a write the system refuses becomes ClosedPipe (the
    reader left) or an OutputError (any other reason), never an exception that looks like our bug."""

    def __init__(self, stream: TextIO | None) -> None:
        self._stream = stream  # None: the process was started with its standard output closed

    def _open_stream(self) -> TextIO:
        if self._stream is None:
            raise OutputError("cannot write to standard output: it is closed")
        return self._stream

    def _guard(self, exc: OSError) -> BaseException:
        if isinstance(exc, BrokenPipeError) or exc.errno == errno.EPIPE:
            return ClosedPipe()
        return OutputError(f"cannot write to standard output: {exc.strerror or exc}")

    def write(self, text: str) -> int:
        try:
            return self._open_stream().write(text)
        except OSError as exc:
            raise self._guard(exc) from None

    def flush(self) -> None:
        if self._stream is None:
            return
        try:
            self._stream.flush()
        except OSError as exc:
            raise self._guard(exc) from None
        except ValueError:  # flushing a closed file
            raise OutputError("cannot write to standard output: it is closed") from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._open_stream(), name)


def _silence(stream: TextIO | None) -> None:
    """Point the process's standard output at /dev/null, so that the interpreter's last flush of what
    is still buffered does not complain about the closed pipe either."""
    with contextlib.suppress(OSError, ValueError, AttributeError, io.UnsupportedOperation):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno() if stream is not None else 1)
        os.close(devnull)


def main_entry() -> None:
    try:
        code = main()
    except KeyboardInterrupt:  # while the commands are still being imported
        with contextlib.suppress(OSError):
            sys.stderr.write("blobcalc: interrupted\n")
        code = EXIT_INTERRUPTED
    sys.exit(code)
