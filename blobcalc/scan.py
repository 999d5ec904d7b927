"""Scanning directory trees of nets: every input path yields exactly one row, never an exception.

`scan(paths, ...)` streams the rows (in the sorted order of the paths) to any consumer: the CLI, a
notebook, a pipeline. Each file is classified by parsing it (a net is a file that parses as a Caffe
NetParameter with layers, whatever its name; a solver parses as a SolverParameter naming a net),
then analysed; rows of files whose content, options and blobcalc build are unchanged come from a
result cache (scan_cache.py). The analysis runs in this process, in local worker processes
(scan_pool.py) or on a Dask cluster (scan_dask.py). Discovery is scan_walk.py's.
"""
from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from blobcalc.errors import BlobcalcError
from blobcalc.regular_files import OPEN_FLAGS, file_kind
from blobcalc.scan_walk import NET, OTHER, SOLVER, SPECIAL, UNREADABLE, WEIGHTS, Candidate, discover

if TYPE_CHECKING:
    from blobcalc import caffe_pb2
    from blobcalc.scan_cache import ScanCache

# The analysis (protobuf, the schema, the shape rules) is imported by the functions that analyse a file,
# not here: a rescan answered from the cache never loads it.

__all__ = ["NET", "OTHER", "SOLVER", "SPECIAL", "UNREADABLE", "WEIGHTS", "Analysed", "Candidate", "ScanOptions",
           "ScanRow", "analyse_file", "discover", "in_shard", "scan", "scan_candidates", "scan_file"]

DEFAULT_MAX_BYTES = 64 * 1024 * 1024  # far above any real prototxt; weights are only scanned for shapes
DEFAULT_GLOBS = ("*.prototxt", "*.pbtxt", "*.caffemodel", "*.solverstate", "*.txt", "*.pt")

OK, PARTIAL, ERROR, SKIPPED = "ok", "partial", "error", "skipped"
UNSCANNED = "unscanned"  # the kind of a file left out by an interrupted scan (its row says so)


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
    phase: str = ""  # the phase analysed: the scan's, or the other one when only that one builds (see notes)
    batch: int | None = None  # the batch of activation_bytes and caffe_log_bytes (the net's, or --batch)
    training_batch: int | None = None  # the batch of training_bytes (the TRAIN net's)


@dataclass(frozen=True, slots=True)
class Analysed:
    """A file's row and what it was computed from, so that the cache can tell when it is stale."""

    row: ScanRow
    digest: str = ""  # SHA-256 of the bytes analysed; "" when the row must not be reused (a read error)
    depends_on: tuple[tuple[str, str], ...] = ()  # other files read: (path, SHA-256, or "" when absent)
    # Folders whose content the row depends on, with their modification times (ns): a file created or
    # removed in a folder changes its time. For a solver whose nets are missing (they may arrive later).
    folders: tuple[tuple[str, int], ...] = ()


# Called once per file as it finishes (in completion order, not row order): its candidate, its row,
# and whether the row came from the cache.
FileDone = Callable[[Candidate, ScanRow, bool], None]


def in_shard(path: str, shard: tuple[int, int] | None) -> bool:
    """A stable 1/N of the files: by a hash of the path as listed, the same on every machine."""
    if shard is None:
        return True
    index, total = shard
    digest = hashlib.sha1(path.encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(digest[:8], "big") % total == index - 1


def scan(paths: Iterable[str | os.PathLike[str] | Candidate], options: ScanOptions | None = None, *, jobs: int = 1,
         cache: ScanCache | None = None, dask: Any = None, follow_links: bool = False,
         exclude: Iterable[str] = (), shard: tuple[int, int] | None = None,
         on_file: FileDone | None = None) -> Generator[ScanRow, None, None]:
    """Rows for every file under `paths`, one per file, streamed in the sorted order of the paths.

    `jobs` > 1 analyses in that many worker processes; `dask` (a distributed.Client, see
    scan_dask.connect) analyses on a Dask cluster instead; `cache` reuses rows of unchanged files (see
    scan_cache.ScanCache); `shard=(K, N)` keeps the K-th of N stable parts of the files."""
    options = options or ScanOptions()
    given = list(paths)
    listed = [path for path in given if isinstance(path, Candidate)]  # already discovered: taken as they are
    names = [os.fspath(path) for path in given if not isinstance(path, Candidate)]
    found = discover(names, options.globs, follow_links=follow_links, exclude=exclude) if names else []
    candidates = [candidate for candidate in sorted([*listed, *found], key=lambda c: c.path)
                  if in_shard(candidate.path, shard)]
    return scan_candidates(candidates, options, jobs=jobs, cache=cache, dask=dask, on_file=on_file)


def scan_candidates(candidates: Sequence[Candidate], options: ScanOptions, *, jobs: int = 1,
                    cache: ScanCache | None = None, dask: Any = None,
                    on_file: FileDone | None = None) -> Generator[ScanRow, None, None]:
    """Rows in the order of `candidates`, each yielded as soon as every row before it is done."""
    window = _DASK_WINDOW if dask is not None else _WINDOW
    try:
        for start in range(0, len(candidates), window):
            yield from _scan_window(candidates[start:start + window], options, jobs, cache, dask, on_file)
    finally:
        if cache is not None:
            cache.prune()


def _scan_window(part: Sequence[Candidate], options: ScanOptions, jobs: int, cache: ScanCache | None,
                 dask: Any, on_file: FileDone | None) -> Iterator[ScanRow]:
    done: dict[int, ScanRow] = {}
    next_row = 0
    work: list[tuple[int, Candidate]] = []
    for index, candidate in enumerate(part):
        row = _listed_row(candidate) if candidate.skip_reason else None
        cached = False
        if row is None and cache is not None:
            row = cache.lookup(candidate.path, options)
            cached = row is not None
        if row is None:
            work.append((index, candidate))
            continue
        if on_file is not None:
            on_file(candidate, row, cached)
        done[index] = row
        while next_row in done:
            yield done.pop(next_row)
            next_row += 1
    for index, analysed in _engine(work, options, jobs, dask):
        if cache is not None and analysed.digest:
            cache.store(part[index].path, options, analysed)
        if on_file is not None:
            on_file(part[index], analysed.row, False)
        done[index] = analysed.row
        while next_row in done:
            yield done.pop(next_row)
            next_row += 1


def _engine(work: list[tuple[int, Candidate]], options: ScanOptions, jobs: int,
            dask: Any) -> Iterator[tuple[int, Analysed]]:
    if not work:
        return iter(())
    if dask is not None:
        from blobcalc.scan_dask import run_on_dask

        return run_on_dask(work, options, dask)
    if jobs > 1 and len(work) > 1:
        from blobcalc.scan_pool import run_in_processes

        return run_in_processes(work, options, jobs)
    return ((index, analyse_file(candidate, options)) for index, candidate in work)


_WINDOW = 2048  # files in flight at once: bounds the memory of pending results on huge trees
_DASK_WINDOW = 65536  # a cluster has many workers: more files per round keeps them busy


def _listed_row(candidate: Candidate) -> ScanRow:
    status = ERROR if candidate.kind == UNREADABLE else SKIPPED
    return ScanRow(candidate.path, candidate.kind, status, message=candidate.skip_reason)


def scan_file(candidate: Candidate, options: ScanOptions) -> ScanRow:
    """One row for one file; any exception, even a bug of ours, becomes that file's error row."""
    return analyse_file(candidate, options).row


def analyse_file(candidate: Candidate, options: ScanOptions) -> Analysed:
    """The file's row with what it was computed from; never raises."""
    if candidate.skip_reason:
        return Analysed(_listed_row(candidate))
    try:
        return _scan_regular(candidate.path, options)
    except Exception as exc:  # a bug of ours must not stop the scan
        import traceback

        where = traceback.extract_tb(exc.__traceback__)[-1]
        return Analysed(ScanRow(candidate.path, NET, ERROR,
                                message=f"internal error (please report): {type(exc).__name__}: {exc} "
                                        f"[{os.path.basename(where.filename)}:{where.lineno}]"))


class NotRegularFile(Exception):
    """The path is (now) a FIFO, a device or a socket: it is never read."""


def read_regular_file(path: str, max_bytes: int) -> bytes | None:
    """The file's bytes, or None when it holds more than `max_bytes`. Opened as regular_files opens
    every input (never blocking: a FIFO swapped in for the file while the scan runs is refused after
    fstat, the read is bounded), but each outcome is a row here, not an error."""
    descriptor = os.open(path, OPEN_FLAGS)
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise NotRegularFile(file_kind(info.st_mode))
        if info.st_size > max_bytes:
            return None
        chunks, total = [], 0
        while total <= max_bytes:
            chunk = os.read(descriptor, min(1 << 20, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        return None if total > max_bytes else b"".join(chunks)
    finally:
        os.close(descriptor)


def file_digest(path: str, max_bytes: int) -> str:
    """SHA-256 of a regular file's content; "" when it is absent, not a regular file or too big."""
    try:
        data = read_regular_file(path, max_bytes)
    except (OSError, NotRegularFile):
        return ""
    return "" if data is None else hashlib.sha256(data).hexdigest()


def _scan_regular(path: str, options: ScanOptions) -> Analysed:
    from blobcalc import caffe_pb2
    from blobcalc.parse import decode_text, looks_binary

    try:
        data = read_regular_file(path, options.max_bytes)
    except NotRegularFile as exc:
        return Analysed(ScanRow(path, SPECIAL, SKIPPED, message=f"{exc}, never read"))
    except OSError as exc:
        return Analysed(ScanRow(path, UNREADABLE, ERROR, message=f"cannot read: {exc.strerror or exc}"))
    if data is None:
        return Analysed(ScanRow(path, OTHER, SKIPPED, message=f"over --max-bytes {options.max_bytes}"))
    digest = hashlib.sha256(data).hexdigest()
    if looks_binary(data):
        try:
            return Analysed(_scan_weights(path), digest)
        except BlobcalcError as exc:
            if path.endswith((".caffemodel", ".caffemodel.h5", ".solverstate")):
                return Analysed(ScanRow(path, WEIGHTS, ERROR, message=str(exc)), digest)
            return Analysed(ScanRow(path, OTHER, SKIPPED, message="binary file that is not Caffe weights"), digest)
    try:
        text = decode_text(data, path)
    except BlobcalcError as exc:
        return Analysed(ScanRow(path, OTHER, SKIPPED, message=f"not a net or solver: {exc}"), digest)
    kind, parsed, parse_error = classify(text, path)
    try:
        if kind == NET and parse_error is None:
            assert isinstance(parsed, caffe_pb2.NetParameter)
            row = _scan_net(path, parsed, options)
            return Analysed(row, digest, _weights_dependency(path, options))
        if kind == SOLVER and parse_error is None:
            return _scan_solver(path, options, digest)
    except BlobcalcError as exc:
        row = ScanRow(path, kind, ERROR, message=str(exc))
        return _solver_failure(path, row, digest, options) if kind == SOLVER else Analysed(row, digest)
    if parse_error is not None:
        return Analysed(ScanRow(path, kind, ERROR, message=str(parse_error)), digest)
    return Analysed(ScanRow(path, OTHER, SKIPPED, message="not a net or solver (e.g. a label map or other text)"),
                    digest)


_SOLVER_NET_FIELDS = ("net", "train_net", "net_param", "train_net_param")
# The first statement of protobuf text: comments and blank lines, then `name:` or `name {` (or `name <`).
_FIRST_FIELD = re.compile(r"(?:\s|#[^\n]*)*([A-Za-z_][A-Za-z0-9_]*)\s*(?:#[^\n]*\s*)*[:{<]")


def classify(text: str, path: str) -> tuple[str, object, BlobcalcError | None]:
    """(kind, the parsed message, the parse error of a file that is a net or a solver but does not parse).

    By parsing, never by words found in the text: a net is text that parses as a NetParameter with
    layers; a solver parses as a SolverParameter that names its net (or sets base_lr). A file that parses
    as neither is a broken net (or solver) only when its first statement is one of that message's fields,
    which prose, tables and label maps never start with."""
    from blobcalc import caffe_pb2
    from blobcalc.parse import parse_message

    net_error: BlobcalcError | None = None
    net = caffe_pb2.NetParameter()
    try:
        parse_message(text, path, net)
        if net.layer or net.layers:
            return NET, net, None
    except BlobcalcError as exc:
        net_error = exc
    solver_error: BlobcalcError | None = None
    solver = caffe_pb2.SolverParameter()
    try:
        parse_message(text, path, solver)
        if any(solver.HasField(name) for name in (*_SOLVER_NET_FIELDS, "base_lr")):
            return SOLVER, solver, None
    except BlobcalcError as exc:
        solver_error = exc
    first = _FIRST_FIELD.match(text)
    name = first.group(1) if first else ""
    net_fields = caffe_pb2.NetParameter.DESCRIPTOR.fields_by_name
    solver_fields = caffe_pb2.SolverParameter.DESCRIPTOR.fields_by_name
    if net_error is not None and name in net_fields and (solver_error is None or name not in solver_fields):
        return NET, None, net_error
    if solver_error is not None and name in solver_fields:
        return SOLVER, None, solver_error
    return OTHER, None, None


def _scan_net(path: str, net: caffe_pb2.NetParameter, options: ScanOptions) -> ScanRow:
    from blobcalc import caffe_pb2
    from blobcalc.api import analyze_net, analyze_net_that_builds, same_in_both_phases
    from blobcalc.memory import caffe_memory_required_bytes, net_memory, unique_blob_bytes
    from blobcalc.memory_report import net_batch, with_assumed_loss
    from blobcalc.report.figures import exact

    # The scan's phase, or the other one when only that one builds (said in the row's notes).
    analysis = analyze_net_that_builds(net, path, default_phase=options.phase, batch=options.batch)
    notes: list[str] = [analysis.phase_notice] if analysis.phase_notice else []
    notes += [f"fork types: {', '.join(t for t, _ in analysis.fork_types)}"] if analysis.fork_types else []
    if analysis.fork_fields:
        notes.append(f"fork fields: {', '.join(analysis.fork_fields)}")
    training = None
    training_partial = analysis.partial
    training_batch = None
    try:
        run_phase = None
        if analysis.phase == "TRAIN":
            train = analysis
        elif same_in_both_phases(net, analysis):
            # The same layers with the same shapes: only the phase they run in changes.
            train, run_phase = analysis, caffe_pb2.TRAIN
        else:
            train = analyze_net(net, path, phase="TRAIN", batch=options.batch)
        # A net without a loss (a deploy net) is trained as a user would: a loss on its outputs.
        train, assumed = with_assumed_loss(train)
        if assumed:
            notes.append(f"training assumes a loss on {', '.join(assumed)} (the net has none)")
        training = net_memory(train, training=True, run_phase=run_phase).totals.total
        training_partial = train.partial
        training_batch = net_batch(train, options.batch)
    except BlobcalcError as exc:
        notes.append(f"no training estimate: {exc}")
    partial = analysis.partial
    if partial:
        notes.append(f"partial: the known layers alone have {analysis.param_count:,} parameters")
    return ScanRow(path, NET, PARTIAL if partial else OK, analysis.era, analysis.net_name,
                   len(analysis.layers), exact(analysis.param_count, partial), exact(4 * analysis.param_count, partial),
                   exact(unique_blob_bytes(analysis), partial),
                   None if training is None else exact(training, training_partial),
                   exact(caffe_memory_required_bytes(analysis), partial),
                   analysis.unsupported_types, _unknown_message(analysis), tuple(notes),
                   _audit_status(path, analysis, options.weights_pattern), analysis.phase,
                   net_batch(analysis, options.batch), training_batch)


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


def _scan_solver(path: str, options: ScanOptions, digest: str) -> Analysed:
    from blobcalc.api import report
    from blobcalc.solver import plan_solver

    result = report(solver=path, batch=options.batch)
    analysis, memory = result.analysis, result.memory
    from blobcalc.report.figures import exact

    partial = analysis.partial
    training = memory.training_total
    row = ScanRow(path, SOLVER, PARTIAL if partial else OK, analysis.era, analysis.net_name,
                  len(analysis.layers), exact(analysis.param_count, partial), exact(4 * analysis.param_count, partial),
                  exact(memory.unique_blob_bytes, partial),
                  None if training is None else exact(training, memory.training_partial),
                  exact(memory.caffe_log_bytes, partial), analysis.unsupported_types, _unknown_message(analysis),
                  (f"solver {memory.solver.type}", *result.notices,
                   *((f"training assumes a loss on {', '.join(memory.assumed_loss)} (the net has none)",)
                     if memory.assumed_loss else ())), phase=analysis.phase, batch=memory.batch,
                  training_batch=memory.training_batch)
    # The row also depends on the net files the solver names (resolved as the analysis resolved them).
    plan = plan_solver(path)
    nets = sorted({spec.path for spec in (plan.train_net, *plan.test_nets) if spec.inline is None})
    return Analysed(row, digest, tuple((net, file_digest(net, options.max_bytes)) for net in nets))


def _solver_failure(path: str, row: ScanRow, digest: str, options: ScanOptions) -> Analysed:
    """A solver's error row, with what it depends on: the nets it names when they were found (their
    analysis failed), else the folders where they would appear."""
    from blobcalc.solver import plan_solver, read_solver

    try:
        plan = plan_solver(path)
    except BlobcalcError:
        try:
            solver, _ = read_solver(path)
        except BlobcalcError:  # the solver file itself is refused: its content alone decides
            return Analysed(row, digest)
        names = [name for name in (solver.net, solver.train_net, *solver.test_net) if name]
        # Reused while every place the net is looked for stays empty and the solver's folder unchanged.
        absent = tuple((place, "") for place in resolution_candidates(path, names))
        return Analysed(row, digest, absent, folders=resolution_folders(path))
    nets = sorted({spec.path for spec in (plan.train_net, *plan.test_nets) if spec.inline is None})
    return Analysed(row, digest, tuple((net, file_digest(net, options.max_bytes)) for net in nets))


def resolution_folders(solver_path: str) -> tuple[tuple[str, int], ...]:
    """The folder beside the solver, with its modification time in ns (a net found there by its file
    name, by any rule: a new file changes the folder's time)."""
    folder = os.path.dirname(os.path.abspath(solver_path))
    try:
        return ((folder, os.stat(folder).st_mtime_ns),)
    except OSError:
        return ((folder, -1),)


def resolution_candidates(solver_path: str, names: Sequence[str]) -> tuple[str, ...]:
    """Where the resolution looks for a net a solver names: the name itself (absolute, or from the
    working directory), and the name from the solver's folder and from every folder above it."""
    folder = os.path.dirname(os.path.abspath(solver_path))
    places = set(names)
    while True:
        places.update(os.path.join(folder, name) for name in names)
        parent = os.path.dirname(folder)
        if parent == folder:
            return tuple(sorted(places))
        folder = parent


def folders_unchanged(folders: Iterable[tuple[str, int]]) -> bool:
    for place, mtime_ns in folders:
        try:
            if os.stat(place).st_mtime_ns != mtime_ns:
                return False
        except OSError:
            if mtime_ns != -1:
                return False
    return True


def _weights_dependency(path: str, options: ScanOptions) -> tuple[tuple[str, str], ...]:
    if not options.weights_pattern:
        return ()
    weights = weights_path_for(path, options.weights_pattern)
    return ((weights, file_digest(weights, 1 << 62)),)


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
