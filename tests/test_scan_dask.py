"""A scan on a local multi-process Dask cluster gives the rows of a local scan, in the same order and
format, also when a worker dies mid-scan (Dask reschedules its tasks)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from blobcalc import scan_dask
from blobcalc.scan import ScanOptions, scan
from blobcalc.scan_format import render_jsonl_row
from tests.golden_support import CORPUS

distributed = pytest.importorskip("distributed", reason="the [dask] extra is part of the dev extras")


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as local:
        yield local


@pytest.fixture(scope="module")
def local_rows() -> list[str]:
    if not CORPUS.exists():
        assert not os.environ.get("CI"), "../shared/corpus is missing under CI"
        pytest.skip("../shared/corpus is not beside this checkout")
    return [render_jsonl_row(row) for row in scan([CORPUS], ScanOptions(), jobs=2)]


def test_a_dask_scan_gives_the_rows_of_a_local_scan(cluster: Any, local_rows: list[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scan_dask, "BATCH_FILES", 16)  # many tasks, not one
    with distributed.Client(cluster) as client:
        rows = [render_jsonl_row(row) for row in scan([CORPUS], ScanOptions(), dask=client)]
    assert rows == local_rows


def test_a_dead_worker_loses_no_row(cluster: Any, local_rows: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scan_dask, "BATCH_FILES", 8)
    with distributed.Client(cluster) as client:
        rows = scan([CORPUS], ScanOptions(), dask=client)
        first = [render_jsonl_row(next(rows))]
        victims = client.run(os.getpid)  # {worker address: pid}
        os.kill(next(iter(victims.values())), signal.SIGKILL)  # as the OOM killer would
        got = first + [render_jsonl_row(row) for row in rows]
    assert got == local_rows


def test_the_cli_scans_on_a_cluster(cluster: Any, local_rows: list[str], tmp_path: Path) -> None:
    command = [sys.executable, "-m", "blobcalc", "scan", str(CORPUS), "--format", "jsonl", "--no-cache",
               "--dask", cluster.scheduler_address]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 1, result.stderr  # the corpus holds nets that Caffe refuses
    assert [json.loads(line) for line in result.stdout.splitlines()] == [json.loads(r) for r in local_rows]


def test_bad_dask_addresses_are_usage_errors(capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from blobcalc.cli import main

    monkeypatch.setattr(scan_dask, "CONNECT_TIMEOUT", "1s")
    assert main(["scan", str(CORPUS), "--dask", "local:many"]) == 2
    assert "--dask local:N takes a number of workers" in capsys.readouterr().err
    assert main(["scan", str(CORPUS), "--dask", "tcp://127.0.0.1:9", "--no-cache"]) == 2
    assert "cannot reach the Dask scheduler" in capsys.readouterr().err
