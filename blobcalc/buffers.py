"""Scratch buffers Caffe layers allocate beside their tops and parameters, named after Caffe's members.

What is counted is what the GPU path of Caffe's own engine touches (SyncedMemory allocates lazily,
on first use), not what Reshape merely shapes. cuDNN engines use workspaces instead of im2col
buffers and are not modelled. Layers not listed here are reported as having no scratch buffers.
"""
from __future__ import annotations

from dataclasses import dataclass

from blobcalc import caffe_pb2
from blobcalc.graph import NetLayer
from blobcalc.result import LayerResult
from blobcalc.shapes.registry import Shape, count

INDEX_BYTES = 4  # int / unsigned int masks (max_idx_, rand_vec_) are 4 bytes whatever the dtype
PREFETCHING_TYPES = frozenset({"Data", "ImageData", "WindowData"})  # BasePrefetchingDataLayer


@dataclass(frozen=True, slots=True)
class Buffer:
    name: str  # Caffe's member name and what it is for
    elements: int
    fixed_element_bytes: int | None = None  # None: the net's dtype; else e.g. 4 for int masks

    def bytes(self, element_bytes: int) -> int:
        return self.elements * (self.fixed_element_bytes or element_bytes)


def layer_buffers(result: LayerResult, layer: NetLayer, training: bool,
                  phase: int | None = None) -> tuple[Buffer, ...]:
    """The scratch buffers of one layer, in forward (and, when `training`, backward), run in its own
    phase or in `phase` when given."""
    if not result.known:
        return ()
    kind = result.replaced_type or result.type
    builder = _BUILDERS.get(kind)
    return builder(result, layer, training, layer.phase if phase is None else phase) if builder else ()


def _conv(result: LayerResult, layer: NetLayer, training: bool, phase: int) -> tuple[Buffer, ...]:
    # base_conv_layer.cpp Reshape: col_buffer_ [kernel_dim * group, spatial...] holds one image; it is
    # skipped for 1x1 kernels with stride 1 and pad 0 (is_1x1_); bias_multiplier_ [out_spatial_dim].
    param = layer.param.convolution_param
    weight = result.param_shapes[0]
    top = result.top_shapes[0]
    assert top is not None
    channel_axis = len(top) - (len(weight) - 2) - 1
    kernel = weight[2:]
    strides = list(param.stride) or [param.stride_h or 1, param.stride_w or 1][: len(kernel)]
    pads = list(param.pad) or [param.pad_h, param.pad_w][: len(kernel)]
    one_by_one = all(k == 1 for k in kernel) and all(s == 1 for s in strides) and not any(pads)
    group = param.group
    kernel_dim_times_group = weight[1] * count(kernel) * group
    buffers = []
    if not one_by_one:
        # Convolution: output spatial size; Deconvolution (reverse_dimensions): the bottom's.
        spatial_source = top if result.type == "Convolution" else result_bottom(result, layer)
        spatial = count(spatial_source, channel_axis + 1)
        buffers.append(Buffer("col_buffer_ (im2col, one image)", kernel_dim_times_group * spatial))
    if param.bias_term:
        buffers.append(Buffer("bias_multiplier_", count(top, channel_axis + 1)))
    return tuple(buffers)


def result_bottom(result: LayerResult, layer: NetLayer) -> Shape:
    """The first bottom's shape (known whenever the layer itself is)."""
    bottom = result.bottom_shapes[0] if result.bottom_shapes else None
    if bottom is None:
        raise ValueError(f"layer {result.name} has no known bottom shape")
    return bottom


def _inner_product(result: LayerResult, layer: NetLayer, training: bool, phase: int) -> tuple[Buffer, ...]:
    # inner_product_layer.cpp: bias_multiplier_ [M], M = the bottom's count before `axis`.
    param = layer.param.inner_product_param
    if not param.bias_term:
        return ()
    top = result.top_shapes[0]
    assert top is not None
    return (Buffer("bias_multiplier_", count(top[:-1])),)


def _pooling(result: LayerResult, layer: NetLayer, training: bool, phase: int) -> tuple[Buffer, ...]:
    # pooling_layer.cu: MAX with one top keeps argmax indices in max_idx_ (int); STOCHASTIC in TRAIN
    # keeps sampled indices in rand_idx_ (Dtype).
    top = result.top_shapes[0]
    assert top is not None
    pool = layer.param.pooling_param.pool
    if pool == caffe_pb2.PoolingParameter.MAX and len(result.tops) == 1:
        return (Buffer("max_idx_ (argmax indices)", count(top), INDEX_BYTES),)
    if pool == caffe_pb2.PoolingParameter.STOCHASTIC and phase == caffe_pb2.TRAIN:
        return (Buffer("rand_idx_ (sampled indices)", count(top)),)
    return ()


def _dropout(result: LayerResult, layer: NetLayer, training: bool, phase: int) -> tuple[Buffer, ...]:
    # dropout_layer.cu: the mask rand_vec_ (unsigned int) is drawn only in the TRAIN phase.
    if phase != caffe_pb2.TRAIN:
        return ()
    bottom = result_bottom(result, layer)
    return (Buffer("rand_vec_ (dropout mask)", count(bottom), INDEX_BYTES),)


def _batch_norm(result: LayerResult, layer: NetLayer, training: bool, phase: int) -> tuple[Buffer, ...]:
    # batch_norm_layer.cpp Reshape/Forward: mean_, variance_ [C]; temp_, x_norm_ like the bottom;
    # batch_sum_multiplier_ [N]; spatial_sum_multiplier_ [H*W]; num_by_chans_ [N*C].
    bottom = result_bottom(result, layer)
    channels = bottom[1] if len(bottom) > 1 else 1
    num = bottom[0] if bottom else 1
    spatial = count(bottom, 2)
    return (Buffer("mean_", channels), Buffer("variance_", channels), Buffer("temp_", count(bottom)),
            Buffer("x_norm_", count(bottom)), Buffer("batch_sum_multiplier_", num),
            Buffer("spatial_sum_multiplier_", spatial), Buffer("num_by_chans_", num * channels))


def _lrn(result: LayerResult, layer: NetLayer, training: bool, phase: int) -> tuple[Buffer, ...]:
    bottom = result_bottom(result, layer)
    if layer.param.lrn_param.norm_region == caffe_pb2.LRNParameter.ACROSS_CHANNELS:
        return (Buffer("scale_ (across-channel norms)", count(bottom)),)
    # WITHIN_CHANNEL runs an inner net: square, pool and power outputs, each like the bottom.
    return (Buffer("square_output_", count(bottom)), Buffer("pool_output_", count(bottom)),
            Buffer("power_output_", count(bottom)))


def _softmax_scratch(shape: Shape, axis: int) -> tuple[Buffer, ...]:
    # softmax_layer.cpp: sum_multiplier_ [channels]; scale_ like the bottom with the axis set to 1.
    axis = axis + len(shape) if axis < 0 else axis
    return (Buffer("sum_multiplier_", shape[axis]), Buffer("scale_", count(shape) // max(shape[axis], 1)))


def _softmax(result: LayerResult, layer: NetLayer, training: bool, phase: int) -> tuple[Buffer, ...]:
    return _softmax_scratch(result_bottom(result, layer), layer.param.softmax_param.axis)


def _softmax_loss(result: LayerResult, layer: NetLayer, training: bool, phase: int) -> tuple[Buffer, ...]:
    # softmax_loss_layer.cu: prob_ (the inner softmax's top) and its diff, used as the per-element
    # count buffer; the loss per element is written into bottom[0]'s diff, which in inference is
    # an allocation of its own.
    bottom = result_bottom(result, layer)
    buffers = [Buffer("prob_ (softmax output)", count(bottom)),
               Buffer("prob_ diff (valid counts)", count(bottom)),
               *_softmax_scratch(bottom, layer.param.softmax_param.axis)]
    if not training:
        buffers.append(Buffer("bottom[0] diff (per-element loss)", count(bottom)))
    return tuple(buffers)


def _euclidean(result: LayerResult, layer: NetLayer, training: bool, phase: int) -> tuple[Buffer, ...]:
    return (Buffer("diff_ (prediction - target)", count(result_bottom(result, layer))),)


def _sigmoid_cross_entropy(result: LayerResult, layer: NetLayer, training: bool, phase: int) -> tuple[Buffer, ...]:
    # sigmoid_cross_entropy_loss_layer.cu: sigmoid_output_; loss and counts go to the bottoms' diffs.
    bottom = result_bottom(result, layer)
    buffers = [Buffer("sigmoid_output_", count(bottom))]
    if not training:
        buffers += [Buffer("bottom[0] diff (per-element loss)", count(bottom)),
                    Buffer("bottom[1] diff (valid counts)", count(bottom))]
    return tuple(buffers)


def _eltwise(result: LayerResult, layer: NetLayer, training: bool, phase: int) -> tuple[Buffer, ...]:
    if layer.param.eltwise_param.operation == caffe_pb2.EltwiseParameter.MAX:
        top = result.top_shapes[0]
        assert top is not None
        return (Buffer("max_idx_ (argmax indices)", count(top), INDEX_BYTES),)
    return ()


def _prefetch(result: LayerResult, layer: NetLayer, training: bool, phase: int) -> tuple[Buffer, ...]:
    # base_data_layer.cpp: `prefetch` batches (data_param.prefetch, default 4) of every top, each
    # pushed to the GPU by the prefetch thread.
    batches = layer.param.data_param.prefetch
    elements = sum(count(shape) for shape in result.top_shapes if shape is not None)
    return (Buffer(f"prefetch_ ({batches} batches of the tops)", batches * elements),)


_BUILDERS = {
    "Convolution": _conv,
    "Deconvolution": _conv,
    "InnerProduct": _inner_product,
    "Pooling": _pooling,
    "Dropout": _dropout,
    "BatchNorm": _batch_norm,
    "LRN": _lrn,
    "Softmax": _softmax,
    "SoftmaxWithLoss": _softmax_loss,
    "EuclideanLoss": _euclidean,
    "SigmoidCrossEntropyLoss": _sigmoid_cross_entropy,
    "Eltwise": _eltwise,
    **{kind: _prefetch for kind in PREFETCHING_TYPES},
}

MODELLED_TYPES = frozenset(_BUILDERS)
