"""BatchNorm, Scale, Bias, LRN, and the neuron family (same shape, PReLU slopes)."""
from __future__ import annotations

import pytest

from blobcalc.shapes.neuron import NEURON_TYPES
from blobcalc.shapes.registry import RuleCheckFailed
from tests.rule_helpers import apply_rule


def layer(kind: str, body: str = "", bottoms: int = 1) -> str:
    bottom_lines = " ".join(f'bottom: "b{i}"' for i in range(bottoms))
    return f'name: "x" type: "{kind}" {bottom_lines} top: "t" {body}'


def test_batch_norm_has_three_statistics_blobs() -> None:
    shapes = apply_rule(layer("BatchNorm"), [(2, 16, 5, 5)])
    assert shapes.top_shapes == ((2, 16, 5, 5),)
    assert shapes.param_shapes == ((16,), (16,), (1,))
    assert apply_rule(layer("BatchNorm"), [(8,)]).param_shapes == ((1,), (1,), (1,))
    with pytest.raises(RuleCheckFailed, match="Cannot configure batch normalization statistics"):
        apply_rule(layer("BatchNorm", "param { lr_mult: 1 }"), [(2, 16, 5, 5)])


@pytest.mark.parametrize(("body", "bottoms", "params"), [
    ("", [(2, 3, 4, 5)], ((3,),)),
    ("scale_param { bias_term: true }", [(2, 3, 4, 5)], ((3,), (3,))),
    ("scale_param { axis: 0 num_axes: -1 }", [(2, 3, 4, 5)], ((2, 3, 4, 5),)),
    ("scale_param { num_axes: 0 }", [(2, 3, 4, 5)], ((),)),
    ("scale_param { axis: 1 num_axes: 2 }", [(2, 3, 4, 5)], ((3, 4),)),
    ("", [(2, 3, 4, 5), (3, 4)], ()),
    ("scale_param { bias_term: true }", [(2, 3, 4, 5), (3, 4)], ((3, 4),)),
    ("", [(2, 3, 4, 5), ()], ()),
])
def test_scale(body: str, bottoms: list[tuple[int, ...]], params: tuple[tuple[int, ...], ...]) -> None:
    shapes = apply_rule(layer("Scale", body, bottoms=len(bottoms)), bottoms)
    assert shapes.top_shapes == (bottoms[0],)
    assert shapes.param_shapes == params


def test_scale_and_bias_checks() -> None:
    with pytest.raises(RuleCheckFailed, match=r"dimension mismatch between bottom\[0\]->shape\(1\)"):
        apply_rule(layer("Scale", bottoms=2), [(2, 3, 4, 5), (4,)])
    with pytest.raises(RuleCheckFailed, match="scale blob's shape extends past"):
        apply_rule(layer("Scale", "scale_param { axis: 3 num_axes: 2 }"), [(2, 3, 4, 5)])
    with pytest.raises(RuleCheckFailed, match="bias blob's shape extends past"):
        apply_rule(layer("Bias", "bias_param { axis: 2 }", bottoms=2), [(2, 3, 4, 5), (4, 5, 6)])


@pytest.mark.parametrize(("body", "bottoms", "params"), [
    ("", [(2, 3, 4, 5)], ((3,),)),
    ("bias_param { axis: 2 num_axes: -1 }", [(2, 3, 4, 5)], ((4, 5),)),
    ("", [(2, 3, 4, 5), (3, 4)], ()),
])
def test_bias(body: str, bottoms: list[tuple[int, ...]], params: tuple[tuple[int, ...], ...]) -> None:
    shapes = apply_rule(layer("Bias", body, bottoms=len(bottoms)), bottoms)
    assert shapes.top_shapes == (bottoms[0],)
    assert shapes.param_shapes == params


def test_lrn() -> None:
    assert apply_rule(layer("LRN"), [(2, 7, 3, 3)]).top_shapes == ((2, 7, 3, 3),)
    with pytest.raises(RuleCheckFailed, match="odd values for local_size"):
        apply_rule(layer("LRN", "lrn_param { local_size: 4 }"), [(2, 7, 3, 3)])
    with pytest.raises(RuleCheckFailed, match="Input must have 4 axes"):
        apply_rule(layer("LRN"), [(2, 7)])


@pytest.mark.parametrize("kind", NEURON_TYPES)
def test_neuron_layers_keep_shape(kind: str) -> None:
    body = "clip_param { min: 0 max: 6 }" if kind == "Clip" else ""
    shapes = apply_rule(layer(kind, body), [(2, 3, 4)])
    assert shapes.top_shapes == ((2, 3, 4),)
    assert shapes.param_shapes == ()


def test_prelu_slopes() -> None:
    assert apply_rule(layer("PReLU"), [(2, 3, 4, 5)]).param_shapes == ((3,),)
    shared = apply_rule(layer("PReLU", "prelu_param { channel_shared: true }"), [(2, 3, 4, 5)])
    assert shared.param_shapes == ((),)
    with pytest.raises(RuleCheckFailed, match="Number of axes of bottom blob must be >=2"):
        apply_rule(layer("PReLU"), [(5,)])
