"""Comparing a weights file's blobs with an analyzed net's parameter shapes, as Caffe loads them.

Follows BVLC Caffe's Net::CopyTrainedLayersFrom (src/caffe/net.cpp): each layer of the (upgraded)
weights, in file order, goes to the first net layer of the same name; a layer no net layer is named
after is ignored; otherwise the blob counts must be equal (CHECK_EQ), each blob must pass
Blob::ShapeEquals and Blob::FromProto must find exactly count() values (src/caffe/blob.cpp), or
Caffe aborts. A net layer the weights do not name keeps the values its fillers gave it.
"""
from __future__ import annotations

from dataclasses import dataclass

from blobcalc.result import LayerResult, NetAnalysis
from blobcalc.shapes.registry import Shape, count
from blobcalc.weights import CAFFE_READ_LIMIT_BYTES, BlobRecord, WeightsFile, WeightsLayer, reshape_problem

# Layer and blob statuses.
OK = "ok"
SHAPE_MISMATCH = "shape mismatch"
BLOB_COUNT_MISMATCH = "blob count mismatch"
DATA_SIZE_MISMATCH = "data size mismatch"
MISSING = "missing"  # a net layer with parameters that the weights do not name: keeps its initial values
NO_PARAMS = "no params"  # a net layer without parameters that the weights do not name: nothing to copy
UNUSED = "unused"  # a weights layer that no net layer is named after: Caffe ignores it
UNCHECKED = "unchecked"  # a net layer whose parameter shapes blobcalc could not infer

UNREADABLE = "unreadable"  # the whole file: Caffe cannot parse it

FATAL_STATUSES = frozenset({SHAPE_MISMATCH, BLOB_COUNT_MISMATCH, DATA_SIZE_MISMATCH})


@dataclass(frozen=True, slots=True)
class BlobCheck:
    index: int
    expected: Shape | None  # None: the net layer has no blob at this index (or unknown shapes)
    found: Shape | None  # None: the weights have no blob at this index
    legacy: bool  # the weights blob uses the legacy num/channels/height/width fields
    status: str
    message: str = ""  # Caffe's words for a fatal status


@dataclass(frozen=True, slots=True)
class LayerAudit:
    name: str
    type: str  # the net layer's type; the weights layer's for an unused one
    net_index: int | None  # None: only in the weights
    weights_index: int | None  # None: not in the weights
    status: str
    blobs: tuple[BlobCheck, ...]
    expected_params: int  # elements of the net layer's blobs (shared ones included, as Caffe stores them)
    found_params: int  # elements of the weights layer's blobs, by their shapes
    message: str = ""  # Caffe's abort message, or why the layer is missing / unchecked

    @property
    def fatal(self) -> bool:
        return self.status in FATAL_STATUSES

    @property
    def expected_shapes(self) -> tuple[Shape, ...]:
        return tuple(b.expected for b in self.blobs if b.expected is not None)

    @property
    def found_shapes(self) -> tuple[Shape, ...]:
        return tuple(b.found for b in self.blobs if b.found is not None)


@dataclass(frozen=True, slots=True)
class Abort:
    """Where Caffe would stop loading: the first fatal check in the order Caffe makes them."""

    layer: str  # "" when the whole file is refused
    status: str  # the layer's status, or "unreadable" for the whole file
    message: str


@dataclass(frozen=True, slots=True)
class AuditResult:
    net_source: str
    net_name: str
    phase: str
    weights: WeightsFile
    layers: tuple[LayerAudit, ...]  # net layers in net order, then unused weights layers in file order
    abort: Abort | None
    net_param_count: int  # elements of every net layer's blobs (a layer sharing a blob stores its own copy)
    net_learnable_count: int  # unique learnable elements (Net::learnable_params)

    @property
    def ok(self) -> bool:
        return self.abort is None

    @property
    def weights_param_count(self) -> int:
        return self.weights.element_count

    def _count(self, status: str) -> int:
        return sum(layer.found_params if status == UNUSED else layer.expected_params
                   for layer in self.layers if layer.status == status)

    @property
    def loaded_param_count(self) -> int:
        """Elements Caffe copies from the weights (layers whose every check passes)."""
        return self._count(OK)

    @property
    def missing_param_count(self) -> int:
        """Elements of net layers the weights do not name (they keep their initial values)."""
        return self._count(MISSING)

    @property
    def unused_param_count(self) -> int:
        return self._count(UNUSED)

    @property
    def fatal_count(self) -> int:
        """Layers Caffe would abort on; it stops at the first, so fixing one may reveal the next."""
        return sum(1 for layer in self.layers if layer.fatal)

    @property
    def partial(self) -> bool:
        return any(layer.status == UNCHECKED for layer in self.layers)

    def with_status(self, *statuses: str) -> tuple[LayerAudit, ...]:
        return tuple(layer for layer in self.layers if layer.status in statuses)


def audit(analysis: NetAnalysis, weights: WeightsFile) -> AuditResult:
    """Check `weights` against the parameter blobs of the net `analysis` describes."""
    first_by_name: dict[str, LayerResult] = {}
    for layer in analysis.layers:
        first_by_name.setdefault(layer.name, layer)
    # Weights layers in file order, each with the net layer it is copied into (None: ignored).
    checks: dict[int, list[LayerAudit]] = {}
    unused: list[LayerAudit] = []
    abort = _read_limit_abort(weights)
    for source in weights.layers:
        # A name that is not UTF-8 cannot equal a name of a text net (it is shown escaped).
        target = first_by_name.get(source.name) if source.name_is_utf8 else None
        if target is None:
            unused.append(_unused(source))
            continue
        checked = _check(target, source)
        checks.setdefault(target.index, []).append(checked)
        if abort is None and checked.fatal:
            abort = Abort(source.name, checked.status, checked.message)
    rows: list[LayerAudit] = []
    for layer in analysis.layers:
        rows += checks.get(layer.index) or [_not_in_weights(layer, first_by_name[layer.name])]
    net_param_count = sum(count(shape) for layer in analysis.layers for shape in layer.param_shapes)
    return AuditResult(analysis.source, analysis.net_name, analysis.phase, weights, tuple(rows + unused),
                       abort, net_param_count, analysis.param_count)


def _read_limit_abort(weights: WeightsFile) -> Abort | None:
    if not weights.over_caffe_read_limit:
        return None
    return Abort("", UNREADABLE,
                 f"the file is {weights.file_bytes:,} bytes; Caffe's ReadProtoFromBinaryFile stops at "
                 f"{CAFFE_READ_LIMIT_BYTES:,} (kProtoReadBytesLimit = INT_MAX) and fails with "
                 "\"Failed to parse NetParameter file\"")


# --------------------------------------------------------------------------------------------
# One layer
# --------------------------------------------------------------------------------------------

def _check(target: LayerResult, source: WeightsLayer) -> LayerAudit:
    found = tuple(blob.dims for blob in source.blobs)
    if not target.known:
        blobs = tuple(BlobCheck(j, None, blob.dims, blob.legacy, UNCHECKED)
                      for j, blob in enumerate(source.blobs))
        return LayerAudit(target.name, target.type, target.index, source.index, UNCHECKED, blobs,
                          0, source.element_count,
                          f"blobcalc cannot check it: its parameter shapes are unknown ({target.reason})")
    expected = target.param_shapes
    expected_params = sum(count(shape) for shape in expected)
    if len(expected) != len(found):
        # CHECK_EQ(target_blobs.size(), source_layer.blobs_size()) comes before any shape check.
        blobs = tuple(
            BlobCheck(j, expected[j] if j < len(expected) else None,
                      found[j] if j < len(found) else None,
                      source.blobs[j].legacy if j < len(found) else False, BLOB_COUNT_MISMATCH)
            for j in range(max(len(expected), len(found))))
        message = (f"Check failed: target_blobs.size() == source_layer.blobs_size() ({len(expected)} vs. "
                   f"{len(found)}) Incompatible number of blobs for layer {source.name}")
        return LayerAudit(target.name, target.type, target.index, source.index, BLOB_COUNT_MISMATCH, blobs,
                          expected_params, source.element_count, message)
    blobs = tuple(_check_blob(j, shape, blob, source.name)
                  for j, (shape, blob) in enumerate(zip(expected, source.blobs, strict=True)))
    # Caffe stops at the first failing blob; its status is the layer's.
    first_failure = next((blob for blob in blobs if blob.status != OK), None)
    status = first_failure.status if first_failure else OK
    return LayerAudit(target.name, target.type, target.index, source.index, status, blobs,
                      expected_params, source.element_count,
                      first_failure.message if first_failure else "")


def _check_blob(index: int, expected: Shape, blob: BlobRecord, layer_name: str) -> BlobCheck:
    if not shape_equals(expected, blob):
        problem = reshape_problem(blob)
        if problem:
            # Caffe reads the source blob to print its shape, and Blob::Reshape aborts first.
            return BlobCheck(index, expected, blob.dims, blob.legacy, SHAPE_MISMATCH,
                             f"param {index} of layer '{layer_name}' (reading it to report a shape mismatch): "
                             f"{problem}")
        message = (f"Cannot copy param {index} weights from layer '{layer_name}'; shape mismatch.  Source "
                   f"param shape is {shape_string(blob.dims)}; target param shape is "
                   f"{shape_string(expected)}. To learn this layer's parameters from scratch rather than "
                   "copying from a saved net, rename the layer.")
        return BlobCheck(index, expected, blob.dims, blob.legacy, SHAPE_MISMATCH, message)
    problem = data_size_problem(count(expected), blob)
    if problem:
        return BlobCheck(index, expected, blob.dims, blob.legacy, DATA_SIZE_MISMATCH,
                         f"param {index} of layer '{layer_name}': {problem}")
    return BlobCheck(index, expected, blob.dims, blob.legacy, OK)


def _not_in_weights(layer: LayerResult, first: LayerResult) -> LayerAudit:
    shadowed = first is not layer
    why = (f"Caffe copies the weights named '{layer.name}' only into the first layer of that name "
           f"(#{first.index})" if shadowed else "")
    if not layer.known:
        return LayerAudit(layer.name, layer.type, layer.index, None, UNCHECKED, (), 0, 0,
                          "not in the weights, and blobcalc cannot tell whether it has parameters "
                          f"({layer.reason})")
    shapes = layer.param_shapes
    blobs = tuple(BlobCheck(j, shape, None, False, MISSING) for j, shape in enumerate(shapes))
    if not shapes:
        return LayerAudit(layer.name, layer.type, layer.index, None, NO_PARAMS, (), 0, 0, why)
    return LayerAudit(layer.name, layer.type, layer.index, None, MISSING, blobs,
                      sum(count(shape) for shape in shapes), 0,
                      why or "not in the weights: keeps the initial values of its fillers")


def _unused(source: WeightsLayer) -> LayerAudit:
    blobs = tuple(BlobCheck(j, None, blob.dims, blob.legacy, UNUSED) for j, blob in enumerate(source.blobs))
    return LayerAudit(source.name, source.type, None, source.index, UNUSED, blobs, 0, source.element_count,
                      "no net layer has this name: Caffe ignores it")


# --------------------------------------------------------------------------------------------
# Caffe's Blob checks (src/caffe/blob.cpp, include/caffe/blob.hpp)
# --------------------------------------------------------------------------------------------

def _int32(value: int) -> int:
    # ShapeEquals copies the int64 dims into a vector<int>.
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def legacy_shape(shape: Shape, index: int) -> int:
    """Blob::LegacyShape: an axis missing from a blob of fewer than 4 axes reads as 1."""
    if index >= len(shape) or index < -len(shape):
        return 1
    return shape[index]


def shape_equals(expected: Shape, blob: BlobRecord) -> bool:
    """Blob::ShapeEquals: legacy 4-D fields compare against the shape padded with leading 1s (so a
    bias (N) matches 1 x 1 x 1 x N); a `shape` message must equal the shape exactly."""
    if blob.legacy:
        return len(expected) <= 4 and all(legacy_shape(expected, axis - 4) == blob.dims[axis]
                                          for axis in range(4))
    return tuple(_int32(dim) for dim in blob.dims) == expected


def data_size_problem(expected_count: int, blob: BlobRecord) -> str:
    """Blob::FromProto(reshape=false)'s CHECK_EQs on the number of stored values; "" when they pass."""
    if blob.double_count:
        stored, field = blob.double_count, "double_data"
    else:
        stored, field = blob.float_count, "data"
    if stored != expected_count:
        return f"Check failed: count_ == proto.{field}_size() ({expected_count} vs. {stored})"
    # The diffs are checked the same way when present (double_diff first).
    diff, field = ((blob.double_diff_count, "double_diff") if blob.double_diff_count
                   else (blob.diff_count, "diff"))
    if diff and diff != expected_count:
        return f"Check failed: count_ == proto.{field}_size() ({expected_count} vs. {diff})"
    return ""


def shape_string(shape: Shape) -> str:
    """Blob::shape_string: the dims separated by spaces, then the count in parentheses."""
    return "".join(f"{dim} " for dim in shape) + f"({count(shape)})"
