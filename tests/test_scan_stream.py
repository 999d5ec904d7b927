"""The scan as a stream of rows for a Python pipeline, and the progress line a terminal shows."""
from __future__ import annotations

import io
from pathlib import Path

import pytest

from blobcalc.cli import main
from blobcalc.scan import Candidate, ScanRow, scan
from blobcalc.scan_format import row_dict
from blobcalc.scan_progress import ProgressState, ScanProgress, progress_line

PROJECT = Path(__file__).resolve().parent.parent
LENET = (PROJECT / "blobcalc" / "examples" / "lenet.prototxt").read_text()


def test_rows_stream_one_at_a_time(tmp_path: Path) -> None:
    for index in range(5):
        (tmp_path / f"net{index}.prototxt").write_text(LENET)
    finished: list[str] = []

    def on_file(candidate: Candidate, row: ScanRow, cached: bool) -> None:
        finished.append(candidate.path)

    rows = scan([tmp_path], on_file=on_file)
    first = next(rows)
    assert first.path.endswith("net0.prototxt") and len(finished) == 1  # the rest is not analysed yet
    assert [row.path for row in rows] == [str(tmp_path / f"net{i}.prototxt") for i in range(1, 5)]
    assert len(finished) == 5


def test_rows_become_plain_records(tmp_path: Path) -> None:
    (tmp_path / "net.prototxt").write_text(LENET)
    [record] = [row_dict(row) for row in scan([tmp_path])]  # e.g. pandas.DataFrame(map(row_dict, rows))
    assert record["params"] == 431080 and record["unknown_types"] == [] and record["kind"] == "net"


def test_the_progress_line_counts_files_and_bytes_with_a_rate_and_time_left() -> None:
    state = ProgressState(files_done=60, files_total=268, bytes_done=2 * 2**20, bytes_total=8 * 2**20, cached=20,
                          analysed_bytes=2**20, seconds=2.0)
    line = progress_line(state)
    # 40 files analysed in 2 s; 6 MiB left at 0.5 MiB/s: 12 s.
    assert line == ("scan 60/268 files (20 cached) · 2.00 MiB/8.00 MiB · 20 files/s 512.00 KiB/s · 0:12 left")
    early = ProgressState(1, 268, 100, 8 * 2**20, 0, 100, 0.1)
    assert progress_line(early).endswith("measuring rate")  # no rate before there is anything to measure


def test_the_progress_line_is_redrawn_in_place_and_erased() -> None:
    stream = io.StringIO()
    progress = ScanProgress(stream, files_total=2, bytes_total=300, interval=0.0)
    progress.file_done(100, cached=True)
    progress.file_done(200, cached=False)
    progress.close()
    drawn = stream.getvalue().split("\r")
    assert drawn[1].startswith("scan 1/2 files (1 cached) · 100 B/300 B")
    assert drawn[2].startswith("scan 2/2 files (1 cached) · 300 B/300 B")
    assert drawn[-1] == "" and drawn[-2].strip() == ""


def test_no_progress_when_standard_error_is_not_a_terminal(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "net.prototxt").write_text(LENET)
    main(["scan", str(tmp_path), "--format", "jsonl"])
    assert "\r" not in capsys.readouterr().err
