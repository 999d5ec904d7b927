"""Tests of `blobcalc upgrade`: the written V2 text analyzes exactly like the legacy original, for every
V0 / V1 / v1+v2 net of the shared corpus, in both phases; and the command's output and errors."""
from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import text_format

from blobcalc import caffe_pb2
from blobcalc.api import analyze, report
from blobcalc.cli import main
from blobcalc.errors import BlobcalcError
from blobcalc.report.json_report import as_dict
from blobcalc.upgrade_text import upgrade_text
from tests.golden_support import CORPUS, PROJECT

FIXTURES = PROJECT / "fixtures" / "upgrade"
LEGACY_FORMATS = ("v0", "v1", "v1+v2")
# What legitimately differs between a net and its upgraded text: where it was read from, the era it
# was written in, and the notices saying what the upgrade did.
DIFFERING_KEYS = ("source", "format", "notices")


def legacy_corpus_files() -> list[str]:
    manifest = CORPUS / "MANIFEST.tsv"
    if not manifest.exists():
        return []
    with open(manifest, newline="") as handle:
        return [row["file"] for row in csv.DictReader(handle, delimiter="\t") if row["format"] in LEGACY_FORMATS]


LEGACY_FILES = legacy_corpus_files()


def test_legacy_corpus_is_present() -> None:
    if not LEGACY_FILES and not os.environ.get("CI"):
        pytest.skip("../shared/corpus is not beside this checkout (it is under CI)")
    assert len(LEGACY_FILES) >= 30


def outcome(path_or_text: str, phase: str, source: str) -> dict[str, Any] | tuple[str, str]:
    """The JSON report less the keys that may differ, or the error (class, message with `source` as
    the file name)."""
    try:
        full = as_dict(report(path_or_text, phase=phase))
    except BlobcalcError as exc:
        return type(exc).__name__, str(exc).replace("<text>", source)
    kept = {key: value for key, value in full.items() if key not in DIFFERING_KEYS}
    # A fork's V1 enum value (e.g. CROP) becomes a type string on upgrade: it leaves fork_fields, and
    # the layer type, named in fork_types, says the same thing.
    # A V1 layer's fork field moves from V1LayerParameter to LayerParameter.
    kept["fork_fields"] = sorted(name.removeprefix("V1") for name in kept["fork_fields"]
                                 if not name.startswith("LayerType."))
    return kept


@pytest.mark.parametrize("phase", ["TRAIN", "TEST"])
@pytest.mark.parametrize("name", LEGACY_FILES)
def test_upgraded_text_analyzes_like_the_original(name: str, phase: str) -> None:
    path = str(CORPUS / name)
    original = outcome(path, phase, path)
    try:
        upgraded = upgrade_text(Path(path).read_text(encoding="utf-8"), path)
    except BlobcalcError as exc:
        # A file that cannot be upgraded fails to analyze with the very same error.
        assert original == (type(exc).__name__, str(exc))
        return
    assert upgraded.changed and upgraded.era != "V2"
    again = outcome(upgraded.text, phase, path)
    assert again == original
    # Upgrading again changes no layer format: the text is already V2.
    assert "layers {" not in upgraded.text


# --------------------------------------------------------------------------------------------
# Fixtures with hand-written expected V2 nets
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["v0_padding", "v0_data", "v1_train_val", "input_dim", "input_shape",
                                  "batchnorm_3params"])
def test_fixture_text_equals_the_expected_net(name: str) -> None:
    text = (FIXTURES / f"{name}.prototxt").read_text()
    upgraded = upgrade_text(text, name)
    expected = text_format.Parse((FIXTURES / f"{name}.expected.prototxt").read_text(), caffe_pb2.NetParameter())
    assert text_format.Parse(upgraded.text, caffe_pb2.NetParameter()) == expected


# --------------------------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------------------------

V1_NET = """
name: "old"
input: "data"
input_dim: 1 input_dim: 3 input_dim: 8 input_dim: 8
layers { name: "conv1" type: CONVOLUTION bottom: "data" top: "conv1" blobs_lr: 1 blobs_lr: 2
         convolution_param { num_output: 4 kernel_size: 3 } }
layers { name: "relu1" type: RELU bottom: "conv1" top: "conv1" }
"""


def test_upgrade_to_stdout(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    net = tmp_path / "old.prototxt"
    net.write_text(V1_NET)
    assert main(["upgrade", str(net)]) == 0
    captured = capsys.readouterr()
    upgraded = text_format.Parse(captured.out, caffe_pb2.NetParameter())
    assert [(layer.name, layer.type) for layer in upgraded.layer] == [
        ("input", "Input"), ("conv1", "Convolution"), ("relu1", "ReLU")]
    assert [spec.lr_mult for spec in upgraded.layer[1].param] == [1, 2]
    assert not upgraded.layers and not upgraded.input
    assert "blobcalc: notice: upgraded V1 'layers' to V2 'layer' (Caffe's UpgradeV1Net)" in captured.err


def test_upgrade_to_a_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    net, out = tmp_path / "old.prototxt", tmp_path / "new.prototxt"
    net.write_text(V1_NET)
    assert main(["upgrade", str(net), "-o", str(out)]) == 0
    assert capsys.readouterr().out == ""
    assert as_dict(report(out))["layers"] == as_dict(report(net))["layers"]
    assert analyze(out).era == "V2"


def test_current_file_is_written_with_a_notice(capsys: pytest.CaptureFixture[str]) -> None:
    lenet = PROJECT / "blobcalc" / "examples" / "lenet.prototxt"
    assert main(["upgrade", str(lenet)]) == 0
    captured = capsys.readouterr()
    assert text_format.Parse(captured.out, caffe_pb2.NetParameter()) == text_format.Parse(
        lenet.read_text(), caffe_pb2.NetParameter())
    assert "already in the latest format (V2)" in captured.err


def test_upgrade_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "new.prototxt"
    code = main(["upgrade", str(FIXTURES / "mixed_layer_layers.prototxt"), "-o", str(out)])
    assert code == 1
    assert "both 'layer' and 'layers'" in capsys.readouterr().err
    assert not out.exists()


def test_parse_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    net = tmp_path / "bad.prototxt"
    net.write_text("layers { name: \"a\" type: NOT_A_TYPE }\n")
    assert main(["upgrade", str(net)]) == 1
    assert f"{net}:1:" in capsys.readouterr().err


def test_unwritable_output(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    net = tmp_path / "old.prototxt"
    net.write_text(V1_NET)
    assert main(["upgrade", str(net), "-o", str(tmp_path / "no" / "dir" / "x.prototxt")]) == 1
    assert "cannot write" in capsys.readouterr().err
