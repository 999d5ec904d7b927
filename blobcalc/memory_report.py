"""Everything the memory report says about one net: Caffe's figures, inference, training (with a
solver's test nets), and the seed method beside them. Built from analyses; does no I/O itself."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from blobcalc import caffe_pb2
from blobcalc.errors import BlobcalcError
from blobcalc.memory import (
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
from blobcalc.solver import SolverSettings

# The analysed net again, in the same phase at another batch; and in the TRAIN phase.
AtBatch = Callable[[int], NetAnalysis]
TrainAnalysis = Callable[[], NetAnalysis]


@dataclass(frozen=True, slots=True)
class MemoryReport:
    dtype: str
    element_bytes: int
    device: str
    batch: int | None  # the first dimension of the first input, the batch the figures are for
    caffe_log_bytes: int  # Caffe's "Memory required for data" (always float32, in-place counted twice)
    unique_blob_bytes: int  # the activation data Caffe really allocates, at `dtype`
    inference: NetMemory
    peak: PeakMemory
    training: NetMemory | None
    training_error: str
    training_notes: tuple[str, ...]
    test_nets: tuple[NetMemory, ...]  # a solver's test nets: their activations add, parameters shared
    solver: SolverSettings
    seed: SeedEstimate | None
    seed_error: str
    notes: tuple[str, ...]

    @property
    def training_total(self) -> int | None:
        if self.training is None:
            return None
        return self.training.totals.total + sum(test.totals.total for test in self.test_nets)


def first_batch(analysis: NetAnalysis) -> int | None:
    for layer in analysis.layers:
        for name, shape in zip(layer.tops, layer.top_shapes, strict=True):
            if name in analysis.input_blobs and shape:
                return shape[0]
    for layer in analysis.layers:  # nets fed by data layers
        if layer.bottoms == () and layer.top_shapes and layer.top_shapes[0]:
            return layer.top_shapes[0][0]
    return None


def build_memory_report(analysis: NetAnalysis, at_batch: AtBatch, train_analysis: TrainAnalysis | None = None,
                        *, dtype: str = "float32", device: str = "gpu", solver: SolverSettings | None = None,
                        test_analyses: tuple[NetAnalysis, ...] = ()) -> MemoryReport:
    """`analysis` is the net as the user asked for it (its phase decides inference). Training uses
    `analysis` itself in the TRAIN phase; otherwise `train_analysis()`, the net re-analysed in the TRAIN
    phase, or, without it (a net whose TRAIN phase has the same layers and shapes, see
    api.same_in_both_phases), `analysis` with its layers run in the TRAIN phase. Each re-analysis is
    released as soon as its figures are taken."""
    element_bytes = DTYPE_BYTES[dtype]
    solver = solver or SolverSettings()
    training, training_error, training_notes = _training(analysis, train_analysis, element_bytes, device, solver)
    tests = tuple(net_memory(test, training=False, element_bytes=element_bytes, device=device,
                             share_params=True) for test in test_analyses)
    batch = first_batch(analysis)
    seed, seed_error = _seed(analysis, at_batch, batch)
    return MemoryReport(dtype, element_bytes, device, batch, caffe_memory_required_bytes(analysis),
                        unique_blob_bytes(analysis, element_bytes),
                        net_memory(analysis, training=False, element_bytes=element_bytes, device=device),
                        inference_peak(analysis, element_bytes), training, training_error, training_notes, tests,
                        solver, seed, seed_error, seed_notes(analysis))


def _training(analysis: NetAnalysis, train_analysis: TrainAnalysis | None, element_bytes: int, device: str,
              solver: SolverSettings) -> tuple[NetMemory | None, str, tuple[str, ...]]:
    """(training memory, why there is none, notes); a TRAIN re-analysis made here ends with this call."""
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
        training = net_memory(train, training=True, element_bytes=element_bytes, solver=solver, device=device,
                              run_phase=run_phase)
    except BlobcalcError as exc:
        return None, f"the TRAIN phase of this net cannot be analysed: {exc}", ()
    if not any(any(layer.loss_weights) for layer in train.layers):
        return training, "", ("no layer of the TRAIN net has a loss weight, so Caffe runs no backward pass "
                              "and allocates no activation gradients; analyse the train_val net (or add the "
                              "loss layer) for the memory of real training",)
    return training, "", ()


def _seed(analysis: NetAnalysis, at_batch: AtBatch, batch: int | None) -> tuple[SeedEstimate | None, str]:
    """The seed estimate and why there is none; the batch-1 analysis ends with this call."""
    try:
        per_image = analysis if batch == 1 else at_batch(1)
        activations, inputs = seed_counts(per_image)
    except BlobcalcError as exc:
        return None, f"the net cannot be analysed at batch 1: {exc}"
    return SeedEstimate(activations, analysis.param_count, inputs, batch or 1), ""


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
