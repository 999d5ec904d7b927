"""Protobuf wire format written by hand for the weights tests and fuzzers, independently of
blobcalc.wire (so a bug there cannot hide in the files the tests build)."""
from __future__ import annotations


def varint(value: int) -> bytes:
    """A base-128 varint; negative values as their 64-bit two's complement, as protobuf writes int32."""
    value &= (1 << 64) - 1
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)
