"""Opening input files without ever blocking: every file blobcalc reads (nets, solvers, weights, .proto
schemas and their imports, scanned files) is opened here.

A FIFO blocks `open()` until a writer appears, a terminal blocks `read()` until someone types, and
/dev/zero or /dev/urandom never end. So a file is opened with O_NONBLOCK (a FIFO opens at once), checked
to be a regular file with fstat on the open descriptor (so a file swapped for a FIFO after a stat()
is still caught), and read with a bound. O_NONBLOCK stays set: /proc files that would block
(/proc/kmsg) then fail at once instead of waiting.
"""
from __future__ import annotations

import errno
import os
import stat
from typing import BinaryIO

from blobcalc.errors import InputFileError

OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
_READ_CHUNK = 1 << 20


def file_kind(mode: int) -> str:
    """What a non-regular file is, in words."""
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def open_regular_file(path: str, expected: str = "a regular file") -> BinaryIO:
    """`path` opened for binary reading, never blocking, and only if it is a regular file; otherwise an
    InputFileError that says what it is ("is a FIFO (named pipe), not a prototxt file: ..."). `expected`
    names what the caller wanted ("a prototxt file", "a .caffemodel file")."""
    try:
        descriptor = os.open(path, OPEN_FLAGS)
    except FileNotFoundError:
        raise InputFileError(path, "no such file") from None
    except IsADirectoryError:
        raise InputFileError(path, f"is a directory, not {expected}") from None
    except OSError as exc:
        raise InputFileError(path, f"cannot read: {exc.strerror or exc}") from None
    try:
        mode = os.fstat(descriptor).st_mode
        if not stat.S_ISREG(mode):
            kind = file_kind(mode)
            why = ("" if stat.S_ISDIR(mode)
                   else " (blobcalc reads only regular files: this one could block or never end)")
            raise InputFileError(path, f"is {kind}, not {expected}{why}")
        return os.fdopen(descriptor, "rb", buffering=0)
    except BaseException:
        os.close(descriptor)
        raise


def read_bounded(handle: BinaryIO, path: str, max_bytes: int | None) -> bytes:
    """All of `handle`, refused once it holds more than `max_bytes` bytes (None: no bound; the file is
    regular, so it ends). A read that would block is an InputFileError, not a wait."""
    size = os.fstat(handle.fileno()).st_size
    if max_bytes is not None and size > max_bytes:
        raise InputFileError(path, f"file is {size} bytes, over the limit of {max_bytes} bytes")
    chunks: list[bytes] = []
    total = 0
    while True:
        want = _READ_CHUNK if max_bytes is None else min(_READ_CHUNK, max_bytes + 1 - total)
        try:
            chunk = handle.read(want)
        except BlockingIOError:
            raise InputFileError(path, "cannot read without waiting (a special file that blocks)") from None
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
                raise InputFileError(path, "cannot read without waiting (a special file that blocks)") from None
            raise InputFileError(path, f"cannot read: {exc.strerror or exc}") from None
        if chunk is None:  # a non-blocking read with nothing to give
            raise InputFileError(path, "cannot read without waiting (a special file that blocks)")
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        total += len(chunk)
        if max_bytes is not None and total > max_bytes:
            # A /proc or sysfs file reports size 0 and may hold more: the bound is on what is read.
            raise InputFileError(path, f"holds more than {max_bytes} bytes, over the limit")


def read_regular_file(path: str, max_bytes: int | None, expected: str = "a regular file") -> bytes:
    """The bytes of the regular file `path`, at most `max_bytes` of them (else an InputFileError);
    never blocks (see open_regular_file)."""
    with open_regular_file(path, expected) as handle:
        return read_bounded(handle, path, max_bytes)
