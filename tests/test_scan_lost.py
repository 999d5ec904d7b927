"""No lost scan: names that are not UTF-8 are written back byte for byte, a killed worker's files are
analysed again (only the file that kills it gets an error row), Ctrl-C and SIGTERM write the rows so far,
the output is replaced only at the end, and a scan never reads or destroys its own output."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest

from blobcalc import scan_pool
from blobcalc.cli import main
from blobcalc.scan import Analysed, Candidate, ScanOptions, analyse_file, scan
from blobcalc.scan_walk import TEMP_PREFIX
from tests.golden_support import CORPUS

PROJECT = Path(__file__).resolve().parent.parent
LENET = (PROJECT / "blobcalc" / "examples" / "lenet.prototxt").read_text()


def test_names_that_are_not_utf8_are_written_losslessly(tmp_path: Path) -> None:
    name = b"r\xe9seau-\xff.prototxt"  # Latin-1 bytes: not UTF-8
    (tmp_path / "zoo").mkdir()
    folder = os.fsencode(tmp_path / "zoo")
    with open(os.path.join(folder, name), "w") as handle:
        handle.write(LENET)
    for format_name in ("jsonl", "csv", "table", "json"):
        output = tmp_path / f"rows.{format_name}"
        assert main(["scan", str(tmp_path / "zoo"), "--format", format_name, "-o", str(output), "--no-cache"]) == 0
        data = output.read_bytes()
        if format_name == "jsonl":
            [row] = [json.loads(line) for line in data.splitlines()]
            assert os.fsencode(row["path"]) == os.path.join(folder, name) and row["status"] == "ok"
        elif format_name == "json":
            assert os.fsencode(json.loads(data)["rows"][0]["path"]) == os.path.join(folder, name)
        else:
            assert os.path.join(folder, name) in data


def suicidal_analysis(candidate: Candidate, options: ScanOptions) -> Analysed:
    """The analysis, except that the worker dies (as under the OOM killer) on files named kill-*."""
    if os.path.basename(candidate.path).startswith("kill-"):
        os.kill(os.getpid(), signal.SIGKILL)
    return analyse_file(candidate, options)


def test_a_killed_worker_loses_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for index in range(12):
        (tmp_path / f"net{index:02d}.prototxt").write_text(LENET)
    (tmp_path / "kill-me.prototxt").write_text(LENET)
    monkeypatch.setattr(scan_pool, "analyse_file", suicidal_analysis)  # workers are forked: they see it
    rows = list(scan([tmp_path], ScanOptions(), jobs=2))
    assert [Path(row.path).name for row in rows] == sorted(p.name for p in tmp_path.iterdir())
    by_name = {Path(row.path).name: row for row in rows}
    assert by_name["kill-me.prototxt"].status == "error" and "died" in by_name["kill-me.prototxt"].message
    assert all(row.status == "ok" for name, row in by_name.items() if name != "kill-me.prototxt")


class PoolBrokenAtSubmit:
    """A process pool whose workers died between two waits: the first pool refuses its fourth file at
    submit (as ProcessPoolExecutor does once broken) after finishing the first three; later pools work."""

    pools = 0

    def __init__(self, max_workers: int, initializer: object = None) -> None:
        type(self).pools += 1
        self.broken = type(self).pools == 1
        self.submitted = 0

    def submit(self, fn: object, candidate: Candidate, options: ScanOptions) -> Future[Analysed]:
        self.submitted += 1
        if self.broken and self.submitted > 3:
            raise BrokenProcessPool("A child process terminated abruptly")
        future: Future[Analysed] = Future()
        future.set_result(analyse_file(candidate, options))
        return future

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        pass


def test_a_pool_broken_at_submit_loses_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for index in range(8):
        (tmp_path / f"net{index:02d}.prototxt").write_text(LENET)
    monkeypatch.setattr(PoolBrokenAtSubmit, "pools", 0)
    monkeypatch.setattr(scan_pool, "ProcessPoolExecutor", PoolBrokenAtSubmit)
    rows = list(scan([tmp_path], ScanOptions(), jobs=2))
    assert PoolBrokenAtSubmit.pools >= 2
    assert [Path(row.path).name for row in rows] == sorted(p.name for p in tmp_path.iterdir())
    assert all(row.status == "ok" for row in rows)


def slow_tree(tmp_path: Path) -> Path:
    """Enough nets that a one-process scan runs for seconds."""
    if not CORPUS.exists():
        pytest.skip("../shared/corpus is not beside this checkout")
    root = tmp_path / "zoo"
    shutil.copytree(CORPUS, root)
    return root


@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_writes_the_rows_so_far(tmp_path: Path, signal_number: int) -> None:
    root = slow_tree(tmp_path)
    output = tmp_path / "rows.jsonl"
    output.write_text("the previous scan\n")
    command = [sys.executable, "-m", "blobcalc", "scan", str(root), "--format", "jsonl", "-o", str(output),
               "--jobs", "2", "--no-cache"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not any(p.name.startswith(TEMP_PREFIX) for p in tmp_path.iterdir()):  # rows are being written
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    assert output.read_text() == "the previous scan\n"  # never emptied at the start
    time.sleep(0.3)
    process.send_signal(signal_number)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signal_number, stderr
    assert f"scan interrupted by {signal.Signals(signal_number).name}" in stderr.decode()
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    files = sorted(str(p) for p in root.rglob("*") if p.is_file())
    assert [row["path"] for row in rows] == files  # every path exactly once, in order
    unscanned = [row for row in rows if row["kind"] == "unscanned"]
    assert unscanned and all("interrupted" in row["message"] for row in unscanned)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(TEMP_PREFIX)]


def test_scan_x_output_x_is_refused(tmp_path: Path) -> None:
    net = tmp_path / "net.prototxt"
    net.write_text(LENET)
    assert main(["scan", str(net), "-o", str(net)]) == 2
    assert net.read_text() == LENET
    assert main(["scan", str(tmp_path), "-o", str(tmp_path)]) == 2


def test_a_rescan_never_reads_its_own_output(tmp_path: Path) -> None:
    (tmp_path / "net.prototxt").write_text(LENET)
    output = tmp_path / "rows.prototxt"  # even under a name the scan would otherwise read
    for _ in range(2):
        assert main(["scan", str(tmp_path), "--format", "jsonl", "-o", str(output)]) == 0
        assert [Path(json.loads(line)["path"]).name for line in output.read_text().splitlines()] == ["net.prototxt"]
    link = tmp_path / "link.jsonl"
    os.symlink(output, link)  # reached by another name: the same file
    assert main(["scan", str(tmp_path), "--format", "jsonl", "-o", str(link), "--follow-links"]) == 0
    assert [Path(json.loads(line)["path"]).name for line in output.read_text().splitlines()] == ["net.prototxt"]


def test_a_failed_scan_leaves_the_previous_output(tmp_path: Path) -> None:
    (tmp_path / "net.prototxt").write_text(LENET)
    output = tmp_path / "out" / "rows.csv"
    output.parent.mkdir()
    output.write_text("previous\n")
    assert main(["scan", str(tmp_path / "net.prototxt"), "-o", str(output), "--jobs", "0"]) == 2
    assert output.read_text() == "previous\n"


def test_a_fifo_swapped_in_during_the_scan_is_never_opened(tmp_path: Path) -> None:
    net = tmp_path / "net.prototxt"
    net.write_text(LENET)
    [candidate] = [c for c in scan_candidates_of(tmp_path)]
    net.unlink()
    os.mkfifo(net)  # listed as a file, a FIFO when it is read: no hang
    row = analyse_file(candidate, ScanOptions()).row
    assert (row.kind, row.status) == ("special", "skipped") and "FIFO" in row.message


def scan_candidates_of(root: Path) -> list[Candidate]:
    from blobcalc.scan import discover

    return discover([str(root)])


def test_an_html_scan_never_reads_its_index_or_its_reports(tmp_path: Path) -> None:
    (tmp_path / "net.prototxt").write_text(LENET)
    index = tmp_path / "index.html"
    for _ in range(2):
        assert main(["scan", str(tmp_path), "--format", "html", "-o", str(index), "--jobs", "1"]) == 0
        assert "1 files: 1 ok | 1 net" in index.read_text()  # neither the index nor a report page was a row
    assert len(list((tmp_path / "index_reports").iterdir())) == 1
