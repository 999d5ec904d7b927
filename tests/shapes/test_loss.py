"""Rules of loss.py: the BVLC loss layers and Accuracy, checked against Caffe's layer tests
(src/caffe/test/test_*_loss_layer.cpp, test_accuracy_layer.cpp) and LossLayer's checks."""
from __future__ import annotations

import pytest

from blobcalc.shapes.registry import BlobCounts, RuleCheckFailed, Shape, rule_for
from tests.rule_helpers import apply_rule

LOSS = BlobCounts(exact_bottoms=2, exact_tops=1, auto_tops=True)


@pytest.mark.parametrize(("layer_type", "counts"), [
    ("SoftmaxWithLoss", BlobCounts(exact_bottoms=2, min_tops=1, max_tops=2, auto_tops=True)),
    ("EuclideanLoss", LOSS),
    ("SigmoidCrossEntropyLoss", LOSS),
    ("HingeLoss", LOSS),
    ("MultinomialLogisticLoss", LOSS),
    ("InfogainLoss", BlobCounts(min_bottoms=2, max_bottoms=3, min_tops=1, max_tops=2, auto_tops=True)),
    ("ContrastiveLoss", BlobCounts(exact_bottoms=3, exact_tops=1, auto_tops=True)),
    ("Accuracy", BlobCounts(exact_bottoms=2, min_tops=1, max_tops=2)),
])
def test_blob_counts(layer_type: str, counts: BlobCounts) -> None:
    rule = rule_for(layer_type)
    assert rule is not None
    assert rule.counts == counts


SHAPE_CASES = [
    # test_softmax_with_loss_layer.cpp: data (10,5,2,3), label (10,1,2,3).
    ('type: "SoftmaxWithLoss"', [(10, 5, 2, 3), (10, 1, 2, 3)], 1, [()]),
    ('type: "SoftmaxWithLoss"', [(10, 5, 2, 3), (10, 1, 2, 3)], 2, [(), (10, 5, 2, 3)]),
    ('type: "SoftmaxWithLoss" softmax_param { axis: 2 }', [(10, 5, 2, 3), (10, 5, 3)], 1, [()]),
    ('type: "SoftmaxWithLoss" softmax_param { axis: -1 }', [(10, 5, 2, 3), (10, 10)], 1, [()]),
    ('type: "SoftmaxWithLoss"', [(64, 10), (64,)], 1, [()]),
    # test_euclidean_loss_layer.cpp: (10,5,1,1) twice; only count(1) must agree.
    ('type: "EuclideanLoss"', [(10, 5, 1, 1), (10, 5, 1, 1)], 1, [()]),
    ('type: "EuclideanLoss"', [(10, 5, 1, 1), (10, 5)], 1, [()]),
    # test_sigmoid_cross_entropy_loss_layer.cpp: (10,5,1,1) twice.
    ('type: "SigmoidCrossEntropyLoss"', [(10, 5, 1, 1), (10, 5, 1, 1)], 1, [()]),
    ('type: "SigmoidCrossEntropyLoss"', [(10, 6), (10, 2, 3)], 1, [()]),
    # test_hinge_loss_layer.cpp: data (10,5,1,1), label (10,1,1,1).
    ('type: "HingeLoss"', [(10, 5, 1, 1), (10, 1, 1, 1)], 1, [()]),
    ('type: "HingeLoss" hinge_loss_param { norm: L2 }', [(10, 5), (10,)], 1, [()]),
    # test_multinomial_logistic_loss_layer.cpp: data (10,5,1,1), label (10,1,1,1).
    ('type: "MultinomialLogisticLoss"', [(10, 5, 1, 1), (10, 1, 1, 1)], 1, [()]),
    ('type: "MultinomialLogisticLoss"', [(10, 5), (10,)], 1, [()]),
    # test_infogain_loss_layer.cpp: data (4,2,5,2), label (4,2,1,2), H (1,1,5,5), axis 2.
    ('type: "InfogainLoss" infogain_loss_param { axis: 2 }',
     [(4, 2, 5, 2), (4, 2, 1, 2), (1, 1, 5, 5)], 1, [()]),
    ('type: "InfogainLoss" infogain_loss_param { axis: 2 }',
     [(4, 2, 5, 2), (4, 2, 1, 2), (1, 1, 5, 5)], 2, [(), (4, 2, 5, 2)]),
    ('type: "InfogainLoss"', [(10, 5), (10,), (25,)], 1, [()]),
    ('type: "InfogainLoss" infogain_loss_param { source: "H.binaryproto" }', [(10, 5), (10,)], 2,
     [(), (10, 5)]),
    # test_contrastive_loss_layer.cpp: (128,10,1,1) twice and a (128,1,1,1) similarity.
    ('type: "ContrastiveLoss"', [(128, 10, 1, 1), (128, 10, 1, 1), (128, 1, 1, 1)], 1, [()]),
    ('type: "ContrastiveLoss" contrastive_loss_param { margin: 2 }', [(128, 10), (128, 10), (128,)],
     1, [()]),
    # test_accuracy_layer.cpp: data (100,10,1,1), label (100,1,1,1) or [100].
    ('type: "Accuracy"', [(100, 10, 1, 1), (100, 1, 1, 1)], 1, [()]),
    ('type: "Accuracy"', [(100, 10), (100,)], 1, [()]),
    ('type: "Accuracy" accuracy_param { top_k: 5 }', [(100, 10, 1, 1), (100,)], 1, [()]),
    # TestSetupOutputPerClass: a second top of [num_classes].
    ('type: "Accuracy"', [(100, 10, 1, 1), (100, 1, 1, 1)], 2, [(), (10,)]),
    # TestForwardWithSpatialAxes: data (2,10,4,5), label (2,1,4,5).
    ('type: "Accuracy"', [(2, 10, 4, 5), (2, 1, 4, 5)], 2, [(), (10,)]),
    ('type: "Accuracy" accuracy_param { axis: 2 }', [(2, 3, 10, 5), (2, 3, 5)], 2, [(), (10,)]),
    ('type: "Accuracy" accuracy_param { axis: -1 }', [(2, 3, 7), (6,)], 2, [(), (7,)]),
]


@pytest.mark.parametrize(("layer_text", "bottoms", "num_tops", "tops"), SHAPE_CASES)
def test_shapes(layer_text: str, bottoms: list[Shape], num_tops: int, tops: list[Shape]) -> None:
    result = apply_rule(layer_text, bottoms, num_tops=num_tops)
    assert result.top_shapes == tuple(tops)
    assert result.param_shapes == ()


def test_infogain_from_a_file_notes_the_unchecked_matrix() -> None:
    result = apply_rule('type: "InfogainLoss" infogain_loss_param { source: "H.binaryproto" }',
                        [(10, 5), (10,)], num_tops=1)
    assert any("H.binaryproto" in note and "5x5" in note for note in result.notes)


CHECK_CASES = [
    # LossLayer::Reshape, shared by every loss layer.
    ('type: "SoftmaxWithLoss"', [(10, 5), (9,)], 1,
     "The data and label should have the same first dimension"),
    ('type: "EuclideanLoss"', [(10, 5), (9, 5)], 1, r"same first dimension. \(10 vs. 9\)"),
    ('type: "SigmoidCrossEntropyLoss"', [(10, 5), (9, 5)], 1, "same first dimension"),
    ('type: "HingeLoss"', [(10, 5), (9,)], 1, "same first dimension"),
    ('type: "MultinomialLogisticLoss"', [(10, 5), (9,)], 1, "same first dimension"),
    ('type: "InfogainLoss"', [(10, 5), (9,), (25,)], 1, "same first dimension"),
    ('type: "ContrastiveLoss"', [(10, 5), (9, 5), (10,)], 1, "same first dimension"),
    ('type: "HingeLoss"', [(), (9,)], 1, "out of range"),
    # Layer-specific checks.
    ('type: "SoftmaxWithLoss"', [(10, 5, 2, 3), (10, 1, 2, 2)], 1,
     "Number of labels must match number of predictions; e.g., if softmax axis == 1"),
    ('type: "SoftmaxWithLoss" softmax_param { axis: 4 }', [(10, 5, 2, 3), (10,)], 1, "out of range"),
    ('type: "EuclideanLoss"', [(10, 5), (10, 4)], 1, r"Inputs must have the same dimension. \(5 vs. 4\)"),
    ('type: "SigmoidCrossEntropyLoss"', [(10, 5), (10, 4)], 1,
     "SIGMOID_CROSS_ENTROPY_LOSS layer inputs must have the same count"),
    ('type: "MultinomialLogisticLoss"', [(10, 5), (10, 5)], 1, r"bottom\[1\]->channels\(\) == 1 \(5 vs. 1\)"),
    ('type: "MultinomialLogisticLoss"', [(10, 5), (10, 1, 1, 1, 1)], 1, "legacy accessors"),
    ('type: "InfogainLoss"', [(10, 5), (10,)], 1, "Infogain matrix source must be specified"),
    ('type: "InfogainLoss" loss_param { normalize: true }', [(10, 5), (10,), (25,)], 1,
     'normalize is deprecated. use "normalization"'),
    ('type: "InfogainLoss"', [(10, 5), (10,), (1, 1, 4, 4)], 1,
     r"infogain->count\(\) == num_labels_\*num_labels_ \(16 vs. 25\)"),
    ('type: "InfogainLoss"', [(10, 5, 2), (10,), (25,)], 1, "if infogain axis == 1"),
    ('type: "ContrastiveLoss"', [(10, 5), (10, 4), (10,)], 1,
     r"bottom\[0\]->channels\(\) == bottom\[1\]->channels\(\) \(5 vs. 4\)"),
    ('type: "ContrastiveLoss"', [(10, 5, 2), (10, 5, 2), (10,)], 1, r"bottom\[0\]->height\(\) == 1"),
    ('type: "ContrastiveLoss"', [(10, 5), (10, 5), (10, 2)], 1, r"bottom\[2\]->channels\(\) == 1"),
    ('type: "Accuracy" accuracy_param { top_k: 11 }', [(100, 10), (100,)], 1,
     r"top_k must be less than or equal to the number of classes. \(11 vs. 10\)"),
    ('type: "Accuracy"', [(100, 10), (99,)], 1, "if label axis == 1"),
    ('type: "Accuracy"', [(100, 10), (0,)], 1, "no elements"),
    ('type: "Accuracy" accuracy_param { axis: 3 }', [(100, 10), (100,)], 1, "out of range"),
]


@pytest.mark.parametrize(("layer_text", "bottoms", "num_tops", "message"), CHECK_CASES)
def test_caffe_checks(layer_text: str, bottoms: list[Shape], num_tops: int, message: str) -> None:
    with pytest.raises(RuleCheckFailed, match=message):
        apply_rule(layer_text, bottoms, num_tops=num_tops)


def test_accuracy_has_no_first_dimension_check() -> None:
    # Not a LossLayer: labels are only counted (8 = 2 * 4 positions, whatever their layout).
    result = apply_rule('type: "Accuracy"', [(2, 10, 4), (8,)], num_tops=1)
    assert result.top_shapes == ((),)
