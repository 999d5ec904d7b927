"""Everything the memory report says about one net: Caffe's figures, inference, training (with a
solver's test nets), and the seed method beside them. Built from analyses; does no I/O itself."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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

# Re-analyse the same net in another phase and/or at another batch (None keeps the batch).
Reanalyze = Callable[[str, "int | None"], NetAnalysis]


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


def build_memory_report(analysis: NetAnalysis, reanalyze: Reanalyze, *, dtype: str = "float32",
                        device: str = "gpu", solver: SolverSettings | None = None,
                        train_analysis: NetAnalysis | None = None,
                        test_analyses: tuple[NetAnalysis, ...] = ()) -> MemoryReport:
    """`analysis` is the net as the user asked for it (its phase decides inference); training uses
    `train_analysis` or the same net re-analysed in the TRAIN phase."""
    element_bytes = DTYPE_BYTES[dtype]
    solver = solver or SolverSettings()
    training: NetMemory | None = None
    training_error = ""
    training_notes: tuple[str, ...] = ()
    try:
        train = train_analysis or (analysis if analysis.phase == "TRAIN" else reanalyze("TRAIN", None))
        training = net_memory(train, training=True, element_bytes=element_bytes, solver=solver, device=device)
        if not any(any(layer.loss_weights) for layer in train.layers):
            training_notes = ("no layer of the TRAIN net has a loss weight, so Caffe runs no backward pass "
                              "and allocates no activation gradients; analyse the train_val net (or add the "
                              "loss layer) for the memory of real training",)
    except BlobcalcError as exc:
        training_error = f"the TRAIN phase of this net cannot be analysed: {exc}"
    tests = tuple(net_memory(test, training=False, element_bytes=element_bytes, device=device,
                             share_params=True) for test in test_analyses)
    seed: SeedEstimate | None = None
    seed_error = ""
    batch = first_batch(analysis)
    try:
        per_image = analysis if batch == 1 else reanalyze(analysis.phase, 1)
        activations, inputs = seed_counts(per_image)
        seed = SeedEstimate(activations, analysis.param_count, inputs, batch or 1)
    except BlobcalcError as exc:
        seed_error = f"the net cannot be analysed at batch 1: {exc}"
    return MemoryReport(dtype, element_bytes, device, batch, caffe_memory_required_bytes(analysis),
                        unique_blob_bytes(analysis, element_bytes),
                        net_memory(analysis, training=False, element_bytes=element_bytes, device=device),
                        inference_peak(analysis, element_bytes), training, training_error, training_notes, tests,
                        solver, seed, seed_error, seed_notes(analysis))


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
