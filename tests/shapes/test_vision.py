"""Convolution, Deconvolution and Pooling against Caffe's formulas and its layer tests."""
from __future__ import annotations

import pytest

from blobcalc import caffe_pb2
from blobcalc.shapes.registry import BlobCounts, RuleCheckFailed, rule_for
from blobcalc.shapes.vision import pooled_size
from tests.rule_helpers import apply_rule


def conv(params: str, bottom: tuple[int, ...], kind: str = "Convolution", tops: int = 1) -> str:
    top_lines = " ".join(f'top: "t{i}"' for i in range(tops))
    return f'name: "c" type: "{kind}" bottom: "b" {top_lines} convolution_param {{ {params} }}'


@pytest.mark.parametrize(("params", "bottom", "top", "weights"), [
    # test_convolution_layer.cpp TestSetup: 2x3x6x4 input, 4 outputs, kernel 3, stride 2.
    ("num_output: 4 kernel_size: 3 stride: 2", (2, 3, 6, 4), (2, 4, 2, 1), (4, 3, 3, 3)),
    # Same with group 3 (channels 3 → 3 groups of 1 input channel).
    ("num_output: 3 kernel_size: 3 stride: 2 group: 3", (2, 3, 6, 4), (2, 3, 2, 1), (3, 1, 3, 3)),
    # Dilation 2: the window spans 5 pixels (TestDilatedConvolution uses 2x3x8x7 → 2x4x4x3).
    ("num_output: 4 kernel_size: 3 dilation: 2", (2, 3, 8, 7), (2, 4, 4, 3), (4, 3, 3, 3)),
    # kernel_h/kernel_w, stride_h/w, pad_h/w.
    ("num_output: 8 kernel_h: 3 kernel_w: 1 stride_h: 2 stride_w: 1 pad_h: 1 pad_w: 0",
     (1, 4, 9, 9), (1, 8, 5, 9), (8, 4, 3, 1)),
    # 3-D (N-D) convolution with per-axis kernel: Test3DSimpleConvolution style.
    ("num_output: 4 kernel_size: 3 kernel_size: 3 kernel_size: 2 stride: 2 pad: 1",
     (2, 3, 5, 6, 4), (2, 4, 3, 3, 3), (4, 3, 3, 3, 2)),
    # 1-D convolution (one spatial axis).
    ("num_output: 2 kernel_size: 4", (3, 5, 10), (3, 2, 7), (2, 5, 4)),
    # Kernel larger than the input: Caffe gives a zero-sized axis, no error.
    ("num_output: 2 kernel_size: 7", (1, 1, 6, 6), (1, 2, 0, 0), (2, 1, 7, 7)),
    # axis 2: the first two axes are batch-like.
    ("num_output: 5 kernel_size: 3 axis: 2", (2, 3, 4, 8, 8), (2, 3, 5, 6, 6), (5, 4, 3, 3)),
])
def test_convolution(params: str, bottom: tuple[int, ...], top: tuple[int, ...],
                     weights: tuple[int, ...]) -> None:
    shapes = apply_rule(conv(params, bottom), [bottom])
    assert shapes.top_shapes == (top,)
    assert shapes.param_shapes == (weights, (weights[0],))


def test_convolution_without_bias_and_two_bottoms() -> None:
    shapes = apply_rule(conv("num_output: 4 kernel_size: 3 bias_term: false", (2, 3, 6, 4), tops=2),
                        [(2, 3, 6, 4), (2, 3, 6, 4)])
    assert shapes.top_shapes == ((2, 4, 4, 2), (2, 4, 4, 2))
    assert shapes.param_shapes == ((4, 3, 3, 3),)


@pytest.mark.parametrize(("params", "bottom", "top", "weights"), [
    # Deconvolution: out = stride * (in - 1) + kernel - 2 * pad; weights [C, num_output/group, k, k].
    ("num_output: 4 kernel_size: 3 stride: 2", (2, 3, 6, 4), (2, 4, 13, 9), (3, 4, 3, 3)),
    ("num_output: 21 kernel_size: 4 stride: 2 group: 21 bias_term: false", (1, 21, 16, 16),
     (1, 21, 34, 34), (21, 1, 4, 4)),
    ("num_output: 2 kernel_size: 3 pad: 1 dilation: 2", (1, 2, 5, 5), (1, 2, 7, 7), (2, 2, 3, 3)),
])
def test_deconvolution(params: str, bottom: tuple[int, ...], top: tuple[int, ...],
                       weights: tuple[int, ...]) -> None:
    shapes = apply_rule(conv(params, bottom, kind="Deconvolution"), [bottom])
    assert shapes.top_shapes == (top,)
    assert shapes.param_shapes[0] == weights


@pytest.mark.parametrize(("params", "bottom", "message"), [
    ("num_output: 4 kernel_size: 3 group: 2", (1, 3, 8, 8), "not a multiple of group"),
    ("num_output: 4 kernel_size: 3 group: 3", (1, 6, 8, 8), "Number of output should be multiples of group"),
    ("num_output: 4", (1, 3, 8, 8), r"kernel_size specified 0 times; 2 spatial dims"),
    ("num_output: 4 kernel_h: 3", (1, 3, 8, 8), "Filter dimensions must be nonzero"),
    ("num_output: 4 kernel_size: 0", (1, 3, 8, 8), "Filter dimensions must be nonzero"),
    ("num_output: 4 kernel_size: 3 stride: 0", (1, 3, 8, 8), "Stride dimensions must be nonzero"),
    ("num_output: 4 kernel_size: 3 kernel_size: 3", (1, 3, 8, 8, 8),
     r"kernel_size must be specified once, or once per spatial dimension \(kernel_size specified 2 times; "
     "3 spatial dims"),
    ("num_output: 4 kernel_h: 3 kernel_w: 3", (1, 3, 8, 8, 8), "kernel_h & kernel_w can only be used for 2D"),
    ("num_output: 4 kernel_size: 3 kernel_h: 3 kernel_w: 3", (1, 3, 8, 8),
     "Either kernel_size or kernel_h/w should be specified; not both"),
    ("kernel_size: 3", (1, 3, 8, 8), "num_output must be greater than 0"),
])
def test_convolution_checks(params: str, bottom: tuple[int, ...], message: str) -> None:
    with pytest.raises(RuleCheckFailed, match=message):
        apply_rule(conv(params, bottom), [bottom])


def test_convolution_bottoms_must_agree() -> None:
    with pytest.raises(RuleCheckFailed, match="All inputs must have the same shape"):
        apply_rule(conv("num_output: 4 kernel_size: 3", (1, 3, 8, 8), tops=2), [(1, 3, 8, 8), (1, 3, 9, 8)])


def test_conv_blob_counts() -> None:
    rule = rule_for("Convolution")
    assert rule is not None
    assert rule.counts == BlobCounts(min_bottoms=1, min_tops=1, equal_bottom_top=True)


def pool(params: str, tops: int = 1) -> str:
    top_lines = " ".join(f'top: "t{i}"' for i in range(tops))
    return f'name: "p" type: "Pooling" bottom: "b" {top_lines} pooling_param {{ {params} }}'


@pytest.mark.parametrize(("params", "bottom", "top"), [
    # test_pooling_layer.cpp TestSetup: 2x3x6x5, kernel 3 stride 2 → 3x2.
    ("kernel_size: 3 stride: 2", (2, 3, 6, 5), (2, 3, 3, 2)),
    # TestSetupPadded: pad 1 → 4x3.
    ("kernel_size: 3 stride: 2 pad: 1", (2, 3, 6, 5), (2, 3, 4, 3)),
    # TestSetupGlobalPooling → 1x1.
    ("global_pooling: true pool: AVE", (2, 3, 6, 5), (2, 3, 1, 1)),
    # CEIL (default) vs FLOOR: GoogLeNet's 3x3/2 pooling of 112 → 56 with ceil, 55 with floor.
    ("kernel_size: 3 stride: 2", (1, 64, 112, 112), (1, 64, 56, 56)),
    ("kernel_size: 3 stride: 2 round_mode: FLOOR", (1, 64, 112, 112), (1, 64, 55, 55)),
    # The pad clip: ceil gives a window starting in the padding; Caffe drops it (7x7, k2 s2 p1 → 4).
    ("kernel_size: 2 stride: 2 pad: 1", (1, 1, 7, 7), (1, 1, 4, 4)),
    ("kernel_h: 3 kernel_w: 2 stride_h: 1 stride_w: 2 pad_h: 1 pad_w: 0", (1, 1, 4, 6), (1, 1, 4, 3)),
    # pad_h only, yet the clip applies to the width too: ceil(4/3)+1 = 3, and 2*3 >= 5 + 0 → 2.
    ("kernel_h: 3 kernel_w: 1 stride_h: 2 stride_w: 3 pad_h: 1 pad_w: 0", (1, 1, 5, 5), (1, 1, 3, 2)),
    # Stride larger than the kernel without padding: no clip, no check.
    ("kernel_size: 1 stride: 3", (1, 1, 5, 5), (1, 1, 3, 3)),
    # Kernel larger than the input: ceil of a negative quotient, no error (unlike what one expects).
    ("kernel_size: 5 stride: 1", (1, 1, 3, 3), (1, 1, -1, -1)),
])
def test_pooling(params: str, bottom: tuple[int, ...], top: tuple[int, ...]) -> None:
    assert apply_rule(pool(params), [bottom]).top_shapes == (top,)


def test_max_pooling_mask_top() -> None:
    shapes = apply_rule(pool("kernel_size: 2 stride: 2", tops=2), [(1, 2, 4, 4)])
    assert shapes.top_shapes == ((1, 2, 2, 2), (1, 2, 2, 2))
    with pytest.raises(RuleCheckFailed, match="at most 1 top"):
        apply_rule(pool("pool: AVE kernel_size: 2 stride: 2", tops=2), [(1, 2, 4, 4)])


@pytest.mark.parametrize(("params", "bottom", "message"), [
    ("kernel_size: 3 global_pooling: true", (1, 1, 4, 4), "With Global_pooling: true Filter size cannot"),
    ("stride: 2", (1, 1, 4, 4), "Filter size is kernel_size OR kernel_h and kernel_w; not both"),
    ("kernel_size: 3 kernel_h: 3 kernel_w: 3", (1, 1, 4, 4), "not both"),
    ("kernel_h: 3", (1, 1, 4, 4), "Filter size is kernel_size OR"),
    ("kernel_size: 3 pad: 1 pad_h: 1", (1, 1, 4, 4), "pad is pad OR pad_h and pad_w are required"),
    ("kernel_size: 2 pad: 2", (1, 1, 4, 4), "must be smaller than the kernel"),
    ("kernel_size: 3 pad: 1 pool: STOCHASTIC", (1, 1, 4, 4), "Padding implemented only for average and max"),
    ("kernel_size: 0", (1, 1, 4, 4), "Filter dimensions cannot be zero"),
    ("kernel_size: 2", (1, 4, 4), "Input must have 4 axes"),
    ("global_pooling: true stride: 2", (1, 1, 4, 4), "only pad = 0 and stride = 1"),
])
def test_pooling_checks(params: str, bottom: tuple[int, ...], message: str) -> None:
    with pytest.raises(RuleCheckFailed, match=message):
        apply_rule(pool(params), [bottom])


@pytest.mark.parametrize(("size", "kernel", "stride", "pad", "ceil_mode", "expected"), [
    (224, 3, 2, 0, True, 112), (224, 3, 2, 0, False, 111), (13, 3, 2, 0, True, 6),
    (55, 3, 2, 0, True, 27), (14, 2, 2, 0, True, 7), (7, 7, 1, 0, True, 1), (6, 3, 3, 1, True, 3),
])
def test_pooled_size_formula(size: int, kernel: int, stride: int, pad: int, ceil_mode: bool,
                             expected: int) -> None:
    assert pooled_size(size, kernel, stride, pad, ceil_mode, clip=pad > 0) == expected


def test_pool_phase_does_not_matter() -> None:
    text = pool("kernel_size: 2 stride: 2")
    assert apply_rule(text, [(1, 1, 4, 4)], phase=caffe_pb2.TRAIN) == apply_rule(text, [(1, 1, 4, 4)])
