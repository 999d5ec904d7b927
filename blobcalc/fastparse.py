"""A fast reader of protobuf text format as prototxt files use it, filling our compiled schema's messages.

It accepts only what it can prove google.protobuf.text_format.Parse would accept with the very same result;
on anything else (an unknown field, a repeated singular field, an out-of-range number, extension or Any
syntax, odd tokens) it gives up with `FastParseUnsupported`, and parse.py re-parses with text_format, whose
error messages (with line:col) stay the only ones a user ever sees.

Tokens are those of text_format's Tokenizer (identifier, number, quoted string, single character; white
space and `#` comments between them); values are converted by text_format's own functions wherever the
spelling is not a plain decimal, so the two readers cannot disagree on a value.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from google.protobuf import text_encoding, text_format

_FD = _descriptor.FieldDescriptor

# text_format's Tokenizer works line by line with these token patterns (identifier, number, string per quote
# mark, else one character), skipping `(\s|(#.*$))+` between tokens. Over the whole text the same tokens
# come out: `[^\n]` stands for its `.`, and a string that does not end on its line is never a string token
# here (its lone quote mark becomes a one-character token, on which the parser gives up).
_TOKEN = re.compile(
    r"""(?:\s|\#[^\n]*)*
    ( [A-Za-z_][0-9A-Za-z_+-]*
    | (?:[0-9+-]|\.[0-9])[0-9A-Za-z_.+-]*
    | "[^"\n\\]*(?:\\[^\n][^"\n\\]*)*"
    | '[^'\n\\]*(?:\\[^\n][^'\n\\]*)*'
    | .
    | \Z )""",
    re.VERBOSE | re.DOTALL)

# Spellings whose value Python's int()/float() give exactly as text_format's ParseInteger/ParseFloat do;
# anything else (hex, octal, `inf`, `1.0f`, `+1`, underscores) goes through text_format's own function.
_PLAIN_FLOAT = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?|-?\.[0-9]+(?:[eE][+-]?[0-9]+)?")
_BOOLS = {"true": True, "True": True, "t": True, "1": True, "false": False, "False": False, "f": False, "0": False}
_QUOTES = ("'", '"')
# Nesting deeper than this is left to text_format (which is recursive and may hit Python's recursion limit:
# its RecursionError must stay the answer for such a file). Real nets nest about 6 deep.
MAX_DEPTH = 100

# Field kinds.
_MESSAGE, _STRING, _BYTES, _INT, _FLOAT, _BOOL, _ENUM = range(7)
_INT_RANGES = {  # type → (is_signed, is_long), as text_format picks its range checker
    _FD.TYPE_INT32: (True, False), _FD.TYPE_SINT32: (True, False), _FD.TYPE_SFIXED32: (True, False),
    _FD.TYPE_INT64: (True, True), _FD.TYPE_SINT64: (True, True), _FD.TYPE_SFIXED64: (True, True),
    _FD.TYPE_UINT32: (False, False), _FD.TYPE_FIXED32: (False, False),
    _FD.TYPE_UINT64: (False, True), _FD.TYPE_FIXED64: (False, True),
}


class FastParseUnsupported(Exception):
    """The fast reader cannot vouch for this text; text_format must parse it."""


class _Field:
    """What the parser needs of one field, looked up once per descriptor."""

    __slots__ = ("enum_field", "enum_names", "int_range", "kind", "message_type", "name", "repeated", "seen_key")

    def __init__(self, field: Any) -> None:
        self.name: str = field.name
        self.repeated: bool = bool(field.is_repeated)
        # text_format refuses a second value of a singular field (and a second member of a oneof); we give
        # up on any second occurrence, which also covers fields without presence.
        oneof = field.containing_oneof
        self.seen_key: str = f"oneof {oneof.name}" if oneof is not None else field.name
        self.message_type: Any = field.message_type
        self.enum_field: Any = field if field.type == _FD.TYPE_ENUM else None
        self.enum_names: dict[str, int] = (
            {value.name: value.number for value in field.enum_type.values} if field.enum_type is not None else {})
        self.int_range: tuple[bool, bool, int, int] = (False, False, 0, 0)
        if field.type == _FD.TYPE_MESSAGE:
            self.kind = _MESSAGE
        elif field.type == _FD.TYPE_STRING:
            self.kind = _STRING
        elif field.type == _FD.TYPE_BYTES:
            self.kind = _BYTES
        elif field.type in (_FD.TYPE_FLOAT, _FD.TYPE_DOUBLE):
            self.kind = _FLOAT
        elif field.type == _FD.TYPE_BOOL:
            self.kind = _BOOL
        elif field.type == _FD.TYPE_ENUM:
            self.kind = _ENUM
        elif field.type in _INT_RANGES:
            self.kind = _INT
            signed, long = _INT_RANGES[field.type]
            bits = 64 if long else 32
            low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
            self.int_range = (signed, long, low, high)
        else:  # pragma: no cover - groups are left out of the schema below
            raise FastParseUnsupported(f"field type {field.type}")


_SCHEMAS: dict[Any, dict[str, _Field]] = {}


def _schema(message_descriptor: Any) -> dict[str, _Field]:
    """Field name → _Field for the fields the fast reader handles; the others are simply absent, so that
    their name makes it give up (groups, whose text names differ from their field names; map fields)."""
    fields = _SCHEMAS.get(message_descriptor)
    if fields is None:
        fields = {}
        for field in message_descriptor.fields:
            if field.type == _FD.TYPE_GROUP:
                continue
            if field.message_type is not None and field.message_type.GetOptions().map_entry:
                continue
            fields[field.name] = _Field(field)
        _SCHEMAS[message_descriptor] = fields
    return fields


def parse(text: str, message: _message.Message) -> None:
    """Fill the empty `message` from `text` exactly as text_format.Parse would, or raise
    FastParseUnsupported (the message is then left partly filled: the caller discards it)."""
    if message.ByteSize():
        raise FastParseUnsupported("the target message is not empty")
    tokens: list[str] = _TOKEN.findall(text)
    # The last match is the empty end of the text (one more may follow a trailing white space run).
    while tokens and not tokens[-1]:
        tokens.pop()
    tokens.append("")
    try:
        end = _parse_fields(tokens, 0, message, _schema(message.DESCRIPTOR), "", 0)
    except FastParseUnsupported:
        raise
    except Exception as exc:  # a value text_format would refuse, or the end of the tokens: not ours to judge
        raise FastParseUnsupported(f"{type(exc).__name__}: {exc}") from None
    if end != len(tokens):  # pragma: no cover - the top level ends only at the sentinel
        raise FastParseUnsupported("text after the end")


def try_parse(text: str, message: _message.Message) -> bool:
    """True when `message` (which must be empty) now holds what text_format.Parse would have given;
    False when the fast reader gave up, with `message` cleared again."""
    try:
        parse(text, message)
    except FastParseUnsupported:
        message.Clear()
        return False
    return True


def _give_up(what: str, token: str) -> FastParseUnsupported:
    return FastParseUnsupported(f"{what}: {token[:40]!r}")


def _parse_fields(tokens: list[str], pos: int, message: Any, fields: dict[str, _Field], end: str,
                  depth: int) -> int:
    """Fields of `message` from tokens[pos] up to the `end` token; returns the position after it."""
    if depth > MAX_DEPTH:
        raise FastParseUnsupported("nested too deep")
    seen: set[str] = set()
    pending: dict[str, list[Any]] = {}  # repeated scalars, extended once at the end
    get_field = fields.get
    while True:
        token = tokens[pos]
        if token == end:
            break
        field = get_field(token)
        if field is None:
            raise _give_up("not a field name here", token)
        pos += 1
        token = tokens[pos]
        kind = field.kind
        if kind == _MESSAGE:
            if token == ":":
                pos += 1
                token = tokens[pos]
            sub_fields = _SCHEMAS.get(field.message_type) or _schema(field.message_type)
            if field.repeated:
                container = getattr(message, field.name)
                if token == "[":
                    pos += 1
                    if tokens[pos] == "]":
                        pos += 1
                    else:
                        while True:
                            token = tokens[pos]
                            closer = "}" if token == "{" else ">" if token == "<" else None
                            if closer is None:
                                raise _give_up("expected a message", token)
                            pos = _parse_fields(tokens, pos + 1, container.add(), sub_fields, closer, depth + 1)
                            token = tokens[pos]
                            pos += 1
                            if token == "]":
                                break
                            if token != ",":
                                raise _give_up("expected ',' or ']'", token)
                else:
                    closer = "}" if token == "{" else ">" if token == "<" else None
                    if closer is None:
                        raise _give_up("expected a message", token)
                    pos = _parse_fields(tokens, pos + 1, container.add(), sub_fields, closer, depth + 1)
            else:
                if field.seen_key in seen:
                    raise _give_up("singular field given twice", field.name)
                seen.add(field.seen_key)
                closer = "}" if token == "{" else ">" if token == "<" else None
                if closer is None:
                    raise _give_up("expected a message", token)
                sub_message = getattr(message, field.name)
                sub_message.SetInParent()
                pos = _parse_fields(tokens, pos + 1, sub_message, sub_fields, closer, depth + 1)
        else:
            if token != ":":
                raise _give_up("expected ':'", token)
            pos += 1
            token = tokens[pos]
            convert = _CONVERTERS[kind]
            if field.repeated:
                values = pending.get(field.name)
                if values is None:
                    values = pending[field.name] = []
                if token == "[":
                    pos += 1
                    if tokens[pos] == "]":
                        pos += 1
                    else:
                        while True:
                            value, pos = convert(tokens, pos, field)
                            values.append(value)
                            token = tokens[pos]
                            pos += 1
                            if token == "]":
                                break
                            if token != ",":
                                raise _give_up("expected ',' or ']'", token)
                else:
                    value, pos = convert(tokens, pos, field)
                    values.append(value)
            else:
                if field.seen_key in seen:
                    raise _give_up("singular field given twice", field.name)
                seen.add(field.seen_key)
                value, pos = convert(tokens, pos, field)
                setattr(message, field.name, value)
        # text_format allows one ',' or ';' after a field.
        token = tokens[pos]
        if token == "," or token == ";":  # noqa: PLR1714 - plain comparisons are the fastest here
            pos += 1
    for name, values in pending.items():
        getattr(message, name).extend(values)
    return pos + 1


def _string_bytes(tokens: list[str], pos: int) -> tuple[bytes | None, str, int]:
    """Adjacent quoted tokens, concatenated as text_format's ConsumeByteString does. Returns (bytes, "", pos)
    when an escape was present, else (None, the text itself, pos): without a backslash, CUnescape and UTF-8
    decoding give back exactly the characters between the quotes (lone surrogates aside, checked here)."""
    pieces: list[str] = []
    escaped = False
    token = tokens[pos]
    if len(token) < 2 or token[0] not in _QUOTES:
        raise _give_up("expected a string", token)
    while True:
        body = token[1:-1]
        if "\\" in body:
            escaped = True
        pieces.append(body)
        pos += 1
        token = tokens[pos]
        if not token or token[0] not in _QUOTES:
            break
        if len(token) < 2:
            raise _give_up("unterminated string", token)
    if escaped:
        return b"".join(text_encoding.CUnescape(body) for body in pieces), "", pos
    text = pieces[0] if len(pieces) == 1 else "".join(pieces)
    if not text.isascii():
        text.encode("utf-8")  # a lone surrogate raises here, as it does inside CUnescape
    return None, text, pos


def _convert_string(tokens: list[str], pos: int, field: _Field) -> tuple[Any, int]:
    raw, text, pos = _string_bytes(tokens, pos)
    if raw is not None:
        text = raw.decode("utf-8")  # invalid UTF-8 raises: text_format refuses it too
    return text, pos


def _convert_bytes(tokens: list[str], pos: int, field: _Field) -> tuple[Any, int]:
    raw, text, pos = _string_bytes(tokens, pos)
    return (raw if raw is not None else text.encode("utf-8")), pos


def _convert_int(tokens: list[str], pos: int, field: _Field) -> tuple[Any, int]:
    token = tokens[pos]
    signed, long, low, high = field.int_range
    digits = token[1:] if token[:1] == "-" else token
    if digits.isdigit() and (digits[0] != "0" or len(digits) == 1):  # plain decimal, no C octal
        value = int(token)
        if not low <= value <= high:
            raise _give_up("integer out of range", token)
    else:
        value = text_format.ParseInteger(token, is_signed=signed, is_long=long)
    return value, pos + 1


def _convert_float(tokens: list[str], pos: int, field: _Field) -> tuple[Any, int]:
    token = tokens[pos]
    value = _FLOAT_VALUES.get(token)
    if value is None:
        value = float(token) if _PLAIN_FLOAT.fullmatch(token) else text_format.ParseFloat(token)
        if len(_FLOAT_VALUES) < _FLOAT_CACHE_SIZE:
            _FLOAT_VALUES[token] = value
    return value, pos + 1


_FLOAT_VALUES: dict[str, float] = {}  # real nets repeat the same few spellings (lr_mult: 1, std: 0.01)
_FLOAT_CACHE_SIZE = 4096


def _convert_bool(tokens: list[str], pos: int, field: _Field) -> tuple[Any, int]:
    token = tokens[pos]
    value = _BOOLS.get(token)
    if value is None:
        raise _give_up("expected a bool", token)
    return value, pos + 1


def _convert_enum(tokens: list[str], pos: int, field: _Field) -> tuple[Any, int]:
    token = tokens[pos]
    number = field.enum_names.get(token)
    if number is None:  # a number (checked against a closed enum's values) or an unknown name
        number = text_format.ParseEnum(field.enum_field, token)
    return number, pos + 1


_CONVERTERS: dict[int, Callable[[list[str], int, _Field], tuple[Any, int]]] = {
    _STRING: _convert_string, _BYTES: _convert_bytes, _INT: _convert_int, _FLOAT: _convert_float,
    _BOOL: _convert_bool, _ENUM: _convert_enum,
}
