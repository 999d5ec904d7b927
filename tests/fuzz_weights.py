"""A structure-aware fuzzer for .caffemodel files: weights built from the corpus nets' own parameter
shapes, mutated at the level of the protobuf wire format (dims, names, lengths, wire types, nesting,
empty layers, truncation), each put through `blobcalc audit` (table, JSON, CSV) and `scan --pair-weights`
with the campaign runner of tests/fuzz_mutations.py: an exit 3, a scan row marked internal error, a
raw control character in the table or on stderr, or a hang is a failure.

    python3 -m tests.fuzz_weights --count 20000 --jobs 1 --seed 1

An input is the net's path on one line, then the weights' bytes (saved failures keep that header;
--replay reads it back).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from tests.fuzz_mutations import (
    HANG,
    RESULT,
    TYPED,
    UNCAUGHT,
    Campaign,
    Seed,
    judge,
    run_campaign,
    run_command,
    seed_files,
)
from tests.wire_writer import varint

MAX_SEED_PARAMS = 1 << 18  # seeds store their values only up to this many elements (1 MiB of floats)
MAX_INPUT_BYTES = 4 << 20

# Wire types and the fields of caffe.proto the mutators know by number.
VARINT, FIXED64, LEN, START_GROUP, END_GROUP, FIXED32 = 0, 1, 2, 3, 4, 5
NET_LAYER, NET_LAYERS, NET_NAME = 100, 2, 1
LAYER_NAME, LAYER_TYPE, LAYER_BLOBS, V1_BLOBS = 1, 2, 7, 6
BLOB_SHAPE, BLOB_DATA = 7, 5
INTERESTING_VARINTS = (0, 1, 2, 3, 255, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**62, 2**63 - 1, 2**63, 2**64 - 1)

Field = tuple[int, int, "int | bytes"]  # (number, wire type, varint value or raw bytes of the payload)


# --------------------------------------------------------------------------------------------
# The wire format, written and read independently of blobcalc.wire/weights
# --------------------------------------------------------------------------------------------

def encode(fields: Sequence[Field]) -> bytes:
    out = bytearray()
    for number, wire_type, value in fields:
        out += varint(number << 3 | wire_type)
        if wire_type == VARINT:
            assert isinstance(value, int)
            out += varint(value)
        elif wire_type == LEN:
            assert isinstance(value, bytes)
            out += varint(len(value)) + value
        else:
            assert isinstance(value, bytes)
            out += value
    return bytes(out)


def decode(data: bytes) -> list[Field] | None:
    """The top-level fields of a message, or None when `data` is not a well-formed message."""
    fields: list[Field] = []
    pos = 0

    def read_varint() -> int:
        nonlocal pos
        value = shift = 0
        while True:
            if pos >= len(data) or shift > 63:
                raise ValueError
            byte = data[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value
            shift += 7

    try:
        while pos < len(data):
            tag = read_varint()
            number, wire_type = tag >> 3, tag & 7
            if wire_type == VARINT:
                fields.append((number, wire_type, read_varint()))
            elif wire_type in (FIXED32, FIXED64):
                width = 4 if wire_type == FIXED32 else 8
                fields.append((number, wire_type, data[pos:pos + width]))
                pos += width
            elif wire_type == LEN:
                length = read_varint()
                if pos + length > len(data):
                    return None
                fields.append((number, wire_type, data[pos:pos + length]))
                pos += length
            else:
                return None
    except ValueError:
        return None
    return fields if pos == len(data) else None


# --------------------------------------------------------------------------------------------
# Seeds: weights of the corpus nets' own parameter shapes
# --------------------------------------------------------------------------------------------

def weights_for(net_path: str, rng: random.Random) -> bytes | None:
    """A .caffemodel for the net at `net_path` (TEST phase), or None when it does not analyse."""
    from blobcalc import caffe_pb2
    from blobcalc.api import analyze
    from blobcalc.errors import BlobcalcError

    try:
        analysis = analyze(net_path)
    except BlobcalcError:
        return None
    total = sum(layer.param_count for layer in analysis.layers)
    net = caffe_pb2.NetParameter(name=analysis.net_name)
    legacy = rng.random() < 0.3
    for layer in analysis.layers:
        if not layer.known or not layer.param_shapes:
            continue
        saved = net.layer.add(name=layer.name, type=layer.type)
        for shape in layer.param_shapes:
            blob = saved.blobs.add()
            if legacy and len(shape) <= 4:
                blob.num, blob.channels, blob.height, blob.width = (1,) * (4 - len(shape)) + tuple(shape)
            else:
                blob.shape.dim.extend(shape)
            if total <= MAX_SEED_PARAMS:
                blob.data.extend([0.0] * int(layer.param_count and _count(shape)))
    return bytes(net.SerializeToString()) if len(net.layer) else None


def _count(shape: Sequence[int]) -> int:
    result = 1
    for dim in shape:
        result *= dim
    return result


def weights_bytes_for_test() -> bytes:
    """A small V2 .caffemodel: one convolution with weights and bias (the mutators' unit tests)."""
    from blobcalc import caffe_pb2

    net = caffe_pb2.NetParameter(name="t")
    layer = net.layer.add(name="conv1", type="Convolution")
    layer.blobs.add().shape.dim.extend([2, 1, 3, 3])
    layer.blobs.add().shape.dim.append(2)
    layer.blobs[1].data.extend([0.0, 0.0])
    return bytes(net.SerializeToString())


def load_weight_seeds(paths: Sequence[Path]) -> list[Seed]:
    rng = random.Random("blobcalc-weights-seeds")
    seeds = []
    for path in paths:
        data = weights_for(str(path), rng)
        if data is not None and len(data) <= MAX_INPUT_BYTES:
            seeds.append(Seed(str(path), data))
    return seeds


# --------------------------------------------------------------------------------------------
# Mutators over the message tree: NetParameter → layer → blob → shape
# --------------------------------------------------------------------------------------------

Mutator = Callable[[list[Field], random.Random], list[Field]]


def _edit_one(fields: list[Field], numbers: tuple[int, ...], rng: random.Random,
              edit: Callable[[list[Field]], list[Field]]) -> list[Field]:
    """One length-delimited field numbered in `numbers`, picked at random, decoded, edited and encoded
    again; `fields` unchanged when there is none or it does not decode."""
    candidates = [i for i, (number, wire_type, _) in enumerate(fields) if number in numbers and wire_type == LEN]
    if not candidates:
        return fields
    i = rng.choice(candidates)
    number, wire_type, payload = fields[i]
    assert isinstance(payload, bytes)
    inner = decode(payload)
    if inner is None:
        return fields
    fields = list(fields)
    fields[i] = (number, wire_type, encode(edit(inner)))
    return fields


def _edit_layer(net: list[Field], rng: random.Random, edit: Callable[[list[Field]], list[Field]]) -> list[Field]:
    return _edit_one(net, (NET_LAYER, NET_LAYERS), rng, edit)


def _edit_blob(net: list[Field], rng: random.Random, edit: Callable[[list[Field]], list[Field]]) -> list[Field]:
    return _edit_layer(net, rng, lambda layer: _edit_one(layer, (LAYER_BLOBS, V1_BLOBS), rng, edit))


def set_dims(net: list[Field], rng: random.Random) -> list[Field]:
    """A blob's shape replaced: many axes, huge or negative dims, packed or not."""
    count = rng.choice((0, 1, 4, 31, 32, 33, 64, 240, 1000))
    value = rng.choice(INTERESTING_VARINTS)
    dims = [value if rng.random() < 0.7 else rng.choice(INTERESTING_VARINTS) for _ in range(count)]
    packed = rng.random() < 0.5
    shape = encode([(1, LEN, b"".join(map(varint, dims)))] if packed else [(1, VARINT, d) for d in dims])
    return _edit_blob(net, rng, lambda blob: [f for f in blob if f[0] != BLOB_SHAPE] + [(BLOB_SHAPE, LEN, shape)])


def set_legacy_dim(net: list[Field], rng: random.Random) -> list[Field]:
    field = rng.choice((1, 2, 3, 4))
    return _edit_blob(net, rng, lambda blob: [*blob, (field, VARINT, rng.choice(INTERESTING_VARINTS))])


def set_data_count(net: list[Field], rng: random.Random) -> list[Field]:
    """The stored values: none, one more, packed doubles, an unpacked float or a diff."""
    count = rng.choice((0, 1, 7, 1000))
    number = rng.choice((5, 6, 8, 9))
    width = 8 if number in (8, 9) else 4
    packed = (number, LEN, bytes(width * count))
    unpacked = (number, FIXED64 if width == 8 else FIXED32, bytes(width))
    return _edit_blob(net, rng, lambda blob: [*blob, packed if rng.random() < 0.8 else unpacked])


def set_name(net: list[Field], rng: random.Random) -> list[Field]:
    """A layer (or the net) renamed: very long, control characters, escape sequences, not UTF-8."""
    name = rng.choice((b"\x1b]52;c;aGk=\x07", b"\x1b[2J\x1b[31mfake row", b"\xff\xfe\xc3(", b"a\rb\nc\td",
                       b"=HYPERLINK(\"x\")", b"<script>alert(1)</script>", b"\xe2\x80\xae", b"",
                       b"n" * rng.choice((1000, 100_000, 1_000_000))))
    if rng.random() < 0.2:
        return [f for f in net if f[0] != NET_NAME] + [(NET_NAME, LEN, name)]
    return _edit_layer(net, rng, lambda layer: [f for f in layer if f[0] != LAYER_NAME] + [(LAYER_NAME, LEN, name)])


def set_type(net: list[Field], rng: random.Random) -> list[Field]:
    value = rng.choice((b"Convolution", b"InnerProduct", b"", b"\x00", b"Python", b"BatchNorm"))
    return _edit_layer(net, rng, lambda layer: [f for f in layer if f[0] != LAYER_TYPE] + [(LAYER_TYPE, LEN, value)])


def empty_layers(net: list[Field], rng: random.Random) -> list[Field]:
    """Many layers with no name and no blobs, or with one name each."""
    count = rng.choice((10, 1000, 100_000))
    named = rng.random() < 0.5
    return net + [(NET_LAYER, LEN, encode([(LAYER_NAME, LEN, b"e%d" % i)]) if named else b"") for i in range(count)]


def duplicate_field(net: list[Field], rng: random.Random) -> list[Field]:
    if not net:
        return net
    i = rng.randrange(len(net))
    return net[:i] + [net[i]] * rng.choice((2, 3, 50)) + net[i:]


def delete_field(net: list[Field], rng: random.Random) -> list[Field]:
    if not net:
        return net
    i = rng.randrange(len(net))
    return net[:i] + net[i + 1:]


def v1_layers(net: list[Field], rng: random.Random) -> list[Field]:
    """Layers moved to V1's `layers` field (blobs at 6, an enum type), sometimes next to V2 ones."""
    out: list[Field] = []
    for number, wire_type, payload in net:
        if number == NET_LAYER and isinstance(payload, bytes) and rng.random() < 0.7:
            fields = decode(payload) or []
            converted = [(LAYER_NAME, LEN, value) for n, _, value in fields if n == LAYER_NAME]
            converted += [(V1_BLOBS, LEN, value) for n, _, value in fields if n == LAYER_BLOBS]
            converted.append((5, VARINT, rng.choice((4, 14, 18, 39, 999))))  # V1 type enum
            out.append((NET_LAYERS, LEN, encode(converted)))
        else:
            out.append((number, wire_type, payload))
    return out


MUTATORS: dict[str, Mutator] = {
    "set_dims": set_dims, "set_legacy_dim": set_legacy_dim, "set_data_count": set_data_count,
    "set_name": set_name, "set_type": set_type, "empty_layers": empty_layers,
    "duplicate_field": duplicate_field, "delete_field": delete_field, "v1_layers": v1_layers,
}
MUTATOR_WEIGHTS = {"set_dims": 4, "set_legacy_dim": 2, "set_data_count": 2, "set_name": 3, "set_type": 1,
                   "empty_layers": 1, "duplicate_field": 1, "delete_field": 1, "v1_layers": 1}


def byte_mutation(data: bytes, rng: random.Random) -> bytes:
    """Below the structure: a flipped byte, a cut, a bad length, a deep group, a wrong wire type."""
    kind = rng.randrange(5)
    if kind == 0 and data:
        position = rng.randrange(len(data))
        return data[:position] + bytes([rng.randrange(256)]) + data[position + 1:]
    if kind == 1:
        return data[:rng.randrange(len(data) + 1)]
    if kind == 2:
        return varint(NET_LAYER << 3 | LEN) + varint(rng.choice((2**31, 2**40, len(data) + 1))) + data
    if kind == 3:
        depth = rng.choice((50, 99, 100, 101, 10_000))
        return varint(NET_NAME + 10 << 3 | START_GROUP) * depth + varint(NET_NAME + 10 << 3 | END_GROUP) * depth + data
    return data + varint(rng.choice((NET_LAYER, 7, 1)) << 3 | rng.choice((6, 7, 3, 4)))


def make_weights_input(seeds: Sequence[Seed], seed: int, index: int) -> tuple[bytes, str]:
    """Input `index` of campaign `seed`: the net's path, a newline, then mutated weights."""
    rng = random.Random(f"blobcalc-weights-fuzz/{seed}/{index}")
    origin = rng.choice(seeds)
    data = origin.data
    applied: list[str] = []
    names = sorted(MUTATORS)
    for _ in range(rng.choice((1, 1, 2, 3))):
        fields = decode(data)
        if fields is None or rng.random() < 0.15:
            data = byte_mutation(data, rng)
            applied.append("bytes")
            continue
        name = rng.choices(names, [MUTATOR_WEIGHTS[n] for n in names])[0]
        data = encode(MUTATORS[name](fields, rng))
        applied.append(name)
    return origin.name.encode() + b"\n" + data[:MAX_INPUT_BYTES], f"{origin.name} + {', '.join(applied)}"


# --------------------------------------------------------------------------------------------
# Running one input
# --------------------------------------------------------------------------------------------

AUDIT_FORMATS = ("table", "json", "csv")


def audit_bytes(data: bytes, path: str, index: int = 0) -> tuple[str, str]:
    """Write the weights to `path`, then audit them against their net; every 4th input is scanned."""
    net_path, _, weights = data.partition(b"\n")
    with open(path, "wb") as handle:
        handle.write(weights)
    if index % 4 == 3:
        return _scan(net_path.decode(), path)
    fmt = AUDIT_FORMATS[index % len(AUDIT_FORMATS)]
    argv = ["audit", net_path.decode(), "--weights", path, "--format", fmt]
    code, out, err = run_command(["--debug", *argv])
    outcome, detail = judge(argv, code, out, err)
    if outcome != UNCAUGHT and fmt == "json" and code in (0, 1) and not err.strip():
        json.loads(out)
    return outcome, detail


def _scan(net_path: str, weights_path: str) -> tuple[str, str]:
    """`scan --pair-weights` over a copy of the net beside the weights: one row, never an internal error."""
    net_copy = os.path.splitext(weights_path)[0] + ".prototxt"
    with open(net_path, "rb") as source, open(net_copy, "wb") as target:
        target.write(source.read())
    argv = ["scan", "--jobs", "1", "--no-progress", "--pair-weights", "--format", "jsonl", net_copy]
    code, out, err = run_command(["--debug", *argv])
    if code not in (0, 1):
        return UNCAUGHT, f"scan exit {code}\n{err}"
    rows = [json.loads(line) for line in out.splitlines()]
    if len(rows) != 1 or "internal error" in json.dumps(rows):
        return UNCAUGHT, f"scan rows: {out[:2000]}"
    return (RESULT, "") if rows[0]["status"] == "ok" else (TYPED, rows[0].get("message", ""))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=20.0)
    parser.add_argument("--failures", default="fuzz-failures")
    parser.add_argument("--only", type=int, action="append")
    parser.add_argument("--replay", metavar="FILE", help="run one saved input (with --only N: as input N)")
    args = parser.parse_args(argv)
    if args.replay:
        with tempfile.TemporaryDirectory() as directory:
            outcome, detail = audit_bytes(Path(args.replay).read_bytes(), os.path.join(directory, "in.caffemodel"),
                                          args.only[0] if args.only else 0)
        print(f"{outcome}\n{detail}")
        return 0 if outcome in (RESULT, TYPED) else 1
    seeds = load_weight_seeds(seed_files())
    print(f"{len(seeds)} weight seeds; {args.count} inputs, seed {args.seed}, {args.jobs} job(s)", flush=True)
    started = time.monotonic()

    def progress(campaign: Campaign) -> None:
        rate = campaign.inputs / max(1e-9, time.monotonic() - started)
        print(f"  {campaign.inputs} inputs ({rate:.0f}/s): {dict(campaign.outcomes)} peak RSS "
              f"{campaign.peak_rss_bytes >> 20} MiB", file=sys.stderr, flush=True)

    campaign = run_campaign(seeds, args.count, args.seed, args.jobs, args.timeout, Path(args.failures), args.only,
                            progress, maker=make_weights_input, runner=audit_bytes, suffix=".caffemodel")
    sys.stdout.write(campaign.summary())
    return 1 if campaign.failures else 0


__all__ = ["HANG", "MUTATORS", "TYPED", "audit_bytes", "load_weight_seeds", "main", "make_weights_input"]

if __name__ == "__main__":
    sys.exit(main())
