"""Everything the memory report says about one net: Caffe's figures, inference, training (with a
solver's test nets), and the seed method beside them. Built from analyses; does no I/O itself."""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from blobcalc import caffe_pb2
from blobcalc.compute import net_compute
from blobcalc.errors import BlobcalcError
from blobcalc.memory import (
    DEFAULT_ENGINE,
    DTYPE_BYTES,
    NetMemory,
    PeakMemory,
    SeedEstimate,
    caffe_memory_required_bytes,
    inference_peak,
    net_memory,
    seed_counts,
    unique_blob_bytes,
)
from blobcalc.result import NetAnalysis
from blobcalc.shapes.registry import is_source_layer
from blobcalc.solver import SolverSettings

# The analysed net (or its TRAIN analysis) again, over the same graph, at another batch; and the net
# analysed in the TRAIN phase.
AtBatch = Callable[[NetAnalysis, int], NetAnalysis]
TrainAnalysis = Callable[[], NetAnalysis]

# Layers whose Backward Caffe does not implement (or that compute no gradient), so no user puts a
# loss on their tops: argmax_layer.hpp and accuracy_layer.hpp Backward_cpu are NOT_IMPLEMENTED.
_NOT_TRAINABLE_OUTPUTS = frozenset({"ArgMax", "Accuracy", "Silence"})

# The fields of the data layers whose `batch_size` is the first axis of every top (data_layer.cpp,
# image_data_layer.cpp, window_data_layer.cpp, hdf5_data_layer.cpp, memory_data_layer.cpp).
_BATCH_SIZE_FIELDS = ("data_param", "image_data_param", "window_data_param", "hdf5_data_param",
                      "memory_data_param")


@dataclass(frozen=True, slots=True)
class MemoryReport:
    """Each figure is for one net, phase and batch: the inference figures, `caffe_log_bytes`,
    `unique_blob_bytes`, `peak` and `seed_inference` for the analysed net (`phase`, `batch`); the
    training figures and `seed` for the TRAIN net (`training_batch`). A figure of a net with unknown
    layers (`partial`, `training_partial`) holds the known layers only: a lower bound, never the answer."""

    dtype: str
    element_bytes: int
    device: str
    engine: str  # the GPU engine the figures assume ("caffe" on the CPU)
    phase: str  # the phase of the analysed net
    batch: int | None  # its batch: the first axis of its inputs, or a data layer's batch_size
    caffe_log_bytes: int  # Caffe's "Memory required for data" (always float32, in-place counted twice)
    unique_blob_bytes: int  # the activation data Caffe really allocates, at `dtype`
    inference: NetMemory
    peak: PeakMemory
    training: NetMemory | None
    training_error: str
    training_notes: tuple[str, ...]
    test_nets: tuple[NetMemory, ...]  # a solver's test nets: their activations add, parameters shared
    solver: SolverSettings
    seed: SeedEstimate | None  # the seed method's training figure, for the TRAIN net at training_batch
    seed_error: str
    notes: tuple[str, ...]
    training_batch: int | None = None  # the batch of the TRAIN net
    assumed_loss: tuple[str, ...] = ()  # blobs given `loss_weight: 1` because the TRAIN net has no loss
    seed_inference: SeedEstimate | None = None  # the seed method for one image of the analysed net
    forward_maccs_per_image: int | None = None  # the analysed net's forward MACCs at batch 1
    per_image_partial: bool = False  # the batch-1 analysis has unknown layers
    training_unknown: str = ""  # the TRAIN net's unknown layers: how many, the first and why ("" if none)
    test_batches: tuple[int | None, ...] = ()  # the batch of each of `test_nets`
    # With an assumed loss: Caffe's own figure for the file as written (no loss weight, so Net::Init marks
    # no layer for backward); None when `training` is already that figure.
    training_as_written: NetMemory | None = None

    @property
    def partial(self) -> bool:
        """The analysed net's figures leave unknown layers out (they are lower bounds)."""
        return self.inference.partial

    @property
    def training_partial(self) -> bool:
        return self.training is not None and (self.training.partial or any(t.partial for t in self.test_nets))

    @property
    def training_total(self) -> int | None:
        return None if self.training is None else self.with_test_nets(self.training)

    def with_test_nets(self, training: NetMemory) -> int:
        """A training figure of the TRAIN net plus the solver's test nets (their activations and buffers)."""
        return training.totals.total + sum(test.totals.total for test in self.test_nets)

    @property
    def assumed_loss_text(self) -> str:
        """One line: which loss the training figures assume, on which blobs; "" when none is assumed."""
        if not self.assumed_loss:
            return ""
        blobs = ", ".join(f"'{name}'" for name in self.assumed_loss)
        return (f"assumed loss: the TRAIN net has no loss weight, so training is figured as with "
                f"`loss_weight: 1` on the output{'s' if len(self.assumed_loss) > 1 else ''} {blobs} (the blobs "
                "nobody reads; any loss put there back-propagates the same way); --no-assumed-loss for Caffe's "
                "literal answer (no backward pass at all)")


def first_batch(analysis: NetAnalysis) -> int | None:
    for layer in analysis.layers:
        for name, shape in zip(layer.tops, layer.top_shapes, strict=True):
            if name in analysis.input_blobs and shape:
                return shape[0]
    for layer in analysis.layers:  # nets fed by data layers
        if layer.bottoms == () and layer.top_shapes and layer.top_shapes[0]:
            return layer.top_shapes[0][0]
    return None


def net_batch(analysis: NetAnalysis, requested: int | None = None) -> int | None:
    """The batch of the net: the first axis of its first input; when the data layer's tops are unknown
    (their image size is in a database we never open), the batch it was asked for (--batch) or its
    `batch_size`, which the file does state."""
    found = first_batch(analysis)
    if found is not None:
        return found
    for result, layer in zip(analysis.layers, analysis.graph.layers, strict=True):
        if result.bottoms or result.known:
            continue
        if requested is not None:
            return requested
        for field in _BATCH_SIZE_FIELDS:
            if layer.param.HasField(field) and getattr(layer.param, field).HasField("batch_size"):
                return int(getattr(layer.param, field).batch_size)
    return None


def with_assumed_loss(train: NetAnalysis) -> tuple[NetAnalysis, tuple[str, ...]]:
    """The TRAIN net as a user would train it when no layer has a loss weight: `loss_weight: 1` on
    every blob nobody reads (Caffe's Layer::SetLossWeights makes any top a loss), except the tops of
    data layers and of layers without a Backward. Returns the net unchanged and () when it has a loss."""
    if any(any(layer.loss_weights) for layer in train.layers):
        return train, ()
    outputs = set(train.output_blobs)
    marked: set[str] = set()
    layers = list(train.layers)
    for index in range(len(layers) - 1, -1, -1):  # the last writer of a name holds its final version
        result, layer = layers[index], train.graph.layers[index]
        tops = [top in outputs and top not in marked and result.known for top in result.tops]
        marked.update(result.tops)
        if not any(tops) or not result.bottoms or result.type in _NOT_TRAINABLE_OUTPUTS or is_source_layer(layer.param):
            continue
        weights = tuple(1.0 if flag else 0.0 for flag in tops)
        layers[index] = dataclasses.replace(result, loss_weights=weights)
    blobs = tuple(top for layer in layers for top, weight in zip(layer.tops, layer.loss_weights, strict=False)
                  if weight)
    if not blobs:
        return train, ()
    return dataclasses.replace(train, layers=tuple(layers)), blobs


@dataclass(frozen=True, slots=True)
class _Training:
    memory: NetMemory | None
    error: str
    notes: tuple[str, ...]
    batch: int | None
    assumed_loss: tuple[str, ...]
    seed: SeedEstimate | None
    seed_error: str
    unknown: str = ""
    as_written: NetMemory | None = None


def unknown_layers_text(analysis: NetAnalysis) -> str:
    """How many layers are unknown and why the first is: "" when every layer is known."""
    unknown = analysis.unknown_layers
    if not unknown:
        return ""
    first = unknown[0]
    return (f"{len(unknown)} of {len(analysis.layers)} layers unknown, from '{first.name}' ({first.type}): "
            f"{first.reason}")


def build_memory_report(analysis: NetAnalysis, at_batch: AtBatch, train_analysis: TrainAnalysis | None = None,
                        *, dtype: str = "float32", device: str = "gpu", engine: str = DEFAULT_ENGINE,
                        solver: SolverSettings | None = None,
                        test_analyses: tuple[NetAnalysis, ...] = (), assume_loss: bool = True,
                        requested_batch: int | None = None) -> MemoryReport:
    """`analysis` is the net as the user asked for it (its phase decides inference). Training uses
    `analysis` itself in the TRAIN phase; otherwise `train_analysis()`, the net re-analysed in the TRAIN
    phase, or, without it (a net whose TRAIN phase has the same layers and shapes, see
    api.same_in_both_phases), `analysis` with its layers run in the TRAIN phase. `assume_loss`: a TRAIN
    net without a loss weight is trained with one on its outputs (with_assumed_loss); False gives Caffe's
    literal answer. `requested_batch` is --batch, the batch of data layers whose tops are unknown. Each
    re-analysis is released as soon as its figures are taken."""
    element_bytes = DTYPE_BYTES[dtype]
    solver = solver or SolverSettings()
    engine = engine if device == "gpu" else "caffe"
    training = _training(analysis, at_batch, train_analysis, element_bytes, device, engine, solver, assume_loss,
                         requested_batch)
    tests = tuple(net_memory(test, training=False, element_bytes=element_bytes, device=device, engine=engine,
                             share_params=True) for test in test_analyses)
    batch = net_batch(analysis, requested_batch)
    seed_inference, maccs, per_image_partial, per_image_error = _per_image(analysis, at_batch, batch)
    return MemoryReport(dtype, element_bytes, device, engine, analysis.phase, batch,
                        caffe_memory_required_bytes(analysis), unique_blob_bytes(analysis, element_bytes),
                        net_memory(analysis, training=False, element_bytes=element_bytes, device=device,
                                   engine=engine),
                        inference_peak(analysis, element_bytes, device, engine), training.memory, training.error,
                        training.notes, tests, solver, training.seed, training.seed_error or per_image_error,
                        seed_notes(analysis), training.batch, training.assumed_loss, seed_inference, maccs,
                        per_image_partial, training.unknown,
                        tuple(net_batch(test, requested_batch) for test in test_analyses), training.as_written)


def _training(analysis: NetAnalysis, at_batch: AtBatch, train_analysis: TrainAnalysis | None, element_bytes: int,
              device: str, engine: str, solver: SolverSettings, assume_loss: bool,
              requested_batch: int | None) -> _Training:
    """The training figures of the TRAIN net and the seed method's for the same net and batch; a TRAIN
    re-analysis made here ends with this call."""
    run_phase = None
    try:
        if analysis.phase == "TRAIN":
            train = analysis
        elif train_analysis is None:
            # The same layers and shapes in both phases: only the phase the layers run in differs
            # (dropout masks, stochastic pooling), which net_memory's run_phase covers.
            train, run_phase = analysis, caffe_pb2.TRAIN
        else:
            train = train_analysis()
        trained, assumed = with_assumed_loss(train) if assume_loss else (train, ())
        training = net_memory(trained, training=True, element_bytes=element_bytes, solver=solver, device=device,
                              engine=engine, run_phase=run_phase)
        # Caffe's answer for the file as written stays beside the assumption (what a real run allocates).
        as_written = None if not assumed else net_memory(
            train, training=True, element_bytes=element_bytes, solver=solver, device=device, engine=engine,
            run_phase=run_phase)
    except BlobcalcError as exc:
        return _Training(None, f"the TRAIN phase of this net cannot be analysed: {exc}", (), None, (), None,
                         "the TRAIN phase of this net cannot be analysed")
    notes: tuple[str, ...] = ()
    if not assumed and not any(any(layer.loss_weights) for layer in trained.layers):
        notes = ("no layer of the TRAIN net has a loss weight, so Caffe runs no backward pass and allocates no "
                 "activation gradients (Caffe's literal answer); without --no-assumed-loss a loss is assumed on "
                 "the net's outputs",)
    batch = net_batch(train, requested_batch)
    seed, seed_error = None, ""
    if batch is None:
        seed_error = "the batch of the TRAIN net is unknown"
    else:
        try:
            per_image = train if batch == 1 else at_batch(train, 1)
            activations, inputs = seed_counts(per_image)
            seed = SeedEstimate(activations, per_image.param_count, inputs, batch)
        except BlobcalcError as exc:
            seed_error = f"the TRAIN net cannot be analysed at batch 1: {exc}"
    return _Training(training, "", notes, batch, assumed, seed, seed_error, unknown_layers_text(train), as_written)


def _per_image(analysis: NetAnalysis, at_batch: AtBatch,
               batch: int | None) -> tuple[SeedEstimate | None, int | None, bool, str]:
    """(the seed method for one image, forward MACCs per image, whether the batch-1 net is partial, why
    there are none) of the analysed net; the batch-1 analysis ends with this call."""
    try:
        per_image = analysis if batch == 1 else at_batch(analysis, 1)
    except BlobcalcError as exc:
        return None, None, False, f"the net cannot be analysed at batch 1: {exc}"
    activations, inputs = seed_counts(per_image)
    maccs = sum(row.maccs for row in net_compute(per_image))
    return SeedEstimate(activations, per_image.param_count, inputs, 1), maccs, per_image.partial, ""


def seed_notes(analysis: NetAnalysis) -> tuple[str, ...]:
    """Where the seed method's rule differs from what Caffe allocates for this net."""
    notes = []
    if any(any(layer.in_place) for layer in analysis.layers):
        notes.append("the seed method counts in-place outputs (e.g. ReLU) as new memory; Caffe shares them")
    grouped = [layer.name for layer, graph_layer in zip(analysis.layers, analysis.graph.layers, strict=True)
               if layer.type in ("Convolution", "Deconvolution")
               and graph_layer.param.convolution_param.group > 1]
    if grouped:
        notes.append(f"the seed's convolution formula ignores groups ({len(grouped)} grouped convolutions "
                     "here); the parameter count used is Caffe's real one")
    notes.append("the seed method assumes 3 copies of every parameter whatever the solver; Caffe's SGD "
                 "keeps 3 (data, diff, history), Adam and AdaDelta 4")
    notes.append("the seed method ignores layer scratch buffers (im2col columns, pooling indices, "
                 "dropout masks, data prefetch)")
    return tuple(notes)
