"""Rules of the SSD fork (blobcalc/shapes/forks/ssd.py) and the fork's Pooling ceil_mode, checked
against the fork's formulas and its layer tests (test_prior_box_layer.cpp, test_permute_layer.cpp,
test_normalize_layer.cpp, test_detection_output_layer.cpp, test_detection_evaluate_layer.cpp,
test_multibox_loss_layer.cpp), and the SSD300 prior-box figure on the corpus net."""
from __future__ import annotations

import os

import pytest
from google.protobuf import text_format

from blobcalc import analyze, caffe_pb2
from blobcalc.errors import ShapeError
from blobcalc.forks import fork_fields_used
from blobcalc.shapes.forks.ssd import SSD, prior_aspect_ratios
from blobcalc.shapes.registry import BlobCounts, RuleCheckFailed, Shape, ShapeUnknown, rule_for
from tests.golden_support import CORPUS
from tests.rule_helpers import apply_rule


@pytest.mark.parametrize(("layer_type", "counts", "source"), [
    ("PriorBox", BlobCounts(exact_tops=1), False),
    ("Permute", BlobCounts(exact_bottoms=1, exact_tops=1), False),
    ("Normalize", BlobCounts(exact_bottoms=1, exact_tops=1), False),
    ("DetectionOutput", BlobCounts(min_bottoms=3, max_bottoms=4, exact_tops=1), False),
    # detection_evaluate_layer.hpp misspells ExactNumBottomBlobs, so only the top count holds.
    ("DetectionEvaluate", BlobCounts(exact_tops=1), False),
    ("MultiBoxLoss", BlobCounts(exact_bottoms=4, exact_tops=1, auto_tops=True), False),
    ("AnnotatedData", BlobCounts(exact_bottoms=0, min_tops=1), True),
])
def test_registration(layer_type: str, counts: BlobCounts, source: bool) -> None:
    rule = rule_for(layer_type)
    assert rule is not None
    assert (rule.counts, rule.origin, rule.source) == (counts, SSD, source)


# ---------------------------------------------------------------------------------------------
# PriorBox


def prior_box(params: str) -> str:
    return f'name: "p" type: "PriorBox" bottom: "f" bottom: "img" top: "p" prior_box_param {{ {params} }}'


FEATURE: Shape = (10, 10, 10, 10)  # test_prior_box_layer.cpp: a 10x10 map, a 100x100 image
IMAGE: Shape = (10, 3, 100, 100)


@pytest.mark.parametrize(("params", "priors_per_location"), [
    # TestSetup: min 4, max 9 → the square box and the sqrt(min*max) box.
    ("min_size: 4 max_size: 9", 2),
    # TestSetupNoMaxSize.
    ("min_size: 4", 1),
    # TestSetupAspectRatio1: ratio 1 is always there, so only 2 is new; no flip.
    ("min_size: 4 max_size: 9 aspect_ratio: 1 aspect_ratio: 2 flip: false", 3),
    # TestSetupAspectRatioNoFlip: 1, 2, 3 and the max box.
    ("min_size: 4 max_size: 9 aspect_ratio: 2 aspect_ratio: 3 flip: false", 4),
    # TestSetupAspectRatio: flip (the default) adds 1/2 and 1/3.
    ("min_size: 4 max_size: 9 aspect_ratio: 2 aspect_ratio: 3", 6),
    # A ratio and its reciprocal given together: 0.5 is already there after 2 is flipped.
    ("min_size: 4 aspect_ratio: 2 aspect_ratio: 0.5", 3),
    # Repeated ratios count once.
    ("min_size: 4 aspect_ratio: 2 aspect_ratio: 2 flip: false", 2),
    # Several min sizes: each gets every ratio; each max size adds one box.
    ("min_size: 4 min_size: 8 max_size: 6 max_size: 12 aspect_ratio: 2", 8),
    ("min_size: 4 min_size: 8 aspect_ratio: 2 aspect_ratio: 3 flip: false", 6),
    # SSD300's conv4_3 and fc7 heads.
    ("min_size: 30 max_size: 60 aspect_ratio: 2 flip: true clip: false "
     "variance: 0.1 variance: 0.1 variance: 0.2 variance: 0.2 step: 8 offset: 0.5", 4),
    ("min_size: 60 max_size: 111 aspect_ratio: 2 aspect_ratio: 3 flip: true step: 16", 6),
])
def test_prior_box(params: str, priors_per_location: int) -> None:
    shapes = apply_rule(prior_box(params), [FEATURE, IMAGE])
    assert shapes.top_shapes == ((1, 2, 10 * 10 * priors_per_location * 4),)
    assert shapes.param_shapes == ()


def test_prior_box_uses_the_feature_map_size_only() -> None:
    # A non-square map: its H x W counts; the image's size is only read in Forward.
    shapes = apply_rule(prior_box("min_size: 30"), [(2, 512, 38, 19), (2, 3, 300, 300)])
    assert shapes.top_shapes == ((1, 2, 38 * 19 * 4),)


def test_prior_box_aspect_ratios_are_compared_as_floats() -> None:
    param = caffe_pb2.PriorBoxParameter(aspect_ratio=[3.0, 0.333333], flip=True)
    # 1/3 as a float is within 1e-6 of 0.333333 as a float, so the second ratio is a repeat.
    assert len(prior_aspect_ratios(param)) == 3


@pytest.mark.parametrize(("params", "message"), [
    ("", "must provide min_size"),
    ("min_size: 0", "min_size must be positive"),
    ("min_size: 4 max_size: 9 max_size: 10", "min_size_size\\(\\) == prior_box_param.max_size_size"),
    ("min_size: 9 max_size: 4", "max_size must be greater than min_size"),
    ("min_size: 4 variance: 0.1 variance: 0.2", "variance_size\\(\\) == 4"),
    ("min_size: 4 variance: 0", "variance > 0"),
    ("min_size: 4 img_size: 300 img_h: 300 img_w: 300", "Either img_size or img_h/img_w"),
    ("min_size: 4 img_h: 300", "img_w should be larger than 0"),
    ("min_size: 4 step: 8 step_h: 8 step_w: 8", "Either step or step_h/step_w"),
    ("min_size: 4 step: 0", "step should be larger than 0"),
])
def test_prior_box_checks(params: str, message: str) -> None:
    with pytest.raises(RuleCheckFailed, match=message):
        apply_rule(prior_box(params), [FEATURE, IMAGE])


def test_prior_box_legacy_accessors() -> None:
    with pytest.raises(RuleCheckFailed, match="> 4 axes"):
        apply_rule(prior_box("min_size: 4"), [(1, 2, 3, 4, 5), IMAGE])
    # A 2-D map reads height and width 1.
    assert apply_rule(prior_box("min_size: 4"), [(1, 8), IMAGE]).top_shapes == ((1, 2, 4),)


# ---------------------------------------------------------------------------------------------
# Permute


def permute(orders: list[int]) -> str:
    order_text = " ".join(f"order: {axis}" for axis in orders)
    return f'name: "p" type: "Permute" bottom: "b" top: "t" permute_param {{ {order_text} }}'


@pytest.mark.parametrize(("orders", "bottom", "top"), [
    # test_permute_layer.cpp TestSetUp: NCHW → NHWC.
    ([0, 2, 3, 1], (2, 3, 4, 5), (2, 4, 5, 3)),
    # TestSetUpIdentity: no order keeps the shape.
    ([], (2, 3, 4, 5), (2, 3, 4, 5)),
    # TestFowrad2D: swap H and W.
    ([0, 1, 3, 2], (2, 3, 4, 5), (2, 3, 5, 4)),
    # Axes not listed follow in their old order.
    ([0, 2], (2, 3, 4, 5), (2, 4, 3, 5)),
    ([3], (2, 3, 4, 5), (5, 2, 3, 4)),
    # Any rank.
    ([1, 0], (6, 7), (7, 6)),
    ([0, 4, 1, 2, 3], (1, 2, 3, 4, 5), (1, 5, 2, 3, 4)),
])
def test_permute(orders: list[int], bottom: Shape, top: Shape) -> None:
    assert apply_rule(permute(orders), [bottom]).top_shapes == (top,)


@pytest.mark.parametrize(("orders", "message"), [
    ([0, 4], "order should be less than the input dimension"),
    ([0, 1, 1], "there are duplicate orders"),
])
def test_permute_checks(orders: list[int], message: str) -> None:
    with pytest.raises(RuleCheckFailed, match=message):
        apply_rule(permute(orders), [(2, 3, 4, 5)])


# ---------------------------------------------------------------------------------------------
# Normalize


def normalize(params: str) -> str:
    return f'name: "n" type: "Normalize" bottom: "b" top: "t" norm_param {{ {params} }}'


@pytest.mark.parametrize(("params", "bottom", "scale"), [
    # test_normalize_layer.cpp: 2x3x2x3 input; channel_shared (the default) → one scalar scale.
    ("", (2, 3, 2, 3), ()),
    ("across_spatial: false", (2, 3, 2, 3), ()),
    # TestForwardScaleChannels: one scale per channel.
    ("channel_shared: false", (2, 3, 2, 3), (3,)),
    ("across_spatial: false channel_shared: false", (2, 3, 2, 3), (3,)),
    # SSD300's conv4_3_norm.
    ("across_spatial: false channel_shared: false scale_filler { type: \"constant\" value: 20 }",
     (1, 512, 38, 38), (512,)),
    # Two axes are enough.
    ("channel_shared: false", (4, 7), (7,)),
])
def test_normalize(params: str, bottom: Shape, scale: Shape) -> None:
    shapes = apply_rule(normalize(params), [bottom])
    assert shapes.top_shapes == (bottom,)
    assert shapes.param_shapes == (scale,)


@pytest.mark.parametrize(("bottom", "message"), [
    ((5,), "Number of axes of bottom blob must be >=2"),
    ((1, 2, 3, 4, 5), "> 4 axes"),
])
def test_normalize_checks(bottom: Shape, message: str) -> None:
    with pytest.raises(RuleCheckFailed, match=message):
        apply_rule(normalize("channel_shared: false"), [bottom])


# ---------------------------------------------------------------------------------------------
# DetectionOutput


def detection_output(params: str, bottoms: int = 3) -> str:
    bottom_text = " ".join(f'bottom: "b{i}"' for i in range(bottoms))
    return (f'name: "d" type: "DetectionOutput" {bottom_text} top: "t" '
            f"detection_output_param {{ {params} }}")


def ssd_bottoms(num: int, priors: int, loc_classes: int, classes: int) -> list[Shape]:
    """test_detection_output_layer.cpp's blobs: loc [N, P*L*4, 1, 1], conf [N, P*C, 1, 1] and the
    priors [N, 2, P*4, 1]."""
    return [(num, priors * loc_classes * 4, 1, 1), (num, priors * classes, 1, 1), (num, 2, priors * 4, 1)]


@pytest.mark.parametrize(("params", "bottoms"), [
    # TestSetup: 2 images, 4 priors, 2 classes, shared locations.
    ("num_classes: 2", ssd_bottoms(2, 4, 1, 2)),
    ("num_classes: 2 share_location: false", ssd_bottoms(2, 4, 2, 2)),
    # keep_top_k and NMS settings only matter in Forward: the set-up shape is one fake row.
    ("num_classes: 2 keep_top_k: 200 nms_param { nms_threshold: 0.45 top_k: 400 } "
     "confidence_threshold: 0.01", ssd_bottoms(2, 4, 1, 2)),
    # SSD300 as its deploy net wires it: flat loc/conf [1, 34928] / [1, 183372], priors [1, 2, 34928].
    ("num_classes: 21 keep_top_k: 200 code_type: CENTER_SIZE",
     [(1, 34928), (1, 183372), (1, 2, 34928)]),
])
def test_detection_output(params: str, bottoms: list[Shape]) -> None:
    shapes = apply_rule(detection_output(params), bottoms)
    assert shapes.top_shapes == ((1, 1, 1, 7),)
    assert shapes.param_shapes == ()


@pytest.mark.parametrize(("params", "bottoms", "message"), [
    ("share_location: true", ssd_bottoms(2, 4, 1, 2), "Must specify num_classes"),
    ("num_classes: 3", ssd_bottoms(2, 4, 1, 2), "Number of priors must match number of confidence"),
    ("num_classes: 2 share_location: false", ssd_bottoms(2, 4, 1, 2),
     "Number of priors must match number of location"),
    ("num_classes: 2", [(2, 16, 1, 1), (3, 8, 1, 1), (2, 2, 16, 1)], "bottom\\[0\\]->num\\(\\) == bottom"),
    ("num_classes: 2 nms_param { nms_threshold: -0.1 }", ssd_bottoms(2, 4, 1, 2),
     "nms_threshold must be non negative"),
    ("num_classes: 2 nms_param { eta: 1.5 }", ssd_bottoms(2, 4, 1, 2), "eta must be in"),
])
def test_detection_output_checks(params: str, bottoms: list[Shape], message: str) -> None:
    with pytest.raises(RuleCheckFailed, match=message):
        apply_rule(detection_output(params), bottoms)


def test_detection_output_notes_side_files() -> None:
    params = ('num_classes: 2 save_output_param { output_directory: "out" '
              'label_map_file: "labelmap.prototxt" }')
    notes = apply_rule(detection_output(params), ssd_bottoms(2, 4, 1, 2)).notes
    assert any("labelmap.prototxt" in note for note in notes)
    assert any("'out'" in note for note in notes)


# ---------------------------------------------------------------------------------------------
# DetectionEvaluate


def detection_evaluate(params: str) -> str:
    return (f'name: "e" type: "DetectionEvaluate" bottom: "det" bottom: "gt" top: "t" '
            f"detection_evaluate_param {{ {params} }}")


@pytest.mark.parametrize(("params", "detections", "top"), [
    # test_detection_evaluate_layer.cpp: 3 classes, background 0, 8 detections → 2 + 8 rows.
    ("num_classes: 3 background_label_id: 0 overlap_threshold: 0.3", (1, 1, 8, 7), (1, 1, 10, 5)),
    # VOC at set-up: 20 positive classes plus DetectionOutput's one fake row.
    ("num_classes: 21 background_label_id: 0", (1, 1, 1, 7), (1, 1, 21, 5)),
    # A background id outside [0, C) leaves C - 1 positive classes all the same.
    ("num_classes: 3 background_label_id: 5", (1, 1, 8, 7), (1, 1, 10, 5)),
])
def test_detection_evaluate(params: str, detections: Shape, top: Shape) -> None:
    assert apply_rule(detection_evaluate(params), [detections, (1, 1, 4, 8)]).top_shapes == (top,)


@pytest.mark.parametrize(("params", "detections", "ground_truth", "message"), [
    ("background_label_id: 0", (1, 1, 8, 7), (1, 1, 4, 8), "Must provide num_classes"),
    ("num_classes: 3 overlap_threshold: 0", (1, 1, 8, 7), (1, 1, 4, 8), "overlap_threshold must be"),
    ("num_classes: 3", (2, 1, 8, 7), (1, 1, 4, 8), "bottom\\[0\\]->num\\(\\) == 1"),
    ("num_classes: 3", (1, 1, 8, 6), (1, 1, 4, 8), "bottom\\[0\\]->width\\(\\) == 7"),
    ("num_classes: 3", (1, 1, 8, 7), (1, 1, 4, 7), "bottom\\[1\\]->width\\(\\) == 8"),
])
def test_detection_evaluate_checks(params: str, detections: Shape, ground_truth: Shape, message: str) -> None:
    with pytest.raises(RuleCheckFailed, match=message):
        apply_rule(detection_evaluate(params), [detections, ground_truth])


def test_detection_evaluate_needs_two_bottoms() -> None:
    text = 'name: "e" type: "DetectionEvaluate" bottom: "det" top: "t" detection_evaluate_param { num_classes: 3 }'
    with pytest.raises(RuleCheckFailed, match="reads 2 bottoms"):
        apply_rule(text, [(1, 1, 8, 7)])


# ---------------------------------------------------------------------------------------------
# MultiBoxLoss


def multibox_loss(params: str) -> str:
    return ('name: "l" type: "MultiBoxLoss" bottom: "loc" bottom: "conf" bottom: "prior" bottom: "gt" '
            f'top: "loss" multibox_loss_param {{ {params} }}')


def loss_bottoms(num: int, priors: int, loc_classes: int, classes: int) -> list[Shape]:
    # test_multibox_loss_layer.cpp: 3 images, 2x2 map x 4 priors, 3 classes, a [1, 1, 4, 7] box list.
    return [*ssd_bottoms(num, priors, loc_classes, classes), (1, 1, 4, 7)]


@pytest.mark.parametrize(("params", "bottoms"), [
    ("num_classes: 3", loss_bottoms(3, 16, 1, 3)),
    ("num_classes: 3 share_location: false mining_type: NONE", loss_bottoms(3, 16, 3, 3)),
    ("num_classes: 3 conf_loss_type: LOGISTIC loc_loss_type: L2", loss_bottoms(3, 16, 1, 3)),
    # MobileNet-SSD's training head: flat [24, 7668] / [24, 40257] and priors [1, 2, 7668].
    ("num_classes: 21 mining_type: MAX_NEGATIVE neg_pos_ratio: 3.0 code_type: CENTER_SIZE",
     [(24, 7668), (24, 40257), (1, 2, 7668), (1, 1, 1, 8)]),
])
def test_multibox_loss(params: str, bottoms: list[Shape]) -> None:
    shapes = apply_rule(multibox_loss(params), bottoms)
    assert shapes.top_shapes == ((),)
    assert shapes.param_shapes == ()


@pytest.mark.parametrize(("params", "bottoms", "message"), [
    ("share_location: true", loss_bottoms(3, 16, 1, 3), "Must provide num_classes"),
    ("num_classes: 0", loss_bottoms(3, 16, 1, 3), "num_classes should not be less than 1"),
    ("num_classes: 3 share_location: false", loss_bottoms(3, 16, 3, 3),
     "only support negative mining if share_location is true"),
    ("num_classes: 3 background_label_id: 3", loss_bottoms(3, 16, 1, 3),
     "background_label_id should be within"),
    ("num_classes: 3 do_neg_mining: false", loss_bottoms(3, 16, 1, 3), "do_neg_mining disagrees"),
    ("num_classes: 4", loss_bottoms(3, 16, 1, 3), "Number of priors must match number of confidence"),
    ("num_classes: 3", [(3, 64, 1, 1), (2, 48, 1, 1), (3, 2, 64, 1), (1, 1, 4, 7)],
     "The data and label should have the same first dimension"),
])
def test_multibox_loss_checks(params: str, bottoms: list[Shape], message: str) -> None:
    with pytest.raises(RuleCheckFailed, match=message):
        apply_rule(multibox_loss(params), bottoms)


# ---------------------------------------------------------------------------------------------
# AnnotatedData


def annotated_data(transform: str, tops: int = 2) -> str:
    top_text = " ".join(f'top: "{name}"' for name in ("data", "label")[:tops])
    return (f'name: "data" type: "AnnotatedData" {top_text} data_param {{ source: "db" batch_size: 8 }} '
            f"transform_param {{ {transform} }} annotated_data_param {{ label_map_file: \"map\" }}")


@pytest.mark.parametrize(("transform", "tops", "expected"), [
    # SSD training nets: a WARP resize to 300x300, then the one-box list [1, 1, 1, 8].
    ("resize_param { resize_mode: WARP height: 300 width: 300 }", 2, [(8, 3, 300, 300), (1, 1, 1, 8)]),
    ("resize_param { resize_mode: FIT_LARGE_SIZE_AND_PAD height: 512 width: 256 }", 1,
     [(8, 3, 512, 256)]),
    # A crop after the resize.
    ("resize_param { height: 320 width: 320 } crop_size: 300", 2, [(8, 3, 300, 300), (1, 1, 1, 8)]),
    ("resize_param { height: 320 width: 320 } crop_h: 300", 2, [(8, 3, 300, 320), (1, 1, 1, 8)]),
    # A crop alone (both axes), and a gray image.
    ("crop_size: 224 force_gray: true", 2, [(8, 1, 224, 224), (1, 1, 1, 8)]),
    ("crop_h: 200 crop_w: 100", 2, [(8, 3, 200, 100), (1, 1, 1, 8)]),
])
def test_annotated_data(transform: str, tops: int, expected: list[Shape]) -> None:
    shapes = apply_rule(annotated_data(transform, tops), [])
    assert list(shapes.top_shapes) == expected
    assert any("channel" in note for note in shapes.notes)


@pytest.mark.parametrize("transform", [
    "mirror: true",
    "crop_h: 200",
    # FIT_SMALL_SIZE keeps each image's aspect ratio: the size depends on the data.
    "resize_param { resize_mode: FIT_SMALL_SIZE height: 300 width: 300 }",
])
def test_annotated_data_size_from_the_database(transform: str) -> None:
    with pytest.raises(ShapeUnknown, match="--input-shape data=8,C,H,W --input-shape label=1,1,B,8"):
        apply_rule(annotated_data(transform), [])


@pytest.mark.parametrize(("transform", "message"), [
    ("resize_param { height: 300 width: 300 } crop_size: 320", "datum_height >= crop_h"),
    ('crop_size: 300 mean_file: "m" mean_value: 1', "Cannot specify mean_file and mean_value"),
])
def test_annotated_data_checks(transform: str, message: str) -> None:
    with pytest.raises(RuleCheckFailed, match=message):
        apply_rule(annotated_data(transform), [])


# ---------------------------------------------------------------------------------------------
# Pooling's ceil_mode (SSD-era forks' spelling of round_mode)


def pool(params: str) -> str:
    return f'name: "p" type: "Pooling" bottom: "b" top: "t" pooling_param {{ {params} }}'


@pytest.mark.parametrize(("params", "bottom", "top"), [
    # ceil_mode: true is the fork's default and BVLC's CEIL: 112 → 56.
    ("kernel_size: 3 stride: 2 ceil_mode: true", (1, 64, 112, 112), (1, 64, 56, 56)),
    ("kernel_size: 3 stride: 2 ceil_mode: false", (1, 64, 112, 112), (1, 64, 55, 55)),
    # DenseNet's stem: 3x3/2 pad 1 over 112 with floor → 56 (ceil would give 57).
    ("pool: MAX kernel_size: 3 stride: 2 pad: 1 ceil_mode: false", (1, 64, 112, 112), (1, 64, 56, 56)),
    ("pool: MAX kernel_size: 3 stride: 2 pad: 1 ceil_mode: true", (1, 64, 112, 112), (1, 64, 57, 57)),
    ("pool: AVE kernel_size: 2 stride: 2 ceil_mode: false", (1, 128, 7, 7), (1, 128, 3, 3)),
    ("pool: AVE kernel_size: 2 stride: 2 ceil_mode: true", (1, 128, 7, 7), (1, 128, 4, 4)),
    # Without either field the BVLC default (CEIL) is unchanged.
    ("pool: AVE kernel_size: 2 stride: 2", (1, 128, 7, 7), (1, 128, 4, 4)),
    ("pool: AVE kernel_size: 2 stride: 2 round_mode: FLOOR", (1, 128, 7, 7), (1, 128, 3, 3)),
])
def test_pooling_ceil_mode(params: str, bottom: Shape, top: Shape) -> None:
    assert apply_rule(pool(params), [bottom]).top_shapes == (top,)


def test_pooling_refuses_both_rounding_fields() -> None:
    with pytest.raises(RuleCheckFailed, match=r"both round_mode .* and ceil_mode"):
        apply_rule(pool("kernel_size: 2 stride: 2 round_mode: FLOOR ceil_mode: false"), [(1, 1, 7, 7)])


def test_pooling_both_rounding_fields_in_a_net() -> None:
    net = ('input: "data" input_shape { dim: 1 dim: 1 dim: 7 dim: 7 } '
           'layer { name: "p" type: "Pooling" bottom: "data" top: "p" '
           "pooling_param { kernel_size: 2 stride: 2 round_mode: CEIL ceil_mode: true } }")
    with pytest.raises(ShapeError, match="ceil_mode"):
        analyze(net)


# ---------------------------------------------------------------------------------------------
# Schema: the fork's fields carry our marker.


def test_fork_fields_are_marked() -> None:
    text = ('layer { name: "p" type: "Pooling" pooling_param { ceil_mode: false } } '
            'layer { name: "d" type: "AnnotatedData" transform_param { resize_param { height: 1 } '
            "distort_param { } expand_param { } emit_constraint { } } }")
    used = fork_fields_used(text_format.Parse(text, caffe_pb2.NetParameter()))
    ceil = "PoolingParameter.ceil_mode (SSD-era Caffe forks (e.g. brocolli-caffe, DenseNet and PSPNet builds))"
    assert used == tuple(sorted([ceil, *(f"{name} ({SSD})" for name in (
        "TransformationParameter.resize_param",
        "TransformationParameter.distort_param", "TransformationParameter.expand_param",
        "TransformationParameter.emit_constraint"))]))


@pytest.mark.parametrize(("field", "number"), [
    ("annotated_data_param", 200), ("multibox_loss_param", 201), ("permute_param", 202),
    ("prior_box_param", 203), ("detection_output_param", 204), ("detection_evaluate_param", 205),
    ("norm_param", 206),
])
def test_layer_parameter_numbers_follow_the_fork(field: str, number: int) -> None:
    assert caffe_pb2.LayerParameter.DESCRIPTOR.fields_by_name[field].number == number


# ---------------------------------------------------------------------------------------------
# SSD300 on the corpus: the known figure.

SSD300 = CORPUS / "cwlacewe__netscope" / "presets__VGG_VOC0712Plus_SSD_300x300_ft_deploy.prototxt"


def test_ssd300_prior_boxes() -> None:
    if not SSD300.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{SSD300} is missing")
        pytest.skip("../shared/corpus is not beside this checkout (it is under CI)")
    analysis = analyze(str(SSD300), phase="TEST")
    by_top = {top: shape for layer in analysis.layers for top, shape in zip(layer.tops, layer.top_shapes,
                                                                             strict=True)}
    # 8732 priors: 38²·4 + 19²·6 + 10²·6 + 5²·6 + 3²·4 + 1²·4, four coordinates each.
    assert by_top["mbox_priorbox"] == (1, 2, 34928)
    assert by_top["detection_out"] == (1, 1, 1, 7)
    assert by_top["conv4_3_norm"] == (1, 512, 38, 38)
