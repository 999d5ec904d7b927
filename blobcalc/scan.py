"""Scanning directory trees of nets: every input path yields exactly one row, never an exception.

Discovery is deterministic (sorted paths), follows directory symlinks once (loops are detected by
device and inode), and never opens FIFOs, devices or sockets. Each file is classified before it is
analysed: a net, a solver (its net is followed), binary weights, or other text.
"""
from __future__ import annotations

import fnmatch
import hashlib
import os
import stat
import traceback
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

from blobcalc import caffe_pb2
from blobcalc.errors import BlobcalcError
from blobcalc.parse import decode_text, looks_binary, parse_message

DEFAULT_MAX_BYTES = 64 * 1024 * 1024  # far above any real prototxt; weights are only scanned for shapes
DEFAULT_GLOBS = ("*.prototxt", "*.pbtxt", "*.caffemodel", "*.solverstate", "*.txt", "*.pt")

OK, PARTIAL, ERROR, SKIPPED = "ok", "partial", "error", "skipped"
NET, SOLVER, WEIGHTS, OTHER, SPECIAL, UNREADABLE = "net", "solver", "weights", "other", "special", "unreadable"


@dataclass(frozen=True, slots=True)
class ScanOptions:
    phase: str = "TEST"
    batch: int | None = None
    max_bytes: int = DEFAULT_MAX_BYTES
    globs: tuple[str, ...] = ()  # empty: every regular file under a directory
    # Where a net's weights are, to audit them in its row: "" (do not pair), or a pattern with
    # {dir} (the net's folder) and {stem} (its name without .prototxt), e.g. "{dir}/{stem}.caffemodel".
    weights_pattern: str = ""


@dataclass(frozen=True, slots=True)
class ScanRow:
    path: str
    kind: str
    status: str
    era: str = ""
    net_name: str = ""
    layers: int | None = None
    params: int | None = None
    param_bytes: int | None = None
    activation_bytes: int | None = None  # unique blob data at the file's own batch, float32
    training_bytes: int | None = None  # Caffe-true training estimate (a solver's settings when a solver)
    caffe_log_bytes: int | None = None  # Caffe's "Memory required for data"
    unknown_types: tuple[str, ...] = ()
    message: str = ""  # the error or skip reason (with line:col for parse errors)
    notes: tuple[str, ...] = field(default_factory=tuple)
    audit: str = ""  # with a weights pattern: "ok", "no weights", or why Caffe would refuse the weights


@dataclass(frozen=True, slots=True)
class Candidate:
    path: str
    skip_reason: str = ""  # set for files listed but never opened (special files, loops)
    kind: str = ""
    size: int = 0  # bytes, as listed: big files are started first so that workers finish together


def discover(paths: Sequence[str], globs: Sequence[str] = ()) -> list[Candidate]:
    """Every file under `paths` (recursively), sorted; a path given explicitly is always listed."""
    found: dict[str, Candidate] = {}
    for root in paths:
        try:
            info = os.stat(root)
        except OSError as exc:
            found[root] = Candidate(root, f"cannot read: {exc.strerror or exc}", UNREADABLE)
            continue
        if stat.S_ISDIR(info.st_mode):
            _walk(root, globs, found, {(info.st_dev, info.st_ino)})
        else:
            found[root] = _candidate(root, info)
    return [found[key] for key in sorted(found)]


def _candidate(path: str, info: os.stat_result) -> Candidate:
    if stat.S_ISREG(info.st_mode):
        return Candidate(path, size=info.st_size)
    what = ("a FIFO" if stat.S_ISFIFO(info.st_mode) else "a socket" if stat.S_ISSOCK(info.st_mode)
            else "a device" if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode) else "not a regular file")
    return Candidate(path, f"{what}, never opened", SPECIAL)


def _walk(directory: str, globs: Sequence[str], found: dict[str, Candidate],
          visited: set[tuple[int, int]]) -> None:
    try:
        entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
    except OSError as exc:
        found[directory] = Candidate(directory, f"cannot list directory: {exc.strerror or exc}", UNREADABLE)
        return
    for entry in entries:
        try:
            info = entry.stat(follow_symlinks=True)
        except OSError as exc:
            found[entry.path] = Candidate(entry.path, f"cannot read: {exc.strerror or exc}"
                                          + (" (a broken or looping symlink)" if entry.is_symlink() else ""),
                                          UNREADABLE)
            continue
        if stat.S_ISDIR(info.st_mode):
            key = (info.st_dev, info.st_ino)
            if key in visited:
                found[entry.path] = Candidate(entry.path, "symlink loop: this directory was already scanned",
                                              SPECIAL)
                continue
            _walk(entry.path, globs, found, visited | {key})
        elif not globs or any(fnmatch.fnmatch(entry.name, pattern) for pattern in globs):
            found[entry.path] = _candidate(entry.path, info)


def in_shard(path: str, shard: tuple[int, int] | None) -> bool:
    """A stable 1/N of the files: by a hash of the path as listed, the same on every machine."""
    if shard is None:
        return True
    index, total = shard
    digest = hashlib.sha1(path.encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(digest[:8], "big") % total == index - 1


def scan_file(candidate: Candidate, options: ScanOptions) -> ScanRow:
    """One row for one file; any exception, even a bug of ours, becomes that file's error row."""
    if candidate.skip_reason:
        status = ERROR if candidate.kind == UNREADABLE else SKIPPED
        return ScanRow(candidate.path, candidate.kind, status, message=candidate.skip_reason)
    try:
        return _scan_regular(candidate.path, options)
    except BlobcalcError as exc:
        return ScanRow(candidate.path, NET, ERROR, message=str(exc))
    except Exception as exc:  # a bug of ours must not stop the scan
        where = traceback.extract_tb(exc.__traceback__)[-1]
        return ScanRow(candidate.path, NET, ERROR,
                       message=f"internal error (please report): {type(exc).__name__}: {exc} "
                               f"[{os.path.basename(where.filename)}:{where.lineno}]")


def _scan_regular(path: str, options: ScanOptions) -> ScanRow:
    try:
        size = os.path.getsize(path)
        if size > options.max_bytes:
            return ScanRow(path, OTHER, SKIPPED, message=f"{size} bytes, over --max-bytes {options.max_bytes}")
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        return ScanRow(path, UNREADABLE, ERROR, message=f"cannot read: {exc.strerror or exc}")
    if looks_binary(data):
        try:
            return _scan_weights(path)
        except BlobcalcError as exc:
            if path.endswith((".caffemodel", ".caffemodel.h5", ".solverstate")):
                return ScanRow(path, WEIGHTS, ERROR, message=str(exc))
            return ScanRow(path, OTHER, SKIPPED, message="binary file that is not Caffe weights")
    text = decode_text(data, path)
    kind, parsed, first_error = _classify(text, path)
    try:
        if kind == NET:
            assert isinstance(parsed, caffe_pb2.NetParameter)
            return _scan_net(path, parsed, options)
        if kind == SOLVER:
            return _scan_solver(path, options)
    except BlobcalcError as exc:
        return ScanRow(path, kind, ERROR, message=str(exc))
    if first_error is not None:
        return ScanRow(path, NET if _looks_like_net(text) else SOLVER, ERROR, message=str(first_error))
    return ScanRow(path, OTHER, SKIPPED, message="not a net or solver (e.g. a label map or other text)")


_NET_HINTS = ("layer {", "layers {", "layer{", "layers{", "input:", "input_dim", "input_shape")
_SOLVER_HINTS = ("base_lr", "lr_policy", "max_iter", "solver_mode", "train_net", "test_iter")


def _looks_like_net(text: str) -> bool:
    return any(hint in text for hint in _NET_HINTS)


def _classify(text: str, path: str) -> tuple[str, object, BlobcalcError | None]:
    """(kind, parsed message, the net parse error to report when neither parse succeeds)."""
    net_error: BlobcalcError | None = None
    try:
        net = caffe_pb2.NetParameter()
        parse_message(text, path, net)
        if net.layer or net.layers or net.input or net.name:
            return NET, net, None
    except BlobcalcError as exc:
        net_error = exc
    try:
        solver = caffe_pb2.SolverParameter()
        parse_message(text, path, solver)
        if any(solver.HasField(name) for name in ("net", "train_net", "net_param", "train_net_param", "base_lr")):
            return SOLVER, solver, None
    except BlobcalcError as exc:
        if any(hint in text for hint in _SOLVER_HINTS) and not any(hint in text for hint in _NET_HINTS):
            return OTHER, None, exc
    if net_error is not None and any(hint in text for hint in _NET_HINTS):
        return OTHER, None, net_error
    return OTHER, None, None


def _scan_net(path: str, net: caffe_pb2.NetParameter, options: ScanOptions) -> ScanRow:
    from blobcalc.api import analyze_net, analyze_net_that_builds, same_in_both_phases
    from blobcalc.memory import caffe_memory_required_bytes, net_memory, unique_blob_bytes

    # The scan's phase, or the other one when only that one builds (said in the row's notes).
    analysis = analyze_net_that_builds(net, path, default_phase=options.phase, batch=options.batch)
    notes: list[str] = [analysis.phase_notice] if analysis.phase_notice else []
    notes += [f"fork types: {', '.join(t for t, _ in analysis.fork_types)}"] if analysis.fork_types else []
    if analysis.fork_fields:
        notes.append(f"fork fields: {', '.join(analysis.fork_fields)}")
    training = None
    try:
        if analysis.phase == "TRAIN":
            training = net_memory(analysis, training=True).totals.total
        elif same_in_both_phases(net, analysis):
            # The same layers with the same shapes: only the phase they run in changes.
            training = net_memory(analysis, training=True, run_phase=caffe_pb2.TRAIN).totals.total
        else:
            train = analyze_net(net, path, phase="TRAIN", batch=options.batch)
            training = net_memory(train, training=True).totals.total
    except BlobcalcError as exc:
        notes.append(f"no training estimate: {exc}")
    return ScanRow(path, NET, PARTIAL if analysis.partial else OK, analysis.era, analysis.net_name,
                   len(analysis.layers), analysis.param_count, 4 * analysis.param_count,
                   unique_blob_bytes(analysis), training, caffe_memory_required_bytes(analysis),
                   analysis.unsupported_types, _unknown_message(analysis), tuple(notes),
                   _audit_status(path, analysis, options.weights_pattern))


def weights_path_for(net_path: str, pattern: str) -> str:
    folder, name = os.path.split(net_path)
    stem = name[: -len(".prototxt")] if name.endswith(".prototxt") else os.path.splitext(name)[0]
    return pattern.format(dir=folder or ".", stem=stem)


def _audit_status(path: str, analysis: object, pattern: str) -> str:
    """Audit the paired weights file the way `blobcalc audit` does; a short status for the row."""
    if not pattern:
        return ""
    from blobcalc.audit import audit
    from blobcalc.result import NetAnalysis
    from blobcalc.weights import read_weights

    assert isinstance(analysis, NetAnalysis)
    weights_path = weights_path_for(path, pattern)
    if not os.path.exists(weights_path):
        return "no weights"
    try:
        result = audit(analysis, read_weights(weights_path))
    except BlobcalcError as exc:
        return f"unreadable weights: {exc}"
    if result.abort is not None:
        return f"Caffe refuses {os.path.basename(weights_path)}: {result.abort.status} at '{result.abort.layer}'"
    return f"ok ({os.path.basename(weights_path)})"


def _unknown_message(analysis: object) -> str:
    from blobcalc.result import NetAnalysis

    assert isinstance(analysis, NetAnalysis)
    roots = [layer for layer in analysis.unknown_layers if not layer.reason.startswith("bottom '")]
    return "; ".join(f"{layer.name} ({layer.type}): {layer.reason}" for layer in roots[:3])


def _scan_solver(path: str, options: ScanOptions) -> ScanRow:
    from blobcalc.api import report

    result = report(solver=path, batch=options.batch)
    analysis, memory = result.analysis, result.memory
    return ScanRow(path, SOLVER, PARTIAL if analysis.partial else OK, analysis.era, analysis.net_name,
                   len(analysis.layers), analysis.param_count, 4 * analysis.param_count,
                   memory.unique_blob_bytes, memory.training_total, memory.caffe_log_bytes,
                   analysis.unsupported_types, _unknown_message(analysis),
                   (f"solver {memory.solver.type}", *result.notices))


def _scan_weights(path: str) -> ScanRow:
    from blobcalc.weights import read_weights

    weights = read_weights(path)
    params = sum(_count(blob.dims) for layer in weights.layers for blob in layer.blobs)
    return ScanRow(path, WEIGHTS, OK, weights.era, weights.net_name, len(weights.layers), params, 4 * params,
                   notes=(f"{weights.file_bytes} bytes of weights",))


def _count(dims: Iterable[int]) -> int:
    total = 1
    for dim in dims:
        total *= dim
    return total


def scan(candidates: Sequence[Candidate], options: ScanOptions, jobs: int = 1) -> Iterator[ScanRow]:
    """Rows in the order of `candidates`; with jobs > 1 the files are analysed by worker processes."""
    if jobs <= 1 or len(candidates) < 2:
        for candidate in candidates:
            yield scan_file(candidate, options)
        return
    _load_analysis_modules()  # once, before the workers fork, instead of once in every worker
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        for start in range(0, len(candidates), _WINDOW):
            window = candidates[start:start + _WINDOW]
            # Largest first, so that no worker is left with a big net when the others are done;
            # the rows still come out in the candidates' order.
            order = sorted(range(len(window)), key=lambda i: -window[i].size)
            futures = {i: pool.submit(scan_file, window[i], options) for i in order}
            for i in range(len(window)):
                yield futures.pop(i).result()


_WINDOW = 2048  # files in flight at once: bounds the memory of pending results on huge trees


def _load_analysis_modules() -> None:
    from blobcalc import api, memory, weights  # noqa: F401
    from blobcalc.shapes.registry import rule_for

    rule_for("Input")  # loads the built-in rules and installed plugins
