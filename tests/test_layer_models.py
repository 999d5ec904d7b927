"""Every layer type is one model (blobcalc.shapes.model): its buffers and compute are declared, and a
plugin's type gives shapes, buffers and compute that every output format shows."""
from __future__ import annotations

import io
import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from blobcalc.api import report
from blobcalc.report import html_report, write_report
from blobcalc.shapes import registry
from tests.test_plugins import registry_restored


def test_every_registered_type_declares_its_buffers_and_compute() -> None:
    undeclared = [(name, part) for name in registry.registered_types()
                  for part in ("buffers", "cost") if getattr(registry.rule_for(name), part) is None]
    assert undeclared == []


TOY_RULES = '''
from blobcalc.shapes.model import SETUP, Buffer, Cost, RunContext, count
from blobcalc.shapes.registry import BlobCounts, LayerContext, LayerShapes, shape_rule


def buffers(ctx: RunContext) -> tuple[Buffer, ...]:
    return (Buffer("toy_index_", 3 * count(ctx.bottom), SETUP),)


def compute(ctx: RunContext) -> Cost:
    return Cost(maccs=7 * count(ctx.top))


@shape_rule("ToyFold", counts=BlobCounts(exact_bottoms=1, exact_tops=1), buffers=buffers, compute=compute)
def toy_fold(ctx: LayerContext) -> LayerShapes:
    n, c, h, w = ctx.bottom
    return LayerShapes(((n, c * 4, h // 2, w // 2),))
'''
TOY_NET = '''name: "toy"
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 2 dim: 3 dim: 8 dim: 8 } } }
layer { name: "fold" type: "ToyFold" bottom: "data" top: "fold" }
'''
TOY_MACCS = 7 * 2 * 12 * 4 * 4  # 2,688
TOY_BUFFER_BYTES = 4 * 3 * 2 * 3 * 8 * 8  # 4,608
TOY_LAYER_BYTES = TOY_BUFFER_BYTES + 4 * 2 * 12 * 4 * 4  # buffer + top data: 6,144 B = 6.00 KiB


@pytest.fixture()
def toy(tmp_path: Path) -> Iterator[tuple[str, str]]:
    with registry_restored():
        rules = tmp_path / "toy_rules.py"
        rules.write_text(textwrap.dedent(TOY_RULES))
        net = tmp_path / "net.prototxt"
        net.write_text(TOY_NET)
        yield str(net), str(rules)


def _render(net: str, rules: str, fmt: str) -> str:
    result = report(net, rules=[rules])
    if fmt == "html":
        return html_report.render(result)
    stream = io.StringIO()
    write_report(result, fmt, stream, "KiB")
    return stream.getvalue()


def test_a_plugin_type_shows_its_shapes_buffers_and_compute_in_json(toy: tuple[str, str]) -> None:
    data = json.loads(_render(*toy, "json"))
    fold = data["layers"][1]
    assert fold["top_shapes"] == [[2, 12, 4, 4]]
    memory = data["memory"]["inference"]["layers"][1]
    assert memory["buffers"] == [{"name": "toy_index_", "elements": 1152, "bytes": TOY_BUFFER_BYTES,
                                  "step": "setup"}]
    assert data["compute"]["layers"][1]["maccs"] == TOY_MACCS
    assert not data["memory"]["inference"]["partial"]


@pytest.mark.parametrize("fmt,shape,buffers,maccs", [
    ("table", "[2, 12, 4, 4]", "6.00 KiB", "2,688"),
    ("markdown", "[2, 12, 4, 4]", "6.00 KiB", "2,688"),
    ("csv", "2x12x4x4", f",{TOY_BUFFER_BYTES},{TOY_LAYER_BYTES},", f",{TOY_MACCS},"),
    ("html", "[2, 12, 4, 4]", f'data-sort="{TOY_LAYER_BYTES}"', f'data-sort="{TOY_MACCS}"'),
])
def test_a_plugin_type_shows_its_shapes_buffers_and_compute_in_every_format(
        toy: tuple[str, str], fmt: str, shape: str, buffers: str, maccs: str) -> None:
    text = _render(*toy, fmt)
    fold_lines = [line for line in text.splitlines() if "fold" in line and "ToyFold" in line]
    assert fold_lines, text
    row = fold_lines[0] if fmt != "html" else text[text.index("<td>fold</td>"):][:2000]
    assert shape in row and buffers in row and maccs in row, row


def test_a_type_without_buffers_or_compute_makes_the_figures_partial(tmp_path: Path) -> None:
    with registry_restored():
        rules = tmp_path / "bare_rules.py"
        rules.write_text(textwrap.dedent(TOY_RULES).replace(", buffers=buffers, compute=compute", ""))
        net = tmp_path / "net.prototxt"
        net.write_text(TOY_NET)
        result = report(str(net), rules=[str(rules)])
    assert result.memory.inference.partial
    assert result.memory.inference.not_modelled == ("fold (ToyFold): its type's model declares no buffers",)
    fold = result.compute[1]
    assert not fold.modelled and fold.why_not_modelled == "no compute model for this layer type"


ENGINE_NET = '''name: "engines"
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } } }
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv" convolution_param { num_output: 4 kernel_size: 3 } }
layer { name: "own" type: "Convolution" bottom: "conv" top: "own"
        convolution_param { num_output: 4 kernel_size: 3 engine: CAFFE } }
layer { name: "pool" type: "Pooling" bottom: "own" top: "pool" pooling_param { pool: MAX kernel_size: 2 } }
'''


def _buffer_names(result_memory: object, layer: str) -> list[str]:
    rows = result_memory.rows
    return [b.name for row in rows if row.name == layer for b in row.buffers]


def test_cudnn_engine_drops_im2col_and_bounds_its_workspace_apart() -> None:
    caffe = report(ENGINE_NET, engine="caffe").memory.inference
    cudnn = report(ENGINE_NET, engine="cudnn").memory.inference
    assert any(name.startswith("col_buffer_") for name in _buffer_names(caffe, "conv"))
    assert not any(name.startswith("col_buffer_") for name in _buffer_names(cudnn, "conv"))
    # A layer's own engine field wins (layer_factory.cpp); MAX pooling stays Caffe's under cuDNN.
    assert any(name.startswith("col_buffer_") for name in _buffer_names(cudnn, "own"))
    assert any(name.startswith("max_idx_") for name in _buffer_names(cudnn, "pool"))
    # The workspace is cudaMalloc'd, its size cuDNN's choice: a bound (8 MiB x group x 3), in no total.
    assert cudnn.workspace_bound == 8 * 1024 * 1024 * 3 and caffe.workspace_bound == 0
    col_bytes = 4 * 3 * 9 * 6 * 6
    assert caffe.totals.buffers - cudnn.totals.buffers == col_bytes
    # The CPU path has no engines.
    assert report(ENGINE_NET, device="cpu", engine="cudnn").memory.inference.totals == caffe.totals


def test_datum_shape_keeps_a_data_layer_and_names_only_data_layers(capsys: pytest.CaptureFixture[str]) -> None:
    from blobcalc.cli import main
    from tests.golden_support import CORPUS

    alexnet = str(CORPUS / "BVLC__caffe" / "models__bvlc_alexnet__train_val.prototxt")
    result = report(alexnet, phase="TRAIN", datum_shapes={"data": (3, 256, 256)}, device="cpu")
    data = result.memory.inference.rows[0]
    assert result.analysis.layers[0].type == "Data" and result.analysis.layers[0].top_shapes[0] == (256, 3, 227, 227)
    # data_layer.cpp/base_data_layer.cpp: 4 prefetch batches (data after the crop, label), the mean of
    # the uncropped datum; the tops point into the batch and own nothing.
    assert data.buffer_bytes == 4 * (4 * 256 * 3 * 227 * 227 + 4 * 256) + 4 * 3 * 256 * 256
    assert data.activation_data == 0
    assert main(["analyze", alexnet, "--datum-shape", "conv1=3,256,256"]) == 2
    assert "--datum-shape names 'conv1', which is not a data layer" in capsys.readouterr().err
