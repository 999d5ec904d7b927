"""Solver files: which nets they train and test, and the solver settings that change memory.

Follows Caffe's solver.cpp (InitTrainNet / InitTestNets) and upgrade_proto.cpp
(UpgradeSolverAsNeeded: the legacy `solver_type` enum becomes the `type` string).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from blobcalc import caffe_pb2
from blobcalc.errors import BlobcalcError, ParseError
from blobcalc.parse import parse_message, read_text

# Solver type → optimizer buffers per learnable parameter blob that the update actually touches
# (SyncedMemory allocates lazily), on the GPU path and on the CPU path of Caffe's solvers:
#   sgd_solver.cu sgd_update_gpu(g, h): history_ only; the CPU path also only uses history_.
#   nesterov_solver.cu: history_ only; the CPU path also copies the old history into update_.
#   adagrad_solver.cu / rmsprop_solver.cu: history_ only; their CPU paths also use update_.
#   adadelta_solver.cu / adam_solver.cu: two history sets (AdaDeltaPreSolve / AdamPreSolve add the
#   second); their CPU paths also use update_, and AdaDelta's CPU ComputeUpdateValue also temp_
#   (the delta-guarded gradient history).
SOLVER_BUFFERS = {
    "SGD": {"gpu": 1, "cpu": 1},
    "Nesterov": {"gpu": 1, "cpu": 2},
    "AdaGrad": {"gpu": 1, "cpu": 2},
    "RMSProp": {"gpu": 1, "cpu": 2},
    "AdaDelta": {"gpu": 2, "cpu": 4},
    "Adam": {"gpu": 2, "cpu": 3},
}
_LEGACY_TYPES = {  # SolverParameter.SolverType enum → type string (UpgradeSolverType)
    caffe_pb2.SolverParameter.SGD: "SGD",
    caffe_pb2.SolverParameter.NESTEROV: "Nesterov",
    caffe_pb2.SolverParameter.ADAGRAD: "AdaGrad",
    caffe_pb2.SolverParameter.RMSPROP: "RMSProp",
    caffe_pb2.SolverParameter.ADADELTA: "AdaDelta",
    caffe_pb2.SolverParameter.ADAM: "Adam",
}


class SolverError(BlobcalcError):
    """A solver file Caffe would refuse, or whose nets cannot be found."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


@dataclass(frozen=True, slots=True)
class SolverSettings:
    """What the memory model needs from a solver; SolverSettings() is Caffe's default SGD."""

    type: str = "SGD"
    regularization_type: str = "L2"
    weight_decay: float = 0.0
    iter_size: int = 1
    source: str = ""  # the solver file, or "" for defaults

    def buffers_per_param(self, device: str) -> int:
        return SOLVER_BUFFERS[self.type][device]


@dataclass(frozen=True, slots=True)
class NetSpec:
    """One net a solver names: a file (with how its path was resolved) or an inline NetParameter."""

    path: str
    resolution: str  # how the path was found, for the report
    inline: caffe_pb2.NetParameter | None
    state: caffe_pb2.NetState  # the state Caffe builds it with (phase, level, stages)


@dataclass(frozen=True, slots=True)
class SolverPlan:
    settings: SolverSettings
    train_net: NetSpec
    test_nets: tuple[NetSpec, ...]
    notices: tuple[str, ...]


def read_solver(path: str) -> tuple[caffe_pb2.SolverParameter, tuple[str, ...]]:
    """Parse a solver prototxt and apply UpgradeSolverAsNeeded."""
    solver = caffe_pb2.SolverParameter()
    parse_message(read_text(path), path, solver)
    notices: list[str] = []
    if solver.HasField("solver_type"):
        if solver.HasField("type"):
            raise SolverError(path, "Failed to upgrade solver: old solver_type field (enum) and new type "
                                    "field (string) cannot be both specified.")
        solver.type = _LEGACY_TYPES[solver.solver_type]
        solver.ClearField("solver_type")
        notices.append(f"legacy solver_type upgraded to type: {solver.type!r} (Caffe's UpgradeSolverType)")
    return solver, tuple(notices)


def settings_of(solver: caffe_pb2.SolverParameter, path: str) -> SolverSettings:
    if solver.type not in SOLVER_BUFFERS:
        raise SolverError(path, f"Unknown solver type: {solver.type} (known: {', '.join(SOLVER_BUFFERS)})")
    if solver.regularization_type not in ("L1", "L2"):
        raise SolverError(path, f"Unknown regularization type: {solver.regularization_type}")
    return SolverSettings(solver.type, solver.regularization_type, solver.weight_decay, solver.iter_size,
                          path)


def resolve_net_path(name: str, solver_path: str) -> tuple[str, str]:
    """Caffe opens a solver's net paths relative to the working directory; we try that first, then
    the solver file's folder and its parents (a path written relative to a Caffe checkout), then the
    file name beside the solver: a model zoo's solver says `net: "models/bvlc_googlenet/train_val.prototxt"`
    and people download train_val.prototxt next to it (or as models__bvlc_googlenet__train_val.prototxt,
    the path's folders joined by "__", as collections of downloaded files name them)."""
    if os.path.isabs(name) and os.path.exists(name):
        return name, "absolute path"
    if os.path.exists(name):
        return name, "relative to the working directory (as Caffe resolves it)"
    solver_folder = os.path.dirname(os.path.abspath(solver_path))
    folder = solver_folder
    while True:
        candidate = os.path.join(folder, name)
        if os.path.exists(candidate):
            return candidate, f"relative to {folder} (Caffe itself would look in the working directory)"
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    parts = [part for part in name.replace("\\", "/").split("/") if part not in ("", ".")]
    if parts and ".." not in parts:
        beside = os.path.join(os.path.dirname(solver_path), parts[-1])
        if os.path.isfile(beside):
            return beside, (f"by its file name beside the solver ('{name}' is not found relative to the working "
                            "directory, where Caffe looks)")
        # The same flattening of the solver's own folder: SqueezeNet_v1.0__solver.prototxt names
        # "train_val.prototxt" of its folder, stored as SqueezeNet_v1.0__train_val.prototxt.
        solver_folder_prefix = os.path.basename(solver_path).rpartition("__")[0]
        for flattened_parts in (parts, [solver_folder_prefix, *parts] if solver_folder_prefix else []):
            flattened = os.path.join(os.path.dirname(solver_path), "__".join(flattened_parts))
            if len(flattened_parts) > 1 and os.path.isfile(flattened):
                return flattened, (f"beside the solver, the path's folders joined by '__' ('{name}' is not found "
                                   "relative to the working directory, where Caffe looks)")
    raise SolverError(solver_path, f"net file '{name}' not found relative to the working directory, the "
                                   "solver's folder or any folder above it, nor by its file name beside the solver")


def is_solver_text(text: str) -> bool:
    """True when `text` parses as a SolverParameter that names a net or holds solver settings: a
    solver file given where a net is expected (which NetParameter refuses: no field "test_iter")."""
    solver = caffe_pb2.SolverParameter()
    try:
        parse_message(text, "<solver>", solver)
    except BlobcalcError:
        return False
    return any(solver.HasField(field) for field in ("net", "net_param", "train_net", "train_net_param", "base_lr",
                                                     "max_iter", "lr_policy")) or bool(solver.test_iter)


def _state(phase: int, net_state: caffe_pb2.NetState | None,
           extra: caffe_pb2.NetState | None) -> caffe_pb2.NetState:
    # solver.cpp: phase first, then the net file's own state, then the solver's train/test state.
    state = caffe_pb2.NetState(phase=phase)
    if net_state is not None:
        state.MergeFrom(net_state)
    if extra is not None:
        state.MergeFrom(extra)
    return state


def plan_solver(path: str) -> SolverPlan:
    """The train net and test nets a solver file names, as Solver::InitTrainNet / InitTestNets."""
    solver, notices = read_solver(path)
    settings = settings_of(solver, path)
    train_fields = [f for f in ("train_net_param", "train_net", "net_param", "net") if solver.HasField(f)]
    if not train_fields:
        raise SolverError(path, "SolverParameter must specify a train net using one of these fields: "
                                "train_net_param, train_net, net_param, net")
    if len(train_fields) > 1:
        raise SolverError(path, "SolverParameter must not contain more than one of these fields specifying "
                                f"a train_net: {', '.join(train_fields)}")
    train_state = solver.train_state if solver.HasField("train_state") else None
    train = _net_spec(solver, train_fields[0], path, caffe_pb2.TRAIN, train_state, index=None)

    generic = solver.HasField("net_param") or solver.HasField("net")
    specs: list[tuple[str, int | None]] = [("test_net_param", i) for i in range(len(solver.test_net_param))]
    specs += [("test_net", i) for i in range(len(solver.test_net))]
    generic_count = len(solver.test_iter) - len(specs)
    if generic_count < 0 or (generic_count > 0 and not generic):
        raise SolverError(path, "test_iter must be specified for each test network.")
    field = "net_param" if solver.HasField("net_param") else "net"
    specs += [(field, None)] * generic_count
    tests = []
    for test_index, (source_field, index) in enumerate(specs):
        extra = solver.test_state[test_index] if test_index < len(solver.test_state) else None
        tests.append(_net_spec(solver, source_field, path, caffe_pb2.TEST, extra, index))
    return SolverPlan(settings, train, tuple(tests), notices)


def _net_spec(solver: caffe_pb2.SolverParameter, field: str, path: str, phase: int,
              extra: caffe_pb2.NetState | None, index: int | None) -> NetSpec:
    value = getattr(solver, field)
    if index is not None:
        value = value[index]
    if isinstance(value, caffe_pb2.NetParameter):
        return NetSpec(f"{path} ({field})", "inline in the solver", value,
                       _state(phase, value.state if value.HasField("state") else None, extra))
    net_path, how = resolve_net_path(str(value), path)
    try:
        net_state = _file_state(net_path)
    except ParseError:
        net_state = None  # the analysis of the net reports the parse error itself
    return NetSpec(net_path, how, None, _state(phase, net_state, extra))


def _file_state(path: str) -> caffe_pb2.NetState | None:
    net = caffe_pb2.NetParameter()
    parse_message(read_text(path), path, net)
    return net.state if net.HasField("state") else None
