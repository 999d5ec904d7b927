"""Segmentation forks' rules (SegNet/ENet BN, Upsample, DenseImageData; PSPNet BN, Interp,
ImageSegData, SegAccuracy; SELU) against the forks' formulas, and corpus nets end to end."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from blobcalc import analyze
from blobcalc.shapes.registry import RuleCheckFailed, ShapeUnknown, rule_for
from tests.golden_support import CORPUS
from tests.rule_helpers import apply_rule

SEGNET = "SegNet fork (alexgkendall/caffe-segnet)"


def layer(kind: str, params: str = "", bottoms: int = 1, tops: int = 1) -> str:
    bottom_lines = " ".join(f'bottom: "b{i}"' for i in range(bottoms))
    top_lines = " ".join(f'top: "t{i}"' for i in range(tops))
    return f'name: "l" type: "{kind}" {bottom_lines} {top_lines} {params}'


def corpus_net(relative: str) -> Path:
    path = CORPUS / relative
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"corpus net {relative} is missing")
        pytest.skip("../shared/corpus is not beside this checkout (it is under CI)")
    return path


# --- BN -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("params", "bottom", "tops", "top_shapes"), [
    # SegNet bn_layer.cpp: a 4-D top from the legacy accessors, scale and shift [1, C, 1, 1].
    ("bn_param { scale_filler { value: 1 } }", (2, 16, 8, 8), 1, ((2, 16, 8, 8),)),
    ("bn_param { bn_mode: INFERENCE }", (4, 10), 1, ((4, 10, 1, 1),)),
    # LEARN mode: up to two more tops, the batch mean and variance.
    ("bn_param { bn_mode: LEARN }", (2, 16, 8, 8), 3, ((2, 16, 8, 8), (1, 16, 1, 1), (1, 16, 1, 1))),
])
def test_segnet_bn(params: str, bottom: tuple[int, ...], tops: int,
                   top_shapes: tuple[tuple[int, ...], ...]) -> None:
    shapes = apply_rule(layer("BN", params, tops=tops), [bottom])
    assert shapes.top_shapes == top_shapes
    channels = bottom[1]
    assert shapes.param_shapes == ((1, channels, 1, 1), (1, channels, 1, 1))
    assert shapes.notes == ()


def test_segnet_bn_inference_has_one_top() -> None:
    with pytest.raises(RuleCheckFailed, match="at most 1 top"):
        apply_rule(layer("BN", "bn_param { bn_mode: INFERENCE }", tops=2), [(2, 16, 8, 8)])


def test_pspnet_bn_has_four_blobs_and_one_top() -> None:
    # PSPNet bn_layer.cpp: slope, bias, moving mean, moving variance; top shaped like the bottom.
    text = layer("BN", "bn_param { slope_filler { value: 1 } frozen: true momentum: 0.95 }")
    shapes = apply_rule(text, [(1, 64, 237, 237)])
    assert shapes.top_shapes == ((1, 64, 237, 237),)
    assert shapes.param_shapes == ((1, 64, 1, 1),) * 4
    with pytest.raises(RuleCheckFailed, match="1 top"):
        apply_rule(layer("BN", "bn_param { frozen: true }", tops=2), [(1, 64, 5, 5)])


def test_bn_fork_is_read_from_param_specs_when_bn_param_is_empty() -> None:
    four_specs = " ".join("param { lr_mult: 0 }" for _ in range(4))
    pspnet = apply_rule(layer("BN", four_specs), [(1, 8, 3, 3)])
    assert len(pspnet.param_shapes) == 4 and "PSPNet" in pspnet.notes[0]
    segnet = apply_rule(layer("BN"), [(1, 8, 3, 3)])
    assert len(segnet.param_shapes) == 2 and "SegNet" in segnet.notes[0]


def test_bn_refuses_fields_of_both_forks() -> None:
    with pytest.raises(RuleCheckFailed, match="mixes SegNet's fields"):
        apply_rule(layer("BN", "bn_param { bn_mode: LEARN frozen: true }"), [(1, 8, 3, 3)])


def test_bn_legacy_accessors_refuse_five_axes() -> None:
    with pytest.raises(RuleCheckFailed, match="legacy accessors"):
        apply_rule(layer("BN"), [(1, 8, 3, 3, 3)])


# --- Upsample -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("params", "bottom", "top"), [
    # SegNet upsample_layer.cpp: height * scale_h - pad_out_h, width likewise.
    ("", (2, 3, 4, 5), (2, 3, 8, 10)),                      # scale defaults to 2
    ("upsample_param { scale: 2 pad_out_h: true }", (2, 3, 4, 5), (2, 3, 7, 10)),
    ("upsample_param { scale_h: 3 scale_w: 2 }", (2, 3, 4, 5), (2, 3, 12, 10)),
    # The exact output size wins (SegNet's recommended form, e.g. 45 x 60 → 90 x 120).
    ("upsample_param { scale: 2 upsample_h: 90 upsample_w: 120 }", (1, 512, 45, 60), (1, 512, 90, 120)),
    ("upsample_param { upsample_h: 23 upsample_w: 30 }", (1, 512, 12, 15), (1, 512, 23, 30)),
])
def test_segnet_upsample(params: str, bottom: tuple[int, ...], top: tuple[int, ...]) -> None:
    shapes = apply_rule(layer("Upsample", params, bottoms=2), [bottom, bottom])
    assert shapes.top_shapes == (top,)
    assert shapes.param_shapes == ()


@pytest.mark.parametrize(("params", "message"), [
    ("upsample_param { upsample_h: 1 upsample_w: 4 }", r"upsample_h_ > 1 \(1 vs. 1\)"),
    ("upsample_param { scale: 1 }", r"scale_h_ > 1"),
    ("upsample_param { scale: 3 pad_out_w: true }", "requires scale_w == 2"),
    ("upsample_param { scale: 2 scale_h: 2 scale_w: 2 }", "scale OR scale_h & scale_w are required"),
])
def test_segnet_upsample_checks(params: str, message: str) -> None:
    with pytest.raises(RuleCheckFailed, match=message):
        apply_rule(layer("Upsample", params, bottoms=2), [(1, 2, 4, 4), (1, 2, 4, 4)])


def test_segnet_upsample_mask_must_match_the_data() -> None:
    with pytest.raises(RuleCheckFailed, match=r"height\(\) == bottom\[1\]->height\(\) \(4 vs. 5\)"):
        apply_rule(layer("Upsample", bottoms=2), [(1, 2, 4, 4), (1, 2, 5, 4)])
    with pytest.raises(RuleCheckFailed, match="Input mask must have 4 axes"):
        apply_rule(layer("Upsample", bottoms=2), [(1, 2, 4, 4), (1, 2, 4)])


def test_nearest_upsample_of_yolo_ports() -> None:
    # eric612/MobileNet-YOLO upsample_layer.cpp: one bottom, last two axes times scale.
    shapes = apply_rule(layer("Upsample", "upsample_param { scale: 2 }"), [(1, 256, 13, 13)])
    assert shapes.top_shapes == ((1, 256, 26, 26),)


# --- Interp -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("params", "bottoms", "top"), [
    # interp_layer.cpp: zoom: h + (h - 1) * (zoom - 1); shrink: (h - 1) / shrink + 1.
    ("interp_param { zoom_factor: 8 }", [(1, 21, 60, 60)], (1, 21, 473, 473)),
    ("interp_param { shrink_factor: 2 }", [(1, 3, 473, 473)], (1, 3, 237, 237)),
    ("interp_param { shrink_factor: 8 }", [(1, 3, 473, 472)], (1, 3, 60, 59)),
    ("interp_param { height: 60 width: 60 }", [(1, 512, 1, 1)], (1, 512, 60, 60)),
    # A second bottom gives the size (with or without soeaver's use_blob_size).
    ("", [(2, 256, 16, 16), (2, 64, 32, 31)], (2, 256, 32, 31)),
    ("interp_param { use_blob_size: true }", [(2, 256, 16, 16), (2, 64, 32, 31)], (2, 256, 32, 31)),
    # pad_beg / pad_end crop the input first: effective 58 x 58.
    ("interp_param { zoom_factor: 2 pad_beg: -1 pad_end: -1 }", [(1, 4, 60, 60)], (1, 4, 115, 115)),
])
def test_interp(params: str, bottoms: list[tuple[int, ...]], top: tuple[int, ...]) -> None:
    shapes = apply_rule(layer("Interp", params, bottoms=len(bottoms)), bottoms)
    assert shapes.top_shapes == (top,)


@pytest.mark.parametrize(("params", "bottoms", "message"), [
    ("interp_param { zoom_factor: 2 shrink_factor: 2 }", 1, r"either by zoom factor.*\(2 vs. 1\)"),
    ("", 1, r"either by zoom factor.*\(0 vs. 1\)"),
    ("interp_param { height: 5 width: 5 }", 2, r"\(2 vs. 1\)"),
    ("interp_param { zoom_factor: 2 pad_end: 1 }", 1, "Only supports non-pos padding"),
    ('interp_param { zoom_factor: 2 interp_type: "bicubic" }', 1, "Interp type error"),
    ("interp_param { zoom_factor: 0 }", 1, "Zoom factor must be positive"),
    ("", 3, "bottom number of interp layer should be 1 or 2"),
])
def test_interp_checks(params: str, bottoms: int, message: str) -> None:
    with pytest.raises(RuleCheckFailed, match=message):
        apply_rule(layer("Interp", params, bottoms=bottoms), [(1, 2, 8, 8)] * bottoms)


# --- data layers and SegAccuracy -------------------------------------------------------------

@pytest.mark.parametrize(("params", "data", "label"), [
    ("dense_image_data_param { batch_size: 4 new_height: 360 new_width: 480 }",
     (4, 3, 360, 480), (4, 1, 360, 480)),
    ("dense_image_data_param { batch_size: 4 is_color: false } transform_param { crop_size: 224 }",
     (4, 1, 224, 224), (4, 1, 224, 224)),
    # ENet's Caffe: crop_height/crop_width, and label maps divided by label_divide_factor.
    ("dense_image_data_param { batch_size: 3 new_height: 512 new_width: 1024 label_divide_factor: 8 }",
     (3, 3, 512, 1024), (3, 1, 64, 128)),
    ("dense_image_data_param { batch_size: 3 crop_height: 256 crop_width: 512 }",
     (3, 3, 256, 512), (3, 1, 256, 512)),
])
def test_dense_image_data(params: str, data: tuple[int, ...], label: tuple[int, ...]) -> None:
    shapes = apply_rule(layer("DenseImageData", params, bottoms=0, tops=2), [])
    assert shapes.top_shapes == (data, label)
    rule = rule_for("DenseImageData")
    assert rule is not None and rule.source


def test_dense_image_data_without_size_is_unknown() -> None:
    with pytest.raises(ShapeUnknown, match="--input-shape t0=4,3,H,W --input-shape t1=4,1,H,W"):
        apply_rule(layer("DenseImageData", 'dense_image_data_param { batch_size: 4 source: "x" }',
                         bottoms=0, tops=2), [])
    with pytest.raises(RuleCheckFailed, match="new_height and new_width"):
        apply_rule(layer("DenseImageData", "dense_image_data_param { new_height: 4 }", bottoms=0, tops=2), [])


def test_image_seg_data_has_three_tops() -> None:
    # image_seg_data_layer.cpp: data, label and the image sizes [batch, 1, 1, 2].
    text = layer("ImageSegData", "transform_param { crop_size: 513 } image_data_param { batch_size: 2 }",
                 bottoms=0, tops=2)
    shapes = apply_rule(text, [], num_tops=3)
    assert shapes.top_shapes == ((2, 3, 513, 513), (2, 1, 513, 513), (2, 1, 1, 2))
    rule = rule_for("ImageSegData")
    assert rule is not None and rule.counts.auto_tops and rule.counts.exact_tops == 3
    with pytest.raises(RuleCheckFailed, match="does not support mean file"):
        apply_rule(layer("ImageSegData", 'transform_param { mean_file: "m" crop_size: 5 }', bottoms=0),
                   [], num_tops=3)


def test_seg_accuracy() -> None:
    shapes = apply_rule(layer("SegAccuracy", "seg_accuracy_param { ignore_label: 255 }", bottoms=2),
                        [(1, 21, 60, 60), (1, 1, 60, 60)])
    assert shapes.top_shapes == ((1, 1, 1, 3),)
    with pytest.raises(RuleCheckFailed, match="The label should have one channel"):
        apply_rule(layer("SegAccuracy", bottoms=2), [(1, 21, 60, 60), (1, 2, 60, 60)])
    with pytest.raises(RuleCheckFailed, match="same width as label"):
        apply_rule(layer("SegAccuracy", bottoms=2), [(1, 21, 60, 60), (1, 1, 60, 59)])


@pytest.mark.parametrize("kind", ["SeLu", "SeLuDropout"])
def test_selu_layers_keep_the_shape(kind: str) -> None:
    assert apply_rule(layer(kind), [(1, 512, 60, 60)]).top_shapes == ((1, 512, 60, 60),)


# --- corpus nets ---------------------------------------------------------------------------------

def test_segnet_pascal_decoder_returns_to_the_input_size() -> None:
    analysis = analyze(str(corpus_net("alexgkendall__SegNet-Tutorial/Example_Models__segnet_pascal.prototxt")))
    by_name = {result.name: result for result in analysis.layers}
    data = analysis.layers[0].top_shapes[0]
    assert data is not None
    assert by_name["upsample1"].top_shapes == ((data[0], 64, data[2], data[3]),)
    assert by_name["prob"].top_shapes == ((data[0], 21, data[2], data[3]),)
    assert by_name["conv1_1_bn"].param_shapes == ((1, 64, 1, 1), (1, 64, 1, 1))
    assert dict(analysis.fork_types)["Upsample"].startswith(SEGNET)
    assert not analysis.partial


def test_segnet_training_net_with_dense_image_data() -> None:
    net = corpus_net("alexgkendall__SegNet-Tutorial/Models__segnet_train.prototxt")
    # The net is written for CamVid's 360 x 480 images (its upsample_h/w say so).
    analysis = analyze(str(net), phase="TRAIN",
                       input_shapes={"data": (4, 3, 360, 480), "label": (4, 1, 360, 480)})
    by_name = {result.name: result for result in analysis.layers}
    assert by_name["upsample5"].top_shapes == ((4, 512, 23, 30),)
    assert by_name["upsample1"].top_shapes == ((4, 64, 360, 480),)
    assert by_name["loss"].top_shapes == ((),)
    assert not analysis.partial


def test_enet_deploy_output_matches_its_input() -> None:
    analysis = analyze(str(corpus_net("TimoSaemann__ENet/prototxts__enet_deploy.prototxt")))
    data = analysis.layers[0].top_shapes[0]
    last = analysis.layers[-1].top_shapes[0]
    assert data is not None and last is not None
    assert last[2:] == data[2:]
    assert {result.type for result in analysis.layers} >= {"BN", "Upsample"}
    assert not analysis.partial


def test_pspnet_ade20k() -> None:
    analysis = analyze(str(corpus_net("hszhao__PSPNet/evaluation__prototxt__pspnet50_ADE20K_473.prototxt")))
    by_name = {result.name: result for result in analysis.layers}
    assert by_name["conv1_1_3x3_s2/bn"].param_shapes == ((1, 64, 1, 1),) * 4
    assert by_name["conv5_3_pool1_interp"].top_shapes == ((1, 512, 60, 60),)
    assert by_name["conv6_interp"].top_shapes == ((1, 150, 473, 473),)
    assert not analysis.partial


def test_soeaver_pspnet_with_selu() -> None:
    net = corpus_net("soeaver__caffe-model/"
                     "seg__pspnet__models__pascal_voc__resnet101-v2__deploy_psp_resnet101-v2-merge-selu.prototxt")
    analysis = analyze(str(net))
    types = {result.type for result in analysis.layers}
    assert {"SeLu", "SeLuDropout", "Interp"} <= types
    assert not analysis.partial
