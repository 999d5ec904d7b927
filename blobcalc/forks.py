"""Which fork-only fields and enum values a parsed message uses, read from our schema's `(caffe.fork)`
field option and `(caffe.fork_value)` enum value option."""
from __future__ import annotations

from collections.abc import Iterable

from google.protobuf import descriptor, message

from blobcalc import caffe_pb2

_FORK_OPTION = caffe_pb2.fork
_FORK_VALUE_OPTION = caffe_pb2.fork_value


_FORK_OF: dict[str, str] = {}  # field full name → fork ("" for BVLC), read once per field


def field_fork(field: descriptor.FieldDescriptor) -> str:
    """The fork that defines `field`, or "" for a BVLC Caffe field."""
    fork = _FORK_OF.get(field.full_name)
    if fork is None:
        options = field.GetOptions()
        fork = str(options.Extensions[_FORK_OPTION]) if options.HasExtension(_FORK_OPTION) else ""
        _FORK_OF[field.full_name] = fork
    return fork


_VALUE_FORK_OF: dict[tuple[str, int], str] = {}


def enum_value_fork(enum: descriptor.EnumDescriptor, number: int) -> str:
    """The fork that defines an enum value, or "" for a BVLC Caffe value."""
    key = (enum.full_name, number)
    fork = _VALUE_FORK_OF.get(key)
    if fork is None:
        value = enum.values_by_number.get(number)
        options = value.GetOptions() if value is not None else None
        fork = str(options.Extensions[_FORK_VALUE_OPTION]) if (
            options is not None and options.HasExtension(_FORK_VALUE_OPTION)) else ""
        _VALUE_FORK_OF[key] = fork
    return fork


_MAY_HOLD_FORK: dict[str, bool] = {}  # message full name → a fork field or value lies at or below it


def _may_hold_fork(message_type: descriptor.Descriptor) -> bool:
    """Whether any field of this message (or of a message below it) is fork-only, or an enum field
    could hold a fork value; decided once per message type, so the walk skips plain BVLC subtrees."""
    name = message_type.full_name
    known = _MAY_HOLD_FORK.get(name)
    if known is not None:
        return known
    _MAY_HOLD_FORK[name] = False  # a recursive message type is decided by its other fields
    result = False
    for field in message_type.fields:
        if field_fork(field):
            result = True
        elif field.type == descriptor.FieldDescriptor.TYPE_ENUM:
            result |= any(enum_value_fork(field.enum_type, value.number) for value in field.enum_type.values)
        elif field.type == descriptor.FieldDescriptor.TYPE_MESSAGE:
            result |= _may_hold_fork(field.message_type)
    _MAY_HOLD_FORK[name] = result
    return result


# Per field descriptor: (label of the fork field or "", an enum to check the values of, whether to walk into
# the value); worked out once per field, since the walk below meets the same fields in every layer.
_FieldPlan = tuple[str, "descriptor.EnumDescriptor | None", bool]
_PLANS: dict[descriptor.FieldDescriptor, _FieldPlan] = {}


def _plan(field: descriptor.FieldDescriptor) -> _FieldPlan:
    plan = _PLANS.get(field)
    if plan is None:
        fork = field_fork(field)
        label = f"{field.containing_type.name}.{field.name} ({fork})" if fork else ""
        is_enum = field.type == descriptor.FieldDescriptor.TYPE_ENUM
        walk = field.type == descriptor.FieldDescriptor.TYPE_MESSAGE and _may_hold_fork(field.message_type)
        plan = _PLANS[field] = (label, field.enum_type if is_enum else None, walk)
    return plan


def fork_fields_used(root: message.Message) -> tuple[str, ...]:
    """'Message.field (fork)' for every fork-only field or enum value set anywhere in `root`, sorted,
    once each."""
    found: set[str] = set()
    pending = [root] if _may_hold_fork(root.DESCRIPTOR) else []
    while pending:
        current = pending.pop()
        for field, value in current.ListFields():
            label, enum, walk = _PLANS.get(field) or _plan(field)
            if label:
                found.add(label)
            if enum is not None:
                for number in (value if isinstance(value, Iterable) else (value,)):
                    value_fork = enum_value_fork(enum, number)
                    if value_fork:
                        found.add(f"{enum.name}.{enum.values_by_number[number].name} ({value_fork})")
            elif walk:
                if isinstance(value, message.Message):
                    pending.append(value)
                else:  # a repeated message field
                    pending.extend(value)
    return tuple(sorted(found))
