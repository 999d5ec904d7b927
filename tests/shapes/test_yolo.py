"""Rules of forks/yolo.py against eric612/MobileNet-YOLO's layer code, and the corpus nets of the
fork that need nothing from other forks."""
from __future__ import annotations

from pathlib import Path

import pytest

from blobcalc import analyze
from blobcalc.shapes.forks.yolo import YOLO
from blobcalc.shapes.registry import BlobCounts, RuleCheckFailed, Shape, rule_for
from tests.golden_support import CORPUS
from tests.rule_helpers import apply_rule

LOSS = BlobCounts(exact_bottoms=2, exact_tops=1, auto_tops=True)


@pytest.mark.parametrize(("layer_type", "counts"), [
    ("Reorg", BlobCounts(exact_bottoms=1, exact_tops=1)),
    ("RegionLoss", LOSS),
    ("Yolov3", LOSS),
    ("YoloDetectionOutput", BlobCounts(min_bottoms=1, exact_tops=1)),
    ("Yolov3DetectionOutput", BlobCounts(min_bottoms=1, exact_tops=1)),
    ("YoloSeg", BlobCounts(exact_bottoms=3, exact_tops=1, auto_tops=True)),
])
def test_counts_and_origin(layer_type: str, counts: BlobCounts) -> None:
    rule = rule_for(layer_type)
    assert rule is not None
    assert rule.counts == counts
    assert rule.origin == YOLO


def layer(kind: str, params: str = "", bottoms: int = 1, tops: int = 1) -> str:
    bottom_lines = " ".join(f'bottom: "b{i}"' for i in range(bottoms))
    top_lines = " ".join(f'top: "t{i}"' for i in range(tops))
    return f'name: "l" type: "{kind}" {bottom_lines} {top_lines} {params}'


@pytest.mark.parametrize(("params", "bottom", "top"), [
    # darknet19: the 26x26x64 pass-through becomes 13x13x256.
    ("reorg_param { stride: 2 }", (1, 64, 26, 26), (1, 256, 13, 13)),
    # Integer division of odd sizes.
    ("reorg_param { stride: 2 }", (2, 3, 7, 5), (2, 12, 3, 2)),
    ("reorg_param { stride: 2 reverse: true }", (1, 256, 13, 13), (1, 64, 26, 26)),
])
def test_reorg(params: str, bottom: Shape, top: Shape) -> None:
    assert apply_rule(layer("Reorg", params), [bottom]).top_shapes == (top,)


@pytest.mark.parametrize(("text", "message"), [
    (layer("Reorg"), "needs stride param"),
    (layer("Reorg", "reorg_param { stride: 0 }"), "divide by zero"),
    ('name: "r" type: "Reorg" bottom: "x" top: "x" reorg_param { stride: 2 }', "in-place"),
])
def test_reorg_checks(text: str, message: str) -> None:
    with pytest.raises(RuleCheckFailed, match=message):
        apply_rule(text, [(1, 64, 26, 26)])


def test_region_loss_has_no_first_axis_check() -> None:
    # RegionLossLayer::Reshape does not call LossLayer::Reshape.
    shapes = apply_rule(layer("RegionLoss", "region_loss_param { num_class: 20 num: 5 }", 2),
                        [(6, 125, 19, 19), (1, 1, 1, 8)])
    assert shapes.top_shapes == ((),)


YOLOV3 = "yolov3_param { side: 13 num_class: 20 num: 3 anchors_scale: 32 }"


def test_yolov3() -> None:
    # 13x13 cells of 3 anchors with 4 + 1 + 20 values each: 75 channels.
    shapes = apply_rule(layer("Yolov3", YOLOV3, 2), [(8, 75, 13, 13), (8, 1, 300, 5)])
    assert shapes.top_shapes == ((),)


@pytest.mark.parametrize(("bottoms", "message"), [
    ([(8, 76, 13, 13), (8, 1, 300, 5)], "side\\*side\\*num\\*\\(4\\+num_class\\+1\\)"),
    ([(8, 75, 13, 13), (1, 1, 1, 8)], "same first dimension"),
])
def test_yolov3_checks(bottoms: list[Shape], message: str) -> None:
    with pytest.raises(RuleCheckFailed, match=message):
        apply_rule(layer("Yolov3", YOLOV3, 2), bottoms)


def test_detection_outputs() -> None:
    v2 = apply_rule(layer("YoloDetectionOutput", "yolo_detection_output_param { num_classes: 80 }"),
                    [(1, 425, 19, 19)])
    assert v2.top_shapes == ((1, 1, 1, 7),)
    assert v2.notes
    v3 = apply_rule(layer("Yolov3DetectionOutput",
                          "yolov3_detection_output_param { num_classes: 20 mask_group_num: 2 }", 2),
                    [(1, 75, 13, 13), (1, 75, 26, 26)])
    assert v3.top_shapes == ((1, 1, 1, 7),)


@pytest.mark.parametrize(("text", "bottoms", "message"), [
    (layer("YoloDetectionOutput"), [(1, 425, 19, 19)], "Must specify num_classes"),
    (layer("Yolov3DetectionOutput", "yolov3_detection_output_param { num_classes: 20 }", 3),
     [(1, 75, 13, 13)] * 3, r"bottom.size\(\) == mask_group_num_ \(3 vs. 2\)"),
    (layer("Yolov3DetectionOutput", "yolov3_detection_output_param { num_classes: 20 mask_group_num: 0 }"),
     [(1, 75, 13, 13)], "divide by zero"),
])
def test_detection_output_checks(text: str, bottoms: list[Shape], message: str) -> None:
    with pytest.raises(RuleCheckFailed, match=message):
        apply_rule(text, bottoms)


def test_yolo_seg() -> None:
    bottoms = [(8, 1, 64, 64), (8, 1, 64, 64), (1,)]
    assert apply_rule(layer("YoloSeg", bottoms=3), bottoms).top_shapes == ((),)
    with pytest.raises(RuleCheckFailed, match="YoloSeg layer inputs must have the same count"):
        apply_rule(layer("YoloSeg", bottoms=3), [(8, 1, 64, 64), (8, 2, 64, 64), (1,)])


CORPUS_NETS = [
    ("eric612__MobileNet-YOLO/models__convert__darknet19_deploy.prototxt", "reorg1", (1, 256, 13, 13),
     "detection_out", (1, 1, 1, 7)),
    ("eric612__MobileNet-YOLO/models__darknet_yolov3__yolov3-tiny.prototxt", "layer24-yolo", (1, 1, 1, 7),
     "layer23-conv", (1, 255, 26, 26)),
]


@pytest.mark.parametrize(("file", "first", "first_shape", "second", "second_shape"), CORPUS_NETS)
def test_corpus_nets(file: str, first: str, first_shape: Shape, second: str, second_shape: Shape) -> None:
    path = Path(CORPUS / file)
    if not path.exists():
        pytest.skip("../shared/corpus is not beside this checkout")
    analysis = analyze(str(path))
    assert not analysis.partial and not analysis.unsupported_types
    shapes = {layer.name: layer.top_shapes[0] for layer in analysis.layers}
    assert shapes[first] == first_shape
    assert shapes[second] == second_shape
    assert ("Reorg" in {t for t, _ in analysis.fork_types}) == ("darknet19" in file)
