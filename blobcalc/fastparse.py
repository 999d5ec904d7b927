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
    r"""\s*(?:\#[^\n]*\s*)*
    ( [:{}]
    | [A-Za-z_][0-9A-Za-z_+-]*
    | "[^"\n\\]*(?:\\[^\n][^"\n\\]*)*"
    | (?:[0-9+-]|\.[0-9])[0-9A-Za-z_.+-]*
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

    __slots__ = ("convert", "is_message", "is_quoted", "is_string", "message_type", "name", "repeated", "seen_key",
                 "sub_fields")

    def __init__(self, field: Any) -> None:
        self.name: str = field.name
        self.repeated: bool = bool(field.is_repeated)
        # text_format refuses a second value of a singular field (and a second member of a oneof); we give
        # up on any second occurrence, which also covers fields without presence.
        oneof = field.containing_oneof
        self.seen_key: str = f"oneof {oneof.name}" if oneof is not None else field.name
        self.is_message: bool = field.type == _FD.TYPE_MESSAGE
        self.is_string: bool = field.type == _FD.TYPE_STRING
        self.is_quoted: bool = self.is_string or field.type == _FD.TYPE_BYTES
        self.message_type: Any = field.message_type
        self.sub_fields: dict[str, _Field] | None = None  # the message type's schema, filled on first use
        # token → value for one-token values; strings and bytes may span adjacent tokens (_read_quoted).
        self.convert: Callable[[str], Any] = _converter(field)


def _converter(field: Any) -> Callable[[str], Any]:
    kind = field.type
    if kind in (_FD.TYPE_FLOAT, _FD.TYPE_DOUBLE):
        return _float_value
    if kind == _FD.TYPE_BOOL:
        return _bool_value
    if kind == _FD.TYPE_ENUM:
        names: dict[str, int] = {value.name: value.number for value in field.enum_type.values}

        def enum_value(token: str) -> int:
            number = names.get(token)
            if number is None:  # a number (checked against a closed enum's values) or an unknown name
                return int(text_format.ParseEnum(field, token))
            return number

        return enum_value
    if kind in _INT_RANGES:
        signed, long = _INT_RANGES[kind]
        bits = 64 if long else 32
        low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)

        def int_value(token: str) -> int:
            digits = token[1:] if token[:1] == "-" else token
            if digits.isdigit() and digits.isascii() and (digits[0] != "0" or len(digits) == 1):
                value = int(token)  # plain decimal: no C octal, no hex, as ParseInteger reads it
                if not low <= value <= high:
                    raise _give_up("integer out of range", token)
                return value
            return int(text_format.ParseInteger(token, is_signed=signed, is_long=long))

        return int_value
    return _not_one_token  # messages, strings and bytes are read elsewhere


def _not_one_token(token: str) -> Any:
    raise _give_up("not a one-token value", token)


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
    try:
        tokens: list[str] = _TOKEN.findall(text)
        # The last match is the empty end of the text (one more may follow a trailing white space run); an
        # empty token stays at the end as the top level's end marker.
        while tokens and not tokens[-1]:
            tokens.pop()
        tokens.append("")
        _parse_fields(tokens, 0, message, _schema(message.DESCRIPTOR), "", 0)
    except FastParseUnsupported:
        raise
    except Exception as exc:  # a value text_format would refuse, running off the tokens, a bytes text, ...
        raise FastParseUnsupported(f"{type(exc).__name__}: {exc}") from None


def try_parse(text: str, message: _message.Message) -> bool:
    """True when `message` (which must be empty) now holds what text_format.Parse would have given;
    False when the fast reader gave up, with `message` cleared again (a message that was not empty is left
    untouched: text_format merges into it and must judge repeated singular fields itself)."""
    if message.ByteSize():
        return False
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
        token = tokens[pos + 1]
        if field.is_message:
            pos += 1
            if token == ":":  # optional before a message
                pos += 1
                token = tokens[pos]
            sub_fields = field.sub_fields
            if sub_fields is None:
                sub_fields = field.sub_fields = _schema(field.message_type)
            if field.repeated:
                container = getattr(message, field.name)
                if token == "[":
                    pos += 1
                    if tokens[pos] == "]":
                        pos += 1
                    else:
                        while True:
                            pos = _parse_fields(tokens, pos + 1, container.add(), sub_fields,
                                                _closer(tokens[pos]), depth + 1)
                            token = tokens[pos]
                            pos += 1
                            if token == "]":
                                break
                            if token != ",":
                                raise _give_up("expected ',' or ']'", token)
                else:
                    pos = _parse_fields(tokens, pos + 1, container.add(), sub_fields, _closer(token), depth + 1)
            else:
                if field.seen_key in seen:
                    raise _give_up("singular field given twice", field.name)
                seen.add(field.seen_key)
                closer = _closer(token)
                sub_message = getattr(message, field.name)
                sub_message.SetInParent()
                pos = _parse_fields(tokens, pos + 1, sub_message, sub_fields, closer, depth + 1)
        else:
            if token != ":":
                raise _give_up("expected ':'", token)
            token = tokens[pos + 2]
            pos += 3
            if token == "[" and field.repeated:  # the short form of a repeated field: [a, b, ...]
                values = pending.get(field.name)
                if values is None:
                    values = pending[field.name] = []
                pos = _read_list(tokens, pos, field, values)
            else:
                if not field.is_quoted:
                    value = field.convert(token)
                elif (field.is_string and len(token) > 1 and token[0] in _QUOTES and "\\" not in token
                      and token.isascii() and tokens[pos][:1] not in _QUOTES):
                    value = token[1:-1]  # the common case: one plain ASCII string
                else:
                    value, pos = _read_quoted(tokens, pos - 1, field)
                if field.repeated:
                    values = pending.get(field.name)
                    if values is None:
                        pending[field.name] = [value]
                    else:
                        values.append(value)
                elif field.seen_key in seen:
                    raise _give_up("singular field given twice", field.name)
                else:
                    seen.add(field.seen_key)
                    setattr(message, field.name, value)
        # text_format allows one ',' or ';' after a field.
        token = tokens[pos]
        if token == "," or token == ";":
            pos += 1
    for name, values in pending.items():
        getattr(message, name).extend(values)
    return pos + 1


def _closer(token: str) -> str:
    """The token that ends a message opened by `token`."""
    if token == "{":
        return "}"
    if token == "<":
        return ">"
    raise _give_up("expected a message", token)


def _read_list(tokens: list[str], pos: int, field: _Field, values: list[Any]) -> int:
    """`[a, b, ...]` of a repeated scalar, from after the `[`; returns the position after the `]`."""
    if tokens[pos] == "]":
        return pos + 1
    while True:
        if field.is_quoted:
            value, pos = _read_quoted(tokens, pos, field)
        else:
            value = field.convert(tokens[pos])
            pos += 1
        values.append(value)
        token = tokens[pos]
        pos += 1
        if token == "]":
            return pos
        if token != ",":
            raise _give_up("expected ',' or ']'", token)


def _read_quoted(tokens: list[str], pos: int, field: _Field) -> tuple[Any, int]:
    """A string or bytes value: adjacent quoted tokens concatenated, as text_format's ConsumeByteString;
    returns the value and the position after its last token."""
    pieces: list[str] = []
    token = tokens[pos]
    while True:
        if len(token) < 2 or token[0] not in _QUOTES:
            raise _give_up("expected a string", token)
        pieces.append(token[1:-1])
        pos += 1
        token = tokens[pos]
        if token[:1] not in _QUOTES:
            break
    text = "".join(pieces)
    if "\\" in text:
        raw = b"".join(text_encoding.CUnescape(piece) for piece in pieces)
    else:
        # Without a backslash CUnescape gives back the characters' UTF-8 bytes (a lone surrogate raises
        # in both readers).
        raw = text.encode("utf-8")
        if field.is_string:
            return text, pos
    if field.is_string:
        return raw.decode("utf-8"), pos  # invalid UTF-8 raises: text_format refuses it too
    return raw, pos


def _float_value(token: str) -> float:
    value = _FLOAT_VALUES.get(token)
    if value is None:
        value = float(token) if _PLAIN_FLOAT.fullmatch(token) else float(text_format.ParseFloat(token))
        if len(_FLOAT_VALUES) < _FLOAT_CACHE_SIZE:
            _FLOAT_VALUES[token] = value
    return value


_FLOAT_VALUES: dict[str, float] = {}  # real nets repeat the same few spellings (lr_mult: 1, std: 0.01)
_FLOAT_CACHE_SIZE = 4096


def _bool_value(token: str) -> bool:
    value = _BOOLS.get(token)
    if value is None:
        raise _give_up("expected a bool", token)
    return value
