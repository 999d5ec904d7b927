"""Tests of blobcalc.weights: the hand-walked wire format must give exactly what full protobuf parsing
(plus Caffe's upgrade) gives, without ever decoding the float payloads."""
from __future__ import annotations

import struct
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blobcalc import caffe_pb2
from blobcalc.errors import InputFileError, UpgradeError
from blobcalc.upgrade import upgrade_net
from blobcalc.weights import (
    DOUBLE,
    EMPTY,
    FLOAT,
    MIXED,
    BlobRecord,
    WeightsError,
    blob_record,
    read_weights,
    read_weights_bytes,
)
from tests.wire_writer import varint

V1 = caffe_pb2.V1LayerParameter


def blob(shape: tuple[int, ...] | None = None, legacy: tuple[int, ...] | None = None,
         data: int = 0, double: int = 0, diff: int = 0, double_diff: int = 0) -> caffe_pb2.BlobProto:
    proto = caffe_pb2.BlobProto()
    if shape is not None:
        proto.shape.dim.extend(shape)
    for name, value in zip(("num", "channels", "height", "width"), legacy or (), strict=False):
        setattr(proto, name, value)
    proto.data.extend([0.25] * data)
    proto.double_data.extend([0.5] * double)
    proto.diff.extend([1.0] * diff)
    proto.double_diff.extend([2.0] * double_diff)
    return proto


def full_parse(data: bytes) -> list[tuple[str, str, tuple[BlobRecord, ...]]]:
    """The reference: protobuf decodes everything, Caffe's upgrade runs, blobs are summarized."""
    net = caffe_pb2.NetParameter.FromString(data)
    upgraded = upgrade_net(net, "ref").net
    return [(layer.name, layer.type, tuple(blob_record(b) for b in layer.blobs)) for layer in upgraded.layer]


def walked(data: bytes) -> list[tuple[str, str, tuple[BlobRecord, ...]]]:
    weights = read_weights_bytes(data, "walked")
    return [(layer.name, layer.type, layer.blobs) for layer in weights.layers]


def v2_net() -> caffe_pb2.NetParameter:
    net = caffe_pb2.NetParameter(name="tiny")
    net.layer.add(name="data", type="Input", top=["data"])
    conv = net.layer.add(name="conv1", type="Convolution", bottom=["data"], top=["conv1"])
    conv.convolution_param.num_output = 4
    conv.blobs.append(blob(shape=(4, 3, 3, 3), data=108))
    conv.blobs.append(blob(legacy=(1, 1, 1, 4), double=4))
    ip = net.layer.add(name="ip", type="InnerProduct", bottom=["conv1"], top=["ip"])
    ip.blobs.append(blob(shape=(10, 36), data=360, diff=360))
    ip.blobs.append(blob(shape=(10,), double=10, double_diff=10))
    return net


def v1_net() -> caffe_pb2.NetParameter:
    net = caffe_pb2.NetParameter(name="old", input=["data"])
    conv = net.layers.add(name="conv1", type=V1.CONVOLUTION, bottom=["data"], top=["conv1"])
    conv.blobs.append(blob(legacy=(4, 3, 3, 3), data=108))
    conv.blobs.append(blob(legacy=(1, 1, 1, 4), data=4))
    conv.blobs_lr.extend([1, 2])
    net.layers.add(name="relu1", type=V1.RELU, bottom=["conv1"], top=["conv1"])
    return net


def v0_net() -> caffe_pb2.NetParameter:
    net = caffe_pb2.NetParameter(name="v0", input=["data"], input_dim=[1, 3, 8, 8])
    pad = net.layers.add(bottom=["data"], top=["pad1"])
    pad.layer.name, pad.layer.type, pad.layer.pad = "pad1", "padding", 1
    conv = net.layers.add(bottom=["pad1"], top=["conv1"])
    conv.layer.name, conv.layer.type, conv.layer.num_output = "conv1", "conv", 4
    conv.layer.blobs.append(blob(legacy=(4, 3, 3, 3), data=108))
    conv.layer.blobs.append(blob(legacy=(1, 1, 1, 4), data=4))
    return net


@pytest.mark.parametrize("make", [v2_net, v1_net, v0_net], ids=["V2", "V1", "V0"])
def test_walker_matches_full_parse(make: Callable[[], caffe_pb2.NetParameter]) -> None:
    data = make().SerializeToString()
    assert walked(data) == full_parse(data)


def test_records_of_the_v2_net() -> None:
    weights = read_weights_bytes(v2_net().SerializeToString(), "m")
    assert weights.era == "V2" and weights.net_name == "tiny" and weights.notices == ()
    conv = weights.layers[1]
    assert conv.blobs == (BlobRecord((4, 3, 3, 3), False, 108, 0, 0, 0), BlobRecord((1, 1, 1, 4), True, 0, 4, 0, 0))
    assert conv.blobs[1].data_type == DOUBLE and conv.blobs[0].data_type == FLOAT
    assert weights.data_type == MIXED
    assert weights.element_count == 108 + 4 + 360 + 10
    assert weights.diff_count == 370
    assert weights.payload_bytes == 4 * 108 + 8 * 4 + 4 * 720 + 8 * 20


def test_v1_weights_are_upgraded_and_input_names_dropped() -> None:
    weights = read_weights_bytes(v1_net().SerializeToString(), "m")
    assert weights.era == "V1"
    assert [(layer.name, layer.type) for layer in weights.layers] == [("conv1", "Convolution"), ("relu1", "ReLU")]
    assert any("UpgradeV1Net" in notice for notice in weights.notices)
    assert any("UpgradeNetInput" in notice for notice in weights.notices)


def test_v0_weights_fold_padding_and_gain_an_input_layer() -> None:
    weights = read_weights_bytes(v0_net().SerializeToString(), "m")
    assert weights.era == "V0"
    assert [layer.name for layer in weights.layers] == ["input", "conv1"]
    assert weights.layers[1].blobs[0].dims == (4, 3, 3, 3)


def test_mixed_layer_and_layers_is_refused_like_caffe() -> None:
    net = v2_net()
    net.layers.add(name="x", type=V1.RELU)
    with pytest.raises(UpgradeError, match="both 'layer' and 'layers'"):
        read_weights_bytes(net.SerializeToString(), "m")


def test_empty_file_is_an_empty_net() -> None:
    weights = read_weights_bytes(b"", "m")
    assert weights.layers == () and weights.data_type == EMPTY and weights.file_bytes == 0


# --------------------------------------------------------------------------------------------
# Wire-format corners: unpacked values, merged shapes, negative int32, unknown fields, groups
# --------------------------------------------------------------------------------------------

def tag(field: int, wire_type: int) -> bytes:
    return varint(field << 3 | wire_type)


def length_delimited(field: int, payload: bytes) -> bytes:
    return tag(field, 2) + varint(len(payload)) + payload


def test_hand_encoded_corners_match_full_parse() -> None:
    blob_bytes = (
        tag(5, 5) + struct.pack("<f", 1.0) + tag(5, 5) + struct.pack("<f", 2.0)  # unpacked floats
        + length_delimited(5, struct.pack("<3f", 3, 4, 5))  # then a packed run: 5 floats in all
        + tag(8, 1) + struct.pack("<d", 1.0)  # one unpacked double
        + length_delimited(7, tag(1, 0) + varint(2))  # shape {dim: 2} unpacked ...
        + length_delimited(7, length_delimited(1, varint(3) + varint(4)))  # ... merged with dims 3, 4
        + tag(1, 2) + varint(0)  # `num` with the wrong wire type: an unknown field, not legacy
        + tag(77, 0) + varint(5)  # an unknown field
        + tag(78, 3) + tag(1, 0) + varint(1) + tag(78, 4)  # an unknown group
    )
    legacy_blob = tag(1, 0) + varint(-2) + tag(4, 0) + varint(7)  # num -2 (10-byte varint), width 7
    layer = (length_delimited(1, b"conv") + length_delimited(2, b"Convolution")
             + length_delimited(7, blob_bytes) + length_delimited(7, legacy_blob))
    data = length_delimited(1, b"net") + length_delimited(100, layer) + tag(999, 5) + b"\0\0\0\0"
    assert walked(data) == full_parse(data)
    first, second = walked(data)[0][2]
    assert first == BlobRecord((2, 3, 4), False, 5, 1, 0, 0)
    assert second == BlobRecord((-2, 0, 0, 7), True, 0, 0, 0, 0)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(
    st.one_of(st.none(), st.lists(st.integers(0, 40), max_size=5).map(tuple)),
    st.one_of(st.none(), st.lists(st.integers(-3, 40), min_size=1, max_size=4).map(tuple)),
    st.integers(0, 50), st.integers(0, 5), st.integers(0, 5)), max_size=4), st.booleans())
def test_random_blobs_match_full_parse(specs: list[tuple[tuple[int, ...] | None, tuple[int, ...] | None,
                                                         int, int, int]], as_v1: bool) -> None:
    net = caffe_pb2.NetParameter(name="random")
    layer = (net.layers.add(name="l", type=V1.INNER_PRODUCT) if as_v1
             else net.layer.add(name="l", type="InnerProduct"))
    for shape, legacy, data, double, diff in specs:
        layer.blobs.append(blob(shape=shape, legacy=legacy, data=data, double=double, diff=diff))
    encoded = net.SerializeToString()
    assert walked(encoded) == full_parse(encoded)


# --------------------------------------------------------------------------------------------
# Files that are not weights
# --------------------------------------------------------------------------------------------

def test_truncated_file_names_the_offset() -> None:
    data = v2_net().SerializeToString()
    with pytest.raises(WeightsError, match=r"at byte \d+: .*past the end"):
        read_weights_bytes(data[:-7], "cut")


def test_text_prototxt_given_as_weights_gets_a_hint() -> None:
    with pytest.raises(WeightsError, match=r"text \.prototxt"):
        read_weights_bytes(b'name: "x"\nlayer { name: "a" }\n', "text")


def test_missing_file() -> None:
    with pytest.raises(InputFileError, match="no such file"):
        read_weights("/nonexistent/model.caffemodel")


def test_bad_packed_length() -> None:
    layer = length_delimited(1, b"a") + length_delimited(7, length_delimited(5, b"\0" * 6))
    with pytest.raises(WeightsError, match="6 bytes long"):
        read_weights_bytes(length_delimited(100, layer), "odd")


# --------------------------------------------------------------------------------------------
# Memory: the payload is mapped, never copied or decoded
# --------------------------------------------------------------------------------------------

def test_file_reading_matches_bytes_and_never_copies_the_payload(tmp_path: Path) -> None:
    floats = 10_000_000  # 40 MB of weights
    # Headers are written with the lengths of what follows them, payload included.
    blob_head = (length_delimited(7, length_delimited(1, varint(10_000) + varint(1_000)))
                 + tag(5, 2) + varint(4 * floats))
    layer_head = (length_delimited(1, b"fc") + length_delimited(2, b"InnerProduct")
                  + tag(7, 2) + varint(len(blob_head) + 4 * floats) + blob_head)
    path = tmp_path / "big.caffemodel"
    with open(path, "wb") as handle:
        handle.write(tag(100, 2) + varint(len(layer_head) + 4 * floats) + layer_head)
        chunk = b"\0" * (4 << 20)
        for _ in range(floats * 4 // len(chunk)):
            handle.write(chunk)
        handle.write(b"\0" * (floats * 4 % len(chunk)))
    tracemalloc.start()
    try:
        weights = read_weights(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert weights.layers[0].blobs == (BlobRecord((10_000, 1_000), False, floats, 0, 0, 0),)
    assert weights.file_bytes == path.stat().st_size
    assert peak < 2 << 20, f"reading a 40 MB file allocated {peak} bytes"
