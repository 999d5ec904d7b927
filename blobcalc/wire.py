"""Protobuf wire-format helpers shared by the weights reader and the fork-schema converter."""
from __future__ import annotations


def encode_varint(value: int) -> bytes:
    """A base-128 varint; negative numbers as protobuf writes them (64-bit two's complement)."""
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)
