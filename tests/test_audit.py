"""Tests of `blobcalc audit`: small .caffemodel files built with our schema, checked line by line and
by exit code through blobcalc.cli.main, against Caffe's Net::CopyTrainedLayersFrom rules."""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from math import prod
from pathlib import Path

import pytest

from blobcalc import analyze, caffe_pb2
from blobcalc.audit import (
    BLOB_COUNT_MISMATCH,
    DATA_SIZE_MISMATCH,
    MISSING,
    NO_PARAMS,
    OK,
    SHAPE_MISMATCH,
    UNCHECKED,
    UNREADABLE,
    UNUSED,
    audit,
    shape_equals,
    shape_string,
)
from blobcalc.cli import main
from blobcalc.weights import CAFFE_READ_LIMIT_BYTES, BlobRecord, WeightsFile, WeightsLayer

V1 = caffe_pb2.V1LayerParameter

NET = """
name: "tiny"
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
        convolution_param { num_output: 4 kernel_size: 3 } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "ip1" type: "InnerProduct" bottom: "conv1" top: "ip1" inner_product_param { num_output: 10 } }
layer { name: "prob" type: "Softmax" bottom: "ip1" top: "prob" }
"""
# conv1: 4x3x3x3 + 4; ip1 reads 4x6x6 = 144 inputs: 10x144 + 10.
CONV_W, CONV_B, IP_W, IP_B = (4, 3, 3, 3), (4,), (10, 144), (10,)
NET_PARAMS = 108 + 4 + 1440 + 10

def blob(shape: Sequence[int] | None = None, legacy: Sequence[int] | None = None, data: int | None = None,
         double: bool = False) -> caffe_pb2.BlobProto:
    """A blob with `shape` (or legacy num/channels/height/width) and, by default, as many values as
    the shape holds."""
    proto = caffe_pb2.BlobProto()
    dims = tuple(legacy if legacy is not None else shape or ())
    if legacy is not None:
        proto.num, proto.channels, proto.height, proto.width = legacy
    else:
        proto.shape.dim.extend(shape or ())
    values = [0.5] * (prod(dims) if data is None else data)
    (proto.double_data if double else proto.data).extend(values)
    return proto


def good_layers() -> list[tuple[str, str, list[caffe_pb2.BlobProto]]]:
    return [("data", "Input", []), ("conv1", "Convolution", [blob(CONV_W), blob(CONV_B)]),
            ("relu1", "ReLU", []), ("ip1", "InnerProduct", [blob(IP_W), blob(IP_B)]), ("prob", "Softmax", [])]


V1_TYPES = {"Input": V1.NONE, "Convolution": V1.CONVOLUTION, "ReLU": V1.RELU, "InnerProduct": V1.INNER_PRODUCT,
            "Softmax": V1.SOFTMAX, "Data": V1.DATA}


def write_model(path: Path, layers: list[tuple[str, str, list[caffe_pb2.BlobProto]]], era: str = "V2") -> Path:
    net = caffe_pb2.NetParameter(name="tiny")
    for name, layer_type, blobs in layers:
        if era == "V2":
            net.layer.add(name=name, type=layer_type).blobs.extend(blobs)
        elif era == "V1":
            net.layers.add(name=name, type=V1_TYPES[layer_type]).blobs.extend(blobs)
        else:  # V0: `layers { layer { ... } }`, as Caffe saved nets in 2013
            v0_types = {"Convolution": "conv", "ReLU": "relu", "InnerProduct": "innerproduct",
                        "Softmax": "softmax"}
            if layer_type in v0_types:
                entry = net.layers.add().layer
                entry.name, entry.type = name, v0_types[layer_type]
                entry.blobs.extend(blobs)
    path.write_bytes(net.SerializeToString())
    return path


@pytest.fixture
def net_path(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.prototxt"
    path.write_text(NET)
    return path


def run_audit(capsys: pytest.CaptureFixture[str], net: Path, weights: Path, *extra: str) -> tuple[int, str]:
    code = main(["audit", str(net), "--weights", str(weights), *extra])
    return code, capsys.readouterr().out


def audit_json(capsys: pytest.CaptureFixture[str], net: Path, weights: Path) -> tuple[int, dict[str, object]]:
    code, out = run_audit(capsys, net, weights, "--format", "json")
    return code, json.loads(out)


def statuses(report: dict[str, object]) -> dict[str, str]:
    layers = report["layers"]
    assert isinstance(layers, list)
    return {f"{layer['name']}@{layer['weights_index']}": layer["status"] for layer in layers}


def table_line(out: str, name: str) -> list[str]:
    """The columns of the table line of layer `name` (split on runs of 2+ spaces)."""
    for line in out.splitlines():
        cells = [c for c in line.split("  ") if c.strip()]
        if len(cells) > 3 and cells[1].strip() == name:
            return [c.strip() for c in cells]
    raise AssertionError(f"no table line for {name}:\n{out}")


# --------------------------------------------------------------------------------------------
# Matching weights: V2, V1 and V0 files
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("era", ["V2", "V1", "V0"])
def test_matching_weights_load(capsys: pytest.CaptureFixture[str], net_path: Path, tmp_path: Path,
                               era: str) -> None:
    model = write_model(tmp_path / "m.caffemodel", good_layers(), era)
    code, out = run_audit(capsys, net_path, model)
    assert code == 0
    assert table_line(out, "conv1") == ["1", "conv1", "Convolution", "ok", "[4, 3, 3, 3] [4]",
                                        "[4, 3, 3, 3] [4]", "112"]
    assert table_line(out, "ip1") == ["3", "ip1", "InnerProduct", "ok", "[10, 144] [10]", "[10, 144] [10]",
                                      "1,450"]
    assert f"weights: {model}   format: {era}   size: {model.stat().st_size:,} bytes" in out
    assert "data: float" in out
    assert f"parameters: {NET_PARAMS:,} in the weights, {NET_PARAMS:,} in the net; {NET_PARAMS:,} loaded, " \
           "0 missing, 0 unused" in out
    assert out.rstrip().endswith("result: Caffe loads these weights")
    if era != "V2":
        assert "notice: weights: upgraded V1 'layers' to V2 'layer' (Caffe's UpgradeV1Net)" in out


def test_v0_weights_lack_paramless_layers(capsys: pytest.CaptureFixture[str], net_path: Path,
                                          tmp_path: Path) -> None:
    model = write_model(tmp_path / "m.caffemodel", good_layers()[1:], "V0")
    code, report = audit_json(capsys, net_path, model)
    assert code == 0
    assert statuses(report) == {"data@None": NO_PARAMS, "conv1@0": OK, "relu1@1": OK, "ip1@2": OK, "prob@3": OK}
    weights = report["weights"]
    assert isinstance(weights, dict) and weights["format"] == "V0"


# --------------------------------------------------------------------------------------------
# Mismatches Caffe aborts on
# --------------------------------------------------------------------------------------------

def test_shape_mismatch(capsys: pytest.CaptureFixture[str], net_path: Path, tmp_path: Path) -> None:
    layers = good_layers()
    layers[3] = ("ip1", "InnerProduct", [blob((10, 200)), blob(IP_B)])
    code, out = run_audit(capsys, net_path, write_model(tmp_path / "m.caffemodel", layers))
    assert code == 1
    assert table_line(out, "ip1")[3:6] == ["shape mismatch", "[10, 144] [10]", "[10, 200] [10]"]
    assert ("shape mismatch: layer 'ip1': Cannot copy param 0 weights from layer 'ip1'; shape mismatch.  "
            "Source param shape is 10 200 (2000); target param shape is 10 144 (1440). To learn this layer's "
            "parameters from scratch rather than copying from a saved net, rename the layer.") in out
    assert out.rstrip().endswith("result: Caffe aborts at layer 'ip1' (shape mismatch)")
    assert f"{NET_PARAMS - 1450:,} loaded" in out


def test_blob_count_mismatch(capsys: pytest.CaptureFixture[str], net_path: Path, tmp_path: Path) -> None:
    layers = good_layers()
    layers[1] = ("conv1", "Convolution", [blob(CONV_W)])  # saved with bias_term: false
    code, report = audit_json(capsys, net_path, write_model(tmp_path / "m.caffemodel", layers))
    assert code == 1
    assert statuses(report)["conv1@1"] == BLOB_COUNT_MISMATCH
    assert report["abort"] == {
        "layer": "conv1", "status": BLOB_COUNT_MISMATCH,
        "message": "Check failed: target_blobs.size() == source_layer.blobs_size() (2 vs. 1) Incompatible "
                   "number of blobs for layer conv1"}
    conv = next(layer for layer in report["layers"] if layer["name"] == "conv1")  # type: ignore[attr-defined]
    assert [(b["expected"], b["found"]) for b in conv["blobs"]] == [([4, 3, 3, 3], [4, 3, 3, 3]), ([4], None)]


def test_paramless_net_layer_given_blobs(capsys: pytest.CaptureFixture[str], net_path: Path,
                                        tmp_path: Path) -> None:
    layers = good_layers()
    layers[2] = ("relu1", "PReLU", [blob((4,))])  # the weights' relu1 was a PReLU
    code, out = run_audit(capsys, net_path, write_model(tmp_path / "m.caffemodel", layers))
    assert code == 1
    assert table_line(out, "relu1")[3:6] == ["blob count mismatch", "-", "[4]"]


def test_data_size_mismatch_of_a_stripped_file(capsys: pytest.CaptureFixture[str], net_path: Path,
                                               tmp_path: Path) -> None:
    layers = [(name, kind, [blob(b.shape.dim, data=0) for b in blobs]) for name, kind, blobs in good_layers()]
    code, out = run_audit(capsys, net_path, write_model(tmp_path / "m.caffemodel", layers))
    assert code == 1
    assert "data: empty" in out
    assert table_line(out, "conv1")[3] == DATA_SIZE_MISMATCH
    assert ("data size mismatch: layer 'conv1': param 0 of layer 'conv1': Check failed: count_ == "
            "proto.data_size() (108 vs. 0)") in out
    assert "result: Caffe aborts at layer 'conv1' (data size mismatch); 1 more layer(s) would fail after it" in out


def test_abort_names_the_first_failure_in_file_order(capsys: pytest.CaptureFixture[str], net_path: Path,
                                                     tmp_path: Path) -> None:
    bad_conv = ("conv1", "Convolution", [blob((8, 3, 3, 3)), blob((8,))])
    bad_ip = ("ip1", "InnerProduct", [blob(IP_W)])
    # ip1 comes first in the file, so Caffe stops there although conv1 comes first in the net.
    model = write_model(tmp_path / "m.caffemodel", [bad_ip, bad_conv])
    code, report = audit_json(capsys, net_path, model)
    assert code == 1
    assert report["abort"]["layer"] == "ip1"  # type: ignore[index]
    assert report["result"] == "Caffe aborts at layer 'ip1' (blob count mismatch); 1 more layer(s) would fail " \
                               "after it"


def test_a_second_copy_of_a_layer_is_checked_too(capsys: pytest.CaptureFixture[str], net_path: Path,
                                                 tmp_path: Path) -> None:
    layers = [*good_layers(), ("conv1", "Convolution", [blob((4, 3, 5, 5)), blob(CONV_B)])]
    code, report = audit_json(capsys, net_path, write_model(tmp_path / "m.caffemodel", layers))
    assert code == 1
    assert statuses(report)["conv1@1"] == OK and statuses(report)["conv1@5"] == SHAPE_MISMATCH


# --------------------------------------------------------------------------------------------
# Missing and unused layers: reported, not fatal
# --------------------------------------------------------------------------------------------

def test_missing_layer_keeps_initial_values(capsys: pytest.CaptureFixture[str], net_path: Path,
                                            tmp_path: Path) -> None:
    layers = [layer for layer in good_layers() if layer[0] != "ip1"]
    code, out = run_audit(capsys, net_path, write_model(tmp_path / "m.caffemodel", layers))
    assert code == 0
    assert table_line(out, "ip1") == ["3", "ip1", "InnerProduct", "missing", "[10, 144] [10]", "-", "1,450"]
    assert "missing: layer 'ip1': not in the weights: keeps the initial values of its fillers" in out
    assert "112 loaded, 1,450 missing, 0 unused" in out
    assert out.rstrip().endswith("result: Caffe loads these weights; 1 layer(s) with parameters keep their "
                                 "initial values")


def test_extra_layer_is_unused(capsys: pytest.CaptureFixture[str], net_path: Path, tmp_path: Path) -> None:
    layers = [("train_data", "Data", []), *good_layers(), ("fc_old", "InnerProduct", [blob((5, 7)), blob((5,))])]
    code, out = run_audit(capsys, net_path, write_model(tmp_path / "m.caffemodel", layers))
    assert code == 0
    assert table_line(out, "fc_old") == ["-", "fc_old", "InnerProduct", "unused", "-", "[5, 7] [5]", "40"]
    assert table_line(out, "train_data")[3] == UNUSED
    assert f"parameters: {NET_PARAMS + 40:,} in the weights, {NET_PARAMS:,} in the net; {NET_PARAMS:,} " \
           "loaded, 0 missing, 40 unused" in out


# --------------------------------------------------------------------------------------------
# Legacy 4-D blobs (Blob::ShapeEquals' one-padded comparison)
# --------------------------------------------------------------------------------------------

def test_legacy_blobs_accepted(capsys: pytest.CaptureFixture[str], net_path: Path, tmp_path: Path) -> None:
    layers = good_layers()
    layers[1] = ("conv1", "Convolution", [blob(legacy=(4, 3, 3, 3)), blob(legacy=(1, 1, 1, 4))])
    layers[3] = ("ip1", "InnerProduct", [blob(legacy=(1, 1, 10, 144)), blob(legacy=(1, 1, 1, 10))])
    code, out = run_audit(capsys, net_path, write_model(tmp_path / "m.caffemodel", layers, "V1"))
    assert code == 0
    assert table_line(out, "ip1")[3:6] == ["ok", "[10, 144] [10]",
                                           "[1, 1, 10, 144] (4-D legacy) [1, 1, 1, 10] (4-D legacy)"]


@pytest.mark.parametrize(("legacy", "source"), [
    ((4, 1, 1, 1), "4 1 1 1 (4)"),  # the bias's N is read from the last axis, not the first
    ((1, 1, 4, 1), "1 1 4 1 (4)"),
])
def test_legacy_bias_rejected(capsys: pytest.CaptureFixture[str], net_path: Path, tmp_path: Path,
                              legacy: tuple[int, ...], source: str) -> None:
    layers = good_layers()
    layers[1] = ("conv1", "Convolution", [blob(legacy=(4, 3, 3, 3)), blob(legacy=legacy)])
    code, out = run_audit(capsys, net_path, write_model(tmp_path / "m.caffemodel", layers))
    assert code == 1
    assert table_line(out, "conv1")[3] == SHAPE_MISMATCH
    assert f"Cannot copy param 1 weights from layer 'conv1'; shape mismatch.  Source param shape is {source}; " \
           "target param shape is 4 (4)." in out


def legacy_record(num: int, channels: int, height: int, width: int) -> BlobRecord:
    return BlobRecord((num, channels, height, width), True, 0, 0, 0, 0)


@pytest.mark.parametrize(("expected", "record", "equal"), [
    ((64, 3, 7, 7), legacy_record(64, 3, 7, 7), True),
    ((10,), legacy_record(1, 1, 1, 10), True),
    ((10, 20), legacy_record(1, 1, 10, 20), True),
    ((), legacy_record(1, 1, 1, 1), True),  # a scalar reads 1 on every legacy axis
    ((10,), legacy_record(0, 0, 0, 10), False),  # only width given: num reads 0, not 1
    ((1, 2, 3, 4, 5), legacy_record(2, 3, 4, 5), False),  # more than 4 axes never matches legacy fields
    ((2, 3), BlobRecord((1, 1, 2, 3), False, 0, 0, 0, 0), False),  # a `shape` must match exactly
    ((2, 3), BlobRecord((2, 3), False, 0, 0, 0, 0), True),
    ((4,), BlobRecord((4 + (1 << 32),), False, 0, 0, 0, 0), True),  # int64 dims are cut to int32
])
def test_shape_equals(expected: tuple[int, ...], record: BlobRecord, equal: bool) -> None:
    assert shape_equals(expected, record) is equal


def test_shape_string_is_caffes() -> None:
    assert shape_string((64, 3, 7, 7)) == "64 3 7 7 (9408)"
    assert shape_string(()) == "(1)"


# --------------------------------------------------------------------------------------------
# Data types
# --------------------------------------------------------------------------------------------

def test_double_data(capsys: pytest.CaptureFixture[str], net_path: Path, tmp_path: Path) -> None:
    layers = [(name, kind, [blob(b.shape.dim, double=True) for b in blobs]) for name, kind, blobs in good_layers()]
    code, out = run_audit(capsys, net_path, write_model(tmp_path / "m.caffemodel", layers))
    assert code == 0
    assert "data: double" in out


def test_double_data_of_the_wrong_size(capsys: pytest.CaptureFixture[str], net_path: Path,
                                       tmp_path: Path) -> None:
    layers = good_layers()
    layers[3] = ("ip1", "InnerProduct", [blob(IP_W), blob(IP_B, data=9, double=True)])
    code, out = run_audit(capsys, net_path, write_model(tmp_path / "m.caffemodel", layers))
    assert code == 1
    assert "data: float+double" in out
    assert "Check failed: count_ == proto.double_data_size() (10 vs. 9)" in out


# --------------------------------------------------------------------------------------------
# Formats, totals, unknown layers, file-level refusals
# --------------------------------------------------------------------------------------------

def test_json_and_csv_agree(capsys: pytest.CaptureFixture[str], net_path: Path, tmp_path: Path) -> None:
    layers = [*[layer for layer in good_layers() if layer[0] != "ip1"], ("extra", "InnerProduct", [blob((3,))])]
    model = write_model(tmp_path / "m.caffemodel", layers)
    code, report = audit_json(capsys, net_path, model)
    assert code == 0
    assert report["net_param_count"] == NET_PARAMS
    assert report["weights_param_count"] == 112 + 3
    assert report["loaded_param_count"] + report["missing_param_count"] == NET_PARAMS  # type: ignore[operator]
    weights = report["weights"]
    assert isinstance(weights, dict)
    assert weights["file_bytes"] == model.stat().st_size and weights["data_type"] == "float"
    assert weights["payload_bytes"] == 4 * (112 + 3)
    code, out = run_audit(capsys, net_path, model, "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    by_name = {row["name"]: row for row in rows}
    assert by_name["conv1"]["expected_shapes"] == "4x3x3x3 4" and by_name["conv1"]["status"] == OK
    assert by_name["ip1"]["status"] == MISSING and by_name["ip1"]["weights_index"] == ""
    assert by_name["extra"]["status"] == UNUSED and by_name["extra"]["net_index"] == ""
    assert by_name["TOTAL"]["expected_params"] == str(NET_PARAMS)
    # Per-layer figures sum to the totals.
    layer_rows = [row for row in rows if row["name"] != "TOTAL"]
    assert sum(int(row["found_params"]) for row in layer_rows) == report["weights_param_count"]
    assert sum(int(row["expected_params"]) for row in layer_rows) == report["net_param_count"]


def test_unknown_net_layer_is_unchecked(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    net = tmp_path / "py.prototxt"
    net.write_text(NET.replace('layer { name: "prob" type: "Softmax" bottom: "ip1" top: "prob" }',
                               'layer { name: "py" type: "Python" bottom: "ip1" top: "py" '
                               'python_param { module: "m" layer: "L" } }'))
    layers = [*good_layers()[:4], ("py", "Python", [blob((3,))])]
    code, out = run_audit(capsys, net, write_model(tmp_path / "m.caffemodel", layers))
    assert code == 0
    assert table_line(out, "py")[3:6] == [UNCHECKED, "-", "[3]"]
    assert "unchecked: layer 'py': blobcalc cannot check it" in out


def test_file_over_caffes_read_limit_aborts(net_path: Path) -> None:
    analysis = analyze(net_path)
    weights = WeightsFile("huge.caffemodel", CAFFE_READ_LIMIT_BYTES + 1, "tiny", "V2",
                          (WeightsLayer(0, "conv1", "Convolution", ()),), ())
    result = audit(analysis, weights)
    assert result.abort is not None and result.abort.layer == "" and result.abort.status == UNREADABLE
    assert "kProtoReadBytesLimit" in result.abort.message
    # The per-layer findings are still there.
    assert [layer.status for layer in result.layers if layer.name == "conv1"] == [BLOB_COUNT_MISMATCH]


def test_net_options_are_honoured(capsys: pytest.CaptureFixture[str], net_path: Path, tmp_path: Path) -> None:
    # A bigger input makes ip1's weight 10 x 4*8*8: the same file no longer fits.
    model = write_model(tmp_path / "m.caffemodel", good_layers())
    code, out = run_audit(capsys, net_path, model, "--input-shape", "data=1,3,10,10")
    assert code == 1
    assert table_line(out, "ip1")[3:5] == ["shape mismatch", "[10, 256] [10]"]


# --------------------------------------------------------------------------------------------
# Usage and unreadable files
# --------------------------------------------------------------------------------------------

def test_weights_are_required(capsys: pytest.CaptureFixture[str], net_path: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["audit", str(net_path)])
    assert exc.value.code == 2
    assert "--weights" in capsys.readouterr().err


def test_bad_format_is_usage(net_path: Path, tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["audit", str(net_path), "--weights", str(tmp_path / "m"), "--format", "xml"])
    assert exc.value.code == 2


def test_bad_batch_is_usage(capsys: pytest.CaptureFixture[str], net_path: Path, tmp_path: Path) -> None:
    model = write_model(tmp_path / "m.caffemodel", good_layers())
    assert main(["audit", str(net_path), "--weights", str(model), "--batch", "0"]) == 2


def test_missing_weights_file(capsys: pytest.CaptureFixture[str], net_path: Path, tmp_path: Path) -> None:
    assert main(["audit", str(net_path), "--weights", str(tmp_path / "nope.caffemodel")]) == 1
    assert "nope.caffemodel: no such file" in capsys.readouterr().err


def test_prototxt_given_as_weights(capsys: pytest.CaptureFixture[str], net_path: Path) -> None:
    assert main(["audit", str(net_path), "--weights", str(net_path)]) == 1
    assert "weights are a binary .caffemodel" in capsys.readouterr().err


def test_weights_mixing_layer_and_layers(capsys: pytest.CaptureFixture[str], net_path: Path,
                                         tmp_path: Path) -> None:
    net = caffe_pb2.NetParameter()
    net.layer.add(name="conv1", type="Convolution")
    net.layers.add(name="ip1", type=V1.INNER_PRODUCT)
    model = tmp_path / "mixed.caffemodel"
    model.write_bytes(net.SerializeToString())
    assert main(["audit", str(net_path), "--weights", str(model)]) == 1
    assert "both 'layer' and 'layers'" in capsys.readouterr().err
