"""InnerProduct, Concat, Slice, Eltwise, Split, Flatten, Reshape, Softmax, Crop, Silence rules."""
from __future__ import annotations

import pytest

from blobcalc.shapes.registry import BlobCounts, RuleCheckFailed, rule_for
from tests.rule_helpers import apply_rule


def layer(kind: str, body: str = "", bottoms: int = 1, tops: int = 1, same_name: bool = False) -> str:
    bottom_lines = " ".join(f'bottom: "b{i}"' for i in range(bottoms))
    top_lines = " ".join(f'top: "{"b" if same_name else "t"}{i}"' for i in range(tops))
    return f'name: "x" type: "{kind}" {bottom_lines} {top_lines} {body}'


@pytest.mark.parametrize(("body", "bottom", "top", "params"), [
    # test_inner_product_layer.cpp TestSetUp: 2x3x4x5 → 2x10, weights [10, 60].
    ("inner_product_param { num_output: 10 }", (2, 3, 4, 5), (2, 10), ((10, 60), (10,))),
    ("inner_product_param { num_output: 10 transpose: true }", (2, 3, 4, 5), (2, 10), ((60, 10), (10,))),
    ("inner_product_param { num_output: 10 axis: 2 bias_term: false }", (2, 3, 4, 5), (2, 3, 10),
     ((10, 20),)),
    ("inner_product_param { num_output: 7 axis: -1 }", (2, 3, 4), (2, 3, 7), ((7, 4), (7,))),
])
def test_inner_product(body: str, bottom: tuple[int, ...], top: tuple[int, ...],
                       params: tuple[tuple[int, ...], ...]) -> None:
    shapes = apply_rule(layer("InnerProduct", body), [bottom])
    assert shapes.top_shapes == (top,)
    assert shapes.param_shapes == params


@pytest.mark.parametrize(("body", "bottoms", "top"), [
    ("", [(2, 3, 6, 5), (2, 5, 6, 5)], (2, 8, 6, 5)),
    ("concat_param { axis: 0 }", [(2, 3, 6, 5), (5, 3, 6, 5)], (7, 3, 6, 5)),
    ("concat_param { concat_dim: 0 }", [(2, 3, 6, 5), (5, 3, 6, 5)], (7, 3, 6, 5)),
    ("concat_param { axis: -1 }", [(1, 2, 3), (1, 2, 4), (1, 2, 5)], (1, 2, 12)),
    ("", [(4, 3, 2)], (4, 3, 2)),
])
def test_concat(body: str, bottoms: list[tuple[int, ...]], top: tuple[int, ...]) -> None:
    assert apply_rule(layer("Concat", body, bottoms=len(bottoms)), bottoms).top_shapes == (top,)


@pytest.mark.parametrize(("body", "bottoms", "message"), [
    ("", [(2, 3, 6, 5), (2, 5, 6, 4)], "except at concat_axis"),
    ("", [(2, 3, 6, 5), (2, 5, 6)], "same #axes"),
    ("concat_param { axis: 1 concat_dim: 1 }", [(2, 3), (2, 3)], "not both"),
    ("concat_param { concat_dim: 4 }", [(2, 3), (2, 3)], "concat_dim out of range"),
    ("concat_param { axis: 3 }", [(2, 3), (2, 3)], "out of range"),
])
def test_concat_checks(body: str, bottoms: list[tuple[int, ...]], message: str) -> None:
    with pytest.raises(RuleCheckFailed, match=message):
        apply_rule(layer("Concat", body, bottoms=len(bottoms)), bottoms)


@pytest.mark.parametrize(("body", "tops", "bottom", "expected"), [
    # test_slice_layer.cpp: 6x12x2x3 sliced in 3 along axis 1, and at points along axis 0.
    ("", 3, (6, 12, 2, 3), [(6, 4, 2, 3)] * 3),
    ("slice_param { axis: 0 slice_point: 1 slice_point: 3 }", 3, (6, 12, 2, 3),
     [(1, 12, 2, 3), (2, 12, 2, 3), (3, 12, 2, 3)]),
    ("slice_param { slice_dim: 1 slice_point: 5 }", 2, (2, 12), [(2, 5), (2, 7)]),
])
def test_slice(body: str, tops: int, bottom: tuple[int, ...], expected: list[tuple[int, ...]]) -> None:
    assert apply_rule(layer("Slice", body, tops=tops), [bottom]).top_shapes == tuple(expected)


@pytest.mark.parametrize(("body", "tops", "message"), [
    ("", 5, r"Number of top blobs \(5\) should evenly divide input slice axis \(12\)"),
    ("slice_param { slice_point: 3 }", 3, "slice points for 3 tops"),
    ("slice_param { slice_point: 3 slice_point: 3 }", 3, "slice points must increase"),
])
def test_slice_checks(body: str, tops: int, message: str) -> None:
    with pytest.raises(RuleCheckFailed, match=message):
        apply_rule(layer("Slice", body, tops=tops), [(6, 12, 2, 3)])


def test_eltwise() -> None:
    shapes = apply_rule(layer("Eltwise", "eltwise_param { operation: MAX }", bottoms=3), [(2, 3, 4, 5)] * 3)
    assert shapes.top_shapes == ((2, 3, 4, 5),)
    with pytest.raises(RuleCheckFailed, match=r"bottom\[0\]: 2 3 4 5 \(120\), bottom\[1\]: 2 3 5 4 \(120\)"):
        apply_rule(layer("Eltwise", bottoms=2), [(2, 3, 4, 5), (2, 3, 5, 4)])
    with pytest.raises(RuleCheckFailed, match="one coefficient per bottom"):
        apply_rule(layer("Eltwise", "eltwise_param { coeff: 1 }", bottoms=2), [(1, 2)] * 2)
    with pytest.raises(RuleCheckFailed, match="only takes coefficients for summation"):
        apply_rule(layer("Eltwise", "eltwise_param { operation: PROD coeff: 1 coeff: 1 }", bottoms=2),
                   [(1, 2)] * 2)


def test_split_and_silence() -> None:
    assert apply_rule(layer("Split", tops=3), [(2, 3)]).top_shapes == ((2, 3),) * 3
    assert apply_rule(layer("Silence", bottoms=2, tops=0), [(2, 3), (4,)]).top_shapes == ()


@pytest.mark.parametrize(("body", "bottom", "top"), [
    ("", (2, 3, 6, 5), (2, 90)),
    ("flatten_param { axis: 2 }", (2, 3, 6, 5), (2, 3, 30)),
    ("flatten_param { end_axis: -2 }", (2, 3, 6, 5), (2, 18, 5)),
    ("flatten_param { axis: 0 end_axis: 0 }", (2, 3), (2, 3)),
])
def test_flatten(body: str, bottom: tuple[int, ...], top: tuple[int, ...]) -> None:
    assert apply_rule(layer("Flatten", body), [bottom]).top_shapes == (top,)


@pytest.mark.parametrize(("body", "bottom", "top"), [
    # test_reshape_layer.cpp cases.
    ("reshape_param { shape { dim: 0 dim: -1 } }", (2, 3, 6, 5), (2, 90)),
    ("reshape_param { shape { dim: 6 dim: 2 dim: 3 dim: 5 } }", (2, 3, 6, 5), (6, 2, 3, 5)),
    ("reshape_param { shape { dim: 0 dim: 2 dim: -1 dim: 0 } }", (2, 3, 6, 5), (2, 2, 9, 5)),
    ("reshape_param { axis: 1 num_axes: 1 shape { dim: 1 dim: 3 } }", (2, 3, 6, 5), (2, 1, 3, 6, 5)),
    ("reshape_param { axis: -1 shape { dim: 1 } }", (2, 3), (2, 3, 1)),
    ("reshape_param { axis: 0 num_axes: 0 shape { dim: 1 } }", (2, 3), (1, 2, 3)),
    ("reshape_param { axis: 2 num_axes: 0 shape { } }", (2, 3, 6), (2, 3, 6)),
    ("reshape_param { shape { dim: -1 } }", (2, 3, 6), (36,)),
])
def test_reshape(body: str, bottom: tuple[int, ...], top: tuple[int, ...]) -> None:
    assert apply_rule(layer("Reshape", body), [bottom]).top_shapes == (top,)


@pytest.mark.parametrize(("body", "message"), [
    ("reshape_param { shape { dim: -1 dim: -1 } }", "multiple -1 dims"),
    ("reshape_param { shape { dim: 7 dim: -1 } }", r"bottom count \(180\) must be divisible"),
    ("reshape_param { shape { dim: 2 dim: 3 } }", "output count must match input count"),
    ("reshape_param { axis: 5 shape { dim: 1 } }", "out of range"),
    ("reshape_param { axis: 3 shape { dim: 0 dim: 0 } }", "no corresponding bottom axis"),
])
def test_reshape_checks(body: str, message: str) -> None:
    with pytest.raises(RuleCheckFailed, match=message):
        apply_rule(layer("Reshape", body), [(2, 3, 6, 5)])


def test_in_place_refused_for_reshape_and_flatten() -> None:
    for kind in ("Reshape", "Flatten"):
        with pytest.raises(RuleCheckFailed, match="does not allow in-place"):
            apply_rule(layer(kind, same_name=True), [(2, 3)])


@pytest.mark.parametrize(("body", "bottoms", "top"), [
    # test_crop_layer.cpp: default axis 2 takes H, W from bottom[1].
    ("", [(2, 4, 5, 4), (2, 4, 5, 3)], (2, 4, 5, 3)),
    ("crop_param { axis: 1 offset: 0 offset: 1 offset: 1 }", [(2, 4, 5, 4), (2, 3, 4, 2)], (2, 3, 4, 2)),
    ("crop_param { axis: 0 }", [(2, 4, 5, 4), (1, 4, 5, 3)], (1, 4, 5, 3)),
    ("crop_param { offset: 19 }", [(1, 21, 500, 500), (1, 3, 462, 462)], (1, 21, 462, 462)),
])
def test_crop(body: str, bottoms: list[tuple[int, ...]], top: tuple[int, ...]) -> None:
    assert apply_rule(layer("Crop", body, bottoms=2), bottoms).top_shapes == (top,)


def test_crop_checks() -> None:
    with pytest.raises(RuleCheckFailed, match="invalid crop parameters in dimension: 2"):
        apply_rule(layer("Crop", "crop_param { offset: 3 }", bottoms=2), [(1, 1, 5, 5), (1, 1, 3, 3)])
    with pytest.raises(RuleCheckFailed, match="must be equal to the number of dimensions following axis"):
        apply_rule(layer("Crop", "crop_param { offset: 1 offset: 1 offset: 1 }", bottoms=2),
                   [(1, 1, 5, 5), (1, 1, 3, 3)])


def test_softmax_axis_checked() -> None:
    assert apply_rule(layer("Softmax"), [(2, 10)]).top_shapes == ((2, 10),)
    with pytest.raises(RuleCheckFailed, match="out of range"):
        apply_rule(layer("Softmax", "softmax_param { axis: 2 }"), [(2, 10)])


@pytest.mark.parametrize(("kind", "counts"), [
    ("InnerProduct", BlobCounts(exact_bottoms=1, exact_tops=1)),
    ("Concat", BlobCounts(min_bottoms=1, exact_tops=1)),
    ("Slice", BlobCounts(exact_bottoms=1, min_tops=1)),
    ("Eltwise", BlobCounts(min_bottoms=2, exact_tops=1)),
    ("Split", BlobCounts(exact_bottoms=1, min_tops=1)),
    ("Silence", BlobCounts(min_bottoms=1, exact_tops=0)),
    ("Crop", BlobCounts(exact_bottoms=2, exact_tops=1)),
])
def test_blob_counts(kind: str, counts: BlobCounts) -> None:
    rule = rule_for(kind)
    assert rule is not None
    assert rule.counts == counts
