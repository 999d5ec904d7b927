"""Rules of data.py: Input, the data layers and HDF5Output, checked against Caffe's layer tests
(test_memory_data_layer.cpp, test_image_data_layer.cpp, test_dummy_data_layer.cpp, ...)."""
from __future__ import annotations

import pytest

from blobcalc.shapes.registry import BlobCounts, RuleCheckFailed, Shape, ShapeUnknown, rule_for
from tests.rule_helpers import apply_rule


@pytest.mark.parametrize(("layer_type", "counts"), [
    ("Input", BlobCounts(exact_bottoms=0, min_tops=1)),
    ("Data", BlobCounts(exact_bottoms=0, min_tops=1, max_tops=2)),
    ("ImageData", BlobCounts(exact_bottoms=0, exact_tops=2)),
    ("WindowData", BlobCounts(exact_bottoms=0, exact_tops=2)),
    ("HDF5Data", BlobCounts(exact_bottoms=0, min_tops=1)),
    ("MemoryData", BlobCounts(exact_bottoms=0, exact_tops=2)),
    ("DummyData", BlobCounts(exact_bottoms=0, min_tops=1)),
    ("HDF5Output", BlobCounts(exact_bottoms=2, exact_tops=0)),
])
def test_blob_counts(layer_type: str, counts: BlobCounts) -> None:
    rule = rule_for(layer_type)
    assert rule is not None
    assert rule.counts == counts


SHAPE_CASES = [
    ('type: "Input" top: "data" input_param { shape { dim: 10 dim: 3 dim: 227 dim: 227 } }',
     [(10, 3, 227, 227)]),
    # One shape for every top, or one per top.
    ('type: "Input" top: "a" top: "b" input_param { shape { dim: 2 dim: 3 } }', [(2, 3), (2, 3)]),
    ('type: "Input" top: "a" top: "b" input_param { shape { dim: 2 dim: 3 } shape { dim: 2 } }',
     [(2, 3), (2,)]),
    ('type: "Input" top: "s" input_param { shape { } }', [()]),
    # MNIST-style Data layer with a crop: batch and crop are known.
    ('type: "Data" top: "data" top: "label" data_param { source: "db" batch_size: 64 backend: LMDB } '
     'transform_param { crop_size: 227 }', [(64, 3, 227, 227), (64,)]),
    ('type: "Data" top: "data" data_param { batch_size: 8 } '
     'transform_param { crop_size: 28 force_gray: true }', [(8, 1, 28, 28)]),
    # test_image_data_layer.cpp TestResize: batch 5, new size 256x256, color.
    ('type: "ImageData" top: "data" top: "label" '
     'image_data_param { source: "list.txt" batch_size: 5 new_height: 256 new_width: 256 }',
     [(5, 3, 256, 256), (5,)]),
    ('type: "ImageData" top: "data" top: "label" image_data_param { source: "l" batch_size: 5 '
     'new_height: 256 new_width: 320 is_color: false } transform_param { crop_size: 224 }',
     [(5, 1, 224, 224), (5,)]),
    # batch_size defaults to 1 for ImageData.
    ('type: "ImageData" top: "data" top: "label" image_data_param { source: "l" } '
     'transform_param { crop_size: 100 }', [(1, 3, 100, 100), (1,)]),
    ('type: "WindowData" top: "data" top: "label" window_data_param { source: "w.txt" batch_size: 128 } '
     'transform_param { crop_size: 227 }', [(128, 3, 227, 227), (128,)]),
    # test_memory_data_layer.cpp: batch 8, channels 4, height 7, width 11.
    ('type: "MemoryData" top: "data" top: "label" '
     'memory_data_param { batch_size: 8 channels: 4 height: 7 width: 11 }', [(8, 4, 7, 11), (8,)]),
    # After test_dummy_data_layer.cpp (one top, two tops, three tops with constant/gaussian fillers).
    ('type: "DummyData" top: "a" dummy_data_param { num: 5 channels: 3 height: 2 width: 4 }',
     [(5, 3, 2, 4)]),
    ('type: "DummyData" top: "a" top: "b" '
     'dummy_data_param { num: 5 channels: 3 height: 2 width: 4 height: 1 width: 4 }',
     [(5, 3, 2, 4), (5, 3, 1, 4)]),
    ('type: "DummyData" top: "a" top: "b" top: "c" dummy_data_param { num: 5 channels: 3 height: 2 '
     'width: 4 data_filler { type: "constant" value: 7 } data_filler { type: "gaussian" } '
     'data_filler { type: "uniform" } }', [(5, 3, 2, 4)] * 3),
    ('type: "DummyData" top: "a" top: "b" dummy_data_param { shape { dim: 2 dim: 3 } shape { dim: 7 } }',
     [(2, 3), (7,)]),
    ('type: "DummyData" top: "a" top: "b" dummy_data_param { shape { dim: 2 dim: 3 } }', [(2, 3), (2, 3)]),
    # A non-constant filler runs only in Forward, so an empty top passes set-up.
    ('type: "DummyData" top: "a" dummy_data_param { shape { dim: 0 } data_filler { type: "gaussian" } }',
     [(0,)]),
]


@pytest.mark.parametrize(("layer_text", "tops"), SHAPE_CASES)
def test_shapes(layer_text: str, tops: list[Shape]) -> None:
    result = apply_rule(layer_text, [])
    assert result.top_shapes == tuple(tops)
    assert result.param_shapes == ()


@pytest.mark.parametrize(("layer_text", "note"), [
    ('type: "Data" top: "data" data_param { source: "db" batch_size: 64 } transform_param { crop_size: 2 }',
     "3 channel(s) assumed"),
    ('type: "Data" top: "data" data_param { source: "db" } transform_param { crop_size: 2 }',
     "batches of 0"),
    ('type: "WindowData" top: "d" top: "l" window_data_param { source: "w" } '
     'transform_param { crop_size: 2 }', "3 channels assumed"),
    ('type: "HDF5Output" bottom: "a" bottom: "b" hdf5_output_param { file_name: "out.h5" }', "out.h5"),
])
def test_assumptions_are_noted(layer_text: str, note: str) -> None:
    result = apply_rule(layer_text, [(2, 3), (2,)] if "HDF5Output" in layer_text else [])
    assert any(note in text for text in result.notes)


def test_data_without_batch_size_gives_a_batch_of_zero() -> None:
    result = apply_rule('type: "Data" top: "data" top: "label" transform_param { crop_size: 5 }', [])
    assert result.top_shapes == ((0, 3, 5, 5), (0,))


def test_hdf5_output_has_no_tops() -> None:
    result = apply_rule('type: "HDF5Output" bottom: "a" bottom: "b"', [(2, 3), (2,)])
    assert result.top_shapes == ()


UNKNOWN_CASES = [
    ('type: "Input" top: "data"', "--input-shape data="),
    ('type: "Data" top: "data" top: "label" data_param { source: "mnist_lmdb" batch_size: 64 backend: LMDB }',
     "LMDB database 'mnist_lmdb'.*--input-shape data=64,C,H,W --input-shape label=64"),
    ('type: "ImageData" top: "data" top: "label" image_data_param { source: "list.txt" batch_size: 5 }',
     "'list.txt'.*--input-shape data=5,3,H,W --input-shape label=5"),
    ('type: "HDF5Data" top: "data" top: "label" hdf5_data_param { source: "h5.txt" batch_size: 10 }',
     "--input-shape data=10,... --input-shape label=10,..."),
]


@pytest.mark.parametrize(("layer_text", "message"), UNKNOWN_CASES)
def test_unknown_shapes_ask_for_input_shape(layer_text: str, message: str) -> None:
    with pytest.raises(ShapeUnknown, match=message):
        apply_rule(layer_text, [])


CHECK_CASES = [
    ('type: "Input" top: "a" top: "b" top: "c" input_param { shape { dim: 1 } shape { dim: 2 } }',
     "Must specify 'shape' once, once per top blob, or not at all: 3 tops vs. 2 shapes."),
    ('type: "Input" top: "a" input_param { shape { dim: 2 dim: -3 } }', r"shape\[i\] >= 0"),
    ('type: "Data" top: "data" transform_param { crop_size: 2 mean_file: "m" mean_value: 1 }',
     "Cannot specify mean_file and mean_value at the same time"),
    ('type: "ImageData" top: "d" top: "l" image_data_param { new_height: 256 }',
     "requires new_height and new_width to be set at the same time"),
    ('type: "ImageData" top: "d" top: "l" image_data_param { new_height: 200 new_width: 300 } '
     'transform_param { crop_size: 227 }', r"img_height >= crop_size \(200 vs. 227\)"),
    ('type: "ImageData" top: "d" top: "l" image_data_param { batch_size: 0 new_height: 9 new_width: 9 }',
     "Positive batch size required"),
    ('type: "WindowData" top: "d" top: "l" window_data_param { batch_size: 4 }',
     r"crop_size > 0 \(0 vs. 0\)"),
    ('type: "HDF5Data" top: "d" hdf5_data_param { batch_size: 4 } transform_param { scale: 2 }',
     "HDF5Data does not transform data."),
    ('type: "MemoryData" top: "d" top: "l" memory_data_param { batch_size: 8 channels: 4 height: 7 }',
     "batch_size, channels, height, and width must be specified and positive"),
    ('type: "DummyData" top: "a" top: "b" top: "c" dummy_data_param { shape { dim: 1 } '
     'data_filler { } data_filler { } }',
     "Number of data fillers must be 0, 1 or equal to the number of tops: 3; you specified 2"),
    ('type: "DummyData" top: "a" dummy_data_param { num: 1 channels: 1 height: 1 width: 1 shape { dim: 1 } }',
     "Both shape and legacy fields were specified"),
    ('type: "DummyData" top: "a" top: "b" top: "c" dummy_data_param { num: 1 num: 2 channels: 1 '
     'height: 1 width: 1 }', r"Must specify 'num' once, or once per top blob \(3\); specified 2."),
    ('type: "DummyData" top: "a" dummy_data_param { num: 1 channels: 1 height: 1 }',
     r"Must specify 'width' once, or once per top blob \(1\); specified 0."),
    ('type: "DummyData" top: "a"', r"Must specify 'shape' once, or once per top blob \(1\); specified 0."),
    ('type: "DummyData" top: "a" dummy_data_param { shape { dim: 1 } data_filler { type: "fancy" } }',
     "Unknown filler name: fancy"),
    ('type: "DummyData" top: "a" dummy_data_param { shape { dim: 0 dim: 3 } }', "count"),
]


@pytest.mark.parametrize(("layer_text", "message"), CHECK_CASES)
def test_caffe_checks(layer_text: str, message: str) -> None:
    with pytest.raises(RuleCheckFailed, match=message):
        apply_rule(layer_text, [])
