"""Hostile and broken input (fixtures/bad/MANIFEST.tsv): each file gives exactly its expected one-line
message and exit code, never a traceback, never a hang, and a Python layer's module is never imported."""
from __future__ import annotations

import csv
import json
import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from blobcalc import cli
from blobcalc.api import load_source
from blobcalc.errors import InputFileError

PROJECT = Path(__file__).resolve().parent.parent
BAD = PROJECT / "fixtures" / "bad"
MANIFEST = BAD / "MANIFEST.tsv"


def manifest_rows() -> list[dict[str, str]]:
    with open(MANIFEST, newline="", encoding="utf-8") as handle:
        lines = [line for line in handle if not line.startswith("#")]
    return list(csv.DictReader(lines, delimiter="\t", quoting=csv.QUOTE_NONE))


ROWS = manifest_rows()


def test_manifest_lists_every_fixture() -> None:
    listed = {row["file"] for row in ROWS}
    present = {path.name for path in BAD.iterdir()
               if path.name not in ("MANIFEST.tsv", "make_generated.py", "__pycache__")}
    assert listed == present
    assert len(ROWS) == len(listed)  # one row per file


def test_generated_fixtures_are_up_to_date() -> None:
    # run_path compiles the script without leaving a __pycache__ in the fixtures folder.
    generated = runpy.run_path(str(BAD / "make_generated.py"))["generated"]
    for name, data in generated().items():
        assert (BAD / name).read_bytes() == data, f"run python3 fixtures/bad/make_generated.py ({name})"


@pytest.mark.parametrize("row", ROWS, ids=[row["file"] for row in ROWS])
def test_bad_input(row: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    path = str(BAD / row["file"])
    code = cli.main(["analyze", path])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    expected = row["stderr"].replace("{path}", path)
    assert (code, err) == (int(row["exit_code"]), expected + "\n" if expected else "")
    if code == 0:
        assert row["stdout_contains"] in out


@pytest.mark.parametrize("name", ["deep_nesting.prototxt", "tiny.caffemodel", "cycle.prototxt"])
def test_bad_input_in_a_fresh_process(name: str) -> None:
    """The real entry point, as a user runs it: same message, no traceback."""
    row = next(row for row in ROWS if row["file"] == name)
    path = str(BAD / name)
    done = subprocess.run([sys.executable, "-m", "blobcalc", "analyze", path], capture_output=True, text=True,
                          cwd=PROJECT, timeout=120)
    assert "Traceback" not in done.stderr
    assert done.returncode == int(row["exit_code"])
    assert done.stderr == row["stderr"].replace("{path}", path) + "\n"


def test_python_layer_module_is_never_imported(tmp_path: Path) -> None:
    """A module that writes a file when imported, on PYTHONPATH: analysing its net must not run it."""
    marker = tmp_path / "imported.txt"
    (tmp_path / "blobcalc_evil_layer.py").write_text(
        "import os\n"
        "with open(os.environ['BLOBCALC_EVIL_MARKER'], 'w') as handle:\n"
        "    handle.write('imported')\n"
        "class EvilLayer:\n"
        "    pass\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(PROJECT)]),
           "BLOBCALC_EVIL_MARKER": str(marker)}
    # The module does what it says when it is imported...
    subprocess.run([sys.executable, "-c", "import blobcalc_evil_layer"], env=env, check=True, timeout=60)
    assert marker.exists()
    marker.unlink()
    # ...and blobcalc never imports it, whatever the command.
    path = str(BAD / "python_layer.prototxt")
    for args in (["analyze", path], ["analyze", path, "--format", "json"], ["scan", "--jobs", "1", path]):
        done = subprocess.run([sys.executable, "-m", "blobcalc", *args], env=env, capture_output=True, text=True,
                              cwd=tmp_path, timeout=120)
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr
        assert not marker.exists(), f"blobcalc {' '.join(args)} imported the Python layer's module"
    assert "blobcalc_evil_layer" not in sys.modules


def test_scan_of_all_bad_inputs_gives_one_row_per_file(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["scan", "--jobs", "1", "--format", "jsonl", "--no-progress", str(BAD)])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    rows = [json.loads(line) for line in out.splitlines()]
    files = sorted(str(path) for path in BAD.rglob("*") if path.is_file() and "__pycache__" not in path.parts)
    assert sorted(row["path"] for row in rows) == files
    assert code == 1
    by_name = {Path(row["path"]).name: row for row in rows}
    assert by_name["cycle.prototxt"]["status"] == "error"
    assert by_name["utf8_bom.prototxt"]["status"] == "ok"
    assert not any("internal error" in row.get("message", "") for row in rows)


def test_analyze_refuses_a_file_over_the_size_limit() -> None:
    path = str(BAD / "deep_nesting.prototxt")
    with pytest.raises(InputFileError, match=r"file is 100000 bytes, over the limit of 1000 bytes"):
        load_source(path, max_bytes=1000)
    with pytest.raises(InputFileError, match=r"over the limit of 10 bytes"):
        load_source("layer { name: 'a' }", max_bytes=10)


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_an_endless_device_is_refused_not_read_forever() -> None:
    """A device is never read at all (tests/test_never_blocks.py covers every command and special file)."""
    with pytest.raises(InputFileError, match=r"^/dev/zero: is a character device, not a prototxt file"):
        load_source("/dev/zero", max_bytes=4096)


def test_an_internal_error_is_one_line_with_exit_3(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    import blobcalc.commands.analyze_cmd as analyze_cmd

    def broken(*args: object, **kwargs: object) -> object:
        raise KeyError("boom")

    monkeypatch.setattr(analyze_cmd, "report", broken)
    net = str(PROJECT / "blobcalc" / "examples" / "lenet.prototxt")
    assert cli.main(["analyze", net]) == cli.EXIT_INTERNAL == 3
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.startswith("blobcalc: internal error (please report it; --debug shows the traceback): KeyError: "
                          "'boom' [test_bad_inputs.py:")
    assert err.count("\n") == 1
    assert cli.main(["analyze", net, "--debug"]) == 3
    assert "Traceback" in capsys.readouterr().err


def test_debug_shows_the_traceback_of_a_typed_error(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(BAD / "cycle.prototxt")
    assert cli.main(["analyze", path, "--debug"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "GraphError" in err
    assert err.endswith("blobcalc: error: layer 'a' (Convolution): needs bottom 'b' (bottom index 0), which is "
                        "only produced later, by layer 'b' (Caffe builds layers in file order)\n")


def test_debug_before_the_subcommand_counts_too(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--debug", "analyze", str(BAD / "cycle.prototxt")]) == 1
    assert "Traceback" in capsys.readouterr().err
