"""Recurrent layers (RNN, LSTM) with the learnable parameters of their unrolled nets, and LSTMUnit."""
from __future__ import annotations

from dataclasses import dataclass

from blobcalc.shapes.misc import as_int32, axis_dim, check_op, shape_string
from blobcalc.shapes.model import (
    FORWARD,
    Buffer,
    Cost,
    RunContext,
    buffers_not_modelled,
    elements_of_top,
    matrix_backward,
)
from blobcalc.shapes.registry import (
    BlobCounts,
    LayerContext,
    LayerShapes,
    Shape,
    canonical_axis,
    check,
    count,
    layer_model,
    shape_rule,
)


@dataclass(frozen=True, slots=True)
class _Unrolled:
    """What RecurrentLayer::LayerSetUp / Reshape (recurrent_layer.cpp) establish."""

    hidden: int  # recurrent_param.num_output
    x_inputs: int  # K of the x_transform InnerProduct (axis 2 of x)
    static_inputs: int | None  # K of the static-input InnerProduct (axis 1), if bottom[2] is static
    top_shapes: tuple[Shape, ...]


def _unroll(ctx: LayerContext, layer_type: str, num_recurrent_blobs: int) -> _Unrolled:
    """RecurrentLayer's checks and tops, for a net with `num_recurrent_blobs` state blobs (h, or h
    and c). The blob counts depend on expose_hidden (recurrent_layer.hpp computes MinBottomBlobs
    and ExactNumTopBlobs from it), so the static BlobCounts are the loosest bounds and the exact
    ones are checked here, with Layer::CheckBlobCounts' messages."""
    param = ctx.layer.recurrent_param
    exposed = num_recurrent_blobs if param.expose_hidden else 0
    num_bottoms = len(ctx.bottom_shapes)
    min_bottoms = 2 + exposed
    check(num_bottoms >= min_bottoms,
          f"{layer_type} Layer takes at least {min_bottoms} bottom blob(s) as input.")
    check(num_bottoms <= min_bottoms + 1,
          f"{layer_type} Layer takes at most {min_bottoms + 1} bottom blob(s) as input.")
    check(ctx.num_tops == 1 + exposed, f"{layer_type} Layer produces {1 + exposed} top blob(s) as output.")

    x, cont = ctx.bottom_shapes[0], ctx.bottom_shapes[1]
    check_op(len(x), ">=", 2, "bottom[0]->num_axes() >= 2",
             "bottom[0] must have at least 2 axes -- (#timesteps, #streams, ...)")
    timesteps, streams = x[0], x[1]
    check_op(len(cont), "==", 2, "bottom[1]->num_axes() == 2",
             "bottom[1] must have exactly 2 axes -- (#timesteps, #streams)")
    check_op(timesteps, "==", cont[0], "T_ == bottom[1]->shape(0)")
    check_op(streams, "==", cont[1], "N_ == bottom[1]->shape(1)")
    static_input = num_bottoms > 2 + exposed
    static_inputs = None
    if static_input:
        x_static = ctx.bottom_shapes[2]
        check_op(len(x_static), ">=", 1, "bottom[2]->num_axes() >= 1")
        check_op(streams, "==", x_static[0], "N_ == bottom[2]->shape(0)")

    # FillUnrolledNet (rnn_layer.cpp, lstm_layer.cpp).
    hidden = as_int32(param.num_output)
    check_op(hidden, ">", 0, "num_output > 0", "num_output must be positive")
    # Building the unrolled net: its Slice of `cont` into T timesteps needs at least one top.
    check(timesteps >= 1, "Slice Layer produces at least 1 top blob(s) as output. "
          "(the unrolled net has no timesteps: bottom[0]->shape(0) is 0)")
    # Its InnerProduct layers: x_transform on x with axis 2, the static one with axis 1.
    x_inputs = count(x, canonical_axis(2, len(x)))
    if static_input:
        x_static = ctx.bottom_shapes[2]
        static_inputs = count(x_static, canonical_axis(1, len(x_static)))

    # Reshape: exposed hidden-state bottoms must match the state shape [1, N, num_output].
    state: Shape = (1, streams, hidden)
    if exposed:
        offset = 2 + int(static_input)
        for j, bottom in enumerate(ctx.bottom_shapes[offset:]):
            check(bottom == state, f"shape mismatch - recur_input_blobs_[{j}]: {shape_string(state)} "
                                   f"vs. bottom[{offset + j}]: {shape_string(bottom)}")
    return _Unrolled(hidden, x_inputs, static_inputs,
                     ((timesteps, streams, hidden),) + (state,) * exposed)


@shape_rule("RNN", counts=BlobCounts(min_bottoms=2, max_bottoms=4, min_tops=1, max_tops=2))
def rnn(ctx: LayerContext) -> LayerShapes:
    """rnn_layer.cpp: top o [T, N, num_output] (+ h_T [1, N, num_output] if expose_hidden).
    Parameters, in the order the unrolled net first owns them: W_xh, b_h, W_xh_static (with a
    static input), W_hh, W_ho, b_o."""
    unrolled = _unroll(ctx, "RNN", 1)
    hidden = unrolled.hidden
    params: list[Shape] = [(hidden, unrolled.x_inputs), (hidden,)]
    if unrolled.static_inputs is not None:
        params.append((hidden, unrolled.static_inputs))
    params += [(hidden, hidden), (hidden, hidden), (hidden,)]
    return LayerShapes(unrolled.top_shapes, tuple(params))


@shape_rule("LSTM", counts=BlobCounts(min_bottoms=2, max_bottoms=5, min_tops=1, max_tops=3))
def lstm(ctx: LayerContext) -> LayerShapes:
    """lstm_layer.cpp: top h [T, N, num_output] (+ h_T and c_T [1, N, num_output] if
    expose_hidden). The four gates are stacked: parameters W_xc [4H, K], b_c [4H],
    W_xc_static [4H, K_static] (with a static input), W_hc [4H, H]."""
    unrolled = _unroll(ctx, "LSTM", 2)
    hidden = unrolled.hidden
    gates = 4 * hidden
    params: list[Shape] = [(gates, unrolled.x_inputs), (gates,)]
    if unrolled.static_inputs is not None:
        params.append((gates, unrolled.static_inputs))
    params.append((gates, hidden))
    return LayerShapes(unrolled.top_shapes, tuple(params))


@shape_rule("LSTMUnit", counts=BlobCounts(exact_bottoms=3, exact_tops=2))
def lstm_unit(ctx: LayerContext) -> LayerShapes:
    """lstm_unit_layer.cpp: c_{t-1} [1, N, H], gate inputs [1, N, 4H], cont [1, N] -> c_t, h_t
    both [1, N, H]."""
    previous_cell = ctx.bottom_shapes[0]
    num_instances = axis_dim(previous_cell, 1)
    for i, bottom in enumerate(ctx.bottom_shapes):
        num_axes = 2 if i == 2 else 3
        check_op(num_axes, "==", len(bottom), f"{num_axes} == bottom[{i}]->num_axes()")
        check_op(1, "==", bottom[0], f"1 == bottom[{i}]->shape(0)")
        check_op(num_instances, "==", bottom[1], f"num_instances == bottom[{i}]->shape(1)")
    hidden = previous_cell[2]
    check_op(4 * hidden, "==", ctx.bottom_shapes[1][2], "4 * hidden_dim_ == bottom[1]->shape(2)")
    return LayerShapes((previous_cell, previous_cell))


# --- The model of the recurrent layers beyond their shapes -----------------------------------------

def _recurrent_cost(ctx: RunContext) -> Cost:
    """The unrolled net's InnerProducts: every weight matrix once per timestep and stream."""
    timesteps, streams = ctx.bottom[0], ctx.bottom[1]
    maccs = timesteps * streams * sum(count(shape) for shape in ctx.param_shapes if len(shape) == 2)
    return Cost(maccs=maccs, additions=elements_of_top(ctx) * 4, exponentials=elements_of_top(ctx),
                backward_maccs=matrix_backward(maccs, ctx))


# recurrent_layer.cpp builds and runs a whole unrolled Net (a blob per gate, timestep and state):
# its blobs are not modelled here, and the memory totals say partial for a net with these layers.
layer_model("RNN", "LSTM", buffers=buffers_not_modelled("the unrolled inner net's blobs are not modelled"),
            compute=_recurrent_cost)


def _lstm_unit_cost(ctx: RunContext) -> Cost:
    """lstm_unit_layer.cpp: three sigmoids, a tanh of the input and of the cell, and the cell update."""
    hidden = elements_of_top(ctx)
    return Cost(maccs=3 * hidden, additions=5 * hidden, divisions=5 * hidden, exponentials=5 * hidden)


def _lstm_unit_buffers(ctx: RunContext) -> tuple[Buffer, ...]:
    """lstm_unit_layer.cpp Forward writes the activated gates into X_acts_ (like bottom[1])."""
    return (Buffer("X_acts_ (activated gates)", count(ctx.bottom_shapes[1]), FORWARD),)


layer_model("LSTMUnit", buffers=_lstm_unit_buffers, compute=_lstm_unit_cost)
