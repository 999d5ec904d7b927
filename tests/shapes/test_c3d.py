"""C3D's 3-D convolution, pooling, deconvolution and video data layers (facebook/C3D v1.0), and
its V1 nets end to end (through the V1 upgrade of C3D's enums)."""
from __future__ import annotations

import pytest

from blobcalc import analyze
from blobcalc.shapes.registry import RuleCheckFailed, ShapeUnknown
from tests.rule_helpers import apply_rule
from tests.shapes.test_segmentation import corpus_net, layer


@pytest.mark.parametrize(("params", "bottom", "top", "weights"), [
    # convolution3d_layer.cpp: (in + 2 * pad - kernel) / stride + 1 per axis, temporal fields for
    # the length axis; weights [num_output, channels, kernel_depth, k, k].
    ("num_output: 64 kernel_size: 3 kernel_depth: 3 pad: 1 temporal_pad: 1", (10, 3, 16, 112, 112),
     (10, 64, 16, 112, 112), (64, 3, 3, 3, 3)),
    ("num_output: 64 kernel_size: 3 kernel_depth: 3 pad: 1 temporal_pad: 1 stride: 2 temporal_stride: 2",
     (10, 3, 16, 112, 112), (10, 64, 8, 56, 56), (64, 3, 3, 3, 3)),
    # No padding; filter_group splits the outputs, the weights still see every input channel.
    ("num_output: 8 kernel_size: 3 kernel_depth: 2 filter_group: 2", (1, 4, 5, 7, 7), (1, 8, 4, 5, 5),
     (8, 4, 2, 3, 3)),
])
def test_convolution3d(params: str, bottom: tuple[int, ...], top: tuple[int, ...],
                       weights: tuple[int, ...]) -> None:
    shapes = apply_rule(layer("Convolution3D", f"convolution_param {{ {params} }}"), [bottom])
    assert shapes.top_shapes == (top,)
    assert shapes.param_shapes == (weights, (1, 1, 1, 1, weights[0]))


@pytest.mark.parametrize(("params", "bottom", "message"), [
    ("num_output: 6 kernel_size: 3 kernel_depth: 3 filter_group: 4", (1, 3, 8, 8, 8),
     r"num_output_ % filter_group_ == 0 \(2 vs. 0\)"),
    ("num_output: 0 kernel_size: 3 kernel_depth: 3", (1, 3, 8, 8, 8), "num_output_ > 0"),
    ("num_output: 4 kernel_size: 3 kernel_depth: 3", (1, 3, 8, 8), "5-D blob"),
    ("num_output: 4 kernel_size: 3 kernel_size: 3 kernel_depth: 3", (1, 3, 8, 8, 8), "specified multiple times"),
])
def test_convolution3d_checks(params: str, bottom: tuple[int, ...], message: str) -> None:
    with pytest.raises(RuleCheckFailed, match=message):
        apply_rule(layer("Convolution3D", f"convolution_param {{ {params} }}"), [bottom])


def test_convolution3d_without_bias() -> None:
    text = layer("Convolution3D", "convolution_param { num_output: 2 kernel_size: 1 kernel_depth: 1 bias_term: false }")
    assert apply_rule(text, [(1, 3, 4, 4, 4)]).param_shapes == ((2, 3, 1, 1, 1),)


@pytest.mark.parametrize(("params", "bottom", "top"), [
    # pool3d_layer.cpp: ceil((in + 2 * pad - kernel) / stride) + 1; length without padding.
    ("pool: MAX kernel_size: 2 stride: 2 kernel_depth: 1 temporal_stride: 1", (10, 64, 16, 112, 112),
     (10, 64, 16, 56, 56)),
    ("pool: MAX kernel_size: 2 stride: 2 kernel_depth: 2 temporal_stride: 2", (10, 128, 16, 56, 56),
     (10, 128, 8, 28, 28)),
    # Ceil: 7 → 4 with kernel 2, stride 2 (C3D's pool5 on 7 x 7 maps).
    ("pool: MAX kernel_size: 2 stride: 2 kernel_depth: 2 temporal_stride: 2", (1, 256, 2, 7, 7),
     (1, 256, 1, 4, 4)),
    ("pool: AVE kernel_size: 3 stride: 2 pad: 1 kernel_depth: 3 temporal_stride: 1", (1, 8, 5, 9, 9),
     (1, 8, 3, 5, 5)),
])
def test_pooling3d(params: str, bottom: tuple[int, ...], top: tuple[int, ...]) -> None:
    shapes = apply_rule(layer("Pooling3D", f"pooling_param {{ {params} }}"), [bottom])
    assert shapes.top_shapes == (top,)


def test_pooling3d_pads_only_average_pooling() -> None:
    with pytest.raises(RuleCheckFailed, match="Padding implemented only for average pooling"):
        apply_rule(layer("Pooling3D", "pooling_param { pool: MAX kernel_size: 3 pad: 1 kernel_depth: 1 }"),
                   [(1, 8, 5, 9, 9)])


def test_deconvolution3d() -> None:
    # deconvolution3d_layer.cpp: (in - 1) * stride - 2 * pad + kernel; weights [C, num_output, ...].
    text = layer("Deconvolution3D", "convolution_param { num_output: 32 kernel_size: 4 kernel_depth: 4 "
                                    "stride: 2 temporal_stride: 2 pad: 1 temporal_pad: 1 }")
    shapes = apply_rule(text, [(1, 64, 4, 14, 14)])
    assert shapes.top_shapes == ((1, 32, 8, 28, 28),)
    assert shapes.param_shapes == ((64, 32, 4, 4, 4), (1, 1, 1, 1, 32))


def test_video_data() -> None:
    text = layer("C3DVideoData", "image_data_param { batch_size: 30 new_length: 16 new_height: 128 "
                                 "new_width: 171 crop_size: 112 }", bottoms=0, tops=2)
    shapes = apply_rule(text, [])
    assert shapes.top_shapes == ((30, 3, 16, 112, 112), (30, 1, 1, 1, 1))
    single = layer("C3DVideoData", "image_data_param { batch_size: 2 new_length: 8 new_height: 64 new_width: 80 }",
                   bottoms=0, tops=1)
    assert apply_rule(single, []).top_shapes == ((2, 3, 8, 64, 80),)


@pytest.mark.parametrize(("params", "error", "message"), [
    ("image_data_param { batch_size: 1 crop_size: 112 }", RuleCheckFailed, "new length need to be positive"),
    ("image_data_param { batch_size: 1 new_length: 16 new_height: 100 new_width: 100 crop_size: 112 }",
     RuleCheckFailed, r"datum_height_ > crop_size \(100 vs. 112\)"),
    ('image_data_param { batch_size: 1 new_length: 16 source: "list" }', ShapeUnknown, "t0=1,3,16,H,W"),
])
def test_video_data_checks(params: str, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        apply_rule(layer("C3DVideoData", params, bottoms=0, tops=2), [])


def test_video_with_voxel_truth_data_is_unknown() -> None:
    text = layer("C3DVideoWithVoxelTruthData", "image_data_param { batch_size: 1 crop_size: 112 "
                                               "num_truth_channels: 2 }", bottoms=0, tops=2)
    with pytest.raises(ShapeUnknown, match="t0=1,C,L,112,112 --input-shape t1=1,2,L,112,112"):
        apply_rule(text, [])


def test_c3d_training_net() -> None:
    net = corpus_net("facebook__C3D/C3D-v1.0__examples__c3d_train_ucf101__conv3d_ucf101_train.prototxt")
    analysis = analyze(str(net), phase="TRAIN")
    by_name = {result.name: result for result in analysis.layers}
    assert by_name["data"].top_shapes == ((30, 3, 16, 112, 112), (30, 1, 1, 1, 1))
    assert by_name["conv1a"].param_shapes == ((64, 3, 3, 3, 3), (1, 1, 1, 1, 64))
    assert by_name["pool2"].top_shapes == ((30, 128, 8, 28, 28),)
    assert by_name["pool5"].top_shapes == ((30, 256, 1, 4, 4),)
    # After the V1 upgrade, INNER_PRODUCT is BVLC's InnerProduct (C3D keeps 5-D blobs: same count).
    assert by_name["fc6"].param_shapes[0] == (2048, 4096)
    assert any("'Convolution3D' of the C3D fork" in notice for notice in analysis.notices)
    assert not analysis.partial


def test_c3d_voxel_net_needs_its_input_shapes() -> None:
    net = corpus_net("facebook__C3D/C3D-v1.0__examples__v2v__ucf101_optical_flow__deconv3d_ucf101_brox.prototxt")
    assert analyze(str(net)).partial
    analysis = analyze(str(net), input_shapes={"data": (1, 3, 16, 112, 112), "truth": (1, 2, 16, 112, 112)})
    assert "Deconvolution3D" in {result.type for result in analysis.layers}
    assert not analysis.partial
