"""Rules of misc.py: Embed, SPP, Im2col, Tile, Reduction, ArgMax, BatchReindex, Filter, MVN,
Parameter, checked against Caffe's layer tests (src/caffe/test/test_*_layer.cpp) and formulas."""
from __future__ import annotations

import pytest

from blobcalc.shapes.misc import as_int32, blob_shape, legacy_dim, shape_string
from blobcalc.shapes.registry import BlobCounts, RuleCheckFailed, Shape, rule_for
from tests.rule_helpers import apply_rule


@pytest.mark.parametrize(("layer_type", "counts"), [
    ("Embed", BlobCounts(exact_bottoms=1, exact_tops=1)),
    ("SPP", BlobCounts(exact_bottoms=1, exact_tops=1)),
    ("Im2col", BlobCounts(exact_bottoms=1, exact_tops=1)),
    ("Tile", BlobCounts(exact_bottoms=1, exact_tops=1)),
    ("Reduction", BlobCounts(exact_bottoms=1, exact_tops=1)),
    ("ArgMax", BlobCounts(exact_bottoms=1, exact_tops=1)),
    ("BatchReindex", BlobCounts(exact_bottoms=2, exact_tops=1)),
    ("Filter", BlobCounts(min_bottoms=2, min_tops=1)),
    ("MVN", BlobCounts(exact_bottoms=1, exact_tops=1)),
    ("Parameter", BlobCounts(exact_bottoms=0, exact_tops=1)),
])
def test_blob_counts(layer_type: str, counts: BlobCounts) -> None:
    rule = rule_for(layer_type)
    assert rule is not None
    assert rule.counts == counts


SHAPE_CASES = [
    # test_embed_layer.cpp TestSetUp: bottom (4,1,1,1), num_output 10 -> 5-D top.
    ('type: "Embed" embed_param { num_output: 10 input_dim: 5 }',
     [(4, 1, 1, 1)], [(4, 1, 1, 1, 10)], [(5, 10), (10,)]),
    ('type: "Embed" embed_param { num_output: 10 input_dim: 5 bias_term: false }',
     [(4,)], [(4, 10)], [(5, 10)]),
    # test_spp_layer.cpp TestSetup: pyramid 3 on (2,3,9,8): 3 * (1 + 4 + 16) = 63.
    ('type: "SPP" spp_param { pyramid_height: 3 }', [(2, 3, 9, 8)], [(2, 63)], []),
    # TestEqualOutputDims: pyramid 5 on (4,3,1024,765): 3 * 341 = 1023.
    ('type: "SPP" spp_param { pyramid_height: 5 }', [(4, 3, 1024, 765)], [(4, 1023)], []),
    # TestEqualOutputDims2: pyramid 3 on (10,3,7,7).
    ('type: "SPP" spp_param { pyramid_height: 3 }', [(10, 3, 7, 7)], [(10, 63)], []),
    ('type: "SPP" spp_param { pyramid_height: 3 pool: AVE }', [(2, 3, 9, 8)], [(2, 63)], []),
    # pyramid_height 1: the single pooling's 4-D output is the top.
    ('type: "SPP" spp_param { pyramid_height: 1 }', [(2, 3, 9, 8)], [(2, 3, 1, 1)], []),
    # test_im2col_layer.cpp TestSetup: (2,3,10,11), kernel 3, stride 2, dilation 3.
    ('type: "Im2col" convolution_param { kernel_size: 3 stride: 2 dilation: 3 }',
     [(2, 3, 10, 11)], [(2, 27, 2, 3)], []),
    ('type: "Im2col" convolution_param { kernel_size: 3 stride: 2 }',
     [(2, 3, 6, 5)], [(2, 27, 2, 2)], []),
    ('type: "Im2col" convolution_param { kernel_h: 3 kernel_w: 2 pad_h: 1 pad_w: 0 }',
     [(2, 3, 6, 5)], [(2, 18, 6, 4)], []),
    # N-D: channel axis 1 of a 5-D blob, 3 spatial axes.
    ('type: "Im2col" convolution_param { kernel_size: 2 }',
     [(1, 2, 4, 5, 6)], [(1, 16, 3, 4, 5)], []),
    # test_tile_layer.cpp TestSetup: tiles along each axis of (2,3,4,5).
    ('type: "Tile" tile_param { tiles: 3 axis: 0 }', [(2, 3, 4, 5)], [(6, 3, 4, 5)], []),
    ('type: "Tile" tile_param { tiles: 3 }', [(2, 3, 4, 5)], [(2, 9, 4, 5)], []),
    ('type: "Tile" tile_param { tiles: 2 axis: -1 }', [(2, 3, 4, 5)], [(2, 3, 4, 10)], []),
    ('type: "Tile" tile_param { tiles: 1 axis: 2 }', [(2, 3, 4, 5)], [(2, 3, 4, 5)], []),
    # test_reduction_layer.cpp TestSetUp / WithAxis1 / WithAxis2.
    ('type: "Reduction"', [(2, 3, 4, 5)], [()], []),
    ('type: "Reduction" reduction_param { axis: 1 }', [(2, 3, 4, 5)], [(2,)], []),
    ('type: "Reduction" reduction_param { axis: 2 operation: MEAN }', [(2, 3, 4, 5)], [(2, 3)], []),
    ('type: "Reduction" reduction_param { axis: -1 }', [(2, 3, 4, 5)], [(2, 3, 4)], []),
    # test_argmax_layer.cpp on (10,10,20,20).
    ('type: "ArgMax"', [(10, 10, 20, 20)], [(10, 1, 1, 1)], []),
    ('type: "ArgMax" argmax_param { out_max_val: true }', [(10, 10, 20, 20)], [(10, 2, 1, 1)], []),
    ('type: "ArgMax" argmax_param { top_k: 5 }', [(10, 10, 20, 20)], [(10, 1, 5, 1)], []),
    ('type: "ArgMax" argmax_param { top_k: 5 out_max_val: true }', [(10, 10, 20, 20)],
     [(10, 2, 5, 1)], []),
    ('type: "ArgMax" argmax_param { axis: 0 }', [(10, 10, 20, 20)], [(1, 10, 20, 20)], []),
    ('type: "ArgMax" argmax_param { axis: -2 top_k: 2 }', [(10, 10, 20, 20)], [(10, 10, 2, 20)], []),
    ('type: "ArgMax" argmax_param { axis: 2 top_k: 3 out_max_val: true }', [(10, 10, 20, 20)],
     [(10, 10, 3, 20)], []),
    # Fewer than 3 axes still gives 3.
    ('type: "ArgMax"', [(10, 7)], [(10, 1, 1)], []),
    ('type: "ArgMax" argmax_param { top_k: 3 }', [(10, 3, 2, 2, 2)], [(10, 1, 3, 1, 1)], []),
    # test_batch_reindex_layer.cpp: data (5,4,3,2), indices (6).
    ('type: "BatchReindex"', [(5, 4, 3, 2), (6,)], [(6, 4, 3, 2)], []),
    ('type: "BatchReindex"', [(5, 4), (0,)], [(0, 4)], []),
    # test_filter_layer.cpp: data (4,3,6,4), labels (4,1,1,1), selector (4,1,1,1); at set-up the
    # first axis is bottom[0]'s.
    ('type: "Filter"', [(4, 3, 6, 4), (4, 1, 1, 1), (4, 1, 1, 1)],
     [(4, 3, 6, 4), (4, 1, 1, 1)], []),
    ('type: "Filter"', [(4, 3, 6, 4), (4,)], [(4, 3, 6, 4)], []),
    # test_mvn_layer.cpp (2,3,4,5); fewer axes come out 4-D through the legacy accessors.
    ('type: "MVN"', [(2, 3, 4, 5)], [(2, 3, 4, 5)], []),
    ('type: "MVN" mvn_param { across_channels: true }', [(2, 3)], [(2, 3, 1, 1)], []),
    ('type: "MVN"', [(7,)], [(7, 1, 1, 1)], []),
    ('type: "Parameter" parameter_param { shape { dim: 10 dim: 3 } }', [], [(10, 3)], [(10, 3)]),
    ('type: "Parameter" parameter_param { shape { } }', [], [()], [()]),
]


@pytest.mark.parametrize(("layer_text", "bottoms", "tops", "params"), SHAPE_CASES)
def test_shapes(layer_text: str, bottoms: list[Shape], tops: list[Shape], params: list[Shape]) -> None:
    result = apply_rule(layer_text, bottoms, num_tops=len(tops))
    assert result.top_shapes == tuple(tops)
    assert result.param_shapes == tuple(params)


def test_filter_notes_the_run_time_change() -> None:
    result = apply_rule('type: "Filter"', [(4, 3), (4, 1)], num_tops=1)
    assert any("non-zero selector" in note for note in result.notes)


CHECK_CASES = [
    ('type: "Embed" embed_param { input_dim: 5 }', [(4,)], 1, "EmbedLayer num_output must be positive"),
    ('type: "Embed" embed_param { num_output: 5 }', [(4,)], 1, "EmbedLayer input_dim must be positive"),
    ('type: "SPP" spp_param { pyramid_height: 2 }', [(2, 3, 0, 8)], 1, "Input dimensions cannot be zero"),
    ('type: "SPP" spp_param { pyramid_height: 2 }', [(2, 3, 9)], 1, "Input must have 4 axes"),
    ('type: "SPP" spp_param { pyramid_height: 2 }', [(2, 3, 9, 8, 1)], 1, "legacy accessors"),
    ('type: "SPP"', [(2, 3, 9, 8)], 1, "Split Layer produces at least 1 top"),
    # Level 2 on height 5: kernel 2, pad 2, and Pooling requires pad < kernel.
    ('type: "SPP" spp_param { pyramid_height: 3 }', [(1, 1, 5, 8)], 1, r"pad_h_ < kernel_h_ \(2 vs. 2\)"),
    ('type: "SPP" spp_param { pyramid_height: 2 pool: STOCHASTIC }', [(1, 1, 5, 5)], 1,
     "Padding implemented only for average and max pooling"),
    ('type: "Im2col" convolution_param { kernel_size: 3 }', [(2, 3)], 1,
     r"num_spatial_axes_ >= 1 \(0 vs. 1\)"),
    ('type: "Im2col" convolution_param { kernel_size: 0 }', [(2, 3, 6, 5)], 1,
     "Filter dimensions must be nonzero"),
    ('type: "Im2col" convolution_param { kernel_h: 3 kernel_w: 3 }', [(2, 3, 6, 5, 4)], 1,
     "kernel_h & kernel_w can only be used for 2D convolution"),
    ('type: "Tile"', [(2, 3)], 1, "Number of tiles must be specified"),
    ('type: "Tile" tile_param { tiles: 0 }', [(2, 3)], 1, "Number of tiles must be positive"),
    ('type: "Tile" tile_param { tiles: 2 axis: 2 }', [(2, 3)], 1, "out of range"),
    ('type: "Reduction" reduction_param { axis: 4 }', [(2, 3, 4, 5)], 1, "out of range"),
    ('type: "ArgMax" argmax_param { top_k: 0 }', [(10, 10)], 1, "top k must not be less than 1"),
    ('type: "ArgMax" argmax_param { top_k: 11 }', [(10, 10)], 1,
     "dimension of the flattened bottom blob per instance"),
    ('type: "ArgMax" argmax_param { top_k: 3 axis: 1 }', [(10, 2, 5)], 1,
     "top_k must be less than or equal to the dimension of the axis"),
    ('type: "BatchReindex"', [(5, 4), (6, 1)], 1, r"1 == bottom\[1\]->num_axes\(\) \(1 vs. 2\)"),
    ('type: "Filter"', [(4, 3), (4, 1)], 2, r"top.size\(\) == bottom.size\(\) - 1 \(2 vs. 1\)"),
    ('type: "Filter"', [(4, 3), (4, 2)], 1, "Selector blob dimensions must be singletons"),
    ('type: "Filter"', [(4, 3), (5, 1)], 1, "same 0th dimension as the selector blob"),
    ('type: "MVN"', [(2, 3, 4, 5, 6)], 1, "Cannot use legacy accessors on Blobs with > 4 axes"),
    ('type: "Parameter" parameter_param { shape { dim: -1 } }', [], 1, r"shape\[i\] >= 0"),
    ('type: "Parameter" parameter_param { shape { dim: 65536 dim: 65536 } }', [], 1,
     "blob size exceeds INT_MAX"),
]


@pytest.mark.parametrize(("layer_text", "bottoms", "num_tops", "message"), CHECK_CASES)
def test_caffe_checks(layer_text: str, bottoms: list[Shape], num_tops: int, message: str) -> None:
    with pytest.raises(RuleCheckFailed, match=message):
        apply_rule(layer_text, bottoms, num_tops=num_tops)


def test_blob_helpers() -> None:
    assert shape_string((2, 3, 4)) == "2 3 4 (24)"
    assert shape_string(()) == "(1)"
    assert legacy_dim((2, 3), 2) == 1
    assert legacy_dim((2, 3), -3) == 1
    assert as_int32(2**32 - 1) == -1
    assert blob_shape([2**32 + 3]) == (3,)
    with pytest.raises(RuleCheckFailed, match="kMaxBlobAxes"):
        blob_shape([1] * 33)
