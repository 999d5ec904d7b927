"""Solvers as people store them: a model zoo's solver names `models/bvlc_alexnet/train_val.prototxt`, and
the user downloaded train_val.prototxt next to it. The net is found by its file name beside the solver (and
the output says so); a solver given where a net is expected is analysed as --solver."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from blobcalc import analyze
from blobcalc.api import report
from blobcalc.cli import main
from blobcalc.scan import OK, SOLVER, ScanOptions, scan
from blobcalc.solver import SolverError, plan_solver
from tests.golden_support import CORPUS

BVLC = CORPUS / "BVLC__caffe"


@pytest.fixture
def zoo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """models/bvlc_alexnet as downloaded from the model zoo's page: solver.prototxt beside train_val.prototxt,
    run from an unrelated working directory (where Caffe itself would not find the net)."""
    if not BVLC.exists():
        pytest.fail("../shared/corpus is not beside this checkout")
    folder = tmp_path / "downloads" / "alexnet"
    folder.mkdir(parents=True)
    shutil.copy(BVLC / "models__bvlc_alexnet__solver.prototxt", folder / "solver.prototxt")
    shutil.copy(BVLC / "models__bvlc_alexnet__train_val.prototxt", folder / "train_val.prototxt")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    return folder


def test_net_found_by_its_file_name_beside_the_solver(zoo: Path) -> None:
    assert 'net: "models/bvlc_alexnet/train_val.prototxt"' in (zoo / "solver.prototxt").read_text()
    plan = plan_solver(str(zoo / "solver.prototxt"))
    assert plan.train_net.path == str(zoo / "train_val.prototxt")
    assert plan.train_net.resolution.startswith("by its file name beside the solver")
    assert [spec.path for spec in plan.test_nets] == [str(zoo / "train_val.prototxt")]
    result = report(solver=str(zoo / "solver.prototxt"))
    assert result.analysis.phase == "TRAIN"
    assert result.analysis.param_count == 60_965_224
    assert any(notice.startswith("train net: ") and "beside the solver" in notice for notice in result.notices)


def test_flattened_download_names_beside_the_solver() -> None:
    """models__bvlc_alexnet__train_val.prototxt: the path's folders joined by '__'."""
    plan = plan_solver(str(BVLC / "models__bvlc_alexnet__solver.prototxt"))
    assert plan.train_net.path == str(BVLC / "models__bvlc_alexnet__train_val.prototxt")
    assert "joined by '__'" in plan.train_net.resolution


def test_flattened_folder_of_the_solver_itself() -> None:
    """SqueezeNet_v1.0/solver.prototxt names "train_val.prototxt" of its own folder; stored flattened, the
    folder is the file names' shared prefix."""
    squeezenet = CORPUS / "forresti__SqueezeNet"
    plan = plan_solver(str(squeezenet / "SqueezeNet_v1.0__solver.prototxt"))
    assert plan.train_net.path == str(squeezenet / "SqueezeNet_v1.0__train_val.prototxt")
    assert "joined by '__'" in plan.train_net.resolution


def test_missing_net_names_every_place_tried(zoo: Path) -> None:
    (zoo / "train_val.prototxt").unlink()
    with pytest.raises(SolverError, match="nor by its file name beside the solver"):
        plan_solver(str(zoo / "solver.prototxt"))


def test_solver_given_as_a_net(zoo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    solver = str(zoo / "solver.prototxt")
    assert main(["analyze", solver]) == 0
    out = capsys.readouterr().out
    assert "phase: TRAIN" in out.splitlines()[0]
    assert f"notice: {solver} is a solver, not a net: analysed as --solver {solver}" in out
    assert "no field named" not in out
    assert analyze(solver).phase == "TRAIN"
    assert analyze(solver).param_count == 60_965_224
    assert main(["fit", solver, "--memory", "12GiB", "--train"]) == 0
    assert "largest batch for training" in capsys.readouterr().out
    assert main(["graph", solver, "-o", str(zoo / "g.dot")]) == 0


def test_a_net_that_fails_to_parse_is_not_taken_for_a_solver(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.prototxt"
    broken.write_text('name: "x"\nlayer { name: "a" type: "Input" top: "a" nonsense: 1 }\n')
    assert main(["analyze", str(broken)]) == 1
    assert "no field named \"nonsense\"" in capsys.readouterr().err


def test_scan_resolves_the_zoo_folder(zoo: Path) -> None:
    rows = {Path(row.path).name: row for row in scan([str(zoo)], ScanOptions())}
    assert rows["solver.prototxt"].kind == SOLVER
    assert rows["solver.prototxt"].status == OK, rows["solver.prototxt"].message
