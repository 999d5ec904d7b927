"""Rules of forks/yolo.py against eric612/MobileNet-YOLO's layer code, and the corpus nets of the
fork that need nothing from other forks."""
from __future__ import annotations

from pathlib import Path

import pytest

from blobcalc import analyze
from blobcalc.shapes.forks.yolo import YOLO
from blobcalc.shapes.registry import BlobCounts, RuleCheckFailed, Shape, ShapeUnknown, rule_for
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
    # yolo_seg.cpp's count CHECK_EQ compares bottom[0] with itself: a 2-channel prediction passes.
    assert apply_rule(layer("YoloSeg", bottoms=3), [(8, 2, 64, 64), (8, 1, 64, 64), (1,)]).top_shapes == ((),)
    # LossLayer::Reshape still binds the first axes.
    with pytest.raises(RuleCheckFailed, match="same first dimension"):
        apply_rule(layer("YoloSeg", bottoms=3), [(8, 2, 64, 64), (4, 1, 64, 64), (1,)])


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


# ---------------------------------------------------------------------------------------------
# eric612's release of AnnotatedData (annotated_data_layer.cpp, base_data_layer.cpp)

def annotated(annotated_param: str, tops: int) -> str:
    top_text = " ".join(f'top: "{name}"' for name in ("data", "label", "seg_label")[:tops])
    return (f'name: "data" type: "AnnotatedData" {top_text} data_param {{ source: "db" batch_size: 8 }} '
            "transform_param { resize_param { resize_mode: WARP height: 416 width: 416 } } "
            f"annotated_data_param {{ {annotated_param} }}")


@pytest.mark.parametrize(("param", "tops", "expected"), [
    # yolo_data_type 1: room for 300 boxes of (class, x, y, w, h) per image.
    ("yolo_data_type: 1", 2, [(8, 3, 416, 416), (8, 1, 300, 5)]),
    # SSD's layout otherwise: one box row at set-up.
    ("yolo_data_type: 0", 2, [(8, 3, 416, 416), (1, 1, 1, 8)]),
    # A third top is the segmentation label [batch, 1, H / seg_scales, W / seg_scales] (default 8).
    ("seg_scales: 4", 3, [(8, 3, 416, 416), (1, 1, 1, 8), (8, 1, 104, 104)]),
    ("yolo_data_type: 1", 3, [(8, 3, 416, 416), (8, 1, 300, 5), (8, 1, 52, 52)]),
    ("seg_scales: 5", 3, [(8, 3, 416, 416), (1, 1, 1, 8), (8, 1, 83, 83)]),
])
def test_mobilenet_yolo_annotated_data(param: str, tops: int, expected: list[Shape]) -> None:
    assert list(apply_rule(annotated(param, tops), []).top_shapes) == expected


def test_ssd_annotated_data_still_leaves_a_third_top_unshaped() -> None:
    """Without eric612's fields or layer types the net is SSD's, whose layer fills two tops."""
    with pytest.raises(RuleCheckFailed, match="fills two tops"):
        apply_rule(annotated('label_map_file: "m"', 3), [])
    with pytest.raises(RuleCheckFailed, match="fills two tops"):
        apply_rule(annotated("seg_scales: 4", 2), [], num_tops=4)


def test_mobilenet_yolo_seg_label_checks() -> None:
    with pytest.raises(RuleCheckFailed, match="seg_scales must not be 0"):
        apply_rule(annotated("seg_scales: 0", 3), [])
    with pytest.raises(ShapeUnknown, match="seg_resize_width"):
        apply_rule(annotated("seg_resize_width: 64 seg_resize_height: 32", 3), [])


TRAIN_NETS = [
    # Multi-scale WARP resizes: the blob is shaped by the first (416, or 608 for darknet's yolov3).
    ("eric612__MobileNet-YOLO/models__mobilenetv3_voc__train.prototxt",
     ((8, 3, 416, 416), (8, 1, 300, 5))),
    ("eric612__MobileNet-YOLO/models__mobilenetv3_voc__train_AE.prototxt",
     ((8, 3, 416, 416), (8, 1, 300, 5))),
    ("eric612__MobileNet-YOLO/models__darknet_yolov3__yolov3-train.prototxt",
     ((2, 3, 608, 608), (2, 1, 300, 5))),
    # Pelee: SSD's box list plus the segmentation label at 1/4 of 400x400.
    ("eric612__MobileNet-YOLO/models__pelee__train.prototxt",
     ((13, 3, 400, 400), (1, 1, 1, 8), (13, 1, 100, 100))),
]


@pytest.mark.parametrize(("file", "data_tops"), TRAIN_NETS)
def test_corpus_train_nets_build(file: str, data_tops: tuple[Shape, ...]) -> None:
    """The fork's training nets build to their losses in TRAIN (before: the Yolov3 losses refused an
    [1, 1, 1, 8] label against a batch of 8, and Pelee's data layer refused its seg_label top)."""
    path = Path(CORPUS / file)
    if not path.exists():
        pytest.skip("../shared/corpus is not beside this checkout")
    analysis = analyze(str(path), phase="TRAIN")
    assert not analysis.unsupported_types
    layers = {layer.name: layer for layer in analysis.layers}
    assert layers["data"].top_shapes == data_tops
    losses = [layer for layer in analysis.layers if layer.type in ("Yolov3", "YoloSeg", "MultiBoxLoss")]
    assert losses and all(layer.top_shapes == ((),) for layer in losses)
