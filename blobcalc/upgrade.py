"""Caffe's legacy-format upgrades (V0 → V1 → V2 layers, net-level inputs, BatchNorm params).

Each step copies what BVLC Caffe's src/caffe/util/upgrade_proto.cpp (UpgradeNetAsNeeded and the
functions it calls, master at 9b89154) does to a freshly parsed NetParameter, in the same order.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from google.protobuf import descriptor, message

from blobcalc import caffe_pb2
from blobcalc.errors import UpgradeError

# One step's upgraded net and its notices (the first says which Caffe function was applied).
_StepResult = tuple[caffe_pb2.NetParameter, list[str]]


@dataclass(frozen=True, slots=True)
class UpgradeResult:
    """The upgraded net and what was done to it.

    `era` is the format the file was written in: "V0" (`layers { layer { ... } }`), "V1"
    (`layers` with enum types), "V2" (`layer` with string types), or "V0+V2" for a V0 file that
    also holds `layer` blocks (Caffe's V0 upgrade silently drops those). A V1 file mixing `layer`
    and `layers` never gets a result: Caffe refuses it and so do we.
    """

    net: caffe_pb2.NetParameter
    notices: tuple[str, ...]
    era: str


# --------------------------------------------------------------------------------------------
# Era detection and the "NetNeeds..." predicates (upgrade_proto.cpp)
# --------------------------------------------------------------------------------------------

def net_era(net: caffe_pb2.NetParameter) -> str:
    """Which layer format `net` was written in (see UpgradeResult.era)."""
    if _needs_v0_to_v1_upgrade(net):
        return "V0+V2" if len(net.layer) else "V0"
    if len(net.layers):
        return "V1+V2" if len(net.layer) else "V1"
    return "V2"


def _needs_v0_to_v1_upgrade(net: caffe_pb2.NetParameter) -> bool:
    # NetNeedsV0ToV1Upgrade: any `layers` entry holding a nested V0 `layer` block.
    return any(entry.HasField("layer") for entry in net.layers)


def _needs_v1_to_v2_upgrade(net: caffe_pb2.NetParameter) -> bool:
    # NetNeedsV1ToV2Upgrade: any `layers` entry at all.
    return len(net.layers) > 0


def _needs_input_upgrade(net: caffe_pb2.NetParameter) -> bool:
    # NetNeedsInputUpgrade looks at the `input` names only, not at input_shape / input_dim.
    return len(net.input) > 0


def _needs_batch_norm_upgrade(net: caffe_pb2.NetParameter) -> bool:
    return any(_is_legacy_batch_norm(layer) for layer in net.layer)


def _is_legacy_batch_norm(layer: caffe_pb2.LayerParameter) -> bool:
    # The old BatchNorm definition asked for exactly three param specs (mean, variance, factor).
    return bool(layer.type == "BatchNorm" and len(layer.param) == 3)


# --------------------------------------------------------------------------------------------
# V0 → V1: UpgradeV0Net, UpgradeV0PaddingLayers, UpgradeV0LayerParameter, UpgradeV0LayerType
# --------------------------------------------------------------------------------------------

# UpgradeV0LayerType: V0 type string → V1 LayerType enum name. Anything else is fatal in Caffe.
_V0_TYPE_TO_V1: Mapping[str, str] = {
    "accuracy": "ACCURACY",
    "bnll": "BNLL",
    "concat": "CONCAT",
    "conv": "CONVOLUTION",
    "data": "DATA",
    "dropout": "DROPOUT",
    "euclidean_loss": "EUCLIDEAN_LOSS",
    "flatten": "FLATTEN",
    "hdf5_data": "HDF5_DATA",
    "hdf5_output": "HDF5_OUTPUT",
    "im2col": "IM2COL",
    "images": "IMAGE_DATA",
    "infogain_loss": "INFOGAIN_LOSS",
    "innerproduct": "INNER_PRODUCT",
    "lrn": "LRN",
    "multinomial_logistic_loss": "MULTINOMIAL_LOGISTIC_LOSS",
    "pool": "POOLING",
    "relu": "RELU",
    "sigmoid": "SIGMOID",
    "softmax": "SOFTMAX",
    "softmax_loss": "SOFTMAX_LOSS",
    "split": "SPLIT",
    "tanh": "TANH",
    "window_data": "WINDOW_DATA",
}

_ANY_TYPE = "*"


@dataclass(frozen=True, slots=True)
class _V0Route:
    """Where one V0LayerParameter field goes in the V1 layer, per V0 type string.

    `targets` maps a V0 type (or `_ANY_TYPE`) to a field path in V1LayerParameter; for other
    types Caffe logs "Unknown parameter <caffe_name> for layer type <type>" and drops the value.
    """

    v0_field: str
    targets: Mapping[str, tuple[str, ...]]
    caffe_name: str = ""


def _route(v0_field: str, caffe_name: str = "", /, **targets: tuple[str, ...]) -> _V0Route:
    return _V0Route(v0_field, targets, caffe_name or v0_field)


def _to_transform(field: str) -> dict[str, tuple[str, ...]]:
    # scale, meanfile, cropsize and mirror go to transform_param whatever the layer type.
    return {_ANY_TYPE: ("transform_param", field)}


_DATA_SOURCES = {"data": "data_param", "hdf5_data": "hdf5_data_param", "images": "image_data_param",
                 "window_data": "window_data_param"}

# In the order UpgradeV0LayerParameter checks them (the order of our notices).
_V0_ROUTES: tuple[_V0Route, ...] = (
    _route("num_output", conv=("convolution_param", "num_output"),
           innerproduct=("inner_product_param", "num_output")),
    _route("biasterm", conv=("convolution_param", "bias_term"),
           innerproduct=("inner_product_param", "bias_term")),
    _route("weight_filler", conv=("convolution_param", "weight_filler"),
           innerproduct=("inner_product_param", "weight_filler")),
    _route("bias_filler", conv=("convolution_param", "bias_filler"),
           innerproduct=("inner_product_param", "bias_filler")),
    _route("pad", conv=("convolution_param", "pad"), pool=("pooling_param", "pad")),
    _route("kernelsize", conv=("convolution_param", "kernel_size"), pool=("pooling_param", "kernel_size")),
    _route("group", conv=("convolution_param", "group")),
    _route("stride", conv=("convolution_param", "stride"), pool=("pooling_param", "stride")),
    _route("pool", pool=("pooling_param", "pool")),
    _route("dropout_ratio", dropout=("dropout_param", "dropout_ratio")),
    _route("local_size", lrn=("lrn_param", "local_size")),
    _route("alpha", lrn=("lrn_param", "alpha")),
    _route("beta", lrn=("lrn_param", "beta")),
    _route("k", lrn=("lrn_param", "k")),
    _route("source", **{v0_type: (param, "source") for v0_type, param in _DATA_SOURCES.items()},
           infogain_loss=("infogain_loss_param", "source")),
    _V0Route("scale", _to_transform("scale"), "scale"),
    _V0Route("meanfile", _to_transform("mean_file"), "meanfile"),
    _route("batchsize", **{v0_type: (param, "batch_size") for v0_type, param in _DATA_SOURCES.items()}),
    _V0Route("cropsize", _to_transform("crop_size"), "cropsize"),
    _V0Route("mirror", _to_transform("mirror"), "mirror"),
    _route("rand_skip", data=("data_param", "rand_skip"), images=("image_data_param", "rand_skip")),
    _route("shuffle_images", "shuffle", images=("image_data_param", "shuffle")),
    _route("new_height", images=("image_data_param", "new_height")),
    _route("new_width", images=("image_data_param", "new_width")),
    _route("concat_dim", concat=("concat_param", "concat_dim")),
    _route("det_fg_threshold", window_data=("window_data_param", "fg_threshold")),
    _route("det_bg_threshold", window_data=("window_data_param", "bg_threshold")),
    _route("det_fg_fraction", window_data=("window_data_param", "fg_fraction")),
    _route("det_context_pad", window_data=("window_data_param", "context_pad")),
    _route("det_crop_mode", window_data=("window_data_param", "crop_mode")),
    _route("hdf5_output_param", hdf5_output=("hdf5_output_param",)),
)

# V0 fields UpgradeV0LayerParameter reads outside the routing table above.
_V0_FIELDS_HANDLED = frozenset({"name", "type", "blobs", "blobs_lr", "weight_decay"}
                               | {route.v0_field for route in _V0_ROUTES})

# UpgradeV0Net builds a new net that keeps only these net-level fields.
_V0_NET_FIELDS_KEPT = ("name", "layers", "input", "input_dim", "force_backward")


def _v0_label(connection: caffe_pb2.V1LayerParameter, index: int) -> str:
    name = connection.layer.name if connection.HasField("layer") else connection.name
    return f"'{name}'" if name else f"#{index}"


def _upgrade_v0_net(net: caffe_pb2.NetParameter, path: str) -> _StepResult:
    notices = ["upgraded V0 'layers { layer { ... } }' blocks to V1 'layers' (Caffe's UpgradeV0Net)"]
    unpadded = _fold_v0_padding_layers(net, path, notices)
    upgraded = caffe_pb2.NetParameter()
    if unpadded.HasField("name"):
        upgraded.name = unpadded.name
    for index, connection in enumerate(unpadded.layers):
        _upgrade_v0_layer(connection, upgraded.layers.add(), index, path, notices)
    upgraded.input.extend(unpadded.input)
    upgraded.input_dim.extend(unpadded.input_dim)
    if unpadded.HasField("force_backward"):
        upgraded.force_backward = unpadded.force_backward
    dropped = [field.name for field, _ in net.ListFields() if field.name not in _V0_NET_FIELDS_KEPT]
    if dropped:
        notices.append(
            "Caffe's V0 upgrade keeps only the net's name, layers, input, input_dim and force_backward; "
            f"it dropped {', '.join(dropped)}")
    return upgraded, notices


def _fold_v0_padding_layers(net: caffe_pb2.NetParameter, path: str,
                            notices: list[str]) -> caffe_pb2.NetParameter:
    """UpgradeV0PaddingLayers: drop each V0 "padding" layer, moving its pad into its reader."""
    folded = caffe_pb2.NetParameter()
    folded.CopyFrom(net)
    folded.ClearField("layers")
    # Index of the layer that last wrote each blob; -1 for net inputs. A bottom that is neither
    # is fatal here already, before any layer is built.
    last_writer: dict[str, int] = {blob: -1 for blob in net.input}
    for index, connection in enumerate(net.layers):
        v0_type = connection.layer.type
        if v0_type != "padding":
            folded.layers.add().CopyFrom(connection)
        for bottom_index, blob in enumerate(connection.bottom):
            if blob not in last_writer:
                raise UpgradeError(
                    path, f"V0 layer {_v0_label(connection, index)} reads blob '{blob}', which no net "
                    "input or earlier layer produces; Caffe's V0 upgrade stops there "
                    f"(Unknown blob input {blob})")
            writer = last_writer[blob]
            if writer == -1 or net.layers[writer].layer.type != "padding":
                continue
            padding = net.layers[writer]
            _check_padding_reader(connection, padding, index, writer, path)
            # The reader is the layer just copied (it is conv or pool, so it was kept).
            reader = folded.layers[len(folded.layers) - 1]
            reader.layer.pad = padding.layer.pad
            reader.bottom[bottom_index] = padding.bottom[0]
            notices.append(
                f"folded V0 padding layer {_v0_label(padding, writer)} (pad {padding.layer.pad}) into "
                f"{_v0_label(connection, index)}, which now reads '{padding.bottom[0]}' "
                "(Caffe's UpgradeV0PaddingLayers)")
        for blob in connection.top:
            last_writer[blob] = index
    return folded


def _check_padding_reader(reader: caffe_pb2.V1LayerParameter, padding: caffe_pb2.V1LayerParameter,
                          index: int, writer: int, path: str) -> None:
    # The CHECKs of UpgradeV0PaddingLayers: other layouts are "undefined behavior in Caffe".
    label = _v0_label(reader, index)
    if reader.layer.type not in ("conv", "pool"):
        raise UpgradeError(
            path, f"V0 layer {label} of type '{reader.layer.type}' reads the output of padding layer "
            f"{_v0_label(padding, writer)}; Caffe only folds padding into conv or pool layers "
            "(Padding layer input to non-convolutional / non-pooling layer type)")
    if len(reader.bottom) != 1:
        raise UpgradeError(path, f"V0 layer {label} reads a padding layer's output but has "
                           f"{len(reader.bottom)} bottoms; Caffe requires exactly 1 "
                           "(Conv Layer takes a single blob as input)")
    if len(padding.bottom) != 1:
        raise UpgradeError(path, f"V0 padding layer {_v0_label(padding, writer)} has "
                           f"{len(padding.bottom)} bottoms; Caffe requires exactly 1 "
                           "(Padding Layer takes a single blob as input)")
    if len(padding.top) != 1:
        raise UpgradeError(path, f"V0 padding layer {_v0_label(padding, writer)} has "
                           f"{len(padding.top)} tops; Caffe requires exactly 1 "
                           "(Padding Layer produces a single blob as output)")


def _upgrade_v0_layer(connection: caffe_pb2.V1LayerParameter, v1: caffe_pb2.V1LayerParameter,
                      index: int, path: str, notices: list[str]) -> None:
    """UpgradeV0LayerParameter: one V0 connection (bottoms, tops, nested `layer`) → V1 layer."""
    v1.bottom.extend(connection.bottom)
    v1.top.extend(connection.top)
    label = _v0_label(connection, index)
    if not connection.HasField("layer"):
        # Caffe copies only bottom and top from an entry without a V0 block.
        lost = [field.name for field, _ in connection.ListFields() if field.name not in ("bottom", "top")]
        if lost:
            notices.append(f"layer {label} has no V0 'layer' block; Caffe's V0 upgrade keeps only its "
                           f"bottoms and tops and drops {', '.join(lost)}")
        return
    v0 = connection.layer
    if v0.HasField("name"):
        v1.name = v0.name
    v0_type = v0.type
    if v0.HasField("type"):
        v1.type = _v0_type_to_v1(v0_type, label, path)
    v1.blobs.extend(v0.blobs)
    v1.blobs_lr.extend(v0.blobs_lr)
    v1.weight_decay.extend(v0.weight_decay)
    for route in _V0_ROUTES:
        if not v0.HasField(route.v0_field):
            continue
        target = route.targets.get(v0_type) or route.targets.get(_ANY_TYPE)
        if target is None:
            notices.append(f"V0 layer {label}: Unknown parameter {route.caffe_name} for layer type "
                           f"{v0_type}; Caffe drops it and continues (UpgradeV0LayerParameter)")
            continue
        _assign(v1, target, getattr(v0, route.v0_field), v0.DESCRIPTOR.fields_by_name[route.v0_field])
    ignored = [field.name for field, _ in v0.ListFields() if field.name not in _V0_FIELDS_HANDLED]
    if ignored:
        notices.append(f"V0 layer {label}: Caffe's V0 upgrade silently ignores {', '.join(ignored)}")


def _v0_type_to_v1(v0_type: str, label: str, path: str) -> int:
    enum_name = _V0_TYPE_TO_V1.get(v0_type)
    if enum_name is None:
        raise UpgradeError(path, f"V0 layer {label} has type '{v0_type}', which Caffe's V0 upgrade does "
                           f"not know (Unknown layer name: {v0_type})")
    return int(caffe_pb2.V1LayerParameter.LayerType.Value(enum_name))


_CPP_INT_BITS = {  # cpp_type → (bits, signed)
    descriptor.FieldDescriptor.CPPTYPE_INT32: (32, True), descriptor.FieldDescriptor.CPPTYPE_UINT32: (32, False),
    descriptor.FieldDescriptor.CPPTYPE_INT64: (64, True), descriptor.FieldDescriptor.CPPTYPE_UINT64: (64, False),
}


def _cpp_integer(value: int, cpp_type: int) -> int:
    """C++'s integral conversion of a setter's argument: a V0 int32 such as new_width = -83 given to
    V1's uint32 set_new_width() wraps to 4294967213 (modulo 2^bits), never an error."""
    bits, signed = _CPP_INT_BITS[cpp_type]
    value &= (1 << bits) - 1
    return value - (1 << bits) if signed and value >= 1 << (bits - 1) else value


def _assign(root: message.Message, field_path: tuple[str, ...], value: Any,
            source_field: descriptor.FieldDescriptor) -> None:
    """Set root.<field_path> to `value`: append to a repeated field, copy a message, map an enum by name."""
    holder = root
    for name in field_path[:-1]:
        holder = getattr(holder, name)
        holder.SetInParent()
    name = field_path[-1]
    field = holder.DESCRIPTOR.fields_by_name[name]
    if field.message_type is not None:
        getattr(holder, name).CopyFrom(value)
        return
    if field.cpp_type in _CPP_INT_BITS and isinstance(value, int):
        value = _cpp_integer(value, field.cpp_type)
    if field.is_repeated:
        # ConvolutionParameter's pad/kernel_size/stride are repeated (N-d); Caffe add_()s one value.
        getattr(holder, name).append(value)
    elif field.enum_type is not None:
        # V0 PoolMethod and PoolingParameter.PoolMethod share their names (MAX, AVE, STOCHASTIC).
        enum_name = source_field.enum_type.values_by_number[value].name
        setattr(holder, name, field.enum_type.values_by_name[enum_name].number)
    else:
        setattr(holder, name, value)


# --------------------------------------------------------------------------------------------
# V1 data layers: NetNeedsDataUpgrade / UpgradeNetDataTransformation
# --------------------------------------------------------------------------------------------

# The V1 types CONVERT_LAYER_TRANSFORM_PARAM handles, with their parameter message.
_V1_DATA_PARAMS: Mapping[str, str] = {
    "DATA": "data_param",
    "IMAGE_DATA": "image_data_param",
    "WINDOW_DATA": "window_data_param",
}
_LEGACY_TRANSFORM_FIELDS = ("scale", "mean_file", "crop_size", "mirror")


def _v1_type_name(entry: caffe_pb2.V1LayerParameter) -> str:
    return str(caffe_pb2.V1LayerParameter.LayerType.Name(entry.type))


def _needs_data_upgrade(net: caffe_pb2.NetParameter) -> bool:
    for entry in net.layers:
        param_field = _V1_DATA_PARAMS.get(_v1_type_name(entry))
        if param_field is not None and any(
                getattr(entry, param_field).HasField(field) for field in _LEGACY_TRANSFORM_FIELDS):
            return True
    return False


def _upgrade_data_transformation(net: caffe_pb2.NetParameter, path: str) -> _StepResult:
    notices = ["moved the deprecated scale/mean_file/crop_size/mirror fields of V1 data layers into "
               "transform_param (Caffe's UpgradeNetDataTransformation)"]
    for index, entry in enumerate(net.layers):
        param_field = _V1_DATA_PARAMS.get(_v1_type_name(entry))
        if param_field is None:
            continue
        legacy = getattr(entry, param_field)
        # Caffe's macro calls mutable_<x>_param() and mutable_transform_param() on every layer of
        # these types, so both become present even when nothing moves.
        legacy.SetInParent()
        entry.transform_param.SetInParent()
        moved = []
        for field in _LEGACY_TRANSFORM_FIELDS:
            if legacy.HasField(field):
                setattr(entry.transform_param, field, getattr(legacy, field))
                legacy.ClearField(field)
                moved.append(field)
        if moved:
            label = f"'{entry.name}'" if entry.name else f"#{index}"
            notices.append(
                f"V1 layer {label}: moved {', '.join(moved)} from {param_field} to transform_param")
    return net, notices


# --------------------------------------------------------------------------------------------
# V1 → V2: UpgradeV1Net, UpgradeV1LayerParameter, UpgradeV1LayerType
# --------------------------------------------------------------------------------------------

# UpgradeV1LayerType: enum name → registered type string. Any other enum value is fatal.
_V1_TYPE_STRINGS: dict[str, str] = {
    "NONE": "",
    "ABSVAL": "AbsVal",
    "ACCURACY": "Accuracy",
    "ARGMAX": "ArgMax",
    "BNLL": "BNLL",
    "CONCAT": "Concat",
    "CONTRASTIVE_LOSS": "ContrastiveLoss",
    "CONVOLUTION": "Convolution",
    "DECONVOLUTION": "Deconvolution",
    "DATA": "Data",
    "DROPOUT": "Dropout",
    "DUMMY_DATA": "DummyData",
    "EUCLIDEAN_LOSS": "EuclideanLoss",
    "ELTWISE": "Eltwise",
    "EXP": "Exp",
    "FLATTEN": "Flatten",
    "HDF5_DATA": "HDF5Data",
    "HDF5_OUTPUT": "HDF5Output",
    "HINGE_LOSS": "HingeLoss",
    "IM2COL": "Im2col",
    "IMAGE_DATA": "ImageData",
    "INFOGAIN_LOSS": "InfogainLoss",
    "INNER_PRODUCT": "InnerProduct",
    "LRN": "LRN",
    "MEMORY_DATA": "MemoryData",
    "MULTINOMIAL_LOGISTIC_LOSS": "MultinomialLogisticLoss",
    "MVN": "MVN",
    "POOLING": "Pooling",
    "POWER": "Power",
    "RELU": "ReLU",
    "SIGMOID": "Sigmoid",
    "SIGMOID_CROSS_ENTROPY_LOSS": "SigmoidCrossEntropyLoss",
    "SILENCE": "Silence",
    "SOFTMAX": "Softmax",
    "SOFTMAX_LOSS": "SoftmaxWithLoss",
    "SPLIT": "Split",
    "SLICE": "Slice",
    "TANH": "TanH",
    "WINDOW_DATA": "WindowData",
    "THRESHOLD": "Threshold",
}

# V1 enum values of forks, which BVLC's UpgradeV1LayerType refuses: the type string each is
# upgraded to (the fork's own V2 registration where it has one) and the fork, for the notice.
_C3D = "C3D fork (facebook/C3D)"
FORK_V1_TYPES: Mapping[str, tuple[str, str]] = {
    # C3D-v1.0 predates string types; these names are blobcalc's (VideoData is prefixed because
    # SSD's and TSN's forks register another VideoData).
    "CONVOLUTION3D": ("Convolution3D", _C3D),
    "POOLING3D": ("Pooling3D", _C3D),
    "DECONVOLUTION3D": ("Deconvolution3D", _C3D),
    "VIDEO_DATA": ("C3DVideoData", _C3D),
    "VIDEO_WITH_VOXEL_TRUTH_DATA": ("C3DVideoWithVoxelTruthData", _C3D),
    # CRF-RNN's later Caffe (torrvision/caffe-tvg) registers the layer as "MultiStageMeanfield".
    "MULTI_STAGE_MEANFIELD": ("MultiStageMeanfield", "CRF-RNN fork (torrvision/crfasrnn)"),
    # FCN's Caffe (longjon/caffe) had a V1 CROP layer before BVLC's Crop existed; it takes its
    # offsets from the net's coordinate maps, so it gets a type (and rule) of its own.
    "CROP": ("FCNCrop", "FCN-era forks (longjon/caffe, torrvision/crfasrnn)"),
}

# The layer-specific messages UpgradeV1LayerParameter copies, under the same name in LayerParameter.
_V1_COPIED_PARAMS = (
    "accuracy_param", "argmax_param", "concat_param", "contrastive_loss_param", "convolution_param",
    "data_param", "dropout_param", "dummy_data_param", "eltwise_param", "exp_param", "hdf5_data_param",
    "hdf5_output_param", "hinge_loss_param", "image_data_param", "infogain_loss_param",
    "inner_product_param", "lrn_param", "memory_data_param", "mvn_param", "pooling_param",
    "power_param", "relu_param", "sigmoid_param", "softmax_param", "slice_param", "tanh_param",
    "threshold_param", "window_data_param", "transform_param", "loss_param",
)
_V1_FIELDS_HANDLED = frozenset(
    {"bottom", "top", "name", "include", "exclude", "type", "blobs", "param", "blob_share_mode",
     "blobs_lr", "weight_decay", "loss_weight", "layer"} | set(_V1_COPIED_PARAMS))


def _upgrade_v1_net(net: caffe_pb2.NetParameter, path: str) -> _StepResult:
    if len(net.layer):
        # UpgradeV1Net LOG(FATAL)s "Refusing to upgrade inconsistent NetParameter input".
        raise UpgradeError(
            path, "the definition includes both 'layer' and 'layers' fields; Caffe refuses to upgrade "
            "it (switch every block to the 'layer' format)")
    notices = ["upgraded V1 'layers' to V2 'layer' (Caffe's UpgradeV1Net)"]
    upgraded = caffe_pb2.NetParameter()
    upgraded.CopyFrom(net)
    upgraded.ClearField("layers")
    upgraded.ClearField("layer")
    for index, v1 in enumerate(net.layers):
        _upgrade_v1_layer(v1, upgraded.layer.add(), index, path, notices)
    notices.extend(_fork_type_notices(net))
    return upgraded, notices


def _fork_type_notices(net: caffe_pb2.NetParameter) -> list[str]:
    """One notice per fork V1 enum the net uses (BVLC Caffe would have refused the net)."""
    names_by_enum: dict[str, list[str]] = {}
    for index, v1 in enumerate(net.layers):
        enum_name = _v1_type_name(v1)
        if v1.HasField("type") and enum_name not in _V1_TYPE_STRINGS and enum_name in FORK_V1_TYPES:
            names_by_enum.setdefault(enum_name, []).append(f"'{v1.name}'" if v1.name else f"#{index}")
    notices = []
    for enum_name, names in names_by_enum.items():
        type_string, fork = FORK_V1_TYPES[enum_name]
        shown = ", ".join(names[:_NAMES_SHOWN]) + (", ..." if len(names) > _NAMES_SHOWN else "")
        notices.append(f"upgraded {len(names)} V1 layer(s) of type {enum_name} ({shown}) to '{type_string}' "
                       f"of the {fork}; BVLC Caffe's V1 upgrade does not know this type")
    return notices


def _param_spec(layer: caffe_pb2.LayerParameter, index: int) -> caffe_pb2.ParamSpec:
    # Caffe grows the param list on demand, so names, share modes, lr and decay line up by index.
    while len(layer.param) <= index:
        layer.param.add()
    return layer.param[index]


def _upgrade_v1_layer(v1: caffe_pb2.V1LayerParameter, layer: caffe_pb2.LayerParameter, index: int,
                      path: str, notices: list[str]) -> None:
    label = f"'{v1.name}'" if v1.name else f"#{index}"
    layer.bottom.extend(v1.bottom)
    layer.top.extend(v1.top)
    if v1.HasField("name"):
        layer.name = v1.name
    layer.include.extend(v1.include)
    layer.exclude.extend(v1.exclude)
    if v1.HasField("type"):
        layer.type = _v1_type_string(v1, label, path)
    layer.blobs.extend(v1.blobs)
    for param_index, name in enumerate(v1.param):
        _param_spec(layer, param_index).name = name
    share_modes = caffe_pb2.V1LayerParameter.DimCheckMode
    for param_index, mode in enumerate(v1.blob_share_mode):
        _param_spec(layer, param_index).share_mode = caffe_pb2.ParamSpec.DimCheckMode.Value(
            share_modes.Name(mode))
    for param_index, lr in enumerate(v1.blobs_lr):
        _param_spec(layer, param_index).lr_mult = lr
    for param_index, decay in enumerate(v1.weight_decay):
        _param_spec(layer, param_index).decay_mult = decay
    layer.loss_weight.extend(v1.loss_weight)
    for field in _V1_COPIED_PARAMS:
        if v1.HasField(field):
            getattr(layer, field).CopyFrom(getattr(v1, field))
    if v1.HasField("layer"):
        notices.append(f"V1 layer {label} still holds a V0 'layer' block; Caffe ignores it "
                       "(Input NetParameter has V0 layer -- ignoring)")
    _carry_fork_fields(v1, layer, label, notices)


def _v1_type_string(v1: caffe_pb2.V1LayerParameter, label: str, path: str) -> str:
    enum_name = _v1_type_name(v1)
    type_string = _V1_TYPE_STRINGS.get(enum_name)
    if type_string is None and enum_name in FORK_V1_TYPES:
        type_string = FORK_V1_TYPES[enum_name][0]
    if type_string is None:
        raise UpgradeError(path, f"V1 layer {label} has type {enum_name}, which Caffe's V1 upgrade does "
                           "not know (Unknown V1LayerParameter layer type)")
    return type_string


def _carry_fork_fields(v1: caffe_pb2.V1LayerParameter, layer: caffe_pb2.LayerParameter, label: str,
                       notices: list[str]) -> None:
    # Only reachable if our schema gains fork fields in V1LayerParameter; BVLC Caffe cannot even
    # parse those. A LayerParameter field of the same name and type gets the value, so no setting
    # is lost silently.
    layer_fields = layer.DESCRIPTOR.fields_by_name
    for field, value in v1.ListFields():
        if field.name in _V1_FIELDS_HANDLED:
            continue
        target = layer_fields.get(field.name)
        if target is None or (target.type, target.message_type, target.enum_type, target.is_repeated) != (
                field.type, field.message_type, field.enum_type, field.is_repeated):
            notices.append(f"V1 layer {label}: dropped {field.name}, which has no place in a V2 layer")
            continue
        if field.is_repeated:
            getattr(layer, field.name).extend(value)
        elif field.message_type is not None:
            getattr(layer, field.name).CopyFrom(value)
        else:
            setattr(layer, field.name, value)
        notices.append(f"V1 layer {label}: carried over {field.name}, a field BVLC Caffe's V1 format "
                       "does not have")


# --------------------------------------------------------------------------------------------
# Net-level inputs: NetNeedsInputUpgrade / UpgradeNetInput
# --------------------------------------------------------------------------------------------

def _upgrade_net_input(net: caffe_pb2.NetParameter, path: str) -> _StepResult:
    inputs = list(net.input)
    shapes = list(net.input_shape)
    dims = list(net.input_dim)
    upgraded = caffe_pb2.NetParameter()
    if not shapes and not dims:
        # Caffe treats names without shapes as a legacy caffemodel's and just strips them.
        upgraded.CopyFrom(net)
        _clear_net_inputs(upgraded)
        return upgraded, [f"dropped the net-level 'input' names {', '.join(inputs)}: without "
                          "input_shape or input_dim Caffe strips them and builds no Input layer "
                          "(Caffe's UpgradeNetInput)"]
    notices = [f"replaced the net-level 'input' fields by an Input layer named 'input' with tops "
               f"{', '.join(inputs)} (Caffe's UpgradeNetInput)"]
    if shapes:
        if len(shapes) < len(inputs):
            raise UpgradeError(
                path, f"the net declares {len(inputs)} 'input' names but only {len(shapes)} 'input_shape' "
                "entries; Caffe's UpgradeNetInput reads past the end of input_shape and crashes "
                "(give one input_shape per input)")
        if dims:
            notices.append("the net gives both input_shape and input_dim; Caffe uses input_shape and "
                           "ignores input_dim")
        if len(shapes) > len(inputs):
            notices.append(f"Caffe ignores the {len(shapes) - len(inputs)} input_shape entries beyond "
                           "the last 'input' name")
    else:
        if len(dims) < 4 * len(inputs):
            raise UpgradeError(
                path, f"the net declares {len(inputs)} 'input' names but {len(dims)} input_dim values "
                f"instead of 4 per input ({4 * len(inputs)}); Caffe's UpgradeNetInput reads past the "
                "end of input_dim (undefined behaviour)")
        if len(dims) > 4 * len(inputs):
            notices.append(f"Caffe ignores the {len(dims) - 4 * len(inputs)} input_dim values beyond "
                           "4 per 'input' name")
    # Caffe appends the layer and swaps it to the front "to satisfy layer dependencies": add it first,
    # then merge the net in, which appends its layers after it (a single copy of the net).
    input_layer = upgraded.layer.add()
    input_layer.name = "input"
    input_layer.type = "Input"
    input_layer.input_param.SetInParent()
    for index, blob in enumerate(inputs):
        input_layer.top.append(blob)
        if shapes:
            input_layer.input_param.shape.add().CopyFrom(shapes[index])
        else:
            input_layer.input_param.shape.add().dim.extend(dims[4 * index:4 * index + 4])
    upgraded.MergeFrom(net)
    _clear_net_inputs(upgraded)
    return upgraded, notices


def _clear_net_inputs(net: caffe_pb2.NetParameter) -> None:
    for field in ("input", "input_shape", "input_dim"):
        net.ClearField(field)


# --------------------------------------------------------------------------------------------
# BatchNorm: NetNeedsBatchNormUpgrade / UpgradeNetBatchNorm
# --------------------------------------------------------------------------------------------

_NAMES_SHOWN = 3  # a ResNet has ~50 BatchNorm layers; a notice names the first few


def _upgrade_net_batch_norm(net: caffe_pb2.NetParameter, path: str) -> _StepResult:
    # BVLC master (since PR #5184) zeroes lr_mult and decay_mult and keeps the specs, names
    # included; the first version (PR #4704, still in forks and OpenCV) cleared them instead.
    names = []
    for layer in net.layer:
        if _is_legacy_batch_norm(layer):
            for spec in layer.param:
                spec.lr_mult = 0.0
                spec.decay_mult = 0.0
            names.append(f"'{layer.name}'")
    shown = ", ".join(names[:_NAMES_SHOWN]) + (", ..." if len(names) > _NAMES_SHOWN else "")
    return net, [f"set lr_mult and decay_mult to 0 in the 3 param specs of {len(names)} BatchNorm "
                 f"layer(s) ({shown}) (Caffe's UpgradeNetBatchNorm)"]


# --------------------------------------------------------------------------------------------
# UpgradeNetAsNeeded
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Step:
    """One (needs_upgrade, upgrade) pair of UpgradeNetAsNeeded. `in_place`: the upgrade changes the net
    it is given (the others build a new net), so it must never be given the caller's."""

    needs_upgrade: Callable[[caffe_pb2.NetParameter], bool]
    upgrade: Callable[[caffe_pb2.NetParameter, str], _StepResult]
    in_place: bool = False


# In UpgradeNetAsNeeded's order: each step sees the result of the previous ones.
_STEPS: tuple[_Step, ...] = (
    _Step(_needs_v0_to_v1_upgrade, _upgrade_v0_net),
    _Step(_needs_data_upgrade, _upgrade_data_transformation, in_place=True),
    _Step(_needs_v1_to_v2_upgrade, _upgrade_v1_net),
    _Step(_needs_input_upgrade, _upgrade_net_input),
    _Step(_needs_batch_norm_upgrade, _upgrade_net_batch_norm, in_place=True),
)


def upgrade_net(net: caffe_pb2.NetParameter, path: str) -> UpgradeResult:
    """Upgrade `net` to the current format as Caffe's UpgradeNetAsNeeded does; `net` is not changed.
    A net that needs no upgrade is returned as it is (the same object, not a copy): callers must not
    change the result's net.

    Raises UpgradeError where Caffe stops (LOG(FATAL), a failed CHECK, or a crash); where Caffe
    only logs an error and goes on, the result carries a notice instead.
    """
    era = net_era(net)
    working = net
    notices: list[str] = []
    for step in _STEPS:
        if step.needs_upgrade(working):
            if step.in_place and working is net:
                # Copy only now: a whole-net copy costs about as much memory as the parsed net.
                working = caffe_pb2.NetParameter()
                working.CopyFrom(net)
            working, step_notices = step.upgrade(working, path)
            notices.extend(step_notices)
    return UpgradeResult(net=working, notices=tuple(notices), era=era)
