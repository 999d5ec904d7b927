"""A mutation fuzzer over prototxt files: byte- and token-level mutators, and a campaign runner that
puts every mutant through blobcalc in a worker process with a time limit.

The mutators know nothing of blobcalc (they work on bytes and on the tokens of protobuf text format,
taking field names, type strings and blob names only from the seed files themselves). The runner
counts the outcomes: a result, a typed BlobcalcError, an uncaught exception (a bug: saved with its
input under fuzz-failures/), or a hang (no answer within --timeout seconds: also a bug, also saved).

    python3 -m tests.fuzz_mutations --count 100000 --jobs 2 --seed 1
    python3 -m tests.fuzz_mutations --replay fuzz-failures/uncaught-1-42.prototxt

Input number i of seed S is always the same bytes, whatever --jobs is: a failure is reproduced with
`--seed S --only i`.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import multiprocessing
import multiprocessing.connection
import os
import random
import re
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("BLOBCALC_SHARED", PROJECT.parent / "shared"))
MAX_INPUT_BYTES = 1 << 20  # mutants are cut to this; splices of big nets would otherwise grow without end
WORKER_MEMORY_BYTES = 3 << 30  # address-space limit of a worker: a memory bomb fails, not the machine

RESULT, TYPED, UNCAUGHT, HANG = "result", "typed error", "uncaught exception", "hang"

# --------------------------------------------------------------------------------------------
# The seed corpus
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Seed:
    name: str
    data: bytes


def seed_files(roots: Sequence[Path] | None = None) -> list[Path]:
    """The prototxt files the mutants start from: the shared corpus of real nets, our fixtures and
    the bundled example, sorted (a missing root is skipped)."""
    if roots is None:
        roots = (SHARED / "corpus", PROJECT / "fixtures", PROJECT / "blobcalc" / "examples")
    found: list[Path] = []
    for root in roots:
        if root.is_dir():
            found += [path for path in root.rglob("*.prototxt") if path.is_file() and "bad" not in path.parts]
    return sorted(found)


def load_seeds(paths: Sequence[Path], parseable_only: bool = True) -> list[Seed]:
    """The seed files' bytes; by default only those that parse as a net (solvers, label maps and
    nets of a schema we lack would only ever give parse errors once mutated)."""
    seeds = [Seed(str(path), path.read_bytes()) for path in paths]
    if not parseable_only:
        return seeds
    from blobcalc.errors import BlobcalcError
    from blobcalc.parse import decode_text, parse_net

    kept = []
    for seed in seeds:
        try:
            net = parse_net(decode_text(seed.data, seed.name), seed.name)
        except BlobcalcError:
            continue
        if len(net.layer) or len(net.layers):
            kept.append(seed)
    return kept


# --------------------------------------------------------------------------------------------
# Mutators: (data, rng, seeds) → mutated data
# --------------------------------------------------------------------------------------------

Mutator = Callable[[bytes, random.Random, Sequence[Seed]], bytes]

# The tokens of protobuf text format (identifier, number, quoted string, any other single byte).
_TOKEN = re.compile(rb'[A-Za-z_][0-9A-Za-z_]*|-?[0-9.][0-9A-Za-z_.+-]*|"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'|\S')
_NUMBER = re.compile(rb"(?<![0-9A-Za-z_.])-?[0-9][0-9A-Za-z_.+-]*")
_FIELD_NAME = re.compile(rb"([A-Za-z_][0-9A-Za-z_]*)(\s*(?::|\{|<))")
_STRING = re.compile(rb'"(?:[^"\\\n]|\\.)*"')
_TYPE_VALUE = re.compile(rb'(\btype\s*:\s*)("[^"\n]*"|[A-Z_][A-Z0-9_]*)')

# Numbers at the edges: zero, signs, int32/uint32/int64/uint64 limits, floats out of range, odd spellings.
INTERESTING_NUMBERS = (
    b"0", b"-0", b"1", b"-1", b"2", b"3", b"7", b"1000000", b"65536", b"2147483647", b"2147483648",
    b"-2147483648", b"-2147483649", b"4294967295", b"4294967296", b"9223372036854775807",
    b"9223372036854775808", b"-9223372036854775809", b"18446744073709551616", b"99999999999999999999999999",
    b"1e308", b"1e309", b"-1e309", b"inf", b"-inf", b"nan", b"0x7fffffff", b"0xFFFFFFFFFFFFFFFF", b"077",
    b"1.5", b"-0.5", b"1e-45", b"3.4e38", b"1.0f", b"0.0",
)


def flip_byte(data: bytes, rng: random.Random, seeds: Sequence[Seed]) -> bytes:
    if not data:
        return bytes([rng.randrange(256)])
    position = rng.randrange(len(data))
    value = data[position] ^ (1 << rng.randrange(8)) if rng.random() < 0.7 else rng.randrange(256)
    return data[:position] + bytes([value]) + data[position + 1:]


def _span(data: bytes, rng: random.Random) -> tuple[int, int]:
    start = rng.randrange(len(data) + 1)
    length = rng.choice((1, 2, 4, 8, 16, 64, 256, 4096))
    return start, min(len(data), start + rng.randint(1, length))


def delete_span(data: bytes, rng: random.Random, seeds: Sequence[Seed]) -> bytes:
    start, end = _span(data, rng)
    return data[:start] + data[end:]


def duplicate_span(data: bytes, rng: random.Random, seeds: Sequence[Seed]) -> bytes:
    start, end = _span(data, rng)
    where = rng.randrange(len(data) + 1)
    return data[:where] + data[start:end] + data[where:]


def splice(data: bytes, rng: random.Random, seeds: Sequence[Seed]) -> bytes:
    """The head of this file and the tail of another one, cut at line starts most of the time."""
    other = rng.choice(seeds).data

    def cut(text: bytes) -> int:
        position = rng.randrange(len(text) + 1)
        if rng.random() < 0.8:
            line_start = text.rfind(b"\n", 0, position)
            position = line_start + 1
        return position

    return data[:cut(data)] + other[cut(other):]


def _tokens(data: bytes, pattern: re.Pattern[bytes] = _TOKEN) -> list[re.Match[bytes]]:
    return list(pattern.finditer(data))


def _replace(data: bytes, match: re.Match[bytes], replacement: bytes, group: int = 0) -> bytes:
    return data[:match.start(group)] + replacement + data[match.end(group):]


def delete_brace(data: bytes, rng: random.Random, seeds: Sequence[Seed]) -> bytes:
    """Delete one `}` (or sometimes one `{`): a truncated or unbalanced block."""
    brace = b"}" if rng.random() < 0.7 else b"{"
    positions = [i for i, byte in enumerate(data) if byte == brace[0]]
    if not positions:
        return delete_span(data, rng, seeds)
    position = rng.choice(positions)
    return data[:position] + data[position + 1:]


def change_number(data: bytes, rng: random.Random, seeds: Sequence[Seed]) -> bytes:
    numbers = _tokens(data, _NUMBER)
    if not numbers:
        return flip_byte(data, rng, seeds)
    match = rng.choice(numbers)
    if rng.random() < 0.6:
        replacement = rng.choice(INTERESTING_NUMBERS)
    else:
        replacement = str(rng.choice((-1, 1)) * rng.randrange(0, 1 << rng.choice((2, 4, 8, 16, 32)))).encode()
    return _replace(data, match, replacement)


def swap_field_name(data: bytes, rng: random.Random, seeds: Sequence[Seed]) -> bytes:
    """Rename one field to another field name seen in this file or another seed (often a field of
    another message, i.e. an unknown field; sometimes a legal but unexpected one)."""
    fields = _tokens(data, _FIELD_NAME)
    if not fields:
        return flip_byte(data, rng, seeds)
    pool = fields if rng.random() < 0.7 else _tokens(rng.choice(seeds).data, _FIELD_NAME) or fields
    target = rng.choice(fields)
    return _replace(data, target, rng.choice(pool).group(1), 1)


def swap_string(data: bytes, rng: random.Random, seeds: Sequence[Seed]) -> bytes:
    """Replace one quoted string (a name, a bottom, a top, a type) by another one of the file: blobs
    rewired, layers renamed, cycles and missing bottoms."""
    strings = _tokens(data, _STRING)
    if len(strings) < 2:
        return flip_byte(data, rng, seeds)
    return _replace(data, rng.choice(strings), rng.choice(strings).group(0))


def swap_layer_type(data: bytes, rng: random.Random, seeds: Sequence[Seed]) -> bytes:
    """Give one layer the type of a layer of any seed file: its rule meets parameters it never
    expected (V1 enum types and V2 strings both)."""
    types = _tokens(data, _TYPE_VALUE)
    if not types:
        return swap_string(data, rng, seeds)
    target = rng.choice(types)
    quoted = target.group(2).startswith(b'"')
    # Mostly a type of the same era (a string for a string, an enum for an enum), which parses.
    donors = [match for match in _tokens(rng.choice(seeds).data, _TYPE_VALUE)
              if match.group(2).startswith(b'"') == quoted or rng.random() < 0.05] or types
    return _replace(data, target, rng.choice(donors).group(2), 2)


def duplicate_line(data: bytes, rng: random.Random, seeds: Sequence[Seed]) -> bytes:
    """Repeat one line: a singular field given twice, a repeated field one entry longer, a top twice."""
    lines = data.split(b"\n")
    index = rng.randrange(len(lines))
    lines.insert(index, lines[index])
    return b"\n".join(lines)


def transplant_line(data: bytes, rng: random.Random, seeds: Sequence[Seed]) -> bytes:
    """Insert a line of another seed (most often one `field: value`) at a line start of this file: a
    parameter lands in a layer that never expected it, or in a block where it means something else."""
    donor = rng.choice(seeds).data.split(b"\n")
    line = rng.choice(donor)
    lines = data.split(b"\n")
    lines.insert(rng.randrange(len(lines) + 1), line)
    return b"\n".join(lines)


def insert_token(data: bytes, rng: random.Random, seeds: Sequence[Seed]) -> bytes:
    tokens = _tokens(data)
    position = rng.choice(tokens).start() if tokens else 0
    token = rng.choice((b"{", b"}", b":", b"<", b">", b"[", b"]", b'"', b"#", b";", b",", b"\\", b"\x00",
                        b"\xff", b"\xef\xbb\xbf", b"layer {", b"layers {", b"input: \"x\"", b"dim: 0",
                        b"bottom: \"data\"", b"top: \"data\"", b"num_output: 0", b"stride: 0", b"group: 3"))
    return data[:position] + token + b" " + data[position:]


# Byte-level mutators mostly make text that no longer parses; the token-level ones keep it parseable
# more often and so reach the upgrade, the graph and the shape rules: they are drawn more often.
MUTATOR_WEIGHTS: dict[str, int] = {
    "flip_byte": 1, "delete_span": 1, "duplicate_span": 1, "splice": 2, "delete_brace": 1, "change_number": 4,
    "swap_field_name": 2, "swap_string": 4, "swap_layer_type": 4, "duplicate_line": 2, "insert_token": 1,
    "transplant_line": 3,
}

MUTATORS: dict[str, Mutator] = {
    "flip_byte": flip_byte,
    "delete_span": delete_span,
    "duplicate_span": duplicate_span,
    "splice": splice,
    "delete_brace": delete_brace,
    "change_number": change_number,
    "swap_field_name": swap_field_name,
    "swap_string": swap_string,
    "swap_layer_type": swap_layer_type,
    "duplicate_line": duplicate_line,
    "insert_token": insert_token,
    "transplant_line": transplant_line,
}


def make_input(seeds: Sequence[Seed], seed: int, index: int) -> tuple[bytes, str]:
    """Input `index` of campaign `seed`: a seed file with 1 to 3 mutations; the same every time."""
    rng = random.Random(f"blobcalc-fuzz/{seed}/{index}")
    origin = rng.choice(seeds)
    data = origin.data
    applied: list[str] = []
    names = sorted(MUTATORS)
    weights = [MUTATOR_WEIGHTS[name] for name in names]
    for _ in range(rng.choice((1, 1, 1, 1, 2, 2, 3))):
        name = rng.choices(names, weights)[0]
        data = MUTATORS[name](data, rng, seeds)[:MAX_INPUT_BYTES]
        applied.append(name)
    return data, f"{origin.name} + {', '.join(applied)}"


# --------------------------------------------------------------------------------------------
# Running one input: the whole `blobcalc analyze` pipeline, report rendering included
# --------------------------------------------------------------------------------------------


# The commands each input goes through, in turn (input i runs COMMAND_PLANS[i % len]): every output
# format, both phases, the drawings, the HTML report, the upgrade and `fit`. {net} is the input file,
# {out} a scratch output path. Each runs as the user runs it, through cli.main.
COMMAND_PLANS: tuple[tuple[str, ...], ...] = (
    ("analyze", "{net}"),
    ("analyze", "{net}", "--format", "json"),
    ("analyze", "{net}", "--phase", "TRAIN", "--format", "csv"),
    ("analyze", "{net}", "--phase", "TRAIN", "--format", "markdown"),
    ("analyze", "{net}", "--phase", "TRAIN"),
    ("graph", "{net}", "-o", "{out}.dot"),
    ("graph", "{net}", "-o", "{out}.graphml"),
    ("report", "{net}", "--no-graph", "-o", "{out}.html"),
    ("upgrade", "{net}", "-o", "{out}.prototxt"),
    ("fit", "{net}", "--memory", "256MiB"),
)
HUMAN_FORMATS = frozenset({"table", "markdown"})
# What a terminal would act on: C0 controls but tab and newline, DEL, and the C1 controls (ESC, CSI, OSC).
_RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


class _Discard(io.TextIOBase):
    """A text stream that counts what it is given and keeps only what the checks need."""

    def __init__(self, keep: bool) -> None:
        self.chars = 0
        self.kept: list[str] = []
        self.keep = keep

    def write(self, text: str) -> int:
        self.chars += len(text)
        if self.keep:
            self.kept.append(text)
        return len(text)


def run_command(argv: Sequence[str]) -> tuple[int, str, str]:
    """(exit code, standard output, standard error) of `blobcalc ARGV` run in this process."""
    from blobcalc import cli

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(list(argv))
    return code, out.getvalue(), err.getvalue()


def analyze_bytes(data: bytes, path: str, index: int = 0) -> tuple[str, str]:
    """(outcome, detail): put `data` in the file `path` and run command plan `index` on it."""
    with open(path, "wb") as handle:
        handle.write(data)
    plan = COMMAND_PLANS[index % len(COMMAND_PLANS)]
    argv = [part.format(net=path, out=path + ".out") for part in plan]
    try:
        code, out, err = run_command(["--debug", *argv])
    except BaseException:
        return UNCAUGHT, traceback.format_exc()
    return judge(argv, code, out, err)


def judge(argv: Sequence[str], code: int, out: str, err: str) -> tuple[str, str]:
    """The outcome of one command run: exit 3 or a broken promise about the output is a bug."""
    if code == 3:
        return UNCAUGHT, err
    last = err.rstrip("\n").rsplit("\n", 1)[-1] if err.strip() else ""
    if code not in (0, 1, 2):
        return UNCAUGHT, f"exit code {code}\n{err}"
    # `fit` (no batch fits) and `audit` (Caffe aborts) answer with exit 1 and their verdict on stdout.
    answered = code == 1 and not err.strip() and argv[0] in ("fit", "audit")
    if code != 0 and not answered and not last.startswith("blobcalc: error: "):
        return UNCAUGHT, f"exit {code} without a one-line error:\n{err}"
    fmt = argv[argv.index("--format") + 1] if "--format" in argv else "table"
    if argv[0] in ("analyze", "fit") and fmt in HUMAN_FORMATS and _RAW_CONTROL.search(out):
        return UNCAUGHT, f"a raw control character in the {fmt} output: {_RAW_CONTROL.search(out)!r}"
    # Errors (the only lines --debug does not add): one line each, nothing a terminal would act on.
    error_lines = [line for line in err.splitlines() if line.startswith("blobcalc: ")]
    if any(_RAW_CONTROL.search(line) for line in error_lines):
        return UNCAUGHT, f"a raw control character on standard error: {error_lines!r}"
    if code == 0 and argv[0] == "graph" and argv[-1].endswith(".graphml"):
        import xml.etree.ElementTree as ElementTree

        try:
            ElementTree.parse(argv[-1])
        except ElementTree.ParseError as exc:
            return UNCAUGHT, f"GraphML that is not well-formed XML: {exc}"
    return (RESULT, "") if code == 0 else (TYPED, last)


def _peak_rss_bytes() -> int:
    """This process's peak resident set so far (Linux reports KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


Runner = Callable[[bytes, str, int], tuple[str, str]]
InputMaker = Callable[[Sequence[Seed], int, int], tuple[bytes, str]]


def _worker(connection: multiprocessing.connection.Connection, directory: str, parent: int,
            runner: Runner | None, suffix: str) -> None:
    with contextlib.suppress(ImportError, ValueError, OSError):
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (WORKER_MEMORY_BYTES, WORKER_MEMORY_BYTES))
    path = os.path.join(directory, f"input-{os.getpid()}{suffix}")
    while True:
        # A forked worker inherits the pipes of its siblings, so a killed runner never shows up as EOF:
        # watch for the parent instead, and leave with it.
        while not connection.poll(1.0):
            if os.getppid() != parent:
                return
        job = connection.recv()
        if job is None:
            return
        index, data = job
        run_input = runner or analyze_bytes  # looked up now: tests replace analyze_bytes
        outcome, detail = run_input(data, path, index)
        connection.send((index, outcome, detail, _peak_rss_bytes()))


@dataclass
class Campaign:
    """Counts of one campaign and the failures found (index, outcome, detail, description)."""

    inputs: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    failures: list[tuple[int, str, str, str]] = field(default_factory=list)
    seconds: float = 0.0
    peak_rss_bytes: int = 0  # the largest peak resident set any worker reported

    def summary(self) -> str:
        signatures = Counter(_signature(detail) for _, outcome, detail, _ in self.failures if outcome == UNCAUGHT)
        lines = [f"inputs: {self.inputs}", f"results: {self.outcomes[RESULT]}",
                 f"typed errors: {self.outcomes[TYPED]}",
                 f"uncaught exceptions: {self.outcomes[UNCAUGHT]} ({len(signatures)} distinct)",
                 f"hangs: {self.outcomes[HANG]}", f"seconds: {self.seconds:.1f}",
                 f"peak worker RSS: {self.peak_rss_bytes / 2**20:.0f} MiB"]
        lines += [f"  {count} x {signature}" for signature, count in signatures.most_common()]
        return "\n".join(lines) + "\n"


def _signature(detail: str) -> str:
    """The exception line and the innermost frame of a traceback: one bug, however many inputs hit it."""
    lines = [line for line in detail.strip().splitlines() if line.strip()]
    frames = [line.strip() for line in lines if line.strip().startswith("File ")]
    return f"{lines[-1][:160] if lines else '?'} @ {frames[-1] if frames else '?'}"


class _Slot:
    """One worker process and the job it is on."""

    def __init__(self, context: multiprocessing.context.BaseContext, directory: str, runner: Runner | None = None,
                 suffix: str = ".prototxt") -> None:
        parent, child = context.Pipe()
        self.process = context.Process(target=_worker, args=(child, directory, os.getpid(), runner, suffix),  # type: ignore[attr-defined]
                                       daemon=True)
        self.process.start()
        child.close()
        self.connection = parent
        self.job: int | None = None
        self.deadline = 0.0

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join()
        self.connection.close()


def run_campaign(seeds: Sequence[Seed], count: int, seed: int, jobs: int = 1, timeout: float = 20.0,
                 failures_dir: Path | None = None, only: Sequence[int] | None = None,
                 progress: Callable[[Campaign], None] | None = None, *, maker: InputMaker | None = None,
                 runner: Runner | None = None, suffix: str = ".prototxt") -> Campaign:
    """Run inputs 0..count-1 (or just `only`) of campaign `seed` through `jobs` workers; each input
    gets `timeout` seconds, after which its worker is killed and the input counts as a hang.
    `maker` and `runner` replace make_input and analyze_bytes (the weights fuzzer's), `suffix` is the
    input files' extension."""
    if not seeds:
        raise ValueError("no seed files to mutate")
    context = multiprocessing.get_context("fork" if sys.platform != "win32" else "spawn")
    campaign = Campaign()
    started = time.monotonic()
    pending = list(only) if only is not None else list(range(count))
    pending.reverse()
    descriptions: dict[int, tuple[bytes, str]] = {}
    with tempfile.TemporaryDirectory(prefix="blobcalc-fuzz-") as directory:
        def new_slot() -> _Slot:
            return _Slot(context, directory, runner, suffix)

        slots = [new_slot() for _ in range(max(1, jobs))]
        try:
            while pending or any(slot.job is not None for slot in slots):
                for slot in slots:
                    if slot.job is None and pending:
                        index = pending.pop()
                        descriptions[index] = (maker or make_input)(seeds, seed, index)
                        slot.job, slot.deadline = index, time.monotonic() + timeout
                        slot.connection.send((index, descriptions[index][0]))
                busy = [slot for slot in slots if slot.job is not None]
                wait_for = max(0.0, min(slot.deadline for slot in busy) - time.monotonic())
                ready = multiprocessing.connection.wait([slot.connection for slot in busy], timeout=wait_for)
                for i, slot in enumerate(slots):
                    if slot.job is None:
                        continue
                    index = slot.job
                    if slot.connection in ready:
                        try:
                            _, outcome, detail, rss = slot.connection.recv()
                            campaign.peak_rss_bytes = max(campaign.peak_rss_bytes, rss)
                        except (EOFError, OSError):
                            outcome, detail = UNCAUGHT, f"the worker died (exit code {slot.process.exitcode})"
                            slot.stop()
                            slots[i] = new_slot()
                    elif time.monotonic() >= slot.deadline:
                        outcome, detail = HANG, f"no answer within {timeout} seconds"
                        slot.stop()
                        slots[i] = new_slot()
                    else:
                        continue
                    slots[i].job = None
                    data, description = descriptions.pop(index)
                    campaign.inputs += 1
                    campaign.outcomes[outcome] += 1
                    if outcome in (UNCAUGHT, HANG):
                        campaign.failures.append((index, outcome, detail, description))
                        if failures_dir is not None:
                            _save_failure(failures_dir, seed, index, outcome, detail, description, data, suffix)
                    if progress is not None and campaign.inputs % 1000 == 0:
                        progress(campaign)
        finally:
            for slot in slots:
                with contextlib.suppress(OSError):
                    slot.connection.send(None)
                slot.stop()
    campaign.seconds = time.monotonic() - started
    return campaign


def _save_failure(directory: Path, seed: int, index: int, outcome: str, detail: str, description: str,
                  data: bytes, suffix: str = ".prototxt") -> None:
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"{'hang' if outcome == HANG else 'uncaught'}-{seed}-{index}"
    (directory / f"{stem}{suffix}").write_bytes(data)
    (directory / f"{stem}.txt").write_text(
        f"{outcome}: input {index} of seed {seed} ({description})\n"
        f"reproduce: python3 -m tests.{'fuzz_weights' if suffix == '.caffemodel' else 'fuzz_mutations'} "
        f"--seed {seed} --only {index}\n\n{detail}\n", encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1000, help="how many mutated inputs (default 1000)")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="campaign seed: the same seed, the same inputs")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds per input before it is a hang")
    parser.add_argument("--failures", default="fuzz-failures", help="where failing inputs are saved")
    parser.add_argument("--only", type=int, action="append", help="run only this input number (repeatable)")
    parser.add_argument("--replay", metavar="FILE", help="run one saved input (with --only N: input N's command) "
                        "and print the outcome")
    parser.add_argument("--corpus", action="append", type=Path, help="seed folder (repeatable; default: the "
                        "shared corpus, fixtures/ and the bundled example)")
    args = parser.parse_args(argv)
    if args.replay:
        with tempfile.TemporaryDirectory() as directory:
            outcome, detail = analyze_bytes(Path(args.replay).read_bytes(), os.path.join(directory, "input.prototxt"),
                                            args.only[0] if args.only else 0)
        print(f"{outcome}\n{detail}")
        return 0 if outcome in (RESULT, TYPED) else 1
    seeds = load_seeds(seed_files(args.corpus))
    print(f"{len(seeds)} seed files; {args.count if args.only is None else len(args.only)} inputs, seed {args.seed}, "
          f"{args.jobs} job(s), {args.timeout} s per input", flush=True)

    def progress(campaign: Campaign) -> None:
        rate = campaign.inputs / max(1e-9, time.monotonic() - started)
        print(f"  {campaign.inputs} inputs ({rate:.0f}/s): {dict(campaign.outcomes)}", file=sys.stderr, flush=True)

    started = time.monotonic()
    campaign = run_campaign(seeds, args.count, args.seed, args.jobs, args.timeout, Path(args.failures),
                            args.only, progress)
    sys.stdout.write(campaign.summary())
    if campaign.failures:
        print(f"failing inputs saved under {args.failures}/")
    return 1 if campaign.failures else 0


if __name__ == "__main__":
    sys.exit(main())
