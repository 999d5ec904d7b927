"""Never block (issue #14, item 2): every file input, whatever command reads it, is refused at once when it
is a FIFO, a character device or a /proc file that would block, with a one-line error and exit 1."""
from __future__ import annotations

import os
import signal
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from blobcalc import cli
from blobcalc.errors import InputFileError
from blobcalc.regular_files import file_kind, read_regular_file

PROJECT = Path(__file__).resolve().parent.parent
LENET = str(PROJECT / "blobcalc" / "examples" / "lenet.prototxt")
WATCHDOG_SECONDS = 30  # a blocked open or read is interrupted and fails the test instead of hanging it

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo") or not hasattr(signal, "SIGALRM"),
                                reason="needs FIFOs and SIGALRM (POSIX)")


class Blocked(Exception):
    pass


@pytest.fixture(autouse=True)
def watchdog() -> Iterator[None]:
    def interrupt(signum: int, frame: object) -> None:
        raise Blocked("blobcalc blocked on a special file")

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.alarm(WATCHDOG_SECONDS)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture()
def fifo(tmp_path: Path) -> str:
    path = tmp_path / "net.prototxt"
    os.mkfifo(path)
    return str(path)


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = cli.main(argv)
    err = capsys.readouterr().err
    return code, err


def command_lines(special: str, tmp_path: Path) -> list[list[str]]:
    """Every way a file reaches blobcalc, with `special` in that place."""
    solver = tmp_path / "solver.prototxt"
    solver.write_text(f'net: "{special}"\nbase_lr: 0.01\n', encoding="utf-8")
    importing = tmp_path / "fork.proto"
    importing.write_text(f'syntax = "proto2";\nimport "{os.path.basename(special)}";\npackage caffe;\n',
                         encoding="utf-8")
    return [
        ["analyze", special],
        ["analyze", special, "--format", "json"],
        ["upgrade", special],
        ["graph", special, "-o", str(tmp_path / "g.dot")],
        ["report", special, "--no-graph", "-o", str(tmp_path / "r.html")],
        ["fit", special, "--memory", "1GiB"],
        ["analyze", "--solver", special],
        ["analyze", "--solver", str(solver)],
        ["analyze", LENET, "--solver", special],
        ["audit", LENET, "--weights", special],
        ["audit", special, "--weights", special],
        ["analyze", LENET, "--proto", special],
    ]


def test_a_fifo_anywhere_is_refused_at_once(fifo: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in command_lines(fifo, tmp_path):
        code, err = run(argv, capsys)
        assert code == 1, (argv, err)
        assert err.count("\n") == 1 and "Traceback" not in err, (argv, err)
        assert "is a FIFO (named pipe), not a" in err, (argv, err)


def test_a_fifo_imported_by_a_proto_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    os.mkfifo(tmp_path / "extra.proto")
    proto = tmp_path / "fork.proto"
    proto.write_text('syntax = "proto2";\nimport "extra.proto";\npackage caffe;\n', encoding="utf-8")
    code, err = run(["analyze", LENET, "--proto", str(proto)], capsys)
    assert code == 1
    assert "extra.proto: is a FIFO (named pipe), not a .proto file" in err


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom", "/dev/null"])
def test_character_devices_are_refused(device: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if not os.path.exists(device):
        pytest.skip(f"no {device}")
    for argv in command_lines(device, tmp_path):
        code, err = run(argv, capsys)
        assert code == 1, (argv, err)
        assert "is a character device, not a" in err, (argv, err)


def test_a_terminal_like_device_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    """A pseudo-terminal's other end: a read would wait for someone to type."""
    leader, follower = os.openpty()
    try:
        name = os.ttyname(follower)
        code, err = run(["analyze", name], capsys)
        assert code == 1
        assert f"{name}: is a character device, not a prototxt file" in err
    finally:
        os.close(leader)
        os.close(follower)


def test_a_blocking_proc_file_fails_instead_of_waiting(capsys: pytest.CaptureFixture[str]) -> None:
    """/proc/kmsg is a regular file that blocks until the kernel logs something (root only)."""
    try:
        with open("/proc/kmsg", "rb", buffering=0):
            pass
    except OSError:
        pytest.skip("/proc/kmsg is not readable here")
    code, err = run(["analyze", "/proc/kmsg"], capsys)
    assert code == 1
    assert err.startswith("blobcalc: error: /proc/kmsg: ")


def test_a_proc_file_is_read_with_a_bound() -> None:
    """Files of /proc report size 0: the bound applies to what is read."""
    with pytest.raises(InputFileError, match=r"holds more than 10 bytes, over the limit"):
        read_regular_file("/proc/self/status", 10)


def test_fstat_after_open_catches_a_file_swapped_for_a_fifo(tmp_path: Path) -> None:
    """A check by name (stat, then open) can be raced; the check on the open descriptor cannot."""
    path = tmp_path / "net.prototxt"
    path.write_text("name: 'x'\n", encoding="utf-8")
    assert stat.S_ISREG(os.stat(path).st_mode)
    path.unlink()
    os.mkfifo(path)  # swapped after the stat a scanner made
    with pytest.raises(InputFileError, match=r"is a FIFO \(named pipe\), not a regular file"):
        read_regular_file(str(path), 1000)


def test_file_kinds_are_named() -> None:
    assert file_kind(stat.S_IFIFO) == "a FIFO (named pipe)"
    assert file_kind(stat.S_IFCHR) == "a character device"
    assert file_kind(stat.S_IFBLK) == "a block device"
    assert file_kind(stat.S_IFSOCK) == "a socket"
    assert file_kind(stat.S_IFDIR) == "a directory"
