"""The fast prototxt reader against google.protobuf.text_format: the same message on every text it accepts,
and text_format's own error (through parse_message's fallback) on every text it gives up on.

"Reference" below is parse_message with the fast reader switched off: exactly the text_format-only path.
"""
from __future__ import annotations

import contextlib
import csv
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from google.protobuf import message as pb_message
from google.protobuf import struct_pb2, text_format, wrappers_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blobcalc import caffe_pb2, fastparse
from blobcalc.errors import BlobcalcError, ParseError
from blobcalc.parse import decode_text, parse_message

PROJECT = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("BLOBCALC_SHARED", PROJECT.parent / "shared")) / "corpus"
MESSAGE_TYPES = (caffe_pb2.NetParameter, caffe_pb2.SolverParameter)
# text_format's CUnescape keeps an unknown escape such as `\z` as it is, with Python's DeprecationWarning.
pytestmark = pytest.mark.filterwarnings("ignore:invalid .*escape sequence:DeprecationWarning")

Outcome = tuple[Any, ...]


@contextlib.contextmanager
def fast_path_off() -> Iterator[None]:
    with mock.patch.object(fastparse, "try_parse", return_value=False):
        yield


def outcome(text: str, message_type: type[pb_message.Message], *, fast: bool) -> Outcome:
    """What parse_message gives: ("ok", serialized message) or ("error", message, line, col)."""
    target = message_type()
    with contextlib.nullcontext() if fast else fast_path_off():
        try:
            parse_message(text, "net.prototxt", target)
        except ParseError as exc:
            return ("error", str(exc), exc.line, exc.col)
    return ("ok", target.SerializeToString(deterministic=True))


def reference_message(text: str, message_type: type[pb_message.Message]) -> pb_message.Message | None:
    target = message_type()
    try:
        text_format.Parse(text, target)
    except (text_format.ParseError, ValueError):
        return None
    return target


def same_message(got: pb_message.Message, want: pb_message.Message) -> bool:
    """Equal messages; NaN (never equal to itself) is compared through the serialized bytes alone."""
    same_bytes = got.SerializeToString(deterministic=True) == want.SerializeToString(deterministic=True)
    has_nan = "nan" in text_format.MessageToString(want).lower()
    return same_bytes and (has_nan or got == want)


def check_same(text: str, message_type: type[pb_message.Message] = caffe_pb2.NetParameter) -> bool:
    """Direct and through parse_message, the fast reader and text_format agree; True when it accepted."""
    fast = message_type()
    accepted = fastparse.try_parse(text, fast)
    want = reference_message(text, message_type)
    if accepted:
        assert want is not None, "the fast reader accepted a text that text_format refuses"
        assert same_message(fast, want)
    else:
        assert fast.ByteSize() == 0, "a fast reader that gave up must leave the message empty"
    assert outcome(text, message_type, fast=True) == outcome(text, message_type, fast=False)
    return accepted


def accepts(text: str, message_type: type[pb_message.Message] = caffe_pb2.NetParameter) -> pb_message.Message:
    assert check_same(text, message_type), "the fast reader gave up on a text it should read"
    result = message_type()
    assert fastparse.try_parse(text, result)
    return result


def gives_up(text: str, message_type: type[pb_message.Message] = caffe_pb2.NetParameter) -> None:
    assert not check_same(text, message_type), "the fast reader should have left this text to text_format"


# --- the corpus: every file, both message types -------------------------------------------------------------

def corpus_files() -> list[str]:
    """MANIFEST.tsv's files plus whatever else lies in the corpus folder (the manifest and README too)."""
    names: set[str] = set()
    manifest = CORPUS / "MANIFEST.tsv"
    if manifest.exists():
        with open(manifest, newline="", encoding="utf-8") as handle:
            names.update(row["file"] for row in csv.DictReader(handle, delimiter="\t"))
    if CORPUS.is_dir():
        for root, _, files in os.walk(CORPUS):
            names.update(os.path.relpath(os.path.join(root, name), CORPUS) for name in files)
    return sorted(names)


CORPUS_FILES = corpus_files()


def test_corpus_is_present() -> None:
    if not CORPUS_FILES and not os.environ.get("CI"):
        pytest.skip(f"{CORPUS} is not beside this checkout (it is under CI)")
    assert len(CORPUS_FILES) >= 266


@pytest.mark.parametrize("name", CORPUS_FILES)
def test_corpus_file(name: str) -> None:
    path = CORPUS / name
    if not path.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"corpus file {name} is missing")
        pytest.skip(f"corpus file {name} is missing")
    try:
        text = decode_text(path.read_bytes(), str(path))
    except BlobcalcError:
        pytest.skip("not text: never reaches the parser")
    for message_type in MESSAGE_TYPES:
        reference = outcome(text, message_type, fast=False)  # text_format.Parse alone
        fast = message_type()
        accepted = fastparse.try_parse(text, fast)
        # Every corpus file text_format reads must also be read by the fast path (no silent slow fallback).
        assert accepted == (reference[0] == "ok"), f"{message_type.__name__}: fast path {accepted}, {reference[:2]}"
        if accepted:
            assert fast.SerializeToString(deterministic=True) == reference[1]
            assert fast == message_type.FromString(reference[1])
        else:
            assert fast.ByteSize() == 0
        assert outcome(text, message_type, fast=True) == reference


# --- syntax the fast reader handles --------------------------------------------------------------------------

def test_nested_messages_braces_angles_and_optional_colon() -> None:
    net = accepts('layer { name: "a" convolution_param < num_output: 3 weight_filler: { type: "xavier" } > }\n'
                  'layer: { name: "b" }\nlayer < name: "c" >\nstate: < phase: TRAIN >')
    assert isinstance(net, caffe_pb2.NetParameter)
    assert [layer.name for layer in net.layer] == ["a", "b", "c"]
    assert net.layer[0].convolution_param.weight_filler.type == "xavier"


def test_empty_message_is_present() -> None:
    net = accepts("state {} layer { convolution_param { } }")
    assert isinstance(net, caffe_pb2.NetParameter)
    assert net.HasField("state")
    assert net.layer[0].HasField("convolution_param")


@pytest.mark.parametrize("value", ["0", "7", "-7", "0x1F", "0X1f", "-0x10", "010", "-010", "00", "+5", "1_000",
                                   "2147483647", "-2147483648", "0b101", "0o17"])
def test_int32_values(value: str) -> None:
    check_same(f"layer {{ convolution_param {{ axis: {value} }} }}")


@pytest.mark.parametrize("value", ["0", "4294967295", "0xffffffff", "017", "3"])
def test_uint32_values(value: str) -> None:
    accepts(f"layer {{ convolution_param {{ num_output: {value} pad: {value} }} }}")


@pytest.mark.parametrize("value", ["-1", "9223372036854775807", "-9223372036854775808", "0x7fffffffffffffff"])
def test_int64_values(value: str) -> None:
    accepts(f"input_shape {{ dim: {value} }}")
    accepts(f"random_seed: {value}", caffe_pb2.SolverParameter)


@pytest.mark.parametrize("value", ["1", "1.5", "-1.5", ".5", "-.5", "5.", "1e-3", "1E+2", "-2.5e-7", "0", "-0",
                                   "0.0", "inf", "-inf", "Infinity", "-infinity", "INF", "nan", "NaN", "1.0f",
                                   "2F", "1e39", "-1e39", "1e-50", "3.4028235e38", "0x10", "+1.5", "1_0.5",
                                   "infinityf"])
def test_float_values(value: str) -> None:
    check_same(f"layer {{ loss_weight: {value} param {{ lr_mult: {value} }} }}")


@pytest.mark.parametrize("value", ["1", "1.5", "-2.25e-300", "inf", "nan", "1e400"])
def test_double_values(value: str) -> None:
    check_same(f"layer {{ blobs {{ double_data: {value} double_data: [{value}, 2] }} }}")


def test_plain_floats_are_read() -> None:
    for value in ("1", "1.5", "-1.5", ".5", "5.", "1e-3", "inf", "nan", "1.0f"):
        accepts(f"layer {{ loss_weight: {value} }}")


@pytest.mark.parametrize("value", ["true", "false", "True", "False", "t", "f", "1", "0"])
def test_bool_values(value: str) -> None:
    net = accepts(f"force_backward: {value} layer {{ propagate_down: {value} propagate_down: [{value}] }}")
    assert isinstance(net, caffe_pb2.NetParameter)
    assert net.force_backward is (value in ("true", "True", "t", "1"))


@pytest.mark.parametrize("value", ["TRAIN", "TEST", "0", "1", "0x1"])
def test_enum_values(value: str) -> None:
    net = accepts(f"layer {{ phase: {value} include {{ phase: {value} }} pooling_param {{ pool: MAX }} }}")
    assert isinstance(net, caffe_pb2.NetParameter)
    assert net.layer[0].phase == (caffe_pb2.TEST if value in ("TEST", "1", "0x1") else caffe_pb2.TRAIN)


def test_legacy_enum_types() -> None:
    accepts("layers { type: CONVOLUTION name: 'c' } layers { type: 4 }")


@pytest.mark.parametrize("literal", [
    '"plain"', "'single'", '""', "''", r'"tab\tnewline\n"', r'"quote\"s"', r"'it\'s'", r'"back\\slash"',
    r'"\101\102"', r'"\x41\x4"', r'"\u00e9t\u00e9"', r'"\U0001F600"', '"caf\u00e9 \u4e2d\u6587"', r'"\303\251"',
    r'"\a\b\f\v\?"', '"#not a comment"', '"a" "b"', "'a' \"b\" 'c'", '"a"\n  # comment\n "b"',
    r'"a\n" "\x41"', '"\u00e9" "\\101"', r'"unknown \z escape"',
])
def test_string_values(literal: str) -> None:
    net = accepts(f"name: {literal} layer {{ top: {literal} top: [{literal}, {literal}] }}")
    assert isinstance(net, caffe_pb2.NetParameter)
    assert net.layer[0].top[0] == net.name


@pytest.mark.parametrize("literal", ['"raw"', r'"\000\001\377"', r'"\xff\xfe"', '"caf\u00e9"', r'"a" "\x00"'])
def test_bytes_values(literal: str) -> None:
    accepts(f"data: {literal} channels: 3", caffe_pb2.Datum)


def test_comments_and_white_space() -> None:
    accepts("# leading comment\nname: 'x' # trailing\n\tlayer {  # open\r\n name: \"a\"#tight\n}\n# last")
    accepts("name:'x'layer{name:'a'top:'b'}")
    accepts("name: 'x'\u00a0layer\u2003{ }\x0b\x0c")  # Unicode white space, as Python's \s
    accepts("layer { name: 'a' }   # no newline at the end")
    accepts("")
    accepts("   \n# only a comment\n\n")
    # Lines end at "\n" only, for text_format too: a comment runs on over "\r" and U+2028.
    accepts("# comment\rname: 'hidden'\nlayer { }")
    accepts("# comment\u2028name: 'hidden'\nname: 'seen'\u2028input: 'x'")


def test_separators() -> None:
    net = accepts("name: 'a'; input: 'x', input: 'y'; layer { name: 'l'; top: 't', }, layer { };")
    assert isinstance(net, caffe_pb2.NetParameter)
    assert list(net.input) == ["x", "y"]


def test_repeated_fields_given_repeatedly_and_as_lists() -> None:
    net = accepts("input: 'a' input: ['b', 'c'] input: [] input: 'd'\n"
                  "input_dim: [1, 3] input_dim: 224 input_dim: [224]\n"
                  "layer [ { name: 'x' }, < name: 'y' > ] layer: [] layer { name: 'z' }\n"
                  "layer { bottom: 'p' top: 'q' bottom: ['r'] }")
    assert isinstance(net, caffe_pb2.NetParameter)
    assert list(net.input) == ["a", "b", "c", "d"]
    assert list(net.input_dim) == [1, 3, 224, 224]
    assert [layer.name for layer in net.layer] == ["x", "y", "z", ""]
    assert list(net.layer[3].bottom) == ["p", "r"]


def test_defaults_given_explicitly_are_present() -> None:
    net = accepts("force_backward: false layer { convolution_param { bias_term: true group: 1 } }")
    assert isinstance(net, caffe_pb2.NetParameter)
    assert net.HasField("force_backward")
    assert net.layer[0].convolution_param.HasField("bias_term")
    assert net.layer[0].convolution_param.HasField("group")


def test_solver_with_embedded_net() -> None:
    solver = accepts("net_param { name: 'n' layer { name: 'a' } } test_iter: 10 test_iter: [20]\n"
                     "base_lr: 0.01 lr_policy: 'step' solver_mode: GPU stepvalue: [1, 2] random_seed: -1",
                     caffe_pb2.SolverParameter)
    assert isinstance(solver, caffe_pb2.SolverParameter)
    assert solver.net_param.layer[0].name == "a"
    assert list(solver.test_iter) == [10, 20]


# --- what the fast reader leaves to text_format ----------------------------------------------------------------

@pytest.mark.parametrize("text", [
    pytest.param("nmae: 'x'", id="unknown-field"),
    pytest.param("layer { no_such_param { } }", id="unknown-message-field"),
    pytest.param("name: 'a' name: 'b'", id="singular-scalar-twice"),
    pytest.param("force_backward: false force_backward: false", id="singular-default-twice"),
    pytest.param("state { } state { }", id="singular-message-twice"),
    pytest.param("layer { convolution_param { axis: 2147483648 } }", id="int32-too-big"),
    pytest.param("layer { convolution_param { axis: -2147483649 } }", id="int32-too-small"),
    pytest.param("layer { convolution_param { num_output: -1 } }", id="uint32-negative"),
    pytest.param("layer { convolution_param { num_output: 4294967296 } }", id="uint32-too-big"),
    pytest.param("layer { convolution_param { pad: [1, 0x100000000] } }", id="uint32-list-too-big"),
    pytest.param("input_shape { dim: 9223372036854775808 }", id="int64-too-big"),
    pytest.param("input_dim: 09", id="bad-octal"),
    pytest.param("input_dim: 1.5", id="float-for-int"),
    pytest.param("input_dim: '1'", id="string-for-int"),
    pytest.param("layer { loss_weight: '1' }", id="string-for-float"),
    pytest.param("layer { loss_weight: 01.5 }", id="octal-float"),
    pytest.param("layer { loss_weight: 1.5.5 }", id="bad-float"),
    pytest.param("force_backward: yes", id="bad-bool"),
    pytest.param("force_backward: TRUE", id="upper-bool"),
    pytest.param("layer { phase: TRIAN }", id="unknown-enum-name"),
    pytest.param("layer { phase: 7 }", id="undefined-enum-number"),
    pytest.param("layer { phase: -1 }", id="negative-enum-number"),
    pytest.param("layer { phase: 'TEST' }", id="quoted-enum"),
    pytest.param("layer { phase: 01 }", id="octal-enum"),
    pytest.param("name: x", id="identifier-for-string"),
    pytest.param("name: 3", id="number-for-string"),
    pytest.param(r"name: '\xff'", id="invalid-utf8-escape"),
    pytest.param(r"name: '\400'", id="octal-escape-overflow"),
    pytest.param("name: 'a\\", id="backslash-at-text-end"),
    pytest.param("name: 'a\\\nb'", id="backslash-newline-in-string"),
    pytest.param('name: "a\\\nb"', id="backslash-newline-in-double-quoted-string"),
    pytest.param("name: 'abc", id="unterminated-string"),
    pytest.param("name: 'abc\ndef'", id="string-over-two-lines"),
    pytest.param("name: 'a' 'b", id="unterminated-adjacent-string"),
    pytest.param("name 'x'", id="missing-colon"),
    pytest.param("layer { name: 'a' >", id="wrong-closer"),
    pytest.param("layer { name: 'a'", id="unclosed-message"),
    pytest.param("layer < name: 'a' }", id="angle-closed-by-brace"),
    pytest.param("}", id="stray-closer"),
    pytest.param("name: 'a';;", id="two-separators"),
    pytest.param("name: 'a' , ; input: 'b'", id="comma-then-semicolon"),
    pytest.param("name: ['a']", id="list-for-singular"),
    pytest.param("input_dim: [1, 2,]", id="trailing-comma-in-list"),
    pytest.param("input_dim: [1 2]", id="list-without-comma"),
    pytest.param("input_dim: [1, 2", id="unclosed-list"),
    pytest.param("layer [ { }, ]", id="trailing-comma-in-message-list"),
    pytest.param("layer [ name: 'a' ]", id="scalar-in-message-list"),
    pytest.param("state [ { } ]", id="message-list-for-singular"),
    pytest.param("layer name: 'a'", id="message-without-brace"),
    pytest.param("[caffe.fork]: 'x'", id="extension"),
    pytest.param("layer { [type.googleapis.com/caffe.LayerParameter] { } }", id="any-expansion"),
    pytest.param("1: 'x'", id="field-number"),
    pytest.param("name: 'a' @", id="stray-character"),
    pytest.param("name: 'a' $ layer {}", id="stray-dollar"),
    pytest.param("name: 'a\ud800'", id="lone-surrogate"),
    pytest.param("name: - 1", id="detached-minus"),
    pytest.param("input_dim: -", id="lone-minus"),
    pytest.param("layer { top: }", id="missing-value"),
    pytest.param("\ufeffname: 'a'", id="byte-order-mark"),
])
def test_gives_up_with_text_formats_own_error(text: str) -> None:
    gives_up(text)
    assert outcome(text, caffe_pb2.NetParameter, fast=True)[0] == "error"


def test_error_message_keeps_line_and_column() -> None:
    text = "name: 'n'\nlayer {\n  name: 'a'\n  no_such_param { }\n}\n"
    with pytest.raises(ParseError) as caught:
        parse_message(text, "net.prototxt", caffe_pb2.NetParameter())
    assert (caught.value.line, caught.value.col) == (4, 3)
    assert str(caught.value) == ('net.prototxt:4:3: Message type "caffe.LayerParameter" has no field named '
                                 '"no_such_param".')


def test_oneof_map_and_fields_without_presence_are_left_to_text_format() -> None:
    # struct_pb2.Value has a oneof, Struct a map; proto3 wrappers have no presence on `value`.
    gives_up("number_value: 1 string_value: 'x'", struct_pb2.Value)
    accepts("number_value: 1", struct_pb2.Value)
    gives_up("fields { key: 'a' value { number_value: 1 } }", struct_pb2.Struct)
    # text_format accepts a second value after a default one here; the fast reader leaves it to it.
    gives_up("value: 0 value: 5", wrappers_pb2.Int32Value)
    gives_up("value: 1 value: 5", wrappers_pb2.Int32Value)
    accepts("value: 0", wrappers_pb2.Int32Value)


def test_message_that_is_not_empty_is_left_untouched() -> None:
    net = caffe_pb2.NetParameter(name="kept")
    assert not fastparse.try_parse("input: 'x'", net)
    assert net == caffe_pb2.NetParameter(name="kept")
    parse_message("input: 'x'", "net.prototxt", net)
    assert net == caffe_pb2.NetParameter(name="kept", input=["x"])
    with pytest.raises(ParseError, match="should not have multiple"):
        parse_message("name: 'again'", "net.prototxt", net)


def test_deep_nesting_is_left_to_text_format() -> None:
    depth = fastparse.MAX_DEPTH + 5
    text = "net_param { layer { name: 'a' } }"
    for _ in range(depth):
        text = f"net_param {{ {text} }}"
    # SolverParameter does not nest into itself; a nesting this deep is simply refused by both.
    gives_up(text, caffe_pb2.SolverParameter)


def test_fast_reader_reports_why_it_gives_up() -> None:
    with pytest.raises(fastparse.FastParseUnsupported, match="not a field name"):
        fastparse.parse("nmae: 'x'", caffe_pb2.NetParameter())
    with pytest.raises(fastparse.FastParseUnsupported, match="twice"):
        fastparse.parse("name: 'a' name: 'b'", caffe_pb2.NetParameter())
    with pytest.raises(fastparse.FastParseUnsupported, match="not empty"):
        fastparse.parse("name: 'a'", caffe_pb2.NetParameter(name="b"))


# --- property tests ---------------------------------------------------------------------------------------------

texts = st.text(max_size=10)
uint32s = st.integers(0, 2**32 - 1)
int32s = st.integers(-(2**31), 2**31 - 1)
int64s = st.integers(-(2**63), 2**63 - 1)
float32s = st.floats(width=32)
doubles = st.floats()


@st.composite
def net_parameters(draw: st.DrawFn) -> caffe_pb2.NetParameter:
    """Random NetParameter-like messages: the field kinds real nets use, V2 and V1 layers, unicode names."""
    net = caffe_pb2.NetParameter()
    if draw(st.booleans()):
        net.name = draw(texts)
    net.input.extend(draw(st.lists(texts, max_size=2)))
    net.input_dim.extend(draw(st.lists(int32s, max_size=4)))
    for dims in draw(st.lists(st.lists(int64s, max_size=4), max_size=2)):
        net.input_shape.add().dim.extend(dims)
    if draw(st.booleans()):
        net.force_backward = draw(st.booleans())
    if draw(st.booleans()):
        net.state.phase = draw(st.sampled_from([caffe_pb2.TRAIN, caffe_pb2.TEST]))
        net.state.stage.extend(draw(st.lists(texts, max_size=2)))
    for _ in range(draw(st.integers(0, 3))):
        layer = net.layer.add()
        if draw(st.booleans()):
            layer.name = draw(texts)
        if draw(st.booleans()):
            layer.type = draw(st.sampled_from(["Convolution", "Pooling", "ReLU", "Python"]))
        layer.bottom.extend(draw(st.lists(texts, max_size=2)))
        layer.top.extend(draw(st.lists(texts, max_size=2)))
        layer.loss_weight.extend(draw(st.lists(float32s, max_size=2)))
        layer.propagate_down.extend(draw(st.lists(st.booleans(), max_size=2)))
        for _ in range(draw(st.integers(0, 2))):
            param = layer.param.add()
            if draw(st.booleans()):
                param.lr_mult = draw(float32s)
            if draw(st.booleans()):
                param.share_mode = draw(st.sampled_from([0, 1]))
        for _ in range(draw(st.integers(0, 1))):
            rule = layer.include.add()
            if draw(st.booleans()):
                rule.phase = draw(st.sampled_from([caffe_pb2.TRAIN, caffe_pb2.TEST]))
            if draw(st.booleans()):
                rule.min_level = draw(int32s)
            rule.not_stage.extend(draw(st.lists(texts, max_size=2)))
        if draw(st.booleans()):
            conv = layer.convolution_param
            if draw(st.booleans()):
                conv.num_output = draw(uint32s)
            if draw(st.booleans()):
                conv.bias_term = draw(st.booleans())
            conv.pad.extend(draw(st.lists(uint32s, max_size=3)))
            conv.kernel_size.extend(draw(st.lists(uint32s, max_size=3)))
            if draw(st.booleans()):
                conv.weight_filler.type = draw(texts)
                conv.weight_filler.std = draw(float32s)
            if draw(st.booleans()):
                conv.engine = draw(st.sampled_from([0, 1, 2]))
        if draw(st.booleans()):
            layer.pooling_param.pool = draw(st.sampled_from([0, 1, 2]))
        for _ in range(draw(st.integers(0, 1))):
            blob = layer.blobs.add()
            blob.double_data.extend(draw(st.lists(doubles, max_size=2)))
            blob.shape.dim.extend(draw(st.lists(int64s, max_size=2)))
    for _ in range(draw(st.integers(0, 1))):
        legacy = net.layers.add()
        legacy.type = draw(st.sampled_from([0, 4, 17, 18]))
        if draw(st.booleans()):
            legacy.name = draw(texts)
    return net


print_options = st.fixed_dictionaries({
    "as_one_line": st.booleans(), "as_utf8": st.booleans(), "use_short_repeated_primitives": st.booleans(),
    "pointy_brackets": st.booleans(),
})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(net=net_parameters(), options=print_options)
def test_round_trip_of_printed_nets(net: caffe_pb2.NetParameter, options: dict[str, bool]) -> None:
    text = text_format.MessageToString(net, **options)
    fast = caffe_pb2.NetParameter()
    assert fastparse.try_parse(text, fast), "the fast reader must read text_format's own output"
    want = caffe_pb2.NetParameter()
    text_format.Parse(text, want)
    assert same_message(fast, want)
    if not any(math.isnan(value) for value in _floats(net)):
        assert fast == net


def _floats(net: caffe_pb2.NetParameter) -> list[float]:
    values = [value for layer in net.layer for value in layer.loss_weight]
    values += [param.lr_mult for layer in net.layer for param in layer.param]
    values += [layer.convolution_param.weight_filler.std for layer in net.layer]
    values += [value for layer in net.layer for blob in layer.blobs for value in blob.double_data]
    return values


# Pieces of prototxt, right and wrong, for mutating printed nets: whatever comes out, the two paths must agree.
PIECES = [
    "name", "layer", "layers", "input", "input_dim", "top", "bottom", "phase", "loss_weight", "convolution_param",
    "num_output", "pad", "include", "state", "force_backward", "param", "lr_mult", "nmae", ":", "{", "}", "<", ">",
    "[", "]", ",", ";", "'a'", '"b"', r'"\x41"', r"'\xff'", '"', "'", "1", "-1", "0x10", "010", "09", "1.5", "1e3",
    "inf", "nan", "1.0f", "true", "f", "MAX", "TEST", "TRAIN", "7", "4294967296", "-2147483649", "#c\n", "\n", " ",
    "\t", "@", "[ext]", "\u00e9", "\\",
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(net=net_parameters(), options=print_options, data=st.data())
def test_mutated_texts_agree(net: caffe_pb2.NetParameter, options: dict[str, bool], data: st.DataObject) -> None:
    text = text_format.MessageToString(net, **options)
    for _ in range(data.draw(st.integers(1, 3))):
        start = data.draw(st.integers(0, len(text)))
        stop = data.draw(st.integers(start, min(len(text), start + 8)))
        inserted = data.draw(st.lists(st.sampled_from(PIECES), max_size=3))
        separator = data.draw(st.sampled_from(["", " ", "\n"]))
        text = text[:start] + separator.join(inserted) + text[stop:]
    check_same(text)


@settings(max_examples=300, deadline=None)
@given(literal=st.text(max_size=20), quote=st.sampled_from(["'", '"']), tail=st.sampled_from(["", " input: 'x'", "\n"]))
def test_raw_string_literals_agree(literal: str, quote: str, tail: str) -> None:
    """Any characters between quotes, unescaped: quotes, backslashes, newlines, controls, non-ASCII."""
    check_same(f"name: {quote}{literal}{quote}{tail}")


@settings(max_examples=300, deadline=None)
@given(pieces=st.lists(st.sampled_from(PIECES), max_size=25), separator=st.sampled_from(["", " ", "\n"]))
def test_random_token_soup_agrees(pieces: list[str], separator: str) -> None:
    check_same(separator.join(pieces))
