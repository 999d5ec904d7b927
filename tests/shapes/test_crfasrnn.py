"""CRF-RNN's MultiStageMeanfield, and its deploy net end to end."""
from __future__ import annotations

import pytest

from blobcalc import analyze
from blobcalc.shapes.registry import RuleCheckFailed
from tests.rule_helpers import apply_rule
from tests.shapes.test_segmentation import corpus_net, layer


def test_multi_stage_meanfield() -> None:
    # multi_stage_meanfield.cpp: top like the unaries; three [1, 1, C, C] kernel matrices.
    text = layer("MultiStageMeanfield", "multi_stage_meanfield_param { num_iterations: 10 theta_alpha: 160 }",
                 bottoms=3)
    shapes = apply_rule(text, [(1, 21, 500, 500), (1, 21, 500, 500), (1, 3, 500, 500)])
    assert shapes.top_shapes == ((1, 21, 500, 500),)
    assert shapes.param_shapes == ((1, 1, 21, 21),) * 3
    assert "spatial.par" in shapes.notes[0]


def test_multi_stage_meanfield_needs_two_iterations() -> None:
    with pytest.raises(RuleCheckFailed, match=r"Number of iterations must be greater than 1. \(1 vs. 1\)"):
        apply_rule(layer("MultiStageMeanfield", bottoms=3), [(1, 2, 4, 4)] * 3)


def test_crfasrnn_deploy_corpus_net() -> None:
    analysis = analyze(str(corpus_net("torrvision__crfasrnn/matlab-scripts__TVG_CRFRNN_new_deploy.prototxt")))
    last = analysis.layers[-1]
    assert last.type == "MultiStageMeanfield"
    assert last.top_shapes == ((1, 21, 500, 500),)
    assert last.param_shapes == ((1, 1, 21, 21),) * 3
    assert not analysis.partial
