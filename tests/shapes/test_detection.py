"""Rules of forks/detection.py against the forks' Reshape code: Faster R-CNN's ROIPooling and
SmoothL1Loss (rbgirshick/caffe-fast-rcnn), R-FCN's PSROIPooling and OHEM layers, PVANet's Proposal."""
from __future__ import annotations

import pytest

from blobcalc import caffe_pb2
from blobcalc.shapes.forks.detection import FASTER_RCNN, PVANET, RFCN
from blobcalc.shapes.registry import BlobCounts, RuleCheckFailed, Shape, rule_for
from tests.rule_helpers import apply_rule


@pytest.mark.parametrize(("layer_type", "counts", "origin"), [
    ("ROIPooling", BlobCounts(min_bottoms=2, max_bottoms=2, min_tops=1, max_tops=1), FASTER_RCNN),
    ("SmoothL1Loss", BlobCounts(min_bottoms=2, max_bottoms=4, exact_tops=1, auto_tops=True), FASTER_RCNN),
    ("PSROIPooling", BlobCounts(min_bottoms=2, max_bottoms=2, min_tops=1, max_tops=1), RFCN),
    ("SmoothL1LossOHEM",
     BlobCounts(min_bottoms=2, max_bottoms=3, min_tops=1, max_tops=2, auto_tops=True), RFCN),
    ("SoftmaxWithLossOHEM", BlobCounts(exact_bottoms=2, min_tops=1, max_tops=3, auto_tops=True), RFCN),
    ("BoxAnnotatorOHEM", BlobCounts(exact_bottoms=4, exact_tops=2), RFCN),
    ("Proposal", BlobCounts(exact_bottoms=3, min_tops=1, max_tops=2), PVANET),
])
def test_counts_and_origin(layer_type: str, counts: BlobCounts, origin: str) -> None:
    rule = rule_for(layer_type)
    assert rule is not None
    assert rule.counts == counts
    assert rule.origin == origin


def layer(kind: str, params: str = "", bottoms: int = 2, tops: int = 1) -> str:
    bottom_lines = " ".join(f'bottom: "b{i}"' for i in range(bottoms))
    top_lines = " ".join(f'top: "t{i}"' for i in range(tops))
    return f'name: "l" type: "{kind}" {bottom_lines} {top_lines} {params}'


ROI = "roi_pooling_param { pooled_h: 7 pooled_w: 6 spatial_scale: 0.0625 }"


@pytest.mark.parametrize(("bottoms", "top"), [
    # VGG16 fast_rcnn: conv5_3 [1, 512, 14, 14] and 128 RoIs of (n, x1, y1, x2, y2).
    ([(1, 512, 14, 14), (128, 5)], (128, 512, 7, 6)),
    # R = bottom[1]->num(); the RoI blob may also be 4-D [R, 5, 1, 1] (py-R-FCN's data layers).
    ([(2, 256, 38, 50), (300, 5, 1, 1)], (300, 256, 7, 6)),
    # The proposal layer's set-up shape [1, 5].
    ([(1, 512, 14, 14), (1, 5)], (1, 512, 7, 6)),
])
def test_roi_pooling(bottoms: list[Shape], top: Shape) -> None:
    assert apply_rule(layer("ROIPooling", ROI), bottoms).top_shapes == (top,)


@pytest.mark.parametrize(("params", "bottoms", "message"), [
    ("roi_pooling_param { pooled_w: 7 }", [(1, 8, 4, 4), (3, 5)], "pooled_h must be > 0"),
    ("roi_pooling_param { pooled_h: 7 }", [(1, 8, 4, 4), (3, 5)], "pooled_w must be > 0"),
    (ROI, [(1, 8, 4, 4), (3, 4)], "ROI layer C x W x H must be == 5"),
    (ROI, [(1, 8, 4, 4), (3, 5, 2)], "ROI layer C x W x H must be == 5"),
])
def test_roi_pooling_checks(params: str, bottoms: list[Shape], message: str) -> None:
    with pytest.raises(RuleCheckFailed, match=message):
        apply_rule(layer("ROIPooling", params), bottoms)


PSROI = "psroi_pooling_param { spatial_scale: 0.0625 output_dim: 21 group_size: 7 }"


def test_psroi_pooling() -> None:
    # R-FCN ResNet-50: rfcn_cls has 21 * 7 * 7 = 1029 channels; 300 RoIs.
    shapes = apply_rule(layer("PSROIPooling", PSROI), [(1, 1029, 38, 63), (300, 5)])
    assert shapes.top_shapes == ((300, 21, 7, 7),)
    assert shapes.param_shapes == ()


@pytest.mark.parametrize(("params", "bottoms", "message"), [
    (PSROI, [(1, 1028, 38, 63), (300, 5)], "input channel number does not match layer parameters"),
    ("psroi_pooling_param { spatial_scale: 0.0625 output_dim: 0 group_size: 7 }",
     [(1, 0, 38, 63), (300, 5)], "output_dim must be > 0"),
    ("psroi_pooling_param { output_dim: 21 group_size: 7 }", [(1, 1029, 38, 63), (300, 5)],
     "missing required field.*spatial_scale"),
])
def test_psroi_pooling_checks(params: str, bottoms: list[Shape], message: str) -> None:
    with pytest.raises(RuleCheckFailed, match=message):
        apply_rule(layer("PSROIPooling", params), bottoms)


@pytest.mark.parametrize("bottoms", [
    # rpn_loss_bbox: predictions, targets, inside and outside weights [1, 36, H, W].
    [(1, 36, 38, 63)] * 4,
    # loss_bbox of the fast R-CNN head: [R, 84] with legacy height = width = 1.
    [(128, 84), (128, 84), (128, 84), (128, 84)],
    # Without weights.
    [(128, 84), (128, 84, 1, 1)],
])
def test_smooth_l1_loss(bottoms: list[Shape]) -> None:
    shapes = apply_rule(layer("SmoothL1Loss", "smooth_l1_loss_param { sigma: 3 }", len(bottoms)), bottoms)
    assert shapes.top_shapes == ((),)


@pytest.mark.parametrize(("bottoms", "message"), [
    ([(2, 8), (2, 8), (2, 8)], "must specify both inside and outside weights"),
    ([(2, 8), (3, 8)], "same first dimension"),
    ([(2, 8), (2, 4)], r"bottom\[0\]->channels\(\) == bottom\[1\]->channels\(\)"),
    ([(2, 8), (2, 8), (2, 8), (2, 8, 2)], r"bottom\[0\]->height\(\) == bottom\[3\]->height\(\)"),
])
def test_smooth_l1_loss_checks(bottoms: list[Shape], message: str) -> None:
    with pytest.raises(RuleCheckFailed, match=message):
        apply_rule(layer("SmoothL1Loss", bottoms=len(bottoms)), bottoms)


@pytest.mark.parametrize(("bottoms", "tops", "expected"), [
    # per_roi_loss_bbox: [R, 8, 1, 1] predictions; the second top is the loss per RoI [R, 1, 1, 1].
    ([(128, 8, 1, 1)] * 3, 2, [(), (128, 1, 1, 1)]),
    ([(128, 8, 1, 1)] * 3, 1, [()]),
    ([(128, 8), (128, 8)], 2, [(), (128, 1, 1, 1)]),
])
def test_smooth_l1_loss_ohem(bottoms: list[Shape], tops: int, expected: list[Shape]) -> None:
    shapes = apply_rule(layer("SmoothL1LossOHEM", bottoms=len(bottoms), tops=tops), bottoms)
    assert list(shapes.top_shapes) == expected


@pytest.mark.parametrize(("tops", "expected"), [
    (1, [()]),
    (2, [(), (128, 21, 1, 1)]),
    # The third top, the loss per item, is shaped like the labels.
    (3, [(), (128, 21, 1, 1), (128, 1, 1, 1)]),
])
def test_softmax_with_loss_ohem(tops: int, expected: list[Shape]) -> None:
    shapes = apply_rule(layer("SoftmaxWithLossOHEM", tops=tops), [(128, 21, 1, 1), (128, 1, 1, 1)])
    assert list(shapes.top_shapes) == expected


def test_softmax_with_loss_ohem_checks_labels() -> None:
    with pytest.raises(RuleCheckFailed, match="Number of labels must match number of predictions"):
        apply_rule(layer("SoftmaxWithLossOHEM"), [(128, 21, 1, 1), (128, 2, 1, 1)])


OHEM = "box_annotator_ohem_param { roi_per_img: 128 ignore_label: -1 }"


def test_box_annotator_ohem() -> None:
    # rois [R, 5, 1, 1], per-RoI loss and labels [R, 1, 1, 1], bbox_inside_weights [R, 8, 1, 1].
    bottoms = [(300, 5, 1, 1), (300, 1, 1, 1), (300, 1, 1, 1), (300, 8, 1, 1)]
    shapes = apply_rule(layer("BoxAnnotatorOHEM", OHEM, bottoms=4, tops=2), bottoms)
    assert shapes.top_shapes == ((300, 1, 1, 1), (300, 8, 1, 1))


@pytest.mark.parametrize(("params", "bottoms", "message"), [
    (OHEM, [(300, 4, 1, 1), (300, 1), (300, 1), (300, 8)], r"5 == bottom\[0\]->channels\(\)"),
    (OHEM, [(300, 5), (299, 1), (300, 1), (300, 8)], r"bottom\[1\]->num\(\) == num_"),
    (OHEM, [(300, 5), (300, 1), (300, 2), (300, 8)], r"bottom\[2\]->channels\(\) == 1"),
    ("box_annotator_ohem_param { ignore_label: -1 }", [(300, 5), (300, 1), (300, 1), (300, 8)],
     "missing required field.*roi_per_img"),
    ("box_annotator_ohem_param { roi_per_img: 0 }", [(300, 5), (300, 1), (300, 1), (300, 8)],
     r"roi_per_img_ > 0 \(0 vs. 0\)"),
])
def test_box_annotator_ohem_checks(params: str, bottoms: list[Shape], message: str) -> None:
    with pytest.raises(RuleCheckFailed, match=message):
        apply_rule(layer("BoxAnnotatorOHEM", params, bottoms=4, tops=2), bottoms)


@pytest.mark.parametrize(("params", "tops", "expected"), [
    # pvanet_obsolete example_train_384: post_nms_topn 200, RoIs and their scores.
    ("proposal_param { post_nms_topn: 200 }", 2, [(200, 5), (200,)]),
    # Default post_nms_topn 300, the rois top only.
    ("", 1, [(300, 5)]),
])
def test_proposal(params: str, tops: int, expected: list[Shape]) -> None:
    bottoms = [(1, 50, 24, 40), (1, 100, 24, 40), (1, 6)]
    shapes = apply_rule(layer("Proposal", params, bottoms=3, tops=tops), bottoms)
    assert list(shapes.top_shapes) == expected
    assert shapes.notes


def test_proposal_rows_scale_with_the_batch() -> None:
    bottoms = [(2, 50, 24, 40), (2, 100, 24, 40), (2, 6)]
    shapes = apply_rule(layer("Proposal", "proposal_param { post_nms_topn: 100 }", 3), bottoms)
    assert shapes.top_shapes == ((200, 5),)


def test_schema_fields() -> None:
    fields = caffe_pb2.LayerParameter.DESCRIPTOR.fields_by_name
    # The forks' own numbers (caffe-fast-rcnn, caffe-rfcn).
    assert fields["roi_pooling_param"].number == 8266711
    assert fields["smooth_l1_loss_param"].number == 8266712
    assert fields["box_annotator_ohem_param"].number == 10000
    assert fields["psroi_pooling_param"].number == 10001
    loss = caffe_pb2.LossParameter
    assert loss.NormalizationMode.Value("NONE") == 3  # BVLC's number stays
    assert loss.DESCRIPTOR.fields_by_name["pre_fixed_normalizer"].default_value == 1
    assert caffe_pb2.DropoutParameter.DESCRIPTOR.fields_by_name["scale_train"].default_value is True
