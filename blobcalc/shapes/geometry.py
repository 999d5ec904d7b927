"""Kernel, stride, pad and dilation of convolution-like layers, resolved as Caffe resolves them."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from blobcalc.shapes.registry import check, trunc_div


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
    check(len(values) in (1, num_axes),
          f"{name} must be specified once, or once per spatial dimension "
          f"({name} specified {len(values)} times; {num_axes} spatial dims).")
    return tuple(values) * num_axes if len(values) == 1 else tuple(values)


def hw_or_per_axis(param: object, name: str, num_axes: int, default: int) -> tuple[int, ...]:
    """`name_h`/`name_w` (2-D only) or the repeated `name` / `kernel_size` field, as
    BaseConvolutionLayer::LayerSetUp reads them; an unset `_h`/`_w` partner reads as 0."""
    has_h = param.HasField(f"{name}_h")  # type: ignore[attr-defined]
    has_w = param.HasField(f"{name}_w")  # type: ignore[attr-defined]
    repeated_name = "kernel_size" if name == "kernel" else name
    repeated = list(getattr(param, repeated_name))
    if has_h or has_w:
        check(num_axes == 2, f"{name}_h & {name}_w can only be used for 2D convolution.")
        check(not repeated, f"Either {repeated_name} or {name}_h/w should be specified; not both.")
        return (getattr(param, f"{name}_h"), getattr(param, f"{name}_w"))
    if name == "kernel":
        # The kernel has no default: zero entries fail the "once or once per axis" check.
        check(len(repeated) in (1, num_axes),
              f"kernel_size must be specified once, or once per spatial dimension "
              f"(kernel_size specified {len(repeated)} times; {num_axes} spatial dims).")
    return per_axis(repeated_name, repeated, num_axes, default)


def conv_window(param: object, num_axes: int) -> Window:
    """BaseConvolutionLayer::LayerSetUp (base_conv_layer.cpp): kernel, stride, pad, dilation."""
    kernel = hw_or_per_axis(param, "kernel", num_axes, 0)
    check(all(k > 0 for k in kernel), "Filter dimensions must be nonzero.")
    stride = hw_or_per_axis(param, "stride", num_axes, 1)
    check(all(s > 0 for s in stride), "Stride dimensions must be nonzero.")
    pad = hw_or_per_axis(param, "pad", num_axes, 0)
    dilation = per_axis("dilation", list(param.dilation), num_axes, 1)  # type: ignore[attr-defined]
    return Window(kernel, stride, pad, dilation)


def conv_output_size(size: int, kernel: int, stride: int, pad: int, dilation: int) -> int:
    """ConvolutionLayer::compute_output_shape (integer division as in C++)."""
    extent = dilation * (kernel - 1) + 1
    return trunc_div(size + 2 * pad - extent, stride) + 1


def deconv_output_size(size: int, kernel: int, stride: int, pad: int, dilation: int) -> int:
    """DeconvolutionLayer::compute_output_shape: the inverse of the convolution's size."""
    extent = dilation * (kernel - 1) + 1
    return stride * (size - 1) + extent - 2 * pad
