"""SENet's Axpy and MobileNet-YOLO's AssistedExcitation, and SE-ResNet end to end."""
from __future__ import annotations

import pytest

from blobcalc import analyze
from blobcalc.shapes.registry import RuleCheckFailed
from tests.rule_helpers import apply_rule
from tests.shapes.test_segmentation import corpus_net, layer


@pytest.mark.parametrize(("bottoms", "top"), [
    # axpy_layer.cpp: a per-channel scale [N, C, 1, 1] (or [N, C]) times x plus y.
    ([(2, 64, 1, 1), (2, 64, 56, 56), (2, 64, 56, 56)], (2, 64, 56, 56)),
    ([(2, 64), (2, 64, 7, 7), (2, 64, 7, 7)], (2, 64, 7, 7)),
])
def test_axpy(bottoms: list[tuple[int, ...]], top: tuple[int, ...]) -> None:
    assert apply_rule(layer("Axpy", bottoms=3), bottoms).top_shapes == (top,)


@pytest.mark.parametrize(("bottoms", "message"), [
    ([(2, 64, 1, 1), (2, 32, 56, 56), (2, 32, 56, 56)], r"shape\(1\) == bottom\[1\]->shape\(1\) \(64 vs. 32\)"),
    ([(2, 64, 2, 1), (2, 64, 56, 56), (2, 64, 56, 56)], r"shape\(2\) == 1"),
    ([(2, 64, 1, 1), (2, 64, 56, 56), (2, 64, 28, 28)], r"bottom\[1\]->shape\(\) == bottom\[2\]->shape\(\)"),
])
def test_axpy_checks(bottoms: list[tuple[int, ...]], message: str) -> None:
    with pytest.raises(RuleCheckFailed, match=message):
        apply_rule(layer("Axpy", bottoms=3), bottoms)


def test_assisted_excitation_is_shaped_like_its_features() -> None:
    shapes = apply_rule(layer("AssistedExcitation", bottoms=3), [(8, 96, 26, 26), (8, 1, 1, 8), (8, 1, 26, 26)])
    assert shapes.top_shapes == ((8, 96, 26, 26),)


def test_se_resnet_50_corpus_net() -> None:
    analysis = analyze(str(corpus_net("hujie-frank__SENet/models__SE-ResNet-50.prototxt")))
    by_name = {result.name: result for result in analysis.layers}
    assert by_name["conv2_1"].type == "Axpy"
    assert by_name["conv2_1"].top_shapes == ((1, 256, 56, 56),)
    assert by_name["prob"].top_shapes == ((1, 1000),)
    assert dict(analysis.fork_types)["Axpy"] == "SENet fork (hujie-frank/SENet)"
    assert not analysis.partial
