"""Property-based tests: random valid nets (chains and DAGs of Input, Convolution, Pooling, InnerProduct,
ReLU, Concat, Eltwise, Split and Softmax layers with consistent shapes) and the invariants every
analysis must keep: positive shapes where Caffe needs them, per-layer rows summing to the totals, JSON
that round-trips, determinism, and answers that do not depend on names or on the order of
independent layers."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blobcalc.api import report
from blobcalc.report.json_report import as_dict

Shape = tuple[int, ...]


@dataclass
class Layer:
    name: str
    type: str
    bottoms: list[str]
    tops: list[str]
    params: str = ""  # the text inside the layer block after bottoms/tops


@dataclass
class NetSpec:
    layers: list[Layer] = field(default_factory=list)
    shapes: dict[str, Shape] = field(default_factory=dict)  # the shape our generator expects per blob

    def text(self) -> str:
        out = ['name: "random"\n']
        for layer in self.layers:
            out.append(f'layer {{\n  name: "{layer.name}"\n  type: "{layer.type}"\n')
            out += [f'  bottom: "{bottom}"\n' for bottom in layer.bottoms]
            out += [f'  top: "{top}"\n' for top in layer.tops]
            if layer.params:
                out.append(f"  {layer.params}\n")
            out.append("}\n")
        return "".join(out)


def _conv_out(size: int, kernel: int, stride: int, pad: int) -> int:
    return (size + 2 * pad - kernel) // stride + 1


def _pool_out(size: int, kernel: int, stride: int) -> int:
    # pooling_layer.cpp with pad 0 (no clipping): ceil((size - kernel) / stride) + 1
    return math.ceil((size - kernel) / stride) + 1


@st.composite
def nets(draw: st.DrawFn, max_layers: int = 14) -> NetSpec:
    """A net Caffe builds: every bottom produced earlier, every shape positive. Blobs are named
    b0, b1, ... and layers l0, l1, ...; the generator keeps the shape it expects for each blob.

    An in-place layer only ever rewrites a blob version nobody has read yet: Caffe refuses one on a
    version another layer reads too (insert_splits gives its bottom a split copy, so its top becomes
    a second writer of the name)."""
    spec = NetSpec()
    counter = iter(range(10_000))
    readers: dict[str, int] = {}

    def fresh() -> str:
        return f"b{next(counter)}"

    def add(kind: str, bottoms: list[str], tops: list[str], top_shapes: list[Shape], params: str = "") -> None:
        spec.layers.append(Layer(f"l{len(spec.layers)}", kind, bottoms, tops, params))
        spec.shapes.update(zip(tops, top_shapes, strict=True))
        for bottom in bottoms:
            readers[bottom] = readers.get(bottom, 0) + 1
        for top in tops:
            readers[top] = 0

    num_inputs = draw(st.integers(1, 2))
    batch = draw(st.integers(1, 4))
    for _ in range(num_inputs):
        shape = (batch, draw(st.integers(1, 8)), draw(st.integers(1, 24)), draw(st.integers(1, 24)))
        top = fresh()
        add("Input", [], [top], [shape], "input_param { shape { " + " ".join(f"dim: {d}" for d in shape) + " } }")
    live: list[str] = list(spec.shapes)  # blobs that may still be read (a Split's input is not)
    for _ in range(draw(st.integers(1, max_layers))):
        blob = draw(st.sampled_from(live))
        shape = spec.shapes[blob]
        choices = ["ReLU", "Softmax", "InnerProduct", "Split", "Eltwise", "Concat"]
        if readers[blob] == 0:
            choices.append("ReLU_inplace")
        if len(shape) == 4:
            choices += ["Convolution", "Convolution", "Pooling"]
        kind = draw(st.sampled_from(choices))
        top = fresh()
        if kind == "Convolution":
            n, c, h, w = shape
            kernel = draw(st.integers(1, 5))
            pad = draw(st.integers(0, kernel - 1))
            stride = draw(st.integers(1, 3))
            if kernel > min(h, w) + 2 * pad:
                kernel, pad = 1, 0
            group = draw(st.sampled_from([g for g in (1, 2, 4) if c % g == 0]))
            num_output = group * draw(st.integers(1, 6))
            out = (n, num_output, _conv_out(h, kernel, stride, pad), _conv_out(w, kernel, stride, pad))
            add(kind, [blob], [top], [out], f"convolution_param {{ num_output: {num_output} kernel_size: {kernel} "
                                            f"stride: {stride} pad: {pad} group: {group} }}")
        elif kind == "Pooling":
            n, c, h, w = shape
            kernel = draw(st.integers(1, max(1, min(h, w, 4))))
            stride = draw(st.integers(1, 3))
            pool = draw(st.sampled_from(["MAX", "AVE"]))
            out = (n, c, _pool_out(h, kernel, stride), _pool_out(w, kernel, stride))
            add(kind, [blob], [top], [out], f"pooling_param {{ pool: {pool} kernel_size: {kernel} stride: {stride} }}")
        elif kind == "InnerProduct":
            outputs = draw(st.integers(1, 16))
            add(kind, [blob], [top], [(shape[0], outputs)], f"inner_product_param {{ num_output: {outputs} }}")
        elif kind == "ReLU":
            add(kind, [blob], [top], [shape])
        elif kind == "ReLU_inplace":
            add("ReLU", [blob], [blob], [shape])
            continue  # same blob, new version: nothing new is live
        elif kind == "Softmax":
            add(kind, [blob], [top], [shape])
        elif kind == "Split":
            second = fresh()
            add(kind, [blob], [top, second], [shape, shape])
            live.remove(blob)
            live.append(second)
        elif kind == "Eltwise":
            partners = [other for other in live if spec.shapes[other] == shape]
            other = draw(st.sampled_from(partners))
            operation = draw(st.sampled_from(["SUM", "PROD", "MAX"]))
            add(kind, [blob, other], [top], [shape], f"eltwise_param {{ operation: {operation} }}")
        elif kind == "Concat":
            partners = [other for other in live
                        if len(spec.shapes[other]) == len(shape)
                        and spec.shapes[other][:1] + spec.shapes[other][2:] == shape[:1] + shape[2:]]
            others = draw(st.lists(st.sampled_from(partners), min_size=1, max_size=3))
            channels = sum(spec.shapes[b][1] for b in [blob, *others])
            add(kind, [blob, *others], [top], [(*shape[:1], channels, *shape[2:])])
        live.append(top)
    return spec


def _analyse(text: str) -> dict[str, Any]:
    return as_dict(report(text))


def _shapes_by_layer(result: dict[str, Any]) -> dict[str, list[Any]]:
    return {layer["name"]: layer["top_shapes"] for layer in result["layers"] if not layer["auto_split"]}


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(nets())
def test_shapes_are_positive_and_as_caffe_computes(spec: NetSpec) -> None:
    result = _analyse(spec.text())
    assert not result["partial"]
    by_top: dict[str, list[int]] = {}
    for layer in result["layers"]:
        assert layer["status"] == "ok"
        for top, shape in zip(layer["tops"], layer["top_shapes"], strict=True):
            assert shape is not None and all(dim > 0 for dim in shape), (layer["name"], shape)
            by_top[top] = shape
        for shape in layer["param_shapes"]:
            assert all(dim > 0 for dim in shape)
    for blob, shape in spec.shapes.items():
        assert by_top[blob] == list(shape), blob


@SETTINGS
@given(nets())
def test_rows_sum_to_totals(spec: NetSpec) -> None:
    result = _analyse(spec.text())
    layers = result["layers"]
    assert sum(layer["param_count"] for layer in layers) == result["param_count"]
    assert sum(layer["output_elements"] for layer in layers) == result["output_elements"]
    memory = result["memory"]
    for net in (memory["inference"], memory["training"]):
        if net is None:
            continue
        totals, rows = net["totals"], net["layers"]
        for key in ("activation_data", "activation_diff", "param_data", "param_diff", "solver_state"):
            assert sum(row[key] for row in rows) == totals[key], key
        assert sum(row["buffer_bytes"] for row in rows) == totals["buffers"]
        assert sum(row["total"] for row in rows) == totals["total"]
        for row in rows:
            assert row["buffer_bytes"] == sum(buffer["bytes"] for buffer in row["buffers"])
    compute = result["compute"]
    assert sum(row["maccs"] for row in compute["layers"]) == compute["forward_maccs"]


@SETTINGS
@given(nets())
def test_json_round_trips_and_analysis_is_deterministic(spec: NetSpec) -> None:
    text = spec.text()
    first = _analyse(text)
    assert json.loads(json.dumps(first)) == first
    assert _analyse(text) == first


@SETTINGS
@given(nets())
def test_renaming_layers_and_blobs_changes_no_shape(spec: NetSpec) -> None:
    original = _analyse(spec.text())
    renamed = NetSpec([Layer(f"renamed_{layer.name}", layer.type, [f"x_{b}" for b in layer.bottoms],
                             [f"x_{t}" for t in layer.tops], layer.params) for layer in spec.layers])
    result = _analyse(renamed.text())
    assert [layer["top_shapes"] for layer in result["layers"]] == [
        layer["top_shapes"] for layer in original["layers"]]
    for key in ("param_count", "output_elements", "caffe_memory_required_bytes"):
        assert result[key] == original[key]
    assert result["memory"]["inference"]["totals"] == original["memory"]["inference"]["totals"]


@SETTINGS
@given(nets(), st.data())
def test_swapping_independent_layers_changes_no_shape(spec: NetSpec, data: st.DataObject) -> None:
    """Two adjacent layers where neither reads or overwrites what the other writes may run in either
    order: every layer keeps its shapes and the parameter count stays the same."""
    def independent(first: Layer, second: Layer) -> bool:
        written = set(first.tops) | set(first.bottoms) if set(first.tops) & set(first.bottoms) else set(first.tops)
        rewritten = set(second.tops) & set(second.bottoms)
        return (not written & set(second.bottoms) and not rewritten & set(first.bottoms)
                and not set(first.tops) & set(second.tops))

    candidates = [i for i in range(len(spec.layers) - 1) if independent(spec.layers[i], spec.layers[i + 1])]
    if not candidates:
        return
    i = data.draw(st.sampled_from(candidates))
    swapped = list(spec.layers)
    swapped[i], swapped[i + 1] = swapped[i + 1], swapped[i]
    original = _analyse(spec.text())
    result = _analyse(NetSpec(swapped).text())
    assert _shapes_by_layer(result) == _shapes_by_layer(original)
    assert result["param_count"] == original["param_count"]
    assert result["output_elements"] == original["output_elements"]
