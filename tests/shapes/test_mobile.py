"""Mobile-network forks' rules (DepthwiseConvolution, ConvolutionDepthwise, ShuffleChannel, ReLU6)
against the forks' code, and corpus nets end to end."""
from __future__ import annotations

import pytest

from blobcalc import analyze
from blobcalc.shapes.registry import RuleCheckFailed
from tests.rule_helpers import apply_rule
from tests.shapes.test_segmentation import corpus_net, layer


@pytest.mark.parametrize(("params", "bottom", "top", "weights"), [
    # MobileNet's 3x3 depthwise stage: num_output = group = channels.
    ("num_output: 32 group: 32 kernel_size: 3 pad: 1 stride: 1", (1, 32, 112, 112), (1, 32, 112, 112),
     (32, 1, 3, 3)),
    ("num_output: 64 group: 64 kernel_size: 3 pad: 1 stride: 2", (1, 64, 112, 112), (1, 64, 56, 56),
     (64, 1, 3, 3)),
    # The layer is a BaseConvolutionLayer: any group works as in Convolution.
    ("num_output: 8 group: 2 kernel_size: 3", (2, 4, 7, 7), (2, 8, 5, 5), (8, 2, 3, 3)),
])
def test_depthwise_convolution_is_shaped_as_convolution(params: str, bottom: tuple[int, ...],
                                                        top: tuple[int, ...], weights: tuple[int, ...]) -> None:
    shapes = apply_rule(layer("DepthwiseConvolution", f"convolution_param {{ {params} }}"), [bottom])
    assert shapes.top_shapes == (top,)
    assert shapes.param_shapes == (weights, (weights[0],))


def test_depthwise_convolution_keeps_convolutions_checks() -> None:
    with pytest.raises(RuleCheckFailed, match="not a multiple of group"):
        apply_rule(layer("DepthwiseConvolution", "convolution_param { num_output: 6 group: 4 kernel_size: 3 }"),
                   [(1, 6, 8, 8)])


@pytest.mark.parametrize(("params", "bottom", "top", "params_shapes"), [
    # conv_dw_layer.cpp: one filter per input channel, num_output and group ignored.
    ("num_output: 240 group: 240 kernel_size: 3 pad: 1 stride: 2 bias_term: false", (1, 240, 28, 28),
     (1, 240, 14, 14), ((240, 1, 3, 3),)),
    ("num_output: 1 kernel_size: 3 pad: 1 stride: 1", (2, 32, 10, 10), (2, 32, 10, 10),
     ((32, 1, 3, 3), (32,))),
    # Two values: height then width; kernel_h/w, stride_h/w, pad_h/w override.
    ("num_output: 4 kernel_size: 3 kernel_size: 5 pad: 1 pad: 2 stride: 1 stride: 2", (1, 4, 9, 9),
     (1, 4, 9, 5), ((4, 1, 3, 5), (4,))),
    ("num_output: 4 kernel_h: 1 kernel_w: 3 stride_h: 1 stride_w: 1 pad_h: 0 pad_w: 1", (1, 4, 9, 9),
     (1, 4, 9, 9), ((4, 1, 1, 3), (4,))),
    ("num_output: 4 kernel_size: 3 stride: 1 pad: 2 dilation: 2", (1, 4, 9, 9), (1, 4, 9, 9),
     ((4, 1, 3, 3), (4,))),
    # Unsigned arithmetic in the fork: a kernel larger than the input wraps around to -2 (Caffe's
    # Blob::Reshape then refuses the negative size).
    ("num_output: 4 kernel_size: 5 stride: 1 pad: 0", (1, 4, 2, 2), (1, 4, -2, -2), ((4, 1, 5, 5), (4,))),
])
def test_convolution_depthwise(params: str, bottom: tuple[int, ...], top: tuple[int, ...],
                               params_shapes: tuple[tuple[int, ...], ...]) -> None:
    shapes = apply_rule(layer("ConvolutionDepthwise", f"convolution_param {{ {params} }}"), [bottom])
    assert shapes.top_shapes == (top,)
    assert shapes.param_shapes == params_shapes


def test_convolution_depthwise_reads_stride_and_pad_unconditionally() -> None:
    with pytest.raises(RuleCheckFailed, match="reads stride"):
        apply_rule(layer("ConvolutionDepthwise", "convolution_param { kernel_size: 3 pad: 1 }"), [(1, 4, 8, 8)])
    with pytest.raises(RuleCheckFailed, match="reads pad"):
        apply_rule(layer("ConvolutionDepthwise", "convolution_param { kernel_size: 3 stride: 1 }"), [(1, 4, 8, 8)])


def test_shuffle_channel() -> None:
    shapes = apply_rule(layer("ShuffleChannel", "shuffle_channel_param { group: 3 }"), [(1, 240, 28, 28)])
    assert shapes.top_shapes == ((1, 240, 28, 28),)
    # The channels % group check only runs in Forward: setting up still succeeds.
    assert apply_rule(layer("ShuffleChannel", "shuffle_channel_param { group: 7 }"),
                      [(1, 240, 28, 28)]).top_shapes == ((1, 240, 28, 28),)
    with pytest.raises(RuleCheckFailed, match="group must be greater than 0"):
        apply_rule(layer("ShuffleChannel", "shuffle_channel_param { group: 0 }"), [(1, 240, 28, 28)])


def test_relu6_keeps_the_shape() -> None:
    shapes = apply_rule(layer("ReLU6", "relu6_param { negative_slope: 0 }"), [(8, 16, 208, 208)])
    assert shapes.top_shapes == ((8, 16, 208, 208),)


def test_shufflenet_corpus_net() -> None:
    analysis = analyze(str(corpus_net("farmingyard__ShuffleNet/shufflenet_1x_g3_deploy.prototxt")))
    by_name = {result.name: result for result in analysis.layers}
    assert by_name["resx2_conv2"].param_shapes == ((60, 1, 3, 3),)
    assert by_name["shuffle2"].top_shapes == ((1, 60, 28, 28),)
    assert by_name["fc1000"].top_shapes == ((1, 1000, 1, 1),)
    assert not analysis.partial


def test_depthwise_mobilenet_corpus_net() -> None:
    net = corpus_net("yonghenglh6__DepthwiseConvolution/example__depthwised_mobilenet_deploy.prototxt")
    analysis = analyze(str(net))
    by_name = {result.name: result for result in analysis.layers}
    assert by_name["conv2_1/dw"].param_shapes == ((32, 1, 3, 3),)
    assert by_name["conv6/dw"].top_shapes == ((1, 1024, 7, 7),)
    assert analysis.layers[-1].top_shapes == ((1, 1000, 1, 1),)
    assert not analysis.partial


def test_convolution_depthwise_corpus_net() -> None:
    net = corpus_net("soeaver__caffe-model/"
                     "det__faster_rcnn__models__pascal_voc__mobilenet__rpn_rcnn_deploys__"
                     "rpn_deploy_faster_voc_mobilenet-dw.prototxt")
    by_name = {result.name: result for result in analyze(str(net)).layers}
    assert by_name["conv2_2/dw"].top_shapes == ((1, 64, 150, 150),)
    assert by_name["conv2_2/dw"].param_shapes == ((64, 1, 3, 3),)
