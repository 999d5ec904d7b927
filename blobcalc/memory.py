"""Memory of a propagated net: Caffe's own log figure, the true unique-blob figure, inference and
training memory component by component, attributed to layers. Pure functions, no I/O.

This module only sums what each layer type's model declares (blobcalc.shapes.model, registered with
the type's shape rule); it never looks at a type name. Counted once per SyncedMemory, and only when
Caffe first touches it (allocation is lazy):
- activation data: every top's SyncedMemory, except where the type's model shares it: an in-place top
  *is* its bottom; Split tops share data (own diffs); Flatten/Reshape share both; a data layer's tops
  point into its prefetch batch (a buffer of the layer).
- activation diffs: Layer::SetLossWeights allocates the diff of every top with a loss weight at SetUp;
  in training, Backward reads the top diffs of every layer Net::Init runs backward (backward.py) and
  writes the bottom diffs it propagates to; a model may touch more bottom diffs (Convolution's
  Backward takes every bottom diff; the GPU losses use bottom diffs as scratch in Forward).
- parameter data and diffs: Net::learnable_params (shared blobs once); Solver::Step's
  ClearParamDiffs touches every learnable diff, lr_mult 0 included.
- solver state: see solver.py; L1 regularization adds temp_ for parameters with non-zero decay.
- layer scratch buffers: each model's buffers for the layer's device, phase and backward.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from blobcalc import caffe_pb2
from blobcalc.backward import layer_model_of, run_contexts
from blobcalc.graph import BlobRef
from blobcalc.result import LayerResult, NetAnalysis
from blobcalc.shapes.model import DATA_IN_BUFFER, SHARES_BOTH, SHARES_DATA, Buffer, NotModelled, RunContext
from blobcalc.shapes.registry import Shape, ShapeRule, count, is_source_layer
from blobcalc.solver import SolverSettings

FLOAT32_BYTES = 4  # Caffe's Net<float>: every blob element is a 4-byte float
DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8, "int8": 1}
ENGINES = ("caffe", "cudnn")  # --engine: Caffe's own GPU layers, or the cuDNN ones where Caffe has them
# The default --engine for --device gpu: Caffe picks cuDNN for a layer's DEFAULT engine whenever it is
# built with it (layer_factory.cpp), and its CMake build turns USE_CUDNN on for every GPU build.
DEFAULT_ENGINE = "cudnn"


def caffe_memory_required_bytes(analysis: NetAnalysis) -> int:
    """What Caffe logs as "Memory required for data" (net.cpp Net::Init, memory_used_): every layer's
    tops summed, in-place tops again, inserted Split tops and automatic loss tops included."""
    return FLOAT32_BYTES * sum(count(shape) for layer in analysis.layers for shape in layer.top_shapes
                               if shape is not None)


@dataclass(frozen=True, slots=True)
class Storage:
    """Which blob version owns the memory behind each blob version, for data and for diff."""

    data_owner: dict[BlobRef, BlobRef]
    diff_owner: dict[BlobRef, BlobRef]
    writer: dict[BlobRef, int]  # the layer index that created each owning blob
    shape: dict[BlobRef, Shape]
    data_in_buffer: frozenset[BlobRef]  # tops whose data is a layer's buffer (data layers' batches)


def storage_of(analysis: NetAnalysis, models: Sequence[ShapeRule | None] | None = None) -> Storage:
    data_owner: dict[BlobRef, BlobRef] = {}
    diff_owner: dict[BlobRef, BlobRef] = {}
    writer: dict[BlobRef, int] = {}
    shape: dict[BlobRef, Shape] = {}
    in_buffer: set[BlobRef] = set()
    models = models if models is not None else layer_models(analysis)
    for result, layer, model in zip(analysis.layers, analysis.graph.layers, models, strict=True):
        sharing = model.sharing(len(layer.bottoms), len(layer.tops)) if model is not None and result.known else ""
        for j, ref in enumerate(layer.top_refs):
            top_shape = result.top_shapes[j]
            if top_shape is None:
                continue
            source = layer.bottom_refs[j if layer.in_place[j] else 0] if layer.bottom_refs else ref
            if layer.in_place[j] or (sharing == SHARES_BOTH and layer.bottom_refs):
                data_owner[ref] = data_owner.get(source, source)
                diff_owner[ref] = diff_owner.get(source, source)
            elif sharing == SHARES_DATA and layer.bottom_refs:
                data_owner[ref] = data_owner.get(source, source)
                diff_owner[ref] = ref
            else:
                data_owner[ref] = ref
                diff_owner[ref] = ref
                if sharing == DATA_IN_BUFFER:
                    in_buffer.add(ref)
            if data_owner[ref] == ref or diff_owner[ref] == ref:
                writer[ref] = result.index
                shape[ref] = top_shape
    return Storage(data_owner, diff_owner, writer, shape, frozenset(in_buffer))


def layer_models(analysis: NetAnalysis) -> tuple[ShapeRule | None, ...]:
    """Each layer's registry entry (a data layer --input-shape replaced is an Input layer)."""
    return tuple(layer_model_of(result, layer) for result, layer in zip(analysis.layers, analysis.graph.layers,
                                                                       strict=True))


def _owned_data(storage: Storage) -> set[BlobRef]:
    return set(storage.data_owner.values()) - storage.data_in_buffer


def unique_blob_bytes(analysis: NetAnalysis, element_bytes: int = FLOAT32_BYTES) -> int:
    """The activation data Caffe really allocates: each storage once (in-place, Split, Flatten and
    Reshape tops share their bottom's; a data layer's tops point into its prefetch batch)."""
    storage = storage_of(analysis)
    return element_bytes * sum(count(storage.shape[ref]) for ref in _owned_data(storage))


@dataclass(frozen=True, slots=True)
class LayerMemory:
    """One layer's share of each component, in bytes."""

    index: int
    name: str
    type: str
    activation_data: int
    activation_diff: int
    param_data: int
    param_diff: int
    solver_state: int
    buffers: tuple[Buffer, ...]
    buffer_bytes: int

    @property
    def total(self) -> int:
        return (self.activation_data + self.activation_diff + self.param_data + self.param_diff
                + self.solver_state + self.buffer_bytes)


@dataclass(frozen=True, slots=True)
class MemoryTotals:
    activation_data: int
    activation_diff: int
    param_data: int
    param_diff: int
    solver_state: int
    buffers: int

    @property
    def total(self) -> int:
        return (self.activation_data + self.activation_diff + self.param_data + self.param_diff
                + self.solver_state + self.buffers)


def _sum_rows(rows: tuple[LayerMemory, ...]) -> MemoryTotals:
    return MemoryTotals(sum(r.activation_data for r in rows), sum(r.activation_diff for r in rows),
                        sum(r.param_data for r in rows), sum(r.param_diff for r in rows),
                        sum(r.solver_state for r in rows), sum(r.buffer_bytes for r in rows))


@dataclass(frozen=True, slots=True)
class NetMemory:
    """Per-layer rows and their sums for one net, inference or training."""

    training: bool
    element_bytes: int
    rows: tuple[LayerMemory, ...]
    totals: MemoryTotals
    partial: bool  # some layers are unknown or not modelled: their memory is missing from the figures
    device: str = "gpu"
    engine: str = "caffe"
    not_modelled: tuple[str, ...] = ()  # "layer (type): why", for layers whose buffers are not modelled
    workspace_bound: int = 0  # cuDNN workspaces (cudaMalloc, no SyncedMemory): at most this, not in the totals


def _diff_storages(analysis: NetAnalysis, storage: Storage, contexts: Sequence[RunContext | None],
                   models: Sequence[ShapeRule | None]) -> set[BlobRef]:
    """Diffs Caffe allocates: loss tops' (SetLossWeights, at SetUp), bottoms a model touches, and in
    training the top diffs Backward reads and the bottom diffs it writes."""
    needed: set[BlobRef] = set()
    for result, layer, ctx, model in zip(analysis.layers, analysis.graph.layers, contexts, models, strict=True):
        for ref, weight in zip(layer.top_refs, result.loss_weights, strict=False):
            if weight and ref in storage.diff_owner:
                needed.add(storage.diff_owner[ref])
        if ctx is None:
            continue
        touched = model.touches(ctx) if model is not None else ()
        # Data and input layers have an empty Backward: it reads no top gradient.
        if ctx.backward and not (model is not None and model.source):
            needed.update(storage.diff_owner[ref] for ref in layer.top_refs if ref in storage.diff_owner)
        for j, ref in enumerate(layer.bottom_refs):
            propagated = ctx.backward and j < len(ctx.propagate_down) and ctx.propagate_down[j]
            if (propagated or (j < len(touched) and touched[j])) and ref in storage.diff_owner:
                needed.add(storage.diff_owner[ref])
    return needed


def net_memory(analysis: NetAnalysis, *, training: bool, element_bytes: int = FLOAT32_BYTES,
               solver: SolverSettings | None = None, device: str = "gpu", engine: str = DEFAULT_ENGINE,
               share_params: bool = False, run_phase: int | None = None) -> NetMemory:
    """Memory of one net on `device` (and, on the GPU, `engine`). `training` adds Backward's diffs,
    solver state and training buffers; `share_params` (a solver's test net) leaves out parameters,
    which the train net owns; `run_phase` runs every layer in that phase (a net whose layers do not
    depend on the phase)."""
    solver = solver or SolverSettings()
    models = layer_models(analysis)
    storage = storage_of(analysis, models)
    data_owners = _owned_data(storage)
    contexts = run_contexts(analysis, training=training, device=device, engine=engine, run_phase=run_phase)
    diffs = _diff_storages(analysis, storage, contexts, models)
    rows = []
    not_modelled: list[str] = []
    workspace_bound = 0
    writer, shape_of = storage.writer, storage.shape
    for result, layer, ctx, model in zip(analysis.layers, analysis.graph.layers, contexts, models, strict=True):
        data = diff = 0
        for ref in layer.top_refs:
            if writer.get(ref) == result.index:
                elements = count(shape_of[ref])
                if ref in data_owners:
                    data += elements
                if ref in diffs:
                    diff += elements
        params = 0 if share_params or not result.param_shapes else result.param_count
        solver_elements = 0
        if training and not share_params:
            solver_elements = params * solver.buffers_per_param(device)
            if solver.regularization_type == "L1":
                solver_elements += _l1_temp_elements(result, layer.param.param, solver.weight_decay)
        buffers, why = _layer_buffers(result, ctx, model)
        if why:
            not_modelled.append(f"{result.name} ({result.type}): {why}")
        workspace_bound += sum(b.bytes(element_bytes) for b in buffers if b.bound_only)
        rows.append(LayerMemory(result.index, result.name, result.type, data * element_bytes,
                                diff * element_bytes, params * element_bytes,
                                (params if training else 0) * element_bytes, solver_elements * element_bytes,
                                buffers, sum(b.bytes(element_bytes) for b in buffers if not b.bound_only)))
    frozen_rows = tuple(rows)
    return NetMemory(training, element_bytes, frozen_rows, _sum_rows(frozen_rows),
                     analysis.partial or bool(not_modelled), device, engine, tuple(not_modelled), workspace_bound)


def _layer_buffers(result: LayerResult, ctx: RunContext | None,
                   model: ShapeRule | None) -> tuple[tuple[Buffer, ...], str]:
    """(the layer's buffers, why they are not modelled or "")."""
    if ctx is None:
        return (), ""  # an unknown layer: the analysis already marks the figures partial
    buffers = model.buffers if model is not None else None
    if buffers is None:
        return (), "its type's model declares no buffers"
    try:
        return tuple(buffers(ctx)), ""
    except NotModelled as exc:
        return (), str(exc)


def _l1_temp_elements(result: LayerResult, specs: Sequence[caffe_pb2.ParamSpec], weight_decay: float) -> int:
    # sgd_solver.cpp Regularize: L1 writes sign(w) into temp_ when weight_decay * decay_mult != 0.
    total = 0
    for i, (shape, shared) in enumerate(zip(result.param_shapes, result.param_shared, strict=True)):
        decay_mult = specs[i].decay_mult if i < len(specs) else 1.0  # ParamSpec default decay_mult: 1
        if not shared and weight_decay * decay_mult != 0:
            total += count(shape)
    return total


@dataclass(frozen=True, slots=True)
class PeakMemory:
    """Inference with each activation freed after its last reader, in Caffe's layer order: the
    lower bound a memory-planning runtime reaches (parameters and the running layer's buffers in)."""

    peak_bytes: int
    peak_layer: str  # the layer during which the peak occurs
    param_bytes: int


def inference_peak(analysis: NetAnalysis, element_bytes: int = FLOAT32_BYTES, device: str = "gpu",
                   engine: str = DEFAULT_ENGINE) -> PeakMemory:
    models = layer_models(analysis)
    storage = storage_of(analysis, models)
    last_use: dict[BlobRef, int] = {}
    for index, layer in enumerate(analysis.graph.layers):
        for ref in (*layer.bottom_refs, *layer.top_refs):
            owner = storage.data_owner.get(ref)
            if owner is not None:
                last_use[owner] = index
    output_names = set(analysis.output_blobs)  # a set: a tuple here made this quadratic in wide nets
    outputs = {storage.data_owner[ref] for layer in analysis.graph.layers for ref in layer.top_refs
               if ref.name in output_names and ref in storage.data_owner}
    live = 0
    peak, peak_layer = 0, ""
    freed_at: dict[int, list[BlobRef]] = {}
    for owner, index in last_use.items():
        if owner not in outputs:
            freed_at.setdefault(index, []).append(owner)
    contexts = run_contexts(analysis, training=False, device=device, engine=engine)
    for result, layer, ctx, model in zip(analysis.layers, analysis.graph.layers, contexts, models, strict=True):
        for ref in layer.top_refs:
            if storage.data_owner.get(ref) == ref and ref not in storage.data_in_buffer:
                live += count(storage.shape[ref]) * element_bytes
        buffers, _ = _layer_buffers(result, ctx, model)
        scratch = sum(b.bytes(element_bytes) for b in buffers if not b.bound_only)
        if live + scratch > peak:
            peak, peak_layer = live + scratch, result.name
        for owner in freed_at.get(result.index, ()):
            live -= count(storage.shape[owner]) * element_bytes
    params = analysis.param_count * element_bytes
    return PeakMemory(peak + params, peak_layer, params)


@dataclass(frozen=True, slots=True)
class SeedEstimate:
    """The method of the source document (../shared/seed/memory-method.txt), exactly as written:
    per image, activations are every layer's outputs (the input excluded) and parameters are the
    weights and biases; training = 4 × (2 × activations × batch + 3 × parameters + input × batch),
    inference = 4 × (parameters + activations)."""

    activations_per_image: int
    params: int
    input_elements_per_image: int
    batch: int

    BYTES = 4

    @property
    def activation_bytes_per_image(self) -> int:
        return self.BYTES * 2 * self.activations_per_image

    @property
    def param_bytes(self) -> int:
        return self.BYTES * 3 * self.params

    @property
    def misc_bytes(self) -> int:
        return self.BYTES * self.input_elements_per_image * self.batch

    @property
    def training_bytes(self) -> int:
        return self.activation_bytes_per_image * self.batch + self.param_bytes + self.misc_bytes

    @property
    def inference_bytes(self) -> int:
        return self.BYTES * (self.params + self.activations_per_image)


def seed_counts(per_image: NetAnalysis) -> tuple[int, int]:
    """(activations, input elements) per image from an analysis made at batch 1: every layer's tops
    (in-place ones again, as the document counts each layer's output), Caffe's inserted Split
    layers aside; the input is the tops of data and input layers."""
    activations = inputs = 0
    for result, layer in zip(per_image.layers, per_image.graph.layers, strict=True):
        if result.auto_split or not result.known:
            continue
        elements = result.output_elements
        if result.replaced_type or is_source_layer(layer.param):
            inputs += elements
        else:
            activations += elements
    return activations, inputs
