"""MobileNet-YOLO's LaneData layer."""
from __future__ import annotations

import pytest

from blobcalc.shapes.registry import ShapeUnknown
from tests.rule_helpers import apply_rule
from tests.shapes.test_segmentation import layer

_RESIZE = "transform_param { resize_param { resize_mode: WARP height: 512 width: 512 } }"


def test_lane_data_tops() -> None:
    # lane_data_layer.cpp: data from the resize policy, labels [batch, 1, 1, 1], segmentation labels
    # downscaled by seg_scales (8 unless the net says otherwise).
    text = layer("LaneData", f"{_RESIZE} data_param {{ batch_size: 8 }}", bottoms=0, tops=3)
    shapes = apply_rule(text, [])
    assert shapes.top_shapes[:2] == ((8, 3, 512, 512), (8, 1, 1, 1))
    assert shapes.top_shapes[2][:2] == (8, 1)
    assert shapes.top_shapes[2][2] == shapes.top_shapes[2][3] and 512 % shapes.top_shapes[2][2] == 0


def test_lane_data_without_a_size_is_unknown() -> None:
    with pytest.raises(ShapeUnknown, match="--input-shape t0=8,3,H,W"):
        apply_rule(layer("LaneData", "data_param { batch_size: 8 }", bottoms=0, tops=1), [])
