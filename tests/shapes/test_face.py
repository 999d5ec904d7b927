"""Rules of forks/face.py against the forks' layer code: SphereFace's MarginInnerProduct, L-Softmax's
LargeMarginInnerProduct, caffe-face's CenterLoss; and their corpus training nets end to end."""
from __future__ import annotations

from pathlib import Path

import pytest

from blobcalc import analyze
from blobcalc.shapes.forks.face import CENTER_LOSS, LSOFTMAX, SPHEREFACE
from blobcalc.shapes.registry import BlobCounts, RuleCheckFailed, Shape, rule_for
from tests.golden_support import CORPUS
from tests.rule_helpers import apply_rule


@pytest.mark.parametrize(("layer_type", "counts", "origin"), [
    ("MarginInnerProduct", BlobCounts(exact_bottoms=2, max_tops=2), SPHEREFACE),
    ("LargeMarginInnerProduct", BlobCounts(exact_bottoms=2, max_tops=2), LSOFTMAX),
    ("CenterLoss", BlobCounts(exact_bottoms=2, exact_tops=1, auto_tops=True), CENTER_LOSS),
])
def test_counts_and_origin(layer_type: str, counts: BlobCounts, origin: str) -> None:
    rule = rule_for(layer_type)
    assert rule is not None
    assert rule.counts == counts
    assert rule.origin == origin


def layer(kind: str, params: str, tops: int = 2) -> str:
    top_lines = " ".join(f'top: "t{i}"' for i in range(tops))
    return f'name: "l" type: "{kind}" bottom: "feature" bottom: "label" {top_lines} {params}'


@pytest.mark.parametrize(("kind", "param_name"), [
    ("MarginInnerProduct", "margin_inner_product_param"),
    ("LargeMarginInnerProduct", "largemargin_inner_product_param"),
])
@pytest.mark.parametrize(("params", "bottoms", "tops", "weight"), [
    # sphereface_model: fc5 [256, 512] into 10572 identities, weights without bias.
    ("num_output: 10572 type: QUADRUPLE", [(256, 512), (256,)], [(256, 10572), (1,)], (10572, 512)),
    # K is the count from `axis`: [N, 8, 2, 2] flattens to 32.
    ("num_output: 10", [(64, 8, 2, 2), (64, 1, 1, 1)], [(64, 10), (1,)], (10, 32)),
    ("num_output: 10 axis: 2", [(4, 3, 5), (4,)], [(4, 3, 10), (1,)], (10, 5)),
])
def test_margin_inner_products(kind: str, param_name: str, params: str, bottoms: list[Shape],
                               tops: list[Shape], weight: Shape) -> None:
    shapes = apply_rule(layer(kind, f"{param_name} {{ {params} }}"), bottoms)
    assert list(shapes.top_shapes) == tops
    assert shapes.param_shapes == (weight,)


def test_margin_inner_product_lambda_is_optional() -> None:
    # MarginInnerProduct shapes top[1] only when it exists; LargeMargin always writes it.
    shapes = apply_rule(layer("MarginInnerProduct", "margin_inner_product_param { num_output: 3 }", 1),
                        [(2, 4), (2,)])
    assert shapes.top_shapes == ((2, 3),)
    with pytest.raises(RuleCheckFailed, match="needs two tops"):
        apply_rule(layer("LargeMarginInnerProduct", "largemargin_inner_product_param { num_output: 3 }", 1),
                   [(2, 4), (2,)])


def test_margin_inner_product_label_count() -> None:
    with pytest.raises(RuleCheckFailed, match="Number of labels must match number of output"):
        apply_rule(layer("MarginInnerProduct", "margin_inner_product_param { num_output: 3 }"),
                   [(2, 4), (3,)])


@pytest.mark.parametrize(("params", "bottoms", "centers"), [
    # caffe-face mnist example: ip1 [64, 2], 10 classes.
    ("num_output: 10", [(64, 2), (64,)], (10, 2)),
    ("num_output: 5 axis: 1", [(8, 3, 2, 2), (8, 1, 1, 1)], (5, 12)),
])
def test_center_loss(params: str, bottoms: list[Shape], centers: Shape) -> None:
    shapes = apply_rule(layer("CenterLoss", f"center_loss_param {{ {params} }}", 1), bottoms)
    assert shapes.top_shapes == ((),)
    assert shapes.param_shapes == (centers,)


@pytest.mark.parametrize(("bottoms", "message"), [
    ([(64, 2), (64, 2)], r"bottom\[1\]->channels\(\) == 1"),
    ([(64, 2), (32,)], "same first dimension"),
])
def test_center_loss_checks(bottoms: list[Shape], message: str) -> None:
    with pytest.raises(RuleCheckFailed, match=message):
        apply_rule(layer("CenterLoss", "center_loss_param { num_output: 10 }", 1), bottoms)


def corpus_file(name: str) -> str:
    path = Path(CORPUS / name)
    if not path.exists():
        pytest.skip("../shared/corpus is not beside this checkout")
    return str(path)


def test_sphereface_training_net() -> None:
    # The ImageData layer gets the input the golden answers' rules would give it: batch_size 256 of
    # the 112x96 CASIA-WebFace crops its source list names.
    analysis = analyze(corpus_file("wy1iu__sphereface/train__code__sphereface_model.prototxt"), phase="TRAIN",
                       input_shapes={"data": (256, 3, 112, 96), "label": (256,)})
    assert not analysis.partial and not analysis.unsupported_types
    fc6 = next(layer for layer in analysis.layers if layer.name == "fc6")
    assert fc6.top_shapes == ((256, 10572), (1,))
    assert fc6.param_shapes == ((10572, 512),)
    assert ("MarginInnerProduct", SPHEREFACE) in analysis.fork_types


def test_center_loss_training_net() -> None:
    analysis = analyze(corpus_file("ydwen__caffe-face/mnist_example__mnist_train_test.prototxt"), phase="TRAIN",
                       input_shapes={"data": (128, 1, 28, 28), "label": (128,)})
    assert not analysis.partial and not analysis.unsupported_types
    center = next(layer for layer in analysis.layers if layer.type == "CenterLoss")
    assert center.top_shapes == ((),)
    assert center.param_shapes == ((10, 2),)
