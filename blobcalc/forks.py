"""Which fork-only fields a parsed message uses, read from our schema's `(caffe.fork)` field option."""
from __future__ import annotations

from google.protobuf import descriptor, message

from blobcalc import caffe_pb2

_FORK_OPTION = caffe_pb2.fork


_FORK_OF: dict[str, str] = {}  # field full name → fork ("" for BVLC), read once per field


def field_fork(field: descriptor.FieldDescriptor) -> str:
    """The fork that defines `field`, or "" for a BVLC Caffe field."""
    fork = _FORK_OF.get(field.full_name)
    if fork is None:
        options = field.GetOptions()
        fork = str(options.Extensions[_FORK_OPTION]) if options.HasExtension(_FORK_OPTION) else ""
        _FORK_OF[field.full_name] = fork
    return fork


def fork_fields_used(root: message.Message) -> tuple[str, ...]:
    """'Message.field (fork)' for every fork-only field set anywhere in `root`, sorted, once each."""
    found: set[str] = set()
    pending = [root]
    while pending:
        current = pending.pop()
        for field, value in current.ListFields():
            fork = field_fork(field)
            if fork:
                found.add(f"{field.containing_type.name}.{field.name} ({fork})")
            if field.type == descriptor.FieldDescriptor.TYPE_MESSAGE:
                if isinstance(value, message.Message):
                    pending.append(value)
                else:  # a repeated message field
                    pending.extend(value)
    return tuple(sorted(found))
