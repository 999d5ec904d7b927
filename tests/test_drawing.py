"""Tests of blobcalc.drawing: which boxes and arrows a net gives (in-place layers folded, Caffe's
Splits hidden), the DOT text's structure and quoting, GraphML, and running Graphviz."""
from __future__ import annotations

import os
import re
import shutil
import xml.etree.ElementTree as ET

import networkx as nx
import pytest

from blobcalc.api import analyze
from blobcalc.drawing import (
    ACTIVATION,
    CONVOLUTION,
    DATA,
    LOSS,
    NORMALIZATION,
    OTHER,
    POOLING,
    STRUCTURAL,
    MissingProgramError,
    dot_quote,
    graph_svg,
    layer_drawing,
    layer_family,
    render_graphviz,
    shape_label,
    svg_for_inlining,
    to_dot,
    to_graphml,
)

# conv1 is modified in place twice, then read by two layers (so Caffe inserts a Split after relu1).
FORK_NET = """
name: "fork"
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 2 dim: 3 dim: 8 dim: 8 } } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
        convolution_param { num_output: 4 kernel_size: 3 pad: 1 } }
layer { name: "bn1" type: "BatchNorm" bottom: "conv1" top: "conv1" }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "left" type: "Pooling" bottom: "conv1" top: "left"
        pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layer { name: "right" type: "Pooling" bottom: "conv1" top: "right"
        pooling_param { pool: AVE kernel_size: 2 stride: 2 } }
layer { name: "sum" type: "Eltwise" bottom: "left" bottom: "right" top: "sum" }
"""


def require_dot() -> None:
    if shutil.which("dot"):
        return
    if os.environ.get("CI"):
        pytest.fail("Graphviz's dot is required in CI (make browser-deps)")
    pytest.skip("Graphviz's dot is not installed")


def test_in_place_layers_fold_and_splits_hide() -> None:
    analysis = analyze(FORK_NET)
    assert [layer.type for layer in analysis.layers].count("Split") == 1
    drawing = layer_drawing(analysis)
    assert [layer.name for layer in drawing.layers] == ["data", "conv1", "left", "right", "sum"]
    conv1 = drawing.layers[1]
    assert conv1.folded == (("BatchNorm", "bn1"), ("ReLU", "relu1"))
    assert conv1.tops == (("conv1", (2, 4, 8, 8)),)
    assert drawing.hidden_splits == 1 and drawing.folded_layers == 2
    names = {layer.index: layer.name for layer in drawing.layers}
    edges = [(names[e.source], names[e.target], e.blob, e.shape) for e in drawing.edges]
    # The readers of the Split's copies get their arrows straight from conv1, under the blob's name.
    assert edges == [("data", "conv1", "data", (2, 3, 8, 8)), ("conv1", "left", "conv1", (2, 4, 8, 8)),
                     ("conv1", "right", "conv1", (2, 4, 8, 8)), ("left", "sum", "left", (2, 4, 4, 4)),
                     ("right", "sum", "right", (2, 4, 4, 4))]


def test_dot_text_structure() -> None:
    dot = to_dot(layer_drawing(analyze(FORK_NET)))
    assert dot.startswith('digraph "fork" {') and dot.rstrip().endswith("}")
    nodes = re.findall(r"^  (L\d+) \[", dot, flags=re.MULTILINE)
    assert nodes == ["L0", "L1", "L5", "L6", "L7"]  # layer indices; the Split (3) and in-place layers are gone
    assert re.findall(r"^  (L\d+) -> (L\d+)", dot, flags=re.MULTILINE) == [
        ("L0", "L1"), ("L1", "L5"), ("L1", "L6"), ("L5", "L7"), ("L6", "L7")]
    assert "split" not in dot.lower()
    assert '<FONT POINT-SIZE="9">+ BatchNorm bn1</FONT><BR/><FONT POINT-SIZE="9">+ ReLU relu1</FONT>' in dot
    assert '[label=" 2×4×8×8"]' in dot  # an edge labelled with its blob's shape
    assert 'fillcolor="#9ecae1"' in dot  # convolution colour
    assert "rankdir=TB" in dot and "rankdir=LR" in to_dot(layer_drawing(analyze(FORK_NET)), direction="LR")


def test_in_place_on_one_of_several_bottoms_stays_a_box() -> None:
    # Eltwise writing over its first bottom also reads a second blob: folding it would lose that arrow.
    net = """
    layer { name: "in" type: "Input" top: "a" top: "b"
            input_param { shape { dim: 1 dim: 2 } shape { dim: 1 dim: 2 } } }
    layer { name: "add" type: "Eltwise" bottom: "a" bottom: "b" top: "a" }
    """
    drawing = layer_drawing(analyze(net))
    assert [layer.name for layer in drawing.layers] == ["in", "add"]
    assert [(e.blob, e.show_name) for e in drawing.edges] == [("a", True), ("b", True)]


def test_shape_labels() -> None:
    assert shape_label((64, 3, 224, 224)) == "64×3×224×224"
    assert shape_label(()) == "scalar"
    assert shape_label(None) == "?"


def test_families() -> None:
    assert layer_family("Convolution") == CONVOLUTION
    assert layer_family("InnerProduct") == CONVOLUTION
    assert layer_family("Pooling") == POOLING
    assert layer_family("BatchNorm") == NORMALIZATION
    assert layer_family("ReLU") == ACTIVATION
    assert layer_family("SoftmaxWithLoss") == LOSS
    assert layer_family("SomeForkLoss") == LOSS
    assert layer_family("Input") == DATA
    assert layer_family("MyDataLayer", is_source=True) == DATA
    assert layer_family("Concat") == STRUCTURAL
    assert layer_family("NoSuchLayer") == OTHER


def test_unknown_layers_are_drawn_dashed_in_the_fork_family() -> None:
    net = """
    layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 } } }
    layer { name: "mystery" type: "NoSuchLayer" bottom: "data" top: "out" }
    """
    drawing = layer_drawing(analyze(net))
    mystery = drawing.layers[1]
    assert (mystery.family, mystery.known, mystery.tops) == (OTHER, False, (("out", None),))
    assert "dashed" in to_dot(drawing).splitlines()[5]


def test_dot_quoting() -> None:
    assert dot_quote('a"b\\c') == '"a\\"b\\\\c"'
    assert dot_quote("line\nbreak\x00") == '"line break"'
    assert dot_quote("\\N\\G") == '"\\\\N\\\\G"'  # never Graphviz's escString sequences


HOSTILE = """
name: "net \\"quoted\\" \\\\ name"
layer { name: "<in> & \\"out\\"" type: "Input" top: "x\\\\y" input_param { shape { dim: 1 dim: 2 } } }
layer { name: "</B><script>alert(1)</script>" type: "ReLU" bottom: "x\\\\y" top: "z" }
"""


def test_hostile_names_are_escaped_in_dot() -> None:
    analysis = analyze(HOSTILE)
    dot = to_dot(layer_drawing(analysis))
    assert dot.startswith('digraph "net \\"quoted\\" \\\\ name" {')
    assert "<B>&lt;in&gt; &amp; &quot;out&quot;</B>" in dot
    assert "<B>&lt;/B&gt;&lt;script&gt;alert(1)&lt;/script&gt;</B>" in dot
    labels = re.findall(r"label=<(.*)>, fillcolor", dot)
    assert len(labels) == 2 and not any("<script>" in label for label in labels)
    # The tooltip is a quoted DOT string, where < and & are plain characters (Graphviz escapes them).
    assert 'tooltip="</B><script>alert(1)</script> (ReLU); top z: 1×2"' in dot


def test_hostile_names_survive_graphviz() -> None:
    require_dot()
    analysis = analyze(HOSTILE)
    svg = render_graphviz(to_dot(layer_drawing(analysis)), "svg").decode("utf-8")
    root = ET.fromstring(svg)  # well-formed XML: every name was escaped on the way
    texts = [node.text for node in root.iter("{http://www.w3.org/2000/svg}text")]
    assert '<in> & "out"' in texts
    assert "</B><script>alert(1)</script>" in texts
    assert " x\\y: 1×2" in texts  # a backslash stays one backslash, not an escape sequence
    titles = [a.get("{http://www.w3.org/1999/xlink}title") for a in root.iter("{http://www.w3.org/2000/svg}a")]
    assert "</B><script>alert(1)</script> (ReLU); top z: 1×2" in titles


def test_graphml_through_networkx() -> None:
    drawing = layer_drawing(analyze(FORK_NET))
    graph = nx.parse_graphml(to_graphml(drawing), force_multigraph=True)
    assert sorted(graph.nodes) == ["L0", "L1", "L5", "L6", "L7"]
    assert graph.number_of_edges() == 5
    conv1 = graph.nodes["L1"]
    assert conv1["name"] == "conv1" and conv1["family"] == CONVOLUTION
    assert conv1["folded"] == "BatchNorm bn1; ReLU relu1"
    assert conv1["index"] == 1 and conv1["known"] == 1
    for _, _, data in graph.edges(data=True):
        assert all(isinstance(value, (str, int)) for value in data.values())
    assert {data["shape"] for _, _, data in graph.edges(data=True)} == {"2×3×8×8", "2×4×8×8", "2×4×4×4"}


def test_graphviz_missing_is_a_typed_error() -> None:
    with pytest.raises(MissingProgramError) as caught:
        render_graphviz("digraph { a }", "svg", program="no-such-graphviz-program")
    assert caught.value.program == "no-such-graphviz-program"
    assert "'no-such-graphviz-program' is not installed" in str(caught.value)
    assert "graphviz" in str(caught.value)


def test_graph_svg_without_graphviz_gives_a_note(monkeypatch: pytest.MonkeyPatch, tmp_path: os.PathLike[str]) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    svg, note = graph_svg(analyze(FORK_NET))
    assert svg is None and "'dot' is not installed" in note


def test_svg_rendering_and_inlining() -> None:
    require_dot()
    svg = render_graphviz(to_dot(layer_drawing(analyze(FORK_NET))), "svg").decode("utf-8")
    assert svg.startswith("<?xml")
    inline = svg_for_inlining(svg)
    assert inline.startswith("<svg") and "<!DOCTYPE" not in inline and "<!--" not in inline
    assert inline.count('class="node"') == 5 and inline.count('class="edge"') == 5
    ids = {g.get("id") for g in ET.fromstring(inline).iter("{http://www.w3.org/2000/svg}g")}
    assert {"layer-0", "layer-1", "layer-5", "layer-6", "layer-7"} <= ids
    png = render_graphviz(to_dot(layer_drawing(analyze(FORK_NET))), "png")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
