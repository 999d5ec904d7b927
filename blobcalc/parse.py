"""Reading prototxt text into our compiled schema's NetParameter, with file:line:col errors."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from google.protobuf import message, text_format

from blobcalc import caffe_pb2, fastparse
from blobcalc.errors import InputFileError, ParseError
from blobcalc.regular_files import read_regular_file

# The first bytes of a protobuf binary file are a field tag: a .caffemodel starts with
# field 1 (name, 0x0a) or 100 (layer) / 2 (layers); text never holds NUL or most control bytes.
_TEXT_CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0b\x0e-\x1f]")
_BOM = "\ufeff"


# Far above any real prototxt (the largest public nets are a few MB): a bigger file is refused with its
# size before it is read, instead of filling memory. None reads without a limit.
MAX_TEXT_BYTES = 256 * 1024 * 1024


def read_text(path: str, max_bytes: int | None = MAX_TEXT_BYTES) -> str:
    """The file's text; a clear InputFileError for missing, oversized, binary, empty or non-UTF-8 files,
    and for anything but a regular file (a FIFO, a device: read without blocking, see regular_files)."""
    data = read_regular_file(path, max_bytes, "a prototxt file")
    return decode_text(data, path)


def looks_binary(data: bytes) -> bool:
    """Control bytes other than tab, newline, form feed and carriage return in the first 4 KiB."""
    return _TEXT_CONTROL_BYTES.search(data, 0, 4096) is not None


def decode_text(data: bytes, path: str) -> str:
    """Bytes → text, refusing what is plainly not a prototxt."""
    if not data.strip():
        raise InputFileError(path, "file is empty" if not data else "file holds only white space")
    if looks_binary(data):
        raise InputFileError(
            path, "is a binary file, not prototxt text (a .caffemodel? weights are checked with "
            "'blobcalc audit NET --weights FILE')")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ParseError(path, line, col,
                         f"not UTF-8 text (byte 0x{data[exc.start]:02x} cannot be decoded)") from None
    return text[1:] if text.startswith(_BOM) else text


def parse_message(text: str, path: str, target: message.Message, *, allow_unknown_fields: bool = False,
                  skipped: list[SkippedField] | None = None) -> message.Message:
    """Parse prototxt `text` into `target` (a fresh message of our schema).

    The fast reader fills `target` when it can vouch for the result being text_format's own; otherwise
    (any error included) text_format parses the text, so every message and line:col is its own.
    With `allow_unknown_fields`, fields the schema lacks are skipped (each with its whole value or block)
    and appended to `skipped` with their line:col; the result is then no net any Caffe we know would load."""
    if fastparse.try_parse(text, target):
        return target
    try:
        if allow_unknown_fields:
            _parse_skipping_unknown_fields(text, target, [] if skipped is None else skipped)
        else:
            text_format.Parse(text, target)
    except text_format.ParseError as exc:
        line, col = exc.GetLine(), exc.GetColumn()
        reason = str(exc)
        if line is None:
            # Raised where protobuf kept no position (deep in a skipped value): name the deepest nesting.
            deep = nesting_position(text, NESTING_REPORTED)
            if deep is not None:
                raise ParseError(path, *deep, f"{reason} (inside blocks nested more than {NESTING_REPORTED} "
                                              "deep)") from None
        # Python's message repeats "line:col : " in front; we put the position in our own prefix.
        prefix = f"{line}:{col} : "
        if reason.startswith(prefix):
            reason = reason[len(prefix):]
        raise ParseError(path, line, col, reason) from None
    except RecursionError:
        # Python's text_format recurses once per nested block; name where the nesting went too deep.
        deep = nesting_position(text, NESTING_REPORTED)
        line, col = deep if deep is not None else (None, None)
        raise ParseError(path, line, col, f"blocks nested more than {NESTING_REPORTED} deep: too deep to "
                                          "parse (no Caffe net nests that far)") from None
    except ValueError as exc:
        raise ParseError(path, None, None, f"cannot parse: {exc}") from None
    return target


NESTING_REPORTED = 100  # protobuf's own default recursion limit for binary messages


def nesting_position(text: str, limit: int) -> tuple[int, int] | None:
    """(line, col), 1-based, of the first `{`, `<` or `[` that opens a block more than `limit` deep,
    strings and comments skipped; None when nothing nests that deep."""
    depth = 0
    line, line_start = 1, 0
    position, end = 0, len(text)
    while position < end:
        char = text[position]
        if char == "\n":
            line, line_start = line + 1, position + 1
        elif char == "#":
            newline = text.find("\n", position)
            position = end if newline < 0 else newline
            continue
        elif char in "\"'":
            close = position + 1
            while close < end and text[close] not in (char, "\n"):
                close += 2 if text[close] == "\\" else 1
            position = close + 1 if close < end and text[close] == char else close
            continue
        elif char in "{<[":
            depth += 1
            if depth > limit:
                return line, position - line_start + 1
        elif char in "}>]":
            depth = max(0, depth - 1)
        position += 1
    return None


def parse_net(text: str, path: str, *, allow_unknown_fields: bool = False,
              skipped: list[SkippedField] | None = None) -> caffe_pb2.NetParameter:
    net = caffe_pb2.NetParameter()
    parse_message(text, path, net, allow_unknown_fields=allow_unknown_fields, skipped=skipped)
    return net


@dataclass(frozen=True, slots=True)
class SkippedField:
    """A field the schema lacks, skipped by --allow-unknown-fields: where it starts and whose field it is."""

    line: int
    col: int
    message_type: str  # full name, e.g. "caffe.LayerParameter"
    name: str

    def __str__(self) -> str:
        return f"{self.line}:{self.col}: {self.message_type.rpartition('.')[2]}.{self.name}"


class _SkippingParser(text_format._Parser):  # type: ignore[misc]  # protobuf's own parser, untyped
    """text_format's parser with allow_unknown_field, which also records where each skipped field is.

    Protobuf skips silently; it calls _SkipFieldContents right after consuming the unknown field's name
    (so the tokenizer's previous token is that name), and again for every field nested in a skipped
    block, which `_depth` leaves out: a skipped block is reported once, by its outer name."""

    def __init__(self, skipped: list[SkippedField]) -> None:
        super().__init__(allow_unknown_field=True)
        self._skipped = skipped
        self._depth = 0

    def _SkipFieldContents(self, tokenizer: Any, field_name: str, immediate_message_type: str) -> None:
        if self._depth == 0:
            # The same position text_format's own "has no field named" error gives (1-based).
            self._skipped.append(SkippedField(tokenizer._previous_line + 1, tokenizer._previous_column + 1,
                                              immediate_message_type, field_name))
        self._depth += 1
        try:
            super()._SkipFieldContents(tokenizer, field_name, immediate_message_type)
        finally:
            self._depth -= 1


def _parse_skipping_unknown_fields(text: str, target: message.Message, skipped: list[SkippedField]) -> None:
    # As text_format.Parse does it (ParseLines on the text's lines), with the recording parser.
    _SkippingParser(skipped).ParseLines(text.split("\n"), target)
