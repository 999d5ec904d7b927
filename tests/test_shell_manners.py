"""Shell manners: --version, '-' for standard input, sizes with units, estimate --input-shape AxBxC,
help texts that list no option a command refuses."""
from __future__ import annotations

import io
import subprocess
import sys

import pytest

from blobcalc import __version__
from blobcalc.cli import build_parser, main
from tests.golden_support import CORPUS, PROJECT

EXAMPLE = PROJECT / "blobcalc/examples/lenet.prototxt"
RESNET = CORPUS / "KaimingHe__deep-residual-networks/prototxt__ResNet-50-deploy.prototxt"


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out == f"blobcalc {__version__}\n"


def test_dash_reads_the_net_from_standard_input(capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    assert main(["analyze", str(EXAMPLE)]) == 0
    from_file = capsys.readouterr().out
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(EXAMPLE.read_bytes())))
    assert main(["analyze", "-"]) == 0
    from_stdin = capsys.readouterr().out
    assert from_stdin.splitlines()[0] == from_file.splitlines()[0].replace(str(EXAMPLE), "<stdin>")
    assert from_stdin.splitlines()[1:] == from_file.splitlines()[1:]


def test_dash_through_a_real_pipe() -> None:
    done = subprocess.run([sys.executable, "-m", "blobcalc", "fit", "-", "--memory", "1GiB"],
                          input=EXAMPLE.read_bytes(), capture_output=True, check=False)
    assert done.returncode == 0, done.stderr
    assert b"largest batch for inference" in done.stdout
    empty = subprocess.run([sys.executable, "-m", "blobcalc", "analyze", "-"], input=b"", capture_output=True,
                           check=False)
    assert (empty.returncode, empty.stderr) == (1, b"blobcalc: error: <stdin>: file is empty\n")


@pytest.mark.parametrize("size", ["11", "11.5", " 4096 "])
def test_memory_without_a_unit_is_an_error(size: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fit", str(EXAMPLE), "--memory", size]) == 2
    err = capsys.readouterr().err
    assert "has no unit; say which" in err and "GiB" in err


def test_memory_with_a_unit(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fit", str(EXAMPLE), "--memory", "1073741824B"]) == 0
    by_bytes = capsys.readouterr().out
    assert main(["fit", str(EXAMPLE), "--memory", "1GiB"]) == 0
    assert capsys.readouterr().out == by_bytes


def test_estimate_takes_an_input_shape(capsys: pytest.CaptureFixture[str]) -> None:
    """The source document's worked example: a 180x50x1 input is 9,000 elements per image."""
    common = ["estimate", "--activations", "532752", "--params", "19072984", "--batch", "128"]
    assert main([*common, "--input-elements", "9000"]) == 0
    by_count = capsys.readouterr().out
    assert main([*common, "--input-shape", "180x50x1"]) == 0
    assert capsys.readouterr().out == by_count
    assert "training total at batch 128: 742.93 MiB  (779,021,856 B)" in by_count
    assert main([*common, "--input-shape", "180xfifty"]) == 2
    with pytest.raises(SystemExit):
        main([*common, "--input-shape", "180x50x1", "--input-elements", "9000"])


def _subcommand_help(name: str) -> str:
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    choices = action.choices
    assert isinstance(choices, dict)
    text: str = choices[name].format_help()
    return text


def test_fit_help_lists_no_option_it_refuses(capsys: pytest.CaptureFixture[str]) -> None:
    assert "--batch" not in _subcommand_help("fit")
    with pytest.raises(SystemExit) as stop:
        main(["fit", str(EXAMPLE), "--memory", "1GiB", "--batch", "4"])
    assert stop.value.code == 2


def test_every_net_command_describes_net_the_same_way() -> None:
    for name in ("analyze", "report", "fit", "graph", "audit"):
        assert "'-' reads standard input" in " ".join(_subcommand_help(name).split()), name
