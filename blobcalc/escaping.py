"""Text from a file made safe to show: control characters escaped for terminals, long cells elided for
tables, formulas neutralised for spreadsheets, HTML escaped for Markdown.

Names come from files people did not write. An ESC in a layer name is a terminal escape sequence (an
OSC 52 clipboard write, a cleared screen, a fake row); a line break is a fake line; a right-to-left
override reorders what is shown. Human-readable output shows each of them as a visible escape
(\\x1b, \\n, \\u202e); machine formats keep the exact text (JSON escapes it by itself).
"""
from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from typing import TextIO

# C0 controls (tab and line breaks included: they break a table's columns and a message's one line), DEL,
# the C1 controls (U+0080-U+009F: a terminal takes U+009B as CSI), the bidirectional overrides and
# isolates, and the line and paragraph separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}

MAX_CELL_CHARS = 80  # a table cell longer than this is shortened in the middle
ELLIPSIS = "…"


def _escape_one(match: re.Match[str]) -> str:
    char = match.group(0)
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(text: str) -> str:
    """`text` with every control character shown as a visible escape (\\n, \\x1b, \\u202e): what a
    terminal gets can no longer move the cursor, change colours, write the clipboard or break a line."""
    return _CONTROL.sub(_escape_one, text) if _CONTROL.search(text) else text


def has_controls(text: str) -> bool:
    return _CONTROL.search(text) is not None


def elide(text: str, width: int = MAX_CELL_CHARS) -> str:
    """`text` cut to at most `width` characters, keeping its start and its end around an ellipsis
    (layer names differ at their ends as often as at their starts)."""
    if len(text) <= width:
        return text
    tail = (width - 1) // 3
    return text[:width - 1 - tail] + ELLIPSIS + (text[-tail:] if tail else "")


def table_cell(text: str, width: int = MAX_CELL_CHARS) -> str:
    """A cell of a human-readable table: control characters escaped, then elided to `width`."""
    return elide(escape_controls(text), width)


# A spreadsheet runs a cell starting with one of these as a formula (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: object) -> object:
    """A CSV cell that no spreadsheet runs as a formula: text starting with = + - @ tab or CR gets a
    leading apostrophe (numbers are left as they are)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def markdown_cell(text: str) -> str:
    """A Markdown table cell: control characters escaped (a line break would end the row), elided like
    a table cell, HTML escaped (renderers pass inline HTML through), the column separator escaped."""
    text = elide(escape_controls(text))
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")


def markdown_text(text: str) -> str:
    """A line of Markdown prose (the summary under the table): control characters and HTML escaped."""
    return escape_controls(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class CsvWriter:
    """csv.writer with "\\n" line ends that still quotes a cell holding a carriage return: the csv
    module quotes only the characters of its own line terminator, so with "\\n" a lone "\\r" in a name
    would go out unquoted and break the row for every reader."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="\r\n")

    def writerow(self, row: Iterable[object]) -> None:
        self._writer.writerow(row)
        text = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        self._stream.write(text[:-2] + "\n")
