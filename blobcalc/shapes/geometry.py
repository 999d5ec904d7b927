"""Kernel, stride, pad and dilation of convolution-like layers, resolved as Caffe resolves them."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from blobcalc.shapes.registry import RuleCheckFailed, as_int32, check, trunc_div


@dataclass(frozen=True, slots=True)
class Window:
    """Per-spatial-axis geometry of a sliding window."""

    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    pad: tuple[int, ...]
    dilation: tuple[int, ...]


def per_axis(name: str, values: Sequence[int], num_axes: int, default: int) -> tuple[int, ...]:
    """A repeated field given not at all (default), once (all axes) or once per axis."""
    if not values:
        return (default,) * num_axes
    if len(values) == 1:
        return (as_int32(values[0]),) * num_axes
    if len(values) != num_axes:
        raise RuleCheckFailed(f"{name} must be specified once, or once per spatial dimension "
                              f"({name} specified {len(values)} times; {num_axes} spatial dims).")
    # base_conv_layer.cpp keeps them in Blob<int>: a uint32 of 2^32 - 1 is -1 to its CHECKs.
    return tuple(map(as_int32, values))


# Field names per window property (built once: these lookups run for every convolution).
_FIELDS = {name: (f"{name}_h", f"{name}_w", "kernel_size" if name == "kernel" else name)
           for name in ("kernel", "stride", "pad")}


def hw_or_per_axis(param: Any, name: str, num_axes: int, default: int) -> tuple[int, ...]:
    """`name_h`/`name_w` (2-D only) or the repeated `name` / `kernel_size` field, as
    BaseConvolutionLayer::LayerSetUp reads them; an unset `_h`/`_w` partner reads as 0."""
    h_name, w_name, repeated_name = _FIELDS[name]
    repeated = getattr(param, repeated_name)[:]
    if param.HasField(h_name) or param.HasField(w_name):
        check(num_axes == 2, f"{name}_h & {name}_w can only be used for 2D convolution.")
        check(not repeated, f"Either {repeated_name} or {name}_h/w should be specified; not both.")
        return (as_int32(getattr(param, h_name)), as_int32(getattr(param, w_name)))
    if name == "kernel" and len(repeated) not in (1, num_axes):
        # The kernel has no default: zero entries fail the "once or once per axis" check.
        raise RuleCheckFailed(f"kernel_size must be specified once, or once per spatial dimension "
                              f"(kernel_size specified {len(repeated)} times; {num_axes} spatial dims).")
    return per_axis(repeated_name, repeated, num_axes, default)


def conv_window(param: Any, num_axes: int) -> Window:
    """BaseConvolutionLayer::LayerSetUp (base_conv_layer.cpp): kernel, stride, pad, dilation."""
    kernel = hw_or_per_axis(param, "kernel", num_axes, 0)
    check(all(k > 0 for k in kernel), "Filter dimensions must be nonzero.")
    stride = hw_or_per_axis(param, "stride", num_axes, 1)
    check(all(s > 0 for s in stride), "Stride dimensions must be nonzero.")
    pad = hw_or_per_axis(param, "pad", num_axes, 0)
    dilation = per_axis("dilation", param.dilation[:], num_axes, 1)
    return Window(kernel, stride, pad, dilation)


def conv_output_size(size: int, kernel: int, stride: int, pad: int, dilation: int) -> int:
    """ConvolutionLayer::compute_output_shape (integer division as in C++)."""
    extent = dilation * (kernel - 1) + 1
    return trunc_div(size + 2 * pad - extent, stride) + 1


def deconv_output_size(size: int, kernel: int, stride: int, pad: int, dilation: int) -> int:
    """DeconvolutionLayer::compute_output_shape: the inverse of the convolution's size."""
    extent = dilation * (kernel - 1) + 1
    return stride * (size - 1) + extent - 2 * pad
