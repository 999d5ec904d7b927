"""Reading a binary .caffemodel (a NetParameter) into layer names and blob shapes, never decoding weights.

The protobuf wire format is walked by hand: float and double payloads are skipped by their byte
length and only counted, so a 500 MB file costs a few MB of memory. Everything that is not a weight
payload is handed to our compiled schema and upgraded exactly as Caffe's
ReadNetParamsFromBinaryFileOrDie does (ReadProtoFromBinaryFile, then UpgradeNetAsNeeded): each blob
is replaced by a small "ticket" blob that the upgrade carries along like any other blob, so that its
shape record can be found again in the upgraded layer list.
"""
from __future__ import annotations

import mmap
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from math import prod

from google.protobuf import message

from blobcalc import caffe_pb2
from blobcalc.errors import InputFileError
from blobcalc.regular_files import open_regular_file
from blobcalc.shapes.registry import Shape
from blobcalc.upgrade import net_era, upgrade_net
from blobcalc.wire import encode_varint

# Caffe's ReadProtoFromBinaryFile sets CodedInputStream's total bytes limit to
# kProtoReadBytesLimit = INT_MAX (src/caffe/util/io.cpp): a larger file fails to parse.
CAFFE_READ_LIMIT_BYTES = 2**31 - 1

# Wire types (protobuf encoding spec).
_VARINT, _FIXED64, _LEN, _START_GROUP, _END_GROUP, _FIXED32 = 0, 1, 2, 3, 4, 5

# Field numbers, as in proto/caffe.proto.
_NET_LAYER = 100  # NetParameter.layer (LayerParameter)
_NET_LAYERS = 2  # NetParameter.layers (V1LayerParameter)
_LAYER_BLOBS = 7  # LayerParameter.blobs
_V1_BLOBS = 6  # V1LayerParameter.blobs
_V1_V0_LAYER = 1  # V1LayerParameter.layer (V0LayerParameter)
_V0_BLOBS = 50  # V0LayerParameter.blobs
_BLOB_LEGACY_DIMS = (1, 2, 3, 4)  # BlobProto.num, channels, height, width
_BLOB_DATA, _BLOB_DIFF = 5, 6  # repeated float, packed
_BLOB_SHAPE = 7  # BlobShape
_BLOB_DOUBLE_DATA, _BLOB_DOUBLE_DIFF = 8, 9  # repeated double, packed
_SHAPE_DIM = 1  # BlobShape.dim, repeated int64, packed

_MAX_VARINT_BYTES = 10
_MAX_GROUP_DEPTH = 100  # protobuf's default recursion limit

# Caffe's limits on a blob (include/caffe/blob.hpp, src/caffe/blob.cpp Blob::Reshape): at most
# kMaxBlobAxes = 32 axes, each dim >= 0, and count() <= INT_MAX. Blob::FromProto copies the int64
# dims into a vector<int> first, so the checks see each dim's low 32 bits.
MAX_BLOB_AXES = 32
INT_MAX = 2**31 - 1

# Our own bounds on what is not a weight value, so that memory follows what is reported: a real
# .caffemodel has layer names and parameters of a few KB each and at most some thousands of layers.
# A file beyond them is refused with the figure (Caffe itself would read it).
MAX_FIELD_BYTES = 1 << 20  # one name, one parameter message, ... of a layer (or of the net)
MAX_SKELETON_BYTES = 64 << 20  # everything but weight values, together
MAX_WEIGHTS_LAYERS = 200_000

FLOAT, DOUBLE, MIXED, EMPTY = "float", "double", "float+double", "empty"

Buffer = bytes | mmap.mmap


class WeightsError(InputFileError):
    """A weights file that is not a binary NetParameter Caffe could parse."""

    def __init__(self, path: str, reason: str, offset: int | None = None) -> None:
        self.offset = offset
        super().__init__(path, reason if offset is None else f"at byte {offset}: {reason}")


@dataclass(frozen=True, slots=True)
class BlobRecord:
    """One BlobProto of the weights: its shape fields and how many values it stores.

    `dims` is what Caffe's Blob::FromProto(reshape=true) reads: (num, channels, height, width) when
    any of the four legacy fields is present (`legacy`), the `shape` message's dims otherwise.
    """

    dims: Shape
    legacy: bool
    float_count: int  # values in `data`
    double_count: int  # values in `double_data`
    diff_count: int  # values in `diff`
    double_diff_count: int  # values in `double_diff`

    @property
    def element_count(self) -> int:
        return prod(self.dims)

    @property
    def data_type(self) -> str:
        # Blob::FromProto reads double_data whenever it is non-empty, `data` otherwise.
        return _data_type(self.float_count, self.double_count)

    @property
    def payload_bytes(self) -> int:
        """Bytes of the stored values (4 per float, 8 per double), tags and lengths left out."""
        return 4 * (self.float_count + self.diff_count) + 8 * (self.double_count + self.double_diff_count)

    @property
    def value_count(self) -> int:
        """The values Blob::FromProto copies: double_data if present, else data."""
        return self.double_count if self.double_count else self.float_count


@dataclass(frozen=True, slots=True)
class WeightsLayer:
    """One layer of the upgraded weights, in file order (as CopyTrainedLayersFrom walks them)."""

    index: int
    name: str  # a name that is not UTF-8 is shown with \x escapes (name_is_utf8 False)
    type: str
    blobs: tuple[BlobRecord, ...]
    name_is_utf8: bool = True  # Caffe accepts any bytes; such a name matches no layer of a text net

    @property
    def element_count(self) -> int:
        return sum(blob.element_count for blob in self.blobs)


@dataclass(frozen=True, slots=True)
class WeightsFile:
    path: str
    file_bytes: int
    net_name: str
    era: str  # the layer format the file was written in (V0, V1, V2, ...)
    layers: tuple[WeightsLayer, ...]
    notices: tuple[str, ...]  # what the upgrade did

    @property
    def blobs(self) -> tuple[BlobRecord, ...]:
        return tuple(blob for layer in self.layers for blob in layer.blobs)

    @property
    def element_count(self) -> int:
        """Elements of all blobs by their shapes (shared blobs are stored, and counted, per layer)."""
        return sum(layer.element_count for layer in self.layers)

    @property
    def payload_bytes(self) -> int:
        return sum(blob.payload_bytes for blob in self.blobs)

    @property
    def data_type(self) -> str:
        blobs = self.blobs
        return _data_type(sum(b.float_count for b in blobs), sum(b.double_count for b in blobs))

    @property
    def diff_count(self) -> int:
        """Gradient values stored beside the weights (a net saved with write_diff)."""
        return sum(b.diff_count + b.double_diff_count for b in self.blobs)

    @property
    def over_caffe_read_limit(self) -> bool:
        return self.file_bytes > CAFFE_READ_LIMIT_BYTES


def _data_type(float_count: int, double_count: int) -> str:
    if float_count and double_count:
        return MIXED
    if double_count:
        return DOUBLE
    return FLOAT if float_count else EMPTY


# --------------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------------

def read_weights(path: str | os.PathLike[str]) -> WeightsFile:
    """Read a .caffemodel's layer names and blob shapes; float payloads are mapped, never read."""
    source = os.fspath(path)
    # Opened without blocking and only if it is a regular file (a FIFO or a device is refused).
    with open_regular_file(source, "a .caffemodel file") as handle:
        try:
            size = os.fstat(handle.fileno()).st_size
            if size == 0:
                return read_weights_bytes(b"", source)
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                return read_weights_bytes(mapped, source)
        except OSError as exc:
            raise InputFileError(source, f"cannot read: {exc.strerror or exc}") from None


def read_weights_bytes(buffer: Buffer, source: str) -> WeightsFile:
    """The same as read_weights() on the file's bytes (or a read-only mmap of them)."""
    records: list[BlobRecord] = []
    skeleton_bytes = _Walker(buffer, source, records).skeleton()
    skeleton = caffe_pb2.NetParameter()
    try:
        skeleton.ParseFromString(skeleton_bytes)
    except message.DecodeError as exc:
        raise WeightsError(source, f"not a binary NetParameter Caffe can parse ({exc})") from None
    del skeleton_bytes
    not_utf8 = _decode_byte_strings(skeleton)
    upgraded = upgrade_net(skeleton, source)
    layers = tuple(
        WeightsLayer(index, layer.name, layer.type, tuple(_redeem(ticket, records, source)
                                                          for ticket in layer.blobs),
                     name_is_utf8=layer.name not in not_utf8)
        for index, layer in enumerate(upgraded.net.layer))
    notices = upgraded.notices
    if not_utf8:
        notices = (*notices, f"{len(not_utf8)} name(s) in the file are not UTF-8 text (Caffe accepts any bytes); "
                             "they are shown with \\x escapes and match no layer of a text net")
    return WeightsFile(source, len(buffer), skeleton.name, net_era(skeleton), layers, notices)


def _decode_byte_strings(root: message.Message) -> set[str]:
    """Give every string field that protobuf left as bytes (not UTF-8; Caffe's C++ protobuf takes any
    bytes) a text value with \\x escapes, in place; return those texts."""
    replaced: set[str] = set()
    pending = [root]
    while pending:
        current = pending.pop()
        for descriptor, value in current.ListFields():
            if descriptor.type == descriptor.TYPE_MESSAGE:
                if descriptor.is_repeated:
                    pending.extend(value)
                else:
                    pending.append(value)
            elif descriptor.type == descriptor.TYPE_STRING:
                if descriptor.is_repeated:
                    if any(isinstance(item, bytes) for item in value):
                        texts = [_text(item, replaced) for item in value]
                        del value[:]
                        value.extend(texts)
                elif isinstance(value, bytes):
                    setattr(current, descriptor.name, _text(value, replaced))
    return replaced


def _text(value: str | bytes, replaced: set[str]) -> str:
    if isinstance(value, str):
        return value
    text = value.decode("utf-8", "backslashreplace")
    replaced.add(text)
    return text


def reshape_problem(blob: BlobRecord) -> str:
    """The check of Blob::Reshape that fails when Caffe's Blob::FromProto(reshape=true) reads this blob,
    or "": each dim as the int it becomes, >= 0, and a count of at most INT_MAX (src/caffe/blob.cpp).
    Caffe reads a blob that way when it reports a shape mismatch (Net::CopyTrainedLayersFrom)."""
    dims = blob.dims if blob.legacy else tuple(_int32(dim) for dim in blob.dims)
    count = 1
    for dim in dims:
        if dim < 0:
            return f"Check failed: shape[i] >= 0 ({dim} vs. 0)"
        if count != 0 and dim > INT_MAX // count:
            return "blob size exceeds INT_MAX"
        count *= dim
    return ""


def blob_record(blob: caffe_pb2.BlobProto) -> BlobRecord:
    """The record of an already parsed BlobProto (the reference the wire walker must agree with)."""
    legacy = any(blob.HasField(name) for name in ("num", "channels", "height", "width"))
    dims = (blob.num, blob.channels, blob.height, blob.width) if legacy else tuple(blob.shape.dim)
    return BlobRecord(tuple(dims), legacy, len(blob.data), len(blob.double_data), len(blob.diff),
                      len(blob.double_diff))


# --------------------------------------------------------------------------------------------
# Tickets: the stand-in blob each real blob becomes in the skeleton
# --------------------------------------------------------------------------------------------

def _ticket(number: int) -> bytes:
    ticket = caffe_pb2.BlobProto()
    ticket.shape.dim.append(number)
    return bytes(ticket.SerializeToString())


def _redeem(ticket: caffe_pb2.BlobProto, records: list[BlobRecord], source: str) -> BlobRecord:
    dims = [int(dim) for dim in ticket.shape.dim]
    if len(dims) != 1 or not 0 <= dims[0] < len(records):
        # Only reachable if an upgrade step started to rewrite blobs.
        raise WeightsError(source, "internal error: a blob lost its place during the upgrade")
    return records[dims[0]]


# --------------------------------------------------------------------------------------------
# The wire-format walker
# --------------------------------------------------------------------------------------------



def _encode_len_field(field: int, payload: bytes) -> bytes:
    return encode_varint(field << 3 | _LEN) + encode_varint(len(payload)) + payload


def _int32(value: int) -> int:
    # An int32 field decodes a varint and keeps its low 32 bits, two's complement.
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def _int64(value: int) -> int:
    value &= 0xFFFFFFFFFFFFFFFF
    return value - (1 << 64) if value >= 1 << 63 else value


@dataclass(slots=True)
class _Field:
    number: int
    wire_type: int
    start: int  # offset of the tag
    value_start: int  # offset of the value (for LEN: of the payload, after the length)
    end: int  # offset just past the field
    varint: int = 0  # the value of a VARINT field


class _BlobTally:
    """What one BlobProto holds, filled in while its fields are walked."""

    def __init__(self) -> None:
        self.legacy_dims = [0, 0, 0, 0]
        self.legacy = False
        self.shape_dims: list[int] = []
        self.shape_axes = 0
        self.counts = {_BLOB_DATA: 0, _BLOB_DIFF: 0, _BLOB_DOUBLE_DATA: 0, _BLOB_DOUBLE_DIFF: 0}

    def add_dim(self, dim: int) -> None:
        # Only up to one past Caffe's limit is kept: memory and time stay bounded whatever the count.
        self.shape_axes += 1
        if len(self.shape_dims) <= MAX_BLOB_AXES:
            self.shape_dims.append(dim)

    def caffe_refuses(self) -> str:
        """More axes than any Caffe blob can have: Blob::Reshape's first check, or "". (Other
        refusals depend on whether Caffe reads the blob at all: see reshape_problem.)"""
        if not self.legacy and self.shape_axes > MAX_BLOB_AXES:
            return f"Check failed: shape.size() <= kMaxBlobAxes ({self.shape_axes} vs. {MAX_BLOB_AXES})"
        return ""

    def record(self) -> BlobRecord:
        dims = tuple(self.legacy_dims) if self.legacy else tuple(self.shape_dims)
        return BlobRecord(dims, self.legacy, self.counts[_BLOB_DATA], self.counts[_BLOB_DOUBLE_DATA],
                          self.counts[_BLOB_DIFF], self.counts[_BLOB_DOUBLE_DIFF])


# Value width in bytes of each payload field, and the wire type of one unpacked value.
_PAYLOAD_WIDTH = {_BLOB_DATA: 4, _BLOB_DIFF: 4, _BLOB_DOUBLE_DATA: 8, _BLOB_DOUBLE_DIFF: 8}
_UNPACKED_WIRE_TYPE = {4: _FIXED32, 8: _FIXED64}


class _Walker:
    """Walks a serialized NetParameter, recording each blob and building the skeleton's bytes."""

    def __init__(self, buffer: Buffer, source: str, records: list[BlobRecord]) -> None:
        self.buffer = buffer
        self.source = source
        self.records = records
        self.skeleton_bytes = 0
        self.layer_count = 0

    def error(self, offset: int, reason: str) -> WeightsError:
        return WeightsError(self.source, f"not a binary NetParameter Caffe can parse: {reason}", offset)

    # -- primitives --------------------------------------------------------------------------

    def varint(self, pos: int, end: int) -> tuple[int, int]:
        buffer = self.buffer
        value = shift = 0
        for offset in range(pos, min(end, pos + _MAX_VARINT_BYTES)):
            byte = buffer[offset]
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value, offset + 1
            shift += 7
        if pos + _MAX_VARINT_BYTES <= end:
            raise self.error(pos, "a varint longer than 10 bytes")
        raise self.error(pos, "the data ends inside a varint (truncated file?)")

    def fields(self, pos: int, end: int) -> Iterator[_Field]:
        """The fields of the message in buffer[pos:end], each with its extent, one at a time (an
        unpacked float array is millions of fields)."""
        while pos < end:
            field, pos = self.field(pos, end, 0)
            if field.wire_type == _END_GROUP:
                raise self.error(field.start, f"an unmatched end-group tag for field {field.number}")
            yield field

    def field(self, pos: int, end: int, depth: int) -> tuple[_Field, int]:
        start = pos
        tag, pos = self.varint(pos, end)
        number, wire_type = tag >> 3, tag & 7
        if number == 0:
            raise self.error(start, "field number 0 "
                             "(is this a text .prototxt? weights are a binary .caffemodel)"
                             if 32 <= self.buffer[start] < 127 else "field number 0")
        if wire_type == _VARINT:
            value, pos = self.varint(pos, end)
            return _Field(number, wire_type, start, start, pos, value), pos
        if wire_type in (_FIXED64, _FIXED32):
            width = 8 if wire_type == _FIXED64 else 4
            if pos + width > end:
                raise self.error(start, f"field {number} runs past the end of its message")
            return _Field(number, wire_type, start, pos, pos + width), pos + width
        if wire_type == _LEN:
            length, pos = self.varint(pos, end)
            if pos + length > end:
                raise self.error(start, f"field {number} is {length} bytes long, past the end of its "
                                 "message (truncated file?)")
            return _Field(number, wire_type, start, pos, pos + length), pos + length
        if wire_type == _START_GROUP:
            if depth >= _MAX_GROUP_DEPTH:
                raise self.error(start, "groups nested too deeply")
            while True:
                if pos >= end:
                    raise self.error(start, f"group {number} is never closed")
                inner, pos = self.field(pos, end, depth + 1)
                if inner.wire_type == _END_GROUP:
                    if inner.number != number:
                        raise self.error(inner.start, f"group {number} closed as {inner.number}")
                    return _Field(number, wire_type, start, start, pos), pos
        if wire_type == _END_GROUP:
            return _Field(number, wire_type, start, start, pos), pos
        raise self.error(start, f"wire type {wire_type} does not exist "
                         "(is this a text .prototxt? weights are a binary .caffemodel)"
                         if 32 <= self.buffer[start] < 127 else f"wire type {wire_type} does not exist")

    # -- messages ----------------------------------------------------------------------------

    def skeleton(self) -> bytes:
        """The NetParameter with every blob replaced by a ticket."""
        out = bytearray()
        for field in self.fields(0, len(self.buffer)):
            if field.number in (_NET_LAYER, _NET_LAYERS) and field.wire_type == _LEN:
                self.layer_count += 1
                if self.layer_count > MAX_WEIGHTS_LAYERS:
                    raise WeightsError(self.source, f"holds more than {MAX_WEIGHTS_LAYERS:,} layers, over "
                                       "blobcalc's limit (no real net comes near it)", field.start)
                if field.number == _NET_LAYER:
                    out += _encode_len_field(_NET_LAYER, self.layer(field, _LAYER_BLOBS))
                else:
                    out += _encode_len_field(_NET_LAYERS, self.layer(field, _V1_BLOBS, _V1_V0_LAYER))
            else:
                out += self.kept(field)
        return bytes(out)

    def kept(self, field: _Field) -> bytes:
        """A field copied into the skeleton as it is, within blobcalc's bounds on non-weight data."""
        size = field.end - field.start
        if size > MAX_FIELD_BYTES:
            raise WeightsError(self.source, f"field {field.number} is {size:,} bytes long, over blobcalc's "
                               f"limit of {MAX_FIELD_BYTES:,} bytes for anything but weight values (a name or "
                               "a layer parameter of that size is no real net's)", field.start)
        self.skeleton_bytes += size
        if self.skeleton_bytes > MAX_SKELETON_BYTES:
            raise WeightsError(self.source, f"holds more than {MAX_SKELETON_BYTES:,} bytes of names and "
                               "layer parameters (weight values aside), over blobcalc's limit", field.start)
        return bytes(self.buffer[field.start:field.end])

    def layer(self, layer: _Field, blobs_field: int, v0_field: int | None = None) -> bytes:
        """A layer message with its blobs replaced by tickets; a nested V0 layer likewise."""
        out = bytearray()
        for field in self.fields(layer.value_start, layer.end):
            if field.number == blobs_field and field.wire_type == _LEN:
                self.records.append(self.blob(field))
                out += _encode_len_field(blobs_field, _ticket(len(self.records) - 1))
            elif field.number == v0_field and field.wire_type == _LEN:
                out += _encode_len_field(field.number, self.layer(field, _V0_BLOBS))
            else:
                out += self.kept(field)
        return bytes(out)

    def blob(self, blob: _Field) -> BlobRecord:
        tally = _BlobTally()
        handlers: dict[int, Callable[[_Field, _BlobTally], None]] = {
            _BLOB_SHAPE: self.shape, **dict.fromkeys(_PAYLOAD_WIDTH, self.payload),
            **dict.fromkeys(_BLOB_LEGACY_DIMS, self.legacy_dim)}
        for field in self.fields(blob.value_start, blob.end):
            handler = handlers.get(field.number)
            if handler is not None:
                handler(field, tally)
        problem = tally.caffe_refuses()
        if problem:
            raise self.error_of_blob(blob.start, problem)
        return tally.record()

    def error_of_blob(self, offset: int, problem: str) -> WeightsError:
        return WeightsError(self.source, f"blob {len(self.records)} (in file order) is one Caffe cannot hold: "
                            f"{problem}", offset)

    def legacy_dim(self, field: _Field, tally: _BlobTally) -> None:
        # A known field arriving with another wire type is an unknown field to protobuf.
        if field.wire_type == _VARINT:
            tally.legacy = True
            tally.legacy_dims[field.number - 1] = _int32(field.varint)

    def shape(self, field: _Field, tally: _BlobTally) -> None:
        if field.wire_type != _LEN:
            return
        # Repeated occurrences of an optional message merge: their dims append.
        for dim in self.fields(field.value_start, field.end):
            if dim.number != _SHAPE_DIM:
                continue
            if dim.wire_type == _VARINT:
                tally.add_dim(_int64(dim.varint))
            elif dim.wire_type == _LEN:
                pos = dim.value_start
                while pos < dim.end:
                    value, pos = self.varint(pos, dim.end)
                    tally.add_dim(_int64(value))

    def payload(self, field: _Field, tally: _BlobTally) -> None:
        width = _PAYLOAD_WIDTH[field.number]
        if field.wire_type == _LEN:
            length = field.end - field.value_start
            if length % width:
                raise self.error(field.start, f"a packed field of {width}-byte values is {length} bytes "
                                 "long")
            tally.counts[field.number] += length // width
        elif field.wire_type == _UNPACKED_WIRE_TYPE[width]:
            tally.counts[field.number] += 1
