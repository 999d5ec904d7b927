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
    name: str
    type: str
    blobs: tuple[BlobRecord, ...]

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
    try:
        with open(source, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size == 0:
                return read_weights_bytes(b"", source)
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                return read_weights_bytes(mapped, source)
    except FileNotFoundError:
        raise InputFileError(source, "no such file") from None
    except IsADirectoryError:
        raise InputFileError(source, "is a directory, not a .caffemodel file") from None
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
    upgraded = upgrade_net(skeleton, source)
    layers = tuple(
        WeightsLayer(index, layer.name, layer.type, tuple(_redeem(ticket, records, source)
                                                          for ticket in layer.blobs))
        for index, layer in enumerate(upgraded.net.layer))
    return WeightsFile(source, len(buffer), skeleton.name, net_era(skeleton), layers, upgraded.notices)


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
        self.counts = {_BLOB_DATA: 0, _BLOB_DIFF: 0, _BLOB_DOUBLE_DATA: 0, _BLOB_DOUBLE_DIFF: 0}

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
            if field.number == _NET_LAYER and field.wire_type == _LEN:
                out += _encode_len_field(_NET_LAYER, self.layer(field, _LAYER_BLOBS))
            elif field.number == _NET_LAYERS and field.wire_type == _LEN:
                out += _encode_len_field(_NET_LAYERS, self.layer(field, _V1_BLOBS, _V1_V0_LAYER))
            else:
                out += self.buffer[field.start:field.end]
        return bytes(out)

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
                out += self.buffer[field.start:field.end]
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
        return tally.record()

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
                tally.shape_dims.append(_int64(dim.varint))
            elif dim.wire_type == _LEN:
                pos = dim.value_start
                while pos < dim.end:
                    value, pos = self.varint(pos, dim.end)
                    tally.shape_dims.append(_int64(value))

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
