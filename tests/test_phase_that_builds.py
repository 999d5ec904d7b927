"""A net that only builds in TRAIN (its data layer is included in TRAIN only, as SSD's and YOLO's
train.prototxt files are written) is analysed in TRAIN with one notice, in every command and in scan rows;
an explicit --phase that does not build names the phase that does."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from blobcalc import analyze
from blobcalc.api import report
from blobcalc.cli import main
from blobcalc.errors import GraphError
from blobcalc.scan import ScanOptions, scan
from tests.golden_support import CORPUS

SSD_TRAIN = CORPUS / "chuanqi305__MobileNet-SSD/train.prototxt"
YOLO_TRAIN = CORPUS / "eric612__MobileNet-YOLO/models__darknet_yolov3__yolov3-train.prototxt"
NOTICE = ("phase TRAIN: the net does not build in the TEST phase (layer 'conv0' needs bottom 'data', which only "
          "the TRAIN phase produces); --phase TEST shows the error")


@pytest.fixture(autouse=True)
def _corpus() -> None:
    if not SSD_TRAIN.exists():
        pytest.fail("../shared/corpus is not beside this checkout")


def test_api_analyzes_the_phase_that_builds() -> None:
    analysis = analyze(str(SSD_TRAIN))
    assert analysis.phase == "TRAIN"
    assert analysis.phase_notice == NOTICE
    assert analysis.notices.count(NOTICE) == 1
    assert analysis.param_count == 5_821_468
    full = report(str(SSD_TRAIN))
    assert full.analysis.phase == "TRAIN" and full.memory.training_total is not None


def test_an_explicit_phase_names_the_phase_to_try() -> None:
    with pytest.raises(GraphError, match=r"in the TEST phase; the TRAIN phase builds: try --phase TRAIN"):
        analyze(str(SSD_TRAIN), phase="TEST")


NEITHER_BUILDS = (
    'name: "neither" '
    'layer { name: "data" type: "Input" top: "data" include { phase: TRAIN } '
    "input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } } } "
    'layer { name: "other" type: "Input" top: "other" include { phase: TRAIN } '
    "input_param { shape { dim: 1 dim: 3 dim: 4 dim: 4 } } } "
    'layer { name: "sum" type: "Eltwise" bottom: "data" bottom: "other" top: "sum" include { phase: TRAIN } } '
    'layer { name: "relu" type: "ReLU" bottom: "data" top: "relu" }')


def test_neither_phase_builds_says_both_reasons() -> None:
    with pytest.raises(GraphError, match=r"in the TEST phase; the TRAIN phase does not build either: layer "
                                         r"'sum' \(Eltwise\)"):
        analyze(NEITHER_BUILDS)


def test_yolo_train_net_builds_in_train() -> None:
    """eric612's yolov3-train net (once 'neither phase builds'): its data layer is TRAIN-only and,
    with yolo_data_type 1, its labels [2, 1, 300, 5] meet the Yolov3 losses' batch of 2."""
    analysis = analyze(str(YOLO_TRAIN))
    assert analysis.phase == "TRAIN"
    assert analysis.phase_notice.startswith("phase TRAIN: the net does not build in the TEST phase")


def test_analyze_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", str(SSD_TRAIN)]) == 0
    out = capsys.readouterr().out
    assert "phase: TRAIN" in out.splitlines()[0]
    assert out.count(f"notice: {NOTICE}") == 1
    assert main(["analyze", str(SSD_TRAIN), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["phase"] == "TRAIN"
    assert main(["analyze", str(SSD_TRAIN), "--phase", "TEST"]) == 1
    assert "try --phase TRAIN" in capsys.readouterr().err


def test_report_graph_and_fit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = tmp_path / "r.html"
    assert main(["report", str(SSD_TRAIN), "-o", str(page), "--no-graph"]) == 0
    assert "phase TRAIN: the net does not build in the TEST phase" in page.read_text()
    assert main(["graph", str(SSD_TRAIN), "-o", str(tmp_path / "g.dot")]) == 0
    assert capsys.readouterr().err.count(NOTICE) == 1
    assert main(["fit", str(SSD_TRAIN), "--memory", "11GiB", "--train"]) == 0
    out = capsys.readouterr().out
    assert out.count(f"notice: {NOTICE}") == 1
    assert "largest batch for training" in out


def test_scan_rows_say_the_phase() -> None:
    rows = list(scan([str(SSD_TRAIN)], ScanOptions()))
    assert [row.status for row in rows] == ["ok"]
    assert rows[0].notes[0] == NOTICE
    assert rows[0].training_bytes is not None
