"""Reading prototxt text into our compiled schema's NetParameter, with file:line:col errors."""
from __future__ import annotations

import os

from google.protobuf import message, text_format

from blobcalc import caffe_pb2
from blobcalc.errors import InputFileError, ParseError

# The first bytes of a protobuf binary file are a field tag: a .caffemodel starts with
# field 1 (name, 0x0a) or 100 (layer) / 2 (layers); text never holds NUL or most control bytes.
_TEXT_CONTROL_BYTES = frozenset(range(0, 32)) - {9, 10, 12, 13}
_BOM = "\ufeff"


def read_text(path: str, max_bytes: int | None = None) -> str:
    """The file's text; a clear InputFileError for missing, oversized, binary, empty or non-UTF-8 files."""
    try:
        size = os.path.getsize(path)
        if max_bytes is not None and size > max_bytes:
            raise InputFileError(path, f"file is {size} bytes, over the limit of {max_bytes} bytes")
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        raise InputFileError(path, "no such file") from None
    except IsADirectoryError:
        raise InputFileError(path, "is a directory, not a prototxt file") from None
    except OSError as exc:
        raise InputFileError(path, f"cannot read: {exc.strerror or exc}") from None
    return decode_text(data, path)


def decode_text(data: bytes, path: str) -> str:
    """Bytes → text, refusing what is plainly not a prototxt."""
    if not data.strip():
        raise InputFileError(path, "file is empty" if not data else "file holds only white space")
    control = sum(1 for byte in data[:4096] if byte in _TEXT_CONTROL_BYTES)
    if control:
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


def parse_message(text: str, path: str, target: message.Message) -> message.Message:
    """Parse prototxt `text` into `target` (a fresh message of our schema)."""
    try:
        text_format.Parse(text, target)
    except text_format.ParseError as exc:
        line, col = exc.GetLine(), exc.GetColumn()
        reason = str(exc)
        # Python's message repeats "line:col : " in front; we put the position in our own prefix.
        prefix = f"{line}:{col} : "
        if reason.startswith(prefix):
            reason = reason[len(prefix):]
        raise ParseError(path, line, col, reason) from None
    except (ValueError, RecursionError) as exc:
        raise ParseError(path, None, None, f"cannot parse: {exc}") from None
    return target


def parse_net(text: str, path: str) -> caffe_pb2.NetParameter:
    net = caffe_pb2.NetParameter()
    parse_message(text, path, net)
    return net
