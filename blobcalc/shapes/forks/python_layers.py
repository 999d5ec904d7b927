"""Well-known Python layers by rule, never by import: what each module's setup() and reshape() give
its tops when Caffe builds the net (py-faster-rcnn, FCN's data layers, ENet, pycaffe's example).

A Python layer's param_str is read as its module reads it (blobcalc.param_str): YAML for
py-faster-rcnn's modules (`yaml.load`), a Python literal for FCN's and ENet's (`eval`)."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from blobcalc import caffe_pb2
from blobcalc.param_str import ParamStrError, read_literal_param_str, read_yaml_param_str
from blobcalc.shapes.misc import check_op
from blobcalc.shapes.model import (
    Cost,
    RunContext,
    compute_not_modelled,
    elements_of_bottom,
    elements_of_top,
    no_buffers,
    no_compute,
)
from blobcalc.shapes.registry import (
    BlobCounts,
    LayerContext,
    LayerShapes,
    RuleCheckFailed,
    Shape,
    ShapeUnknown,
    check,
    count,
    layer_model,
    python_rule_key,
    shape_rule,
)

PY_FASTER_RCNN = "py-faster-rcnn (rbgirshick/py-faster-rcnn), by rule"
FCN = "FCN (shelhamer/fcn.berkeleyvision.org), by rule"
ENET = "ENet (TimoSaemann/ENet), by rule"
PYCAFFE_EXAMPLE = "pycaffe example (BVLC/caffe examples/pycaffe/layers), by rule"

# PythonLayer declares no blob counts; each module checks its own (see the rules).
_ANY = BlobCounts()

# lib/fast_rcnn/config.py defaults, and experiments/cfgs/faster_rcnn_end2end.yml for RPN training.
_TRAIN_SCALES = (600,)
_TRAIN_MAX_SIZE = 1000
_IMS_PER_BATCH_DEFAULT = 2
_IMS_PER_BATCH_END2END = 1
_RPN_POST_NMS_TOP_N = {"TRAIN": 2000, "TEST": 300}
_ROIS_PER_IMAGE = 128  # cfg.TRAIN.BATCH_SIZE
# generate_anchors(): ratios (0.5, 1, 2) times scales (8, 16, 32) unless param_str names others.
_DEFAULT_RATIOS: tuple[float, ...] = (0.5, 1, 2)
_DEFAULT_SCALES: tuple[float, ...] = (8, 16, 32)


def _params(ctx: LayerContext) -> dict[str, Any]:
    """param_str as FCN's and ENet's modules read it: eval(), here a Python literal only."""
    return _read(read_literal_param_str, ctx)


def _yaml_params(ctx: LayerContext) -> dict[str, Any]:
    """param_str as py-faster-rcnn's modules read it: yaml.load(), here PyYAML's safe loader."""
    return _read(read_yaml_param_str, ctx)


def _read(reader: Callable[[str], dict[Any, Any]], ctx: LayerContext) -> dict[str, Any]:
    try:
        return reader(ctx.layer.python_param.param_str)
    except ParamStrError as exc:
        raise ShapeUnknown(str(exc)) from None


def _need(params: dict[str, Any], key: str, where: str) -> Any:
    """params[key] as the module reads it: a missing key is a KeyError in setup()."""
    if key not in params:
        raise RuleCheckFailed(f"KeyError: '{key}' ({where} reads it from param_str)")
    return params[key]


def _positive_int(value: Any, what: str) -> int:
    check(isinstance(value, int) and not isinstance(value, bool) and value > 0,
          f"{what} must be a positive integer, not {value!r}")
    result: int = value
    return result


def _unshaped_tops(ctx: LayerContext, shaped: int, module: str) -> None:
    """A module that shapes only its first `shaped` tops and never checks how many it has: Caffe
    leaves the others empty blobs (no axes, 0 elements), which no shape here stands for."""
    if ctx.num_tops > shaped:
        raise ShapeUnknown(f"{module} shapes only its first {shaped} top(s); Caffe leaves the other "
                           f"{ctx.num_tops - shaped} as empty blobs (no axes, 0 elements)")


def _phase_name(ctx: LayerContext) -> str:
    return "TRAIN" if ctx.phase == caffe_pb2.TRAIN else "TEST"


# ---------------------------------------------------------------------------------------------
# py-faster-rcnn (lib/rpn, lib/roi_data_layer). setup() shapes every top; reshape() does nothing;
# forward() reshapes to the data of each batch.

@shape_rule(python_rule_key("rpn.proposal_layer", "ProposalLayer"), counts=_ANY, origin=PY_FASTER_RCNN)
def proposal_layer(ctx: LayerContext) -> LayerShapes:
    """rpn/proposal_layer.py: rois [1, 5] and, when asked for, scores [1, 1, 1, 1]."""
    _need(_yaml_params(ctx), "feat_stride", "ProposalLayer.setup()")
    check(ctx.num_tops >= 1, "ProposalLayer.setup() reshapes top[0], so the layer needs a top")
    _unshaped_tops(ctx, 2, "ProposalLayer")
    phase = _phase_name(ctx)
    default = (f"py-faster-rcnn's default: at most cfg.{phase}.RPN_POST_NMS_TOP_N = {_RPN_POST_NMS_TOP_N[phase]} "
               "proposals per image")
    rois = 1 if ctx.rois is None else ctx.rois
    tops: tuple[Shape, ...] = ((rois, 5),)
    if ctx.num_tops > 1:
        tops += ((rois, 1, 1, 1),)
    if ctx.rois is None:
        note = f"setup() gives rois [1, 5]; forward() reshapes it to [R, 5] ({default}); --rois N sizes it for N"
    else:
        note = f"sized for {rois} proposals (--rois; {default})"
    return LayerShapes(tops, notes=(note,))


@shape_rule(python_rule_key("rpn.anchor_target_layer", "AnchorTargetLayer"), counts=_ANY,
            origin=PY_FASTER_RCNN)
def anchor_target_layer(ctx: LayerContext) -> LayerShapes:
    """rpn/anchor_target_layer.py: A anchors per cell of bottom[0]'s H x W map; labels
    [1, 1, A*H, W] and three target/weight tops [1, 4A, H, W]."""
    params = _yaml_params(ctx)
    _need(params, "feat_stride", "AnchorTargetLayer.setup()")
    scales = _anchor_values(params, "scales", _DEFAULT_SCALES)
    ratios = _anchor_values(params, "ratios", _DEFAULT_RATIOS)
    check(len(ctx.bottom_shapes) >= 1, "AnchorTargetLayer.setup() reads bottom[0] (IndexError)")
    check(ctx.num_tops == 4, "AnchorTargetLayer.setup() shapes four tops: labels, bbox_targets, "
                             "bbox_inside_weights, bbox_outside_weights")
    score_map = ctx.bottom
    check(len(score_map) >= 2, "AnchorTargetLayer.setup() takes height and width from bottom[0]'s "
                               "last two axes")
    height, width = score_map[-2], score_map[-1]
    anchors = len(scales) * len(ratios)
    targets: Shape = (1, 4 * anchors, height, width)
    notes = [f"{anchors} anchors per cell ({len(ratios)} ratios x {len(scales)} scales)"]
    if "ratios" in params:
        notes.append("param_str 'ratios' is read as the forks of py-faster-rcnn read it "
                     "(py-faster-rcnn itself always uses 0.5, 1, 2)")
    return LayerShapes(((1, 1, anchors * height, width), targets, targets, targets), notes=tuple(notes))


def _anchor_values(params: dict[str, Any], key: str, default: tuple[float, ...]) -> Sequence[Any]:
    values = params.get(key, default)
    check(isinstance(values, (list, tuple)) and len(values) > 0,
          f"param_str '{key}' must be a non-empty list, not {values!r}")
    result: Sequence[Any] = values
    return result


# C++ layers that only R-FCN's Caffe registers: a net holding one is built by py-R-FCN (or a fork of
# it such as soeaver/py-RFCN-priv), whose lib/ ships its own copy of the py-faster-rcnn modules.
_RFCN_ONLY_TYPES = frozenset({"PSROIPooling", "BoxAnnotatorOHEM", "SoftmaxWithLossOHEM", "SmoothL1LossOHEM"})


@shape_rule(python_rule_key("rpn.proposal_target_layer", "ProposalTargetLayer"), counts=_ANY,
            origin=PY_FASTER_RCNN)
def proposal_target_layer(ctx: LayerContext) -> LayerShapes:
    """rpn/proposal_target_layer.py: rois [1, 5], labels [1, 1], and bbox targets, inside and
    outside weights [1, 4 * num_classes]. py-R-FCN's copy of the module (lib/rpn/, "modified by
    ywxiong") shapes the same tops 4-D in setup() and forward(): [1, 5, 1, 1], [1, 1, 1, 1],
    [1, 4 * num_classes, 1, 1], so that its OHEM layers' per-RoI losses line up."""
    num_classes = _positive_int(_need(_yaml_params(ctx), "num_classes", "ProposalTargetLayer.setup()"),
                                "num_classes")
    check(ctx.num_tops == 5, "ProposalTargetLayer.setup() shapes five tops: rois, labels, "
                             "bbox_targets, bbox_inside_weights, bbox_outside_weights")
    rois = 1 if ctx.rois is None else ctx.rois
    rfcn = not ctx.net_types.isdisjoint(_RFCN_ONLY_TYPES)
    tail: Shape = (1, 1) if rfcn else ()
    targets: Shape = (rois, 4 * num_classes, *tail)
    default = f"py-faster-rcnn's default: cfg.TRAIN.BATCH_SIZE = {_ROIS_PER_IMAGE} RoIs per image"
    copy = ("py-R-FCN's copy of this module (the net uses R-FCN's own C++ layers): tops shaped 4-D"
            if rfcn else
            "py-R-FCN's copy of this module shapes the same tops 4-D: [1, 5, 1, 1], [1, 1, 1, 1], "
            f"[1, {4 * num_classes}, 1, 1]")
    return LayerShapes(((rois, 5, *tail), (rois, 1, *tail), targets, targets, targets), notes=(
        f"setup() shapes the first axis of every top 1; forward() samples the RoIs ({default}) and reshapes "
        "to their number; --rois N sizes it for N" if ctx.rois is None else
        f"sized for {rois} RoIs (--rois; {default})", copy))


@shape_rule(python_rule_key("roi_data_layer.layer", "RoIDataLayer"), counts=_ANY,
            origin=PY_FASTER_RCNN, source=True)
def roi_data_layer(ctx: LayerContext) -> LayerShapes:
    """roi_data_layer/layer.py: the data [IMS_PER_BATCH, 3, max(SCALES), MAX_SIZE]; then with
    cfg.TRAIN.HAS_RPN im_info [1, 3] and gt_boxes [1, 4], else rois [1, 5], labels [1] and (with
    cfg.TRAIN.BBOX_REG) bbox targets and weights [1, 4 * num_classes]. setup() asserts one top per
    blob it makes, so the number of tops tells which configuration the net was written for."""
    num_classes = _positive_int(_need(_yaml_params(ctx), "num_classes", "RoIDataLayer.setup()"),
                                "num_classes")
    check_op(len(ctx.bottom_shapes), "==", 0, "len(bottom) == 0", "RoIDataLayer takes no bottom")
    scale, max_size = max(_TRAIN_SCALES), _TRAIN_MAX_SIZE
    if ctx.num_tops == 3:
        data: Shape = (_IMS_PER_BATCH_END2END, 3, scale, max_size)
        return LayerShapes((data, (1, 3), (1, 4)), notes=(
            "cfg.TRAIN.HAS_RPN (experiments/cfgs/faster_rcnn_end2end.yml: 1 image per batch) "
            "assumed from the three tops; forward() reshapes data to the scaled image and gt_boxes "
            "to [boxes, 5]",
            "with HAS_RPN off and BBOX_REG off the three tops would be data, rois [1, 5], labels [1]"))
    if ctx.num_tops == 6:
        data = (_IMS_PER_BATCH_DEFAULT, 3, scale, max_size)
        rois = 1 if ctx.rois is None else ctx.rois
        targets: Shape = (rois, 4 * num_classes)
        sized = ("--rois N sizes the RoI tops for N" if ctx.rois is None else
                 f"RoI tops sized for {rois} RoIs (--rois)")
        return LayerShapes((data, (rois, 5), (rois,), targets, targets, targets), notes=(
            "cfg.TRAIN.HAS_RPN off, BBOX_REG on (lib/fast_rcnn/config.py defaults: 2 images per "
            "batch) assumed from the six tops; forward() reshapes every top to the batch it loads "
            f"(py-faster-rcnn's default: cfg.TRAIN.BATCH_SIZE = {_ROIS_PER_IMAGE} RoIs per batch); {sized}",))
    raise RuleCheckFailed(f"AssertionError: RoIDataLayer.setup() makes 3 tops (cfg.TRAIN.HAS_RPN) "
                          f"or 6 (bounding-box regression without RPN), and the net declares "
                          f"{ctx.num_tops} (assert len(top) == len(self._name_to_top_map))")


# ---------------------------------------------------------------------------------------------
# FCN's data layers (voc_layers.py, pascalcontext_layers.py, nyud_layers.py, siftflow_layers.py):
# one image per batch, shaped in reshape() by the image file it loads.

def _image_layer_setup(ctx: LayerContext, module: str, keys: Sequence[str], expected_tops: int,
                       tops_message: str) -> dict[str, Any]:
    """setup() of an image data layer: `keys` read from param_str, then the number of tops and no
    bottom checked. Returns the parameters."""
    params = _params(ctx)
    for key in keys:
        _need(params, key, f"{module}.setup()")
    check(ctx.num_tops == expected_tops, tops_message)
    check(len(ctx.bottom_shapes) == 0, "Exception: Do not define a bottom.")
    return params


def _image_unknown(ctx: LayerContext, module: str, channels: Sequence[int]) -> ShapeUnknown:
    """reshape() of an image data layer shapes each top [1, channels, H, W] by the image it loads:
    the ShapeUnknown to raise, naming the options that give those shapes."""
    names = list(ctx.layer.top) + [f"top{i}" for i in range(len(ctx.layer.top), ctx.num_tops)]
    options = " ".join(f"--input-shape {name}=1,{c},H,W" for name, c in zip(names, channels, strict=True))
    return ShapeUnknown(f"{module}.reshape() shapes its tops by the image it loads from disk (one "
                        f"image per batch), which is never read; pass {options}")


def _image_layer(ctx: LayerContext, module: str, keys: Sequence[str], tops_message: str,
                 channels: Sequence[int]) -> ShapeUnknown:
    _image_layer_setup(ctx, module, keys, len(channels), tops_message)
    return _image_unknown(ctx, module, channels)


_TWO_TOPS = "Exception: Need to define two tops: data and label."


@shape_rule(python_rule_key("voc_layers", "VOCSegDataLayer"), counts=_ANY, origin=FCN, source=True)
def voc_seg_data_layer(ctx: LayerContext) -> LayerShapes:
    """voc_layers.py VOCSegDataLayer: image [1, 3, H, W] and label [1, 1, H, W]."""
    raise _image_layer(ctx, "VOCSegDataLayer", ("voc_dir", "split", "mean"), _TWO_TOPS, (3, 1))


@shape_rule(python_rule_key("voc_layers", "SBDDSegDataLayer"), counts=_ANY, origin=FCN, source=True)
def sbdd_seg_data_layer(ctx: LayerContext) -> LayerShapes:
    """voc_layers.py SBDDSegDataLayer: image [1, 3, H, W] and label [1, 1, H, W]."""
    raise _image_layer(ctx, "SBDDSegDataLayer", ("sbdd_dir", "split", "mean"), _TWO_TOPS, (3, 1))


@shape_rule(python_rule_key("pascalcontext_layers", "PASCALContextSegDataLayer"), counts=_ANY,
            origin=FCN, source=True)
def pascal_context_seg_data_layer(ctx: LayerContext) -> LayerShapes:
    """pascalcontext_layers.py: image [1, 3, H, W] and label [1, 1, H, W]."""
    raise _image_layer(ctx, "PASCALContextSegDataLayer", ("voc_dir", "context_dir", "split"),
                       _TWO_TOPS, (3, 1))


@shape_rule(python_rule_key("siftflow_layers", "SIFTFlowSegDataLayer"), counts=_ANY, origin=FCN,
            source=True)
def siftflow_seg_data_layer(ctx: LayerContext) -> LayerShapes:
    """siftflow_layers.py: image [1, 3, H, W], semantic and geometric labels [1, 1, H, W]."""
    raise _image_layer(ctx, "SIFTFlowSegDataLayer", ("siftflow_dir", "split"),
                       "Exception: Need to define three tops: data, semantic label, and geometric "
                       "label.", (3, 1, 1))


# nyud_layers.py NYUDSegDataLayer.load(): channels of each kind of top it can output.
_NYUD_CHANNELS = {"color": 3, "hha": 3, "depth": 1, "label": 1}


@shape_rule(python_rule_key("nyud_layers", "NYUDSegDataLayer"), counts=_ANY, origin=FCN, source=True)
def nyud_seg_data_layer(ctx: LayerContext) -> LayerShapes:
    """nyud_layers.py: one top per entry of param_str 'tops' (color and hha 3 channels, depth and
    label 1), each [1, channels, H, W]."""
    kinds = _need(_params(ctx), "tops", "NYUDSegDataLayer.setup()")
    check(isinstance(kinds, (list, tuple)), f"param_str 'tops' must be a list, not {kinds!r}")
    _image_layer_setup(ctx, "NYUDSegDataLayer", ("nyud_dir", "split", "tops"), len(kinds),
                       "Exception: Need to define {} tops for all outputs.")
    for kind in kinds:
        # load() raises this in reshape(), once setup() has passed.
        check(kind in _NYUD_CHANNELS, f"Exception: Unknown output type: {kind}")
    raise _image_unknown(ctx, "NYUDSegDataLayer", [_NYUD_CHANNELS[kind] for kind in kinds])


# ---------------------------------------------------------------------------------------------
# Layers that keep or reduce their input's shape.

@shape_rule(python_rule_key("spatial_dropout", "SpatialDropoutLayer"), counts=_ANY, origin=ENET)
def spatial_dropout_layer(ctx: LayerContext) -> LayerShapes:
    """ENet's spatial_dropout.py (caffe-enet): whole channels dropped; the top is shaped like the
    bottom; param_str names the phase and the dropout probability p in (0, 1)."""
    check(len(ctx.bottom_shapes) == 1, "Exception: Dropout layer needs one blob as input; received "
                                       f"bottom blobs = {len(ctx.bottom_shapes)}")
    check(ctx.num_tops == 1, "Exception: Output of dropout layer is just one blob; received top "
                             f"blobs = {ctx.num_tops}")
    params = _params(ctx)
    _need(params, "phase", "SpatialDropoutLayer.setup()")
    raw_p = _need(params, "p", "SpatialDropoutLayer.setup()")
    try:
        p = float(raw_p)
    except (TypeError, ValueError):
        raise RuleCheckFailed(f"ValueError: param_str 'p' is no number ({raw_p!r})") from None
    check(0 < p < 1, "Exception: p need to be between 0 and 1")
    return LayerShapes((ctx.bottom,))


@shape_rule(python_rule_key("pyloss", "EuclideanLossLayer"), counts=_ANY, origin=PYCAFFE_EXAMPLE)
def pyloss_euclidean_loss_layer(ctx: LayerContext) -> LayerShapes:
    """examples/pycaffe/layers/pyloss.py: two inputs of the same count; the loss top is [1] (a
    1-element vector, not Caffe's 0-axis loss scalar)."""
    check(len(ctx.bottom_shapes) == 2, "Exception: Need two inputs to compute distance.")
    check(ctx.num_tops >= 1, "EuclideanLossLayer.reshape() reshapes top[0], so it needs a top")
    _unshaped_tops(ctx, 1, "EuclideanLossLayer")
    first, second = ctx.bottom_shapes
    check(count(first) == count(second), "Exception: Inputs must have the same dimension.")
    return LayerShapes(((1,),))


# --- The model of these fork layers beyond their shapes ------------------------------------------
# A Python layer's own arrays are numpy memory, not SyncedMemory: Caffe allocates only its tops (and
# their diffs), which the accounting counts like any layer's.
_DATA_LAYERS = tuple(python_rule_key(module, layer) for module, layer in (
    ("roi_data_layer.layer", "RoIDataLayer"), ("voc_layers", "VOCSegDataLayer"), ("voc_layers", "SBDDSegDataLayer"),
    ("pascalcontext_layers", "PASCALContextSegDataLayer"), ("siftflow_layers", "SIFTFlowSegDataLayer"),
    ("nyud_layers", "NYUDSegDataLayer"), ("rpn.anchor_target_layer", "AnchorTargetLayer"),
    ("rpn.proposal_target_layer", "ProposalTargetLayer")))
layer_model(*_DATA_LAYERS, buffers=no_buffers, compute=no_compute)
layer_model(python_rule_key("rpn.proposal_layer", "ProposalLayer"), buffers=no_buffers,
            compute=compute_not_modelled("numpy box decoding and NMS, depending on the scores"))


def _spatial_dropout_cost(ctx: RunContext) -> Cost:
    return Cost(maccs=elements_of_top(ctx)) if ctx.phase == caffe_pb2.TRAIN else Cost()


def _python_euclidean_cost(ctx: RunContext) -> Cost:
    n = elements_of_bottom(ctx)
    return Cost(maccs=n, additions=n)


layer_model(python_rule_key("spatial_dropout", "SpatialDropoutLayer"), buffers=no_buffers,
            compute=_spatial_dropout_cost)
layer_model(python_rule_key("pyloss", "EuclideanLossLayer"), buffers=no_buffers, compute=_python_euclidean_cost)
