"""Writing a report's text to a stream in pieces of a useful size, never as one whole string."""
from __future__ import annotations

from collections.abc import Iterable
from typing import TextIO

_WRITE_CHARS = 1 << 16  # characters gathered before each write: few calls, little held at once


def write_pieces(stream: TextIO, pieces: Iterable[str]) -> None:
    """Write the concatenation of `pieces` to `stream`."""
    pending: list[str] = []
    size = 0
    for piece in pieces:
        pending.append(piece)
        size += len(piece)
        if size >= _WRITE_CHARS:
            stream.write("".join(pending))
            pending.clear()
            size = 0
    if pending:
        stream.write("".join(pending))


def write_lines(stream: TextIO, lines: Iterable[str]) -> None:
    """Write "\\n".join(lines) + "\\n" to `stream`."""
    write_pieces(stream, (line + "\n" for line in lines))
