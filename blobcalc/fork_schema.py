"""A user's own fork schema (`--proto FORK.proto`): compiled at run time, read into our schema by field name.

The .proto is compiled in-process with grpcio-tools into a descriptor set (data, never code) cached under
`$XDG_CACHE_HOME/blobcalc/proto/<sha256>/`; its messages live in a private descriptor pool, because the
fork's `caffe.*` names would collide with our own `caffe_pb2` in protobuf's default pool (importing a
generated fork_pb2 module next to ours fails with "duplicate symbol"). The net is parsed with the fork's
NetParameter, exactly as the fork's Caffe would read it, then copied into our NetParameter for the analysis.
"""
from __future__ import annotations

import dataclasses
import hashlib
import importlib
import importlib.resources
import os
import re
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from google.protobuf import descriptor as _descriptor
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, unknown_fields
from google.protobuf import message as _message

from blobcalc import caffe_pb2
from blobcalc.errors import BlobcalcError, InputFileError
from blobcalc.parse import SkippedField, parse_message
from blobcalc.regular_files import read_regular_file
from blobcalc.wire import encode_varint

_FD = _descriptor.FieldDescriptor
DESCRIPTOR_SET = "descriptor_set.pb"
MAX_PROTO_BYTES = 64 * 1024 * 1024  # caffe.proto is ~70 KB; a bigger .proto (or import) is refused
_IMPORT = re.compile(r'^\s*import\s+(?:public\s+|weak\s+)?"([^"]+)"\s*;', re.MULTILINE)


class ForkSchemaError(BlobcalcError):
    """A --proto schema that cannot be used: grpcio-tools missing, a compile error, or not package caffe."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}" if path else reason)


@dataclass(frozen=True, slots=True)
class ForkSchema:
    """A compiled fork schema: its NetParameter class, from a private descriptor pool."""

    path: str  # the .proto as the user named it
    digest: str  # SHA-256 of its content (and of the user files it imports)
    cache_dir: str
    from_cache: bool  # True when an earlier run had compiled it
    pool: Any  # the private descriptor pool holding the fork's messages
    net_class: Any  # the fork's caffe.NetParameter message class

    @property
    def label(self) -> str:
        return f"the fork schema {self.path}"


@dataclass(frozen=True, slots=True)
class ForkNet:
    """A net read with a fork schema and copied into our schema, with what the copy could not carry."""

    net: caffe_pb2.NetParameter
    schema: ForkSchema
    notices: tuple[str, ...]
    skipped: tuple[SkippedField, ...]  # fields the fork schema lacks too (with --allow-unknown-fields)


def cache_root() -> str:
    """`$XDG_CACHE_HOME/blobcalc/proto`, else `~/.cache/blobcalc/proto`."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "blobcalc", "proto")


_LOADED: dict[str, ForkSchema] = {}  # digest → schema, so fit's many analyses compile and load once
_LAST: list[ForkSchema] = []  # the most recently loaded schema, for fork_field()
_LOCK = threading.Lock()
# protoc runs in this process and its errors are caught by pointing file descriptor 2 elsewhere: one at a
# time, or two threads would restore each other's descriptor.
_PROTOC_LOCK = threading.Lock()


def load_fork_schema(path: str) -> ForkSchema:
    """Compile (or find in the cache) the fork schema at `path` and load its messages."""
    digest = _digest(path)
    with _LOCK:
        schema = _LOADED.get(digest)
        if schema is None:
            final = os.path.join(cache_root(), digest)
            from_cache = os.path.isfile(os.path.join(final, DESCRIPTOR_SET))
            if not from_cache:
                _compile_into_cache(path, final)
            pool, net_class = _load_pool(path, final)
            schema = ForkSchema(path, digest, final, from_cache, pool, net_class)
            _LOADED[digest] = schema
        elif schema.path != path:  # the same content under another name: name it as the user did
            schema = dataclasses.replace(schema, path=path)
        _LAST[:] = [schema]
        return schema


def _digest(path: str) -> str:
    """SHA-256 of the .proto's bytes, followed by those of every user .proto it imports (found beside it),
    so that editing an imported file is a new cache entry too. google/protobuf/* come with grpcio-tools."""
    folder = os.path.dirname(os.path.abspath(path))
    hasher = hashlib.sha256()
    pending, seen = [path], set()
    while pending:
        current = pending.pop(0)
        if current in seen:
            continue
        seen.add(current)
        if current != path and not os.path.lexists(current):
            continue  # protoc names a missing import itself, with its line
        try:
            # Never blocking, regular files only: protoc would hang on an imported FIFO too.
            data = read_regular_file(current, MAX_PROTO_BYTES, "a .proto file")
        except InputFileError as exc:
            raise ForkSchemaError(path, str(exc) if current != path else exc.reason) from None
        hasher.update(data)
        for name in _IMPORT.findall(data.decode("utf-8", "replace")):
            if not name.startswith("google/protobuf/"):
                pending.append(os.path.join(folder, name))
    return hasher.hexdigest()


def _compile_into_cache(path: str, final: str) -> None:
    """protoc into a fresh temporary folder beside `final`, then one atomic rename: a process that looks
    at the cache sees either no entry or a complete one, and of two processes compiling at once the
    second's rename fails harmlessly (the first's identical entry is used)."""
    try:
        protoc = importlib.import_module("grpc_tools.protoc")  # an optional dependency (pip install grpcio-tools)
    except ImportError:
        raise ForkSchemaError(path, "--proto needs grpcio-tools: pip install grpcio-tools") from None
    parent = os.path.dirname(final)
    try:
        os.makedirs(parent, exist_ok=True)
        staging = tempfile.mkdtemp(prefix=".compiling-", dir=parent)
    except OSError as exc:
        raise ForkSchemaError(path, f"cannot create the schema cache {parent}: {exc.strerror or exc}") from None
    try:
        include = str(importlib.resources.files("grpc_tools") / "_proto")
        folder, name = os.path.split(os.path.abspath(path))
        args = ["grpc_tools.protoc", f"-I{folder}", f"-I{include}", "--include_imports",
                f"--descriptor_set_out={os.path.join(staging, DESCRIPTOR_SET)}", name]
        with _PROTOC_LOCK, _captured_stderr() as errors:
            status = protoc.main(args)
            output = errors.read() if status != 0 else ""
        if status != 0:
            raise ForkSchemaError(path, f"does not compile: {_protoc_errors(output, status)}")
        shutil.copyfile(path, os.path.join(staging, os.path.basename(path)))  # for whoever looks in the cache
        try:
            os.rename(staging, final)
        except OSError:
            if not os.path.isfile(os.path.join(final, DESCRIPTOR_SET)):
                raise
    except OSError as exc:
        raise ForkSchemaError(path, f"cannot write the schema cache {parent}: {exc.strerror or exc}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _protoc_errors(output: str, status: int, shown: int = 3) -> str:
    """protoc's first few error lines (it goes on after the first), without absl's logging preamble."""
    errors = [line.strip() for line in output.splitlines()
              if line.strip() and not line.startswith(("WARNING: All log messages", "W0000", "I0000"))]
    if not errors:
        return f"protoc exited with status {status}"
    more = f" (and {len(errors) - shown} more errors)" if len(errors) > shown else ""
    return "; ".join(errors[:shown]) + more


class _Captured:
    def __init__(self, handle: Any) -> None:
        self._handle = handle

    def read(self) -> str:
        self._handle.seek(0)
        return str(self._handle.read().decode("utf-8", "replace"))


@contextmanager
def _captured_stderr() -> Iterator[_Captured]:
    """protoc's C++ code writes its errors to file descriptor 2: send them to a file for our error."""
    sys.stderr.flush()
    with tempfile.TemporaryFile() as handle:
        saved = os.dup(2)
        try:
            os.dup2(handle.fileno(), 2)
            yield _Captured(handle)
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _load_pool(path: str, folder: str) -> tuple[Any, Any]:
    try:
        with open(os.path.join(folder, DESCRIPTOR_SET), "rb") as handle:
            files = descriptor_pb2.FileDescriptorSet.FromString(handle.read()).file
    except (OSError, _message.DecodeError) as exc:
        raise ForkSchemaError(path, f"the cached compiled schema in {folder} cannot be read ({exc}); "
                                    "delete that folder to compile it again") from None
    if not files:
        raise ForkSchemaError(path, f"the cached compiled schema in {folder} is empty; delete that folder")
    main = files[-1]  # protoc lists dependencies first
    if main.package != "caffe":
        declared = f"package '{main.package}'" if main.package else "no package"
        raise ForkSchemaError(path, f"declares {declared}; --proto reads a fork's caffe.proto, whose package "
                                    "is 'caffe' (its messages must be caffe.NetParameter, caffe.LayerParameter, …)")
    pool = descriptor_pool.DescriptorPool()
    for file in files:
        pool.Add(file)
    try:
        net_type = pool.FindMessageTypeByName("caffe.NetParameter")
    except KeyError:
        raise ForkSchemaError(path, "has no message NetParameter in package caffe") from None
    return pool, message_factory.GetMessageClass(net_type)


def parse_with_fork_schema(text: str, source: str, proto: str, *,
                           allow_unknown_fields: bool = False) -> ForkNet:
    """Parse `text` with the fork schema `proto`, then copy it into our NetParameter by field name."""
    schema = load_fork_schema(proto)
    fork_net = schema.net_class()
    skipped: list[SkippedField] = []
    parse_message(text, source, fork_net, allow_unknown_fields=allow_unknown_fields, skipped=skipped)
    net = caffe_pb2.NetParameter()
    copy = _Copy()
    copy.message(fork_net, net)
    state = "compiled earlier, from the cache" if schema.from_cache else "compiled now"
    notices = [f"read with {schema.label} ({state}; sha256 {schema.digest[:12]}), then copied into "
               "blobcalc's schema by field name", *copy.notices()]
    return ForkNet(net, schema, tuple(notices), tuple(skipped))


class _Copy:
    """Copies a fork message into ours field by field, matching by *name*.

    Why by name and not by number (a binary round trip): the text names its fields, and forks reuse each
    other's numbers for different fields (many take 147 and up in LayerParameter), so a number can mean
    another field in our schema and would silently fill it. A fork field whose name our schema lacks (or
    has with an incompatible type) is kept as an unknown field under its own number when ours leaves that
    number free (rules read it with fork_field()), and is dropped otherwise; each is reported once."""

    def __init__(self) -> None:
        self.kept: dict[str, int] = {}  # "Message.field" → its number, kept as an unknown field
        self.dropped: dict[str, str] = {}  # "Message.field" → why
        self.defaults: dict[str, str] = {}  # "Message.field" → the fork's default, used instead of ours

    def notices(self) -> list[str]:
        lines = [f"field {name} (number {number}) of the fork schema is not in blobcalc's schema: kept as an "
                 "unknown field, which built-in rules ignore (a user rule reads it with fork_field())"
                 for name, number in sorted(self.kept.items())]
        lines += [f"field {name} of the fork schema is left out of the analysis: {why}"
                  for name, why in sorted(self.dropped.items())]
        lines += [f"field {name} is not set and the fork's default ({value}) differs from ours: the fork's is used"
                  for name, value in sorted(self.defaults.items())]
        return lines

    def message(self, source: Any, target: Any) -> None:
        ours_by_name = target.DESCRIPTOR.fields_by_name
        for field, value in source.ListFields():
            ours = ours_by_name.get(field.name)
            label = f"{source.DESCRIPTOR.name}.{field.name}"
            why = _incompatible(field, ours)
            if why:
                self._keep_unknown(source, field, value, target, label, why)
            elif field.type == _FD.TYPE_MESSAGE:
                if field.is_repeated:
                    for item in value:
                        self.message(item, getattr(target, field.name).add())
                else:
                    child = getattr(target, field.name)
                    child.SetInParent()  # an empty block is still present, as in the fork's message
                    self.message(value, child)
            else:
                self._scalar(field, value, ours, target, label)
        self._fork_defaults(source, target)

    def _scalar(self, field: Any, value: Any, ours: Any, target: Any, label: str) -> None:
        values = list(value) if field.is_repeated else [value]
        if field.type == _FD.TYPE_ENUM:  # by value name: forks number their enum values their own way
            mapped = [_enum_number(field, item, ours) for item in values]
            if any(item is None for item in mapped):
                names = [field.enum_type.values_by_number[item].name for item, number in zip(values, mapped,
                                                                                             strict=True)
                         if number is None]
                self.dropped[label] = f"value {', '.join(names)} is not in our enum {ours.enum_type.name}"
                return
            values = mapped
        try:
            if field.is_repeated:
                getattr(target, field.name).extend(values)
            else:
                setattr(target, field.name, values[0])
        except (ValueError, TypeError) as exc:  # e.g. an int64 value beyond our int32 field
            self.dropped[label] = f"its value does not fit our field ({exc})"

    def _keep_unknown(self, source: Any, field: Any, value: Any, target: Any, label: str, why: str) -> None:
        if field.number in target.DESCRIPTOR.fields_by_number:
            other = target.DESCRIPTOR.fields_by_number[field.number].name
            self.dropped[label] = f"{why}, and its number {field.number} is our field '{other}'"
            return
        alone = type(source)()  # the field on its own, serialized: its tag and value, as the fork encodes it
        if field.is_repeated:
            if field.type == _FD.TYPE_MESSAGE:
                for item in value:
                    getattr(alone, field.name).add().CopyFrom(item)
            else:
                getattr(alone, field.name).extend(value)
        elif field.type == _FD.TYPE_MESSAGE:
            getattr(alone, field.name).CopyFrom(value)
        else:
            setattr(alone, field.name, value)
        target.MergeFromString(alone.SerializeToString())  # our schema lacks the number: an unknown field
        self.kept[label] = field.number

    def _fork_defaults(self, source: Any, target: Any) -> None:
        """A present message's unset fields take the fork's defaults in the fork's Caffe: where those
        differ from ours, set them, so that our rules see what the fork's Caffe would."""
        ours_by_name = target.DESCRIPTOR.fields_by_name
        for field in source.DESCRIPTOR.fields:
            ours = ours_by_name.get(field.name)
            if (field.is_repeated or field.type == _FD.TYPE_MESSAGE or not field.has_presence
                    or source.HasField(field.name) or _incompatible(field, ours)):
                continue
            fork_default = field.default_value
            if field.type == _FD.TYPE_ENUM:
                fork_default = _enum_number(field, fork_default, ours)
                if fork_default is None:
                    continue
            if fork_default != ours.default_value and not target.HasField(field.name):
                try:
                    setattr(target, field.name, fork_default)
                except (ValueError, TypeError):
                    continue
                self.defaults[f"{source.DESCRIPTOR.name}.{field.name}"] = repr(field.default_value)


_INTEGERS = frozenset({_FD.CPPTYPE_INT32, _FD.CPPTYPE_INT64, _FD.CPPTYPE_UINT32, _FD.CPPTYPE_UINT64})
_FLOATS = frozenset({_FD.CPPTYPE_FLOAT, _FD.CPPTYPE_DOUBLE})


def _incompatible(fork: Any, ours: Any) -> str:
    """Why the fork's field cannot be copied into our field of the same name ("" when it can)."""
    if ours is None:
        return "no field of that name"
    if fork.is_repeated != ours.is_repeated:
        return "repeated in one schema and not in the other"
    if fork.cpp_type == ours.cpp_type or {fork.cpp_type, ours.cpp_type} <= _INTEGERS \
            or {fork.cpp_type, ours.cpp_type} <= _FLOATS:
        return ""
    return f"another type in our schema ({_type_name(ours)}, the fork's is {_type_name(fork)})"


def _type_name(field: Any) -> str:
    if field.type == _FD.TYPE_MESSAGE:
        return str(field.message_type.name)
    if field.type == _FD.TYPE_ENUM:
        return str(field.enum_type.name)
    names = {number: name.removeprefix("TYPE_").lower() for name, number in vars(_FD).items()
             if name.startswith("TYPE_") and isinstance(number, int)}
    return str(names.get(field.type, "?"))


def _enum_number(fork: Any, number: int, ours: Any) -> int | None:
    value = fork.enum_type.values_by_number.get(number)
    mapped = ours.enum_type.values_by_name.get(value.name) if value is not None else None
    return None if mapped is None else int(mapped.number)


def fork_field(message: _message.Message, name: str) -> Any:
    """For a user rule: the value of the fork-only field `name` of `message` (e.g. a LayerParameter), read
    with the fork schema loaded last (--proto); None when the field is not set or no schema defines it.

    A message value is the fork's message object (fields by name, as in the fork's caffe.proto)."""
    if not _LAST:
        return None
    try:
        pool_type = _LAST[0].pool.FindMessageTypeByName(message.DESCRIPTOR.full_name)
    except KeyError:
        return None
    field = pool_type.fields_by_name.get(name)
    if field is None:
        return None
    encoded = b"".join(_encode(item) for item in unknown_fields.UnknownFieldSet(message)
                       if item.field_number == field.number)
    if not encoded:
        return None
    decoded = message_factory.GetMessageClass(pool_type).FromString(encoded)
    if not field.is_repeated and not decoded.HasField(name):
        return None
    return getattr(decoded, name)


def _encode(item: Any) -> bytes:
    """One unknown field back into its wire bytes (tag, then value)."""
    wire_type, data = item.wire_type, item.data
    tag = encode_varint(item.field_number << 3 | wire_type)
    if wire_type == 0:
        return tag + encode_varint(data)
    if wire_type == 1:
        return tag + int(data).to_bytes(8, "little")
    if wire_type == 5:
        return tag + int(data).to_bytes(4, "little")
    if wire_type == 2:
        return tag + encode_varint(len(data)) + bytes(data)
    return b""  # groups (wire types 3 and 4) are not used by Caffe's schemas



