"""Data layers (Input, Data, ImageData, WindowData, HDF5Data, MemoryData, DummyData) and the
HDF5Output sink: shapes from the prototxt, ShapeUnknown where only the data source would tell."""
from __future__ import annotations

from collections.abc import Sequence

from blobcalc import caffe_pb2
from blobcalc.shapes.misc import as_int32, blob_shape, check_op
from blobcalc.shapes.model import (
    DATA_IN_BUFFER,
    FORWARD,
    SETUP,
    Buffer,
    RunContext,
    count,
    no_buffers,
    no_compute,
)
from blobcalc.shapes.registry import (
    BlobCounts,
    LayerContext,
    LayerShapes,
    Shape,
    ShapeUnknown,
    check,
    layer_model,
    shape_rule,
)

# The filler names filler.hpp's GetFiller knows; any other is fatal.
_FILLER_TYPES = ("constant", "gaussian", "positive_unitball", "uniform", "xavier", "msra", "bilinear")


def _top_names(ctx: LayerContext) -> list[str]:
    names = list(ctx.layer.top)
    return names + [f"top{i}" for i in range(len(names), ctx.num_tops)]


def _unknown(ctx: LayerContext, why: str, dims: Sequence[str], datum_option: str = "") -> ShapeUnknown:
    """ShapeUnknown telling the user which --input-shape options would replace this layer's tops;
    `dims` gives one `d0,d1,...` pattern per top (letters stand for the unknown dimensions).
    `datum_option`: the --datum-shape that keeps the layer as it is (database data layers), named first."""
    options = " ".join(f"--input-shape {name}={pattern}"
                       for name, pattern in zip(_top_names(ctx), dims, strict=False))
    if datum_option:
        return ShapeUnknown(f"{why}; pass {datum_option} (the stored record size; the layer stays a data layer, "
                            f"as Caffe runs it), or {options} (replaced by an Input layer)")
    return ShapeUnknown(f"{why}; pass {options}")


def _check_transform_param(ctx: LayerContext) -> None:
    """DataTransformer's constructor, run by BaseDataLayer::LayerSetUp (data_transformer.cpp)."""
    transform = ctx.layer.transform_param
    check(not (transform.HasField("mean_file") and len(transform.mean_value) > 0),
          "Cannot specify mean_file and mean_value at the same time")


def _label_tops(ctx: LayerContext, batch: int) -> tuple[Shape, ...]:
    """Caffe's data layers shape every label top [batch_size]."""
    return ((batch,),) * (ctx.num_tops - 1)


@shape_rule("Input", counts=BlobCounts(exact_bottoms=0, min_tops=1), source=True)
def input_layer(ctx: LayerContext) -> LayerShapes:
    """input_layer.cpp: input_param.shape given once (for every top) or once per top."""
    shapes = ctx.layer.input_param.shape
    num_tops = ctx.num_tops
    check(len(shapes) in (0, 1, num_tops),
          f"Must specify 'shape' once, once per top blob, or not at all: "
          f"{num_tops} tops vs. {len(shapes)} shapes.")
    if not shapes:
        # Caffe leaves the tops unshaped; whoever feeds the net reshapes them before use.
        raise _unknown(ctx, "input_param gives no shape", ["d0,d1,..."] * num_tops)
    return LayerShapes(tuple(blob_shape(list(shapes[0 if len(shapes) == 1 else i].dim))
                             for i in range(num_tops)))


def datum_top_shape(datum: Shape, crop: int) -> Shape:
    """data_transformer.cpp InferBlobShape(Datum): the datum's channels, and crop_size x crop_size
    when cropping (CHECK_GE of the datum's height and width against crop_size), else its own size."""
    check(len(datum) == 3, f"--datum-shape takes C,H,W (3 numbers), not {len(datum)}")
    channels, height, width = datum
    if crop:
        check(height >= crop and width >= crop,
              f"the datum's {height}x{width} is smaller than crop_size {crop} (CHECK_GE in DataTransformer)")
        return (channels, crop, crop)
    return (channels, height, width)


@shape_rule("Data", counts=BlobCounts(exact_bottoms=0, min_tops=1, max_tops=2), source=True)
def data_layer(ctx: LayerContext) -> LayerShapes:
    """data_layer.cpp DataLayerSetUp: [batch_size] + the first datum's (channels, height, width),
    with height and width replaced by transform_param.crop_size when it is set."""
    _check_transform_param(ctx)
    param = ctx.layer.data_param
    batch = as_int32(param.batch_size)  # no default: Caffe uses 0 when it is not set
    backend = caffe_pb2.DataParameter.DB.Name(param.backend)
    labels = [str(batch)] * (ctx.num_tops - 1)
    crop = ctx.layer.transform_param.crop_size
    if ctx.datum_shape is not None:
        return LayerShapes(((batch, *datum_top_shape(ctx.datum_shape, crop)), *_label_tops(ctx, batch)),
                           notes=(f"datum {'x'.join(map(str, ctx.datum_shape))} given by --datum-shape",))
    if crop == 0:
        # --datum-shape first: the layer stays a data layer (prefetch, as Caffe runs it); --input-shape
        # replaces it by an Input layer.
        raise _unknown(ctx, f"the datum size comes from the {backend} database '{param.source}', "
                            "which is never opened", [f"{batch},C,H,W", *labels],
                       datum_option=f"--datum-shape {ctx.layer.name}=C,H,W")
    channels = 1 if ctx.layer.transform_param.force_gray else 3
    notes = [f"{channels} channel(s) assumed: the {backend} database '{param.source}' is never "
             f"opened (use --datum-shape {ctx.layer.name}=C,H,W to give the real record size)"]
    if not param.HasField("batch_size"):
        notes.append("data_param.batch_size is not set, so Caffe makes batches of 0")
    return LayerShapes(((batch, channels, crop, crop), *_label_tops(ctx, batch)), notes=tuple(notes))


@shape_rule("ImageData", counts=BlobCounts(exact_bottoms=0, exact_tops=2), source=True)
def image_data(ctx: LayerContext) -> LayerShapes:
    """image_data_layer.cpp: channels 3 (is_color) or 1; height and width = crop_size, else
    new_height x new_width, else the first image's own size (unknown here)."""
    _check_transform_param(ctx)
    param = ctx.layer.image_data_param
    new_height, new_width = as_int32(param.new_height), as_int32(param.new_width)
    check((new_height == 0 and new_width == 0) or (new_height > 0 and new_width > 0),
          "Current implementation requires new_height and new_width to be set at the same time.")
    channels = 3 if param.is_color else 1
    crop = ctx.layer.transform_param.crop_size
    batch = as_int32(param.batch_size)
    if new_height:
        # DataTransformer::InferBlobShape(cv::Mat) on the resized image.
        check_op(new_height, ">=", crop, "img_height >= crop_size")
        check_op(new_width, ">=", crop, "img_width >= crop_size")
    elif crop == 0:
        raise _unknown(ctx, f"the image size comes from the first file listed in "
                            f"'{param.source}', which is never read",
                       [f"{batch},{channels},H,W", str(batch)])
    check_op(batch, ">", 0, "batch_size > 0", "Positive batch size required")
    height, width = (crop, crop) if crop else (new_height, new_width)
    return LayerShapes(((batch, channels, height, width), (batch,)))


@shape_rule("WindowData", counts=BlobCounts(exact_bottoms=0, exact_tops=2), source=True)
def window_data(ctx: LayerContext) -> LayerShapes:
    """window_data_layer.cpp: [batch_size, channels, crop_size, crop_size] and [batch_size];
    crop_size is required, channels come from the window file."""
    _check_transform_param(ctx)
    crop = ctx.layer.transform_param.crop_size
    check_op(crop, ">", 0, "crop_size > 0")
    param = ctx.layer.window_data_param
    batch = as_int32(param.batch_size)
    return LayerShapes(((batch, 3, crop, crop), (batch,)), notes=(
        f"3 channels assumed: the window file '{param.source}' (which lists each image's "
        "channels) is never read",))


@shape_rule("HDF5Data", counts=BlobCounts(exact_bottoms=0, min_tops=1), source=True)
def hdf5_data(ctx: LayerContext) -> LayerShapes:
    """hdf5_data_layer.cpp: each top is [batch_size] + the shape of the dataset of the same name
    in the HDF5 files, which are never opened."""
    check(not ctx.layer.HasField("transform_param"), "HDF5Data does not transform data.")
    param = ctx.layer.hdf5_data_param
    batch = as_int32(param.batch_size)
    raise _unknown(ctx, f"the shapes of the datasets in the HDF5 files listed in '{param.source}' "
                        "are never read", [f"{batch},..."] * ctx.num_tops)


@shape_rule("MemoryData", counts=BlobCounts(exact_bottoms=0, exact_tops=2), source=True)
def memory_data(ctx: LayerContext) -> LayerShapes:
    """memory_data_layer.cpp: [batch_size, channels, height, width] and [batch_size]."""
    _check_transform_param(ctx)
    param = ctx.layer.memory_data_param
    batch, channels = as_int32(param.batch_size), as_int32(param.channels)
    height, width = as_int32(param.height), as_int32(param.width)
    # The products are C++ ints, as in the layer.
    check(as_int32(batch * as_int32(channels * height * width)) > 0,
          "batch_size, channels, height, and width must be specified and positive in "
          "memory_data_param")
    return LayerShapes((blob_shape([batch, channels, height, width]), (batch,)))


def _dummy_data_fillers(param: caffe_pb2.DummyDataParameter, num_tops: int) -> list[str]:
    """The filler type each top gets (dummy_data_layer.cpp): none means constant 0."""
    types = [filler.type for filler in param.data_filler] or ["constant"]
    for filler_type in types:
        check(filler_type in _FILLER_TYPES, f"Unknown filler name: {filler_type}")
    return types * num_tops if len(types) == 1 else types


@shape_rule("DummyData", counts=BlobCounts(exact_bottoms=0, min_tops=1), source=True)
def dummy_data(ctx: LayerContext) -> LayerShapes:
    """dummy_data_layer.cpp: `shape` once or once per top, or the legacy num/channels/height/
    width fields, each once or once per top."""
    param = ctx.layer.dummy_data_param
    num_tops = ctx.num_tops
    num_fillers = len(param.data_filler)
    check(num_fillers in (0, 1, num_tops),
          f"Number of data fillers must be 0, 1 or equal to the number of tops: {num_tops}; "
          f"you specified {num_fillers} data fillers.")
    legacy = [list(param.num), list(param.channels), list(param.height), list(param.width)]
    tops: list[Shape] = []
    if any(legacy):
        check(len(param.shape) == 0, "Both shape and legacy fields were specified")
        for name, values in zip(("num", "channels", "height", "width"), legacy, strict=True):
            check(len(values) in (1, num_tops),
                  f"Must specify '{name}' once, or once per top blob ({num_tops}); "
                  f"specified {len(values)}.")
        fillers = _dummy_data_fillers(param, num_tops)
        for i in range(num_tops):
            tops.append(blob_shape([values[0 if len(values) == 1 else i] for values in legacy]))
    else:
        check(len(param.shape) in (1, num_tops),
              f"Must specify 'shape' once, or once per top blob ({num_tops}); "
              f"specified {len(param.shape)}.")
        fillers = _dummy_data_fillers(param, num_tops)
        for i in range(num_tops):
            tops.append(blob_shape(list(param.shape[0 if len(param.shape) == 1 else i].dim)))
    for shape, filler_type in zip(tops, fillers, strict=True):
        # LayerSetUp runs Forward once to fill the constant tops; ConstantFiller CHECKs the count.
        if filler_type == "constant":
            check(all(dim > 0 for dim in shape), "Check failed: count (a constant-filled top is empty)")
    return LayerShapes(tuple(tops))


@shape_rule("HDF5Output", counts=BlobCounts(exact_bottoms=2, exact_tops=0))
def hdf5_output(ctx: LayerContext) -> LayerShapes:
    """hdf5_output_layer.cpp: a sink with no tops and no Reshape."""
    file_name = ctx.layer.hdf5_output_param.file_name
    return LayerShapes((), notes=(
        f"Caffe creates (or truncates) the HDF5 file '{file_name}' when it builds the net",))


# --- The model of the data layers beyond their shapes ----------------------------------------------

def prefetch_buffers(ctx: RunContext) -> tuple[Buffer, ...]:
    """base_data_layer.cpp BasePrefetchingDataLayer::LayerSetUp allocates `prefetch` batches
    (data_param.prefetch, default 4) of every top (data after the crop; label) on the main thread;
    Forward points the tops into the current batch (set_cpu_data / set_gpu_data), so they own no
    data. data_transformer.cpp reads a mean_file into data_mean_, a blob of the uncropped datum."""
    batches = ctx.layer.data_param.prefetch
    buffers = [Buffer(f"prefetch_ ({batches} batches of the '{name}' top)", batches * count(shape), SETUP)
               for name, shape in zip(ctx.layer.top, ctx.top_shapes, strict=False)]
    if ctx.layer.transform_param.HasField("mean_file"):
        crop = ctx.layer.transform_param.crop_size
        datum = ctx.datum_shape or (ctx.top[1:] if not crop else None)
        if datum is not None:
            buffers.append(Buffer("data_mean_ (the mean_file, one uncropped datum)", count(datum), SETUP))
    return tuple(buffers)


def tops_in_buffer(bottoms: int, tops: int) -> str:
    return DATA_IN_BUFFER


layer_model("Data", "ImageData", "WindowData", buffers=prefetch_buffers, compute=no_compute,
            sharing=tops_in_buffer)


def _memory_data_buffers(ctx: RunContext) -> tuple[Buffer, ...]:
    """memory_data_layer.cpp LayerSetUp allocates added_data_ [batch, C, H, W] and added_label_
    [batch]; Forward points the tops into the data it was given."""
    return (Buffer("added_data_", count(ctx.top_shapes[0]), SETUP), Buffer("added_label_", ctx.top_shapes[0][0], SETUP))


layer_model("MemoryData", buffers=_memory_data_buffers, compute=no_compute, sharing=tops_in_buffer)

# input_layer.cpp and dummy_data_layer.cpp shape (and DummyData fills) their own tops and keep nothing
# else. hdf5_data_layer.cpp also holds the whole current file in hdf_blobs_, whose size is never read
# here: its shapes come from --input-shape, which replaces the layer by an Input layer.
layer_model("Input", "DummyData", "HDF5Data", buffers=no_buffers, compute=no_compute)


def _hdf5_output_buffers(ctx: RunContext) -> tuple[Buffer, ...]:
    """hdf5_output_layer.cpp Forward copies both bottoms into data_blob_ and label_blob_."""
    return tuple(Buffer(name, count(shape), FORWARD)
                 for name, shape in zip(("data_blob_", "label_blob_"), ctx.bottom_shapes, strict=False))


layer_model("HDF5Output", buffers=_hdf5_output_buffers, compute=no_compute)
