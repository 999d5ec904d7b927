"""Rules of recurrent.py: RNN, LSTM (tops and the unrolled net's parameters) and LSTMUnit, after
test_rnn_layer.cpp, test_lstm_layer.cpp and the unrolled nets of rnn_layer.cpp / lstm_layer.cpp."""
from __future__ import annotations

import pytest

from blobcalc.shapes.registry import BlobCounts, RuleCheckFailed, Shape, rule_for
from tests.rule_helpers import apply_rule


@pytest.mark.parametrize(("layer_type", "counts"), [
    # Caffe computes these from expose_hidden; the static bounds are the loosest ones.
    ("RNN", BlobCounts(min_bottoms=2, max_bottoms=4, min_tops=1, max_tops=2)),
    ("LSTM", BlobCounts(min_bottoms=2, max_bottoms=5, min_tops=1, max_tops=3)),
    ("LSTMUnit", BlobCounts(exact_bottoms=3, exact_tops=2)),
])
def test_blob_counts(layer_type: str, counts: BlobCounts) -> None:
    rule = rule_for(layer_type)
    assert rule is not None
    assert rule.counts == counts


RNN = 'type: "RNN" recurrent_param { num_output: 7 }'
RNN_EXPOSED = 'type: "RNN" recurrent_param { num_output: 7 expose_hidden: true }'
LSTM = 'type: "LSTM" recurrent_param { num_output: 7 }'
LSTM_EXPOSED = 'type: "LSTM" recurrent_param { num_output: 7 expose_hidden: true }'

SHAPE_CASES = [
    # The layer tests' blobs: x (T, N, 3, 2), cont (T, N), static (N, 2, 3, 4), num_output 7.
    (RNN, [(3, 2, 3, 2), (3, 2)], 1, [(3, 2, 7)],
     [(7, 6), (7,), (7, 7), (7, 7), (7,)]),
    (RNN, [(3, 2, 3, 2), (3, 2), (2, 2, 3, 4)], 1, [(3, 2, 7)],
     [(7, 6), (7,), (7, 24), (7, 7), (7, 7), (7,)]),
    (RNN_EXPOSED, [(3, 2, 3, 2), (3, 2), (1, 2, 7)], 2, [(3, 2, 7), (1, 2, 7)],
     [(7, 6), (7,), (7, 7), (7, 7), (7,)]),
    (RNN_EXPOSED, [(3, 2, 3, 2), (3, 2), (2, 5), (1, 2, 7)], 2, [(3, 2, 7), (1, 2, 7)],
     [(7, 6), (7,), (7, 5), (7, 7), (7, 7), (7,)]),
    # TestSetUp of test_lstm_layer.cpp: one timestep of 3 streams.
    (LSTM, [(1, 3, 3, 2), (1, 3)], 1, [(1, 3, 7)], [(28, 6), (28,), (28, 7)]),
    (LSTM, [(3, 2, 3, 2), (3, 2), (2, 2, 3, 4)], 1, [(3, 2, 7)],
     [(28, 6), (28,), (28, 24), (28, 7)]),
    (LSTM_EXPOSED, [(3, 2, 3, 2), (3, 2), (1, 2, 7), (1, 2, 7)], 3,
     [(3, 2, 7), (1, 2, 7), (1, 2, 7)], [(28, 6), (28,), (28, 7)]),
    (LSTM_EXPOSED, [(3, 2, 5), (3, 2), (2, 4), (1, 2, 7), (1, 2, 7)], 3,
     [(3, 2, 7), (1, 2, 7), (1, 2, 7)], [(28, 5), (28,), (28, 4), (28, 7)]),
    # lstm_unit_layer test: c_prev (1,3,7), gate inputs (1,3,28), cont (1,3).
    ('type: "LSTMUnit"', [(1, 3, 7), (1, 3, 28), (1, 3)], 2, [(1, 3, 7), (1, 3, 7)], []),
]


@pytest.mark.parametrize(("layer_text", "bottoms", "num_tops", "tops", "params"), SHAPE_CASES)
def test_shapes(layer_text: str, bottoms: list[Shape], num_tops: int, tops: list[Shape],
                params: list[Shape]) -> None:
    result = apply_rule(layer_text, bottoms, num_tops=num_tops)
    assert result.top_shapes == tuple(tops)
    assert result.param_shapes == tuple(params)


CHECK_CASES = [
    # Layer::CheckBlobCounts with the counts recurrent_layer.hpp derives from expose_hidden.
    (RNN, [(3, 2, 3), (3, 2), (2, 4), (1, 2, 7)], 1, "RNN Layer takes at most 3 bottom blob"),
    (RNN, [(3, 2, 3), (3, 2)], 2, "RNN Layer produces 1 top blob"),
    (RNN_EXPOSED, [(3, 2, 3), (3, 2)], 2, "RNN Layer takes at least 3 bottom blob"),
    (LSTM_EXPOSED, [(3, 2, 3), (3, 2), (1, 2, 7)], 3, "LSTM Layer takes at least 4 bottom blob"),
    (LSTM_EXPOSED, [(3, 2, 3), (3, 2), (1, 2, 7), (1, 2, 7)], 2, "LSTM Layer produces 3 top blob"),
    # recurrent_layer.cpp.
    (LSTM, [(3,), (3, 2)], 1, r"bottom\[0\] must have at least 2 axes -- \(#timesteps, #streams, ...\)"),
    (LSTM, [(3, 2, 3), (3, 2, 1)], 1, r"bottom\[1\] must have exactly 2 axes -- \(#timesteps, #streams\)"),
    (LSTM, [(3, 2, 3), (4, 2)], 1, r"T_ == bottom\[1\]->shape\(0\) \(3 vs. 4\)"),
    (RNN, [(3, 2, 3), (3, 5)], 1, r"N_ == bottom\[1\]->shape\(1\) \(2 vs. 5\)"),
    (RNN, [(3, 2, 3), (3, 2), (4, 3)], 1, r"N_ == bottom\[2\]->shape\(0\) \(2 vs. 4\)"),
    (RNN, [(3, 2, 3), (3, 2), ()], 1, r"bottom\[2\]->num_axes\(\) >= 1"),
    ('type: "LSTM"', [(3, 2, 3), (3, 2)], 1, "num_output must be positive"),
    (RNN, [(0, 2, 3), (0, 2)], 1, "Slice Layer produces at least 1 top"),
    # The unrolled net's InnerProduct on x uses axis 2, on the static input axis 1.
    (RNN, [(3, 2), (3, 2)], 1, "out of range"),
    (LSTM, [(3, 2, 3), (3, 2), (2,)], 1, "out of range"),
    (RNN_EXPOSED, [(3, 2, 3), (3, 2), (1, 2, 6)], 2,
     r"shape mismatch - recur_input_blobs_\[0\]: 1 2 7 \(14\) vs. bottom\[2\]: 1 2 6 \(12\)"),
    (LSTM_EXPOSED, [(3, 2, 3), (3, 2), (2, 5), (1, 2, 7), (2, 7)], 3,
     r"recur_input_blobs_\[1\]: 1 2 7 \(14\) vs. bottom\[4\]: 2 7 \(14\)"),
    # lstm_unit_layer.cpp.
    ('type: "LSTMUnit"', [(1, 3, 7), (1, 3, 28), (1, 3, 1)], 2, r"2 == bottom\[2\]->num_axes\(\)"),
    ('type: "LSTMUnit"', [(1, 3, 7), (1, 3), (1, 3)], 2, r"3 == bottom\[1\]->num_axes\(\)"),
    ('type: "LSTMUnit"', [(2, 3, 7), (2, 3, 28), (2, 3)], 2, r"1 == bottom\[0\]->shape\(0\)"),
    ('type: "LSTMUnit"', [(1, 3, 7), (1, 4, 28), (1, 3)], 2, r"num_instances == bottom\[1\]->shape\(1\)"),
    ('type: "LSTMUnit"', [(1, 3, 7), (1, 3, 27), (1, 3)], 2, r"4 \* hidden_dim_ == bottom\[1\]->shape\(2\)"),
]


@pytest.mark.parametrize(("layer_text", "bottoms", "num_tops", "message"), CHECK_CASES)
def test_caffe_checks(layer_text: str, bottoms: list[Shape], num_tops: int, message: str) -> None:
    with pytest.raises(RuleCheckFailed, match=message):
        apply_rule(layer_text, bottoms, num_tops=num_tops)
