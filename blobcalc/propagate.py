"""Shape propagation: each layer of the built net, in Caffe's order, through its registered rule."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from blobcalc import caffe_pb2
from blobcalc.errors import ShapeError, UsageError
from blobcalc.graph import BlobRef, NetGraph, NetLayer
from blobcalc.result import OK, UNKNOWN, LayerResult
from blobcalc.shapes.registry import (
    BlobCounts,
    LayerContext,
    LayerShapes,
    RuleCheckFailed,
    Shape,
    ShapeRule,
    ShapeUnknown,
    count,
    rule_for_layer,
)

_INT_MAX = 2**31 - 1
_MAX_BLOB_AXES = 32  # kMaxBlobAxes (include/caffe/blob.hpp)


@dataclass(frozen=True, slots=True)
class ShapeOptions:
    input_shapes: Mapping[str, Shape] = field(default_factory=dict)  # --input-shape TOP=...
    top_shapes: Mapping[str, Shape] = field(default_factory=dict)  # --top-shape BLOB=...
    batch: int | None = None  # --batch N
    rois: int | None = None  # --rois N: regions per detection head (proposal layers' first axis)
    datum_shapes: Mapping[str, Shape] = field(default_factory=dict)  # --datum-shape LAYER=C,H,W


def auto_top_count(layer: caffe_pb2.LayerParameter) -> int:
    """How many tops Caffe gives a layer that declares too few (Net::Init with AutoTopBlobs)."""
    rule = rule_for_layer(layer)
    if rule is None or not rule.counts.auto_tops:
        return 0
    return max(rule.counts.min_tops, rule.counts.exact_tops)


def check_blob_counts(layer: NetLayer, counts: BlobCounts) -> None:
    """layer.hpp CheckBlobCounts, with Caffe's messages."""
    bottoms, tops, kind = len(layer.bottoms), len(layer.tops), layer.type

    def fail(message: str) -> None:
        raise ShapeError(layer.name, kind, f"{kind} Layer {message}")

    if counts.exact_bottoms >= 0 and bottoms != counts.exact_bottoms:
        fail(f"takes {counts.exact_bottoms} bottom blob(s) as input.")
    if counts.min_bottoms >= 0 and bottoms < counts.min_bottoms:
        fail(f"takes at least {counts.min_bottoms} bottom blob(s) as input.")
    if counts.max_bottoms >= 0 and bottoms > counts.max_bottoms:
        fail(f"takes at most {counts.max_bottoms} bottom blob(s) as input.")
    if counts.exact_tops >= 0 and tops != counts.exact_tops:
        fail(f"produces {counts.exact_tops} top blob(s) as output.")
    if counts.min_tops >= 0 and tops < counts.min_tops:
        fail(f"produces at least {counts.min_tops} top blob(s) as output.")
    if counts.max_tops >= 0 and tops > counts.max_tops:
        fail(f"produces at most {counts.max_tops} top blob(s) as output.")
    if counts.equal_bottom_top and bottoms != tops:
        fail("produces one top blob as output for each bottom blob input.")


def check_blob_shape(layer: NetLayer, top: str, shape: Shape) -> None:
    """Blob::Reshape: at most kMaxBlobAxes (32) axes, no negative axis, and the count must fit in an int."""
    if len(shape) > _MAX_BLOB_AXES:
        raise ShapeError(layer.name, layer.type,
                         f"top '{top}' would have {len(shape)} axes (Caffe: Check failed: shape.size() <= "
                         f"kMaxBlobAxes ({len(shape)} vs. {_MAX_BLOB_AXES}) in Blob::Reshape)")
    running = 1
    for dim in shape:
        if dim < 0:
            raise ShapeError(layer.name, layer.type,
                             f"top '{top}' would have shape {list(shape)}, with a negative dimension "
                             "(Caffe: CHECK_GE(shape[i], 0) in Blob::Reshape)")
        if running and dim > _INT_MAX // running:
            raise ShapeError(layer.name, layer.type,
                             f"top '{top}' of shape {list(shape)} exceeds INT_MAX elements "
                             "(Caffe: blob size exceeds INT_MAX)")
        running *= dim


def _check_given(layer: NetLayer, shapes: tuple[Shape, ...]) -> None:
    # Shapes from the command line become blobs too: Blob::Reshape checks them like any other.
    for top, shape in zip(layer.tops, shapes, strict=True):
        check_blob_shape(layer, top, shape)


@dataclass(slots=True)
class _ParamOwner:
    layer: str
    shape: Shape


def _shapes_for(layer: NetLayer, given: Mapping[str, Shape]) -> tuple[Shape, ...] | None:
    if layer.tops and all(top in given for top in layer.tops):
        return tuple(given[top] for top in layer.tops)
    return None


def propagate(graph: NetGraph, phase: int, options: ShapeOptions) -> tuple[LayerResult, ...]:
    """Run every layer's rule in order; unknown shapes flow downstream as unknown, by name."""
    _check_option_names(graph, options)
    shapes: dict[BlobRef, Shape | None] = {}
    origin_of_unknown: dict[BlobRef, str] = {}
    param_owners: dict[str, _ParamOwner] = {}
    results: list[LayerResult] = []
    net_types = frozenset(layer.type for layer in graph.layers)
    assumed_inputs: list[tuple[str, Shape]] = []
    for layer in graph.layers:
        result = _one_layer(layer, phase, options, shapes, origin_of_unknown, param_owners, net_types,
                            assumed_inputs)
        for ref, shape in zip(layer.top_refs, result.top_shapes, strict=True):
            shapes[ref] = shape
            if shape is None:
                origin_of_unknown[ref] = layer.name
        results.append(result)
    return tuple(results)


def _check_option_names(graph: NetGraph, options: ShapeOptions) -> None:
    if options.datum_shapes:
        source_layers = {layer.name for layer in graph.layers if _is_source(rule_for_layer(layer.param))}
        for name in options.datum_shapes:
            if name not in source_layers:
                raise UsageError(f"--datum-shape names '{name}', which is not a data layer in this phase "
                                 "(it takes a data layer's name and its records' C,H,W)")
    if not options.input_shapes and not options.top_shapes:
        return
    source_tops = {top for layer in graph.layers if _replaceable(layer, rule_for_layer(layer.param))
                   for top in layer.tops}
    for name in options.input_shapes:
        if name not in source_tops:
            raise UsageError(f"--input-shape names '{name}', which is not a top of an input or data layer "
                             "(a layer with no bottoms) in this phase (use --top-shape for other blobs)")
    all_tops = {top for layer in graph.layers for top in layer.tops}
    for name in options.top_shapes:
        if name not in all_tops:
            raise UsageError(f"--top-shape names '{name}', which no layer in this phase produces")


def _one_layer(layer: NetLayer, phase: int, options: ShapeOptions, shapes: dict[BlobRef, Shape | None],
               origin_of_unknown: dict[BlobRef, str], param_owners: dict[str, _ParamOwner],
               net_types: frozenset[str] = frozenset(),
               assumed_inputs: list[tuple[str, Shape]] | None = None) -> LayerResult:
    param = layer.param
    rule = rule_for_layer(param)
    python = param.python_param if layer.type == "Python" else None
    python_layer = f"{python.module}.{python.layer}" if python is not None else ""
    loss_weights = _loss_weights(layer, rule)
    datum = options.datum_shapes.get(layer.name)

    def make(status: str, tops: tuple[Shape | None, ...], params: tuple[Shape, ...] = (),
             reason: str = "", replaced: str = "", notes: tuple[str, ...] = ()) -> LayerResult:
        shared = _param_sharing(layer, params, param_owners) if status == OK else ()
        return LayerResult(layer.index, layer.name, "Input" if replaced else layer.type, layer.bottoms,
                           layer.tops, tops, params, shared, layer.in_place,
                           layer.auto_split, status, reason, replaced, notes,
                           rule.origin if rule is not None else "", python_layer, loss_weights,
                           tuple(shapes.get(ref) for ref in layer.bottom_refs),
                           datum if not replaced else None)

    unknown_tops = (None,) * len(layer.tops)
    is_source = _is_source(rule)
    if _replaceable(layer, rule):
        given = _shapes_for(layer, options.input_shapes)
        if given is not None:
            kind = f"Python:{python_layer}" if python is not None else layer.type
            replaced = "" if layer.type == "Input" else kind
            _check_given(layer, given)
            return make(OK, _with_batch(given, options.batch), replaced=replaced,
                        notes=(f"{kind} layer replaced by an Input layer of the given shapes",)
                        if replaced else ())
    if param.propagate_down and len(param.propagate_down) != len(layer.bottoms):
        raise ShapeError(layer.name, layer.type,
                         "propagate_down param must be specified either 0 or bottom_size times")
    if rule is not None:
        check_blob_counts(layer, rule.counts)
    bottom_shapes: list[Shape] = []
    for name, ref in zip(layer.bottoms, layer.bottom_refs, strict=True):
        shape = shapes.get(ref)
        if shape is None:
            return make(UNKNOWN, unknown_tops,
                        reason=f"bottom '{name}' has an unknown shape (from layer "
                               f"'{origin_of_unknown.get(ref, '?')}')")
        bottom_shapes.append(shape)
    if rule is None:
        given = _shapes_for(layer, options.top_shapes)
        if given is not None:
            _check_given(layer, given)
            return make(OK, given, notes=("top shapes given by --top-shape",))
        return make(UNKNOWN, unknown_tops, reason=_no_rule_reason(layer))
    context = LayerContext(param, tuple(bottom_shapes), layer.phase, len(layer.tops), options.rois, datum,
                           net_types)
    try:
        answer: LayerShapes = rule.compute(context)
    except ShapeUnknown as exc:
        given = _shapes_for(layer, {**options.top_shapes, **options.input_shapes})
        if given is not None:
            _check_given(layer, given)
            return make(OK, _with_batch(given, options.batch) if is_source else given,
                        notes=("top shapes given on the command line",))
        return make(UNKNOWN, unknown_tops, reason=str(exc))
    except RuleCheckFailed as exc:
        raise ShapeError(layer.name, layer.type, str(exc) + _assumed_input_hint(assumed_inputs)) from None
    tops = answer.top_shapes
    if is_source:
        partial = {top: options.input_shapes[top] for top in layer.tops if top in options.input_shapes}
        tops = tuple(partial.get(top, shape) for top, shape in zip(layer.tops, tops, strict=True))
        tops = _with_batch(tops, options.batch)
    notes = answer.notes
    overridden = [(top, shape) for top, shape in zip(layer.tops, tops, strict=True) if top in options.top_shapes]
    if overridden:
        # --top-shape wins over any rule, built-in or not (e.g. a RoI head sized for 300 proposals
        # where setup() gives 1); the rule's own answer is kept in the note.
        tops = tuple(options.top_shapes.get(top, shape) for top, shape in zip(layer.tops, tops, strict=True))
        notes = (*notes, "--top-shape overrides the rule (" + "; ".join(
            f"'{top}' {list(options.top_shapes[top])} instead of {list(shape)}" for top, shape in overridden) + ")")
    for top, shape in zip(layer.tops, tops, strict=True):
        check_blob_shape(layer, top, shape)
    if is_source and python is not None and assumed_inputs is not None:
        # Only image-like tops: the set-up size a module's default config gives (py-faster-rcnn's
        # roi_data_layer/layer.py: [IMS_PER_BATCH, 3, max(SCALES), MAX_SIZE]).
        assumed_inputs.extend((top, shape) for top, shape in zip(layer.tops, tops, strict=True)
                              if top not in options.input_shapes and len(shape) == 4)
    return make(OK, tops, answer.param_shapes, notes=notes)


def _assumed_input_hint(assumed_inputs: list[tuple[str, Shape]] | None) -> str:
    """A check that failed downstream of a Python data layer's set-up size: that size is the
    module's default config (py-faster-rcnn's TRAIN.SCALES / MAX_SIZE), which the config a fork
    trains with (tools/train_net.py --cfg) replaces; Caffe fails the same way only with that default."""
    if not assumed_inputs:
        return ""
    images = ", ".join(f"'{top}' {list(shape)}" for top, shape in assumed_inputs)
    top, shape = assumed_inputs[0]
    return (f" (with the input size a Python data layer's setup() gives under its module's default "
            f"config: {images}; the config the net is trained with (--cfg) may set another size: "
            f"try --input-shape {top}={shape[0]},{shape[1]},H,W)")


def _loss_weights(layer: NetLayer, rule: ShapeRule | None) -> tuple[float, ...]:
    """Layer::SetLossWeights: the prototxt's loss_weight, one per top; a LossLayer (Caffe's only
    layers with AutoTopBlobs) gets 1 on its first top when none is given."""
    explicit = tuple(layer.param.loss_weight[:]) if layer.param.loss_weight else ()
    if explicit:
        if len(explicit) != len(layer.tops):
            raise ShapeError(layer.name, layer.type,
                             "loss_weight must be unspecified or specified once per top blob.")
        return explicit
    if rule is not None and rule.is_loss and layer.tops:
        # LossLayer::LayerSetUp adds one loss_weight of 1, which then must match the top count.
        if len(layer.tops) != 1:
            raise ShapeError(layer.name, layer.type,
                             "loss_weight must be unspecified or specified once per top blob (a loss "
                             f"layer gets one implicit loss_weight, but this one has {len(layer.tops)} "
                             "tops: give loss_weight for each)")
        return (1.0,)
    return (0.0,) * len(layer.tops)


def _is_source(rule: ShapeRule | None) -> bool:
    # Data and input layers: their first axis is the batch, and --input-shape may replace them by
    # an Input layer of the given shapes (as the golden answers were made).
    return rule is not None and rule.source


def _replaceable(layer: NetLayer, rule: ShapeRule | None) -> bool:
    """--input-shape turns a data or input layer into an Input layer: one whose rule says it feeds the net,
    or any layer with no bottoms and no rule (a fork's data layer, a Python data layer we do not know)."""
    return _is_source(rule) or (rule is None and not layer.bottoms)


def _with_batch(shapes: tuple[Shape, ...], batch: int | None) -> tuple[Shape, ...]:
    if batch is None:
        return shapes
    return tuple((batch, *shape[1:]) if shape else shape for shape in shapes)


def _no_rule_reason(layer: NetLayer) -> str:
    if layer.type == "Python":
        python = layer.param.python_param
        return (f"Python layer {python.module}.{python.layer} is never imported; give its tops with "
                "--top-shape BLOB=d0,d1,...")
    return f"no shape rule for layer type '{layer.type}'; give its tops with --top-shape BLOB=d0,d1,..."


def _param_sharing(layer: NetLayer, param_shapes: tuple[Shape, ...],
                   owners: dict[str, _ParamOwner]) -> tuple[bool, ...]:
    """net.cpp AppendParam: a named ParamSpec shares the blob of the first layer that used the name.
    Per parameter blob: whether an earlier layer owns it."""
    specs = layer.param.param
    if not specs:
        return (False,) * len(param_shapes)
    if len(specs) > len(param_shapes):
        raise ShapeError(layer.name, layer.type,
                         f"Too many params specified for layer {layer.name} ({len(specs)} param entries "
                         f"for {len(param_shapes)} parameter blobs)")
    shared: list[bool] = []
    for i, shape in enumerate(param_shapes):
        name = specs[i].name if i < len(specs) else ""
        owner = owners.get(name) if name else None
        if owner is None:
            if name:
                owners[name] = _ParamOwner(layer.name, shape)
            shared.append(False)
            continue
        permissive = specs[i].share_mode == caffe_pb2.ParamSpec.PERMISSIVE
        matches = (count(owner.shape) == count(shape)) if permissive else owner.shape == shape
        if not matches:
            what = "count" if permissive else "shape"
            raise ShapeError(layer.name, layer.type,
                             f"Cannot share param '{name}' owned by layer '{owner.layer}' with layer "
                             f"'{layer.name}'; {what} mismatch. Owner layer param shape is "
                             f"{list(owner.shape)}; sharing layer shape is {list(shape)}")
        shared.append(True)
    return tuple(shared)
