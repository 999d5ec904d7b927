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


SSD_LITE = CORPUS / "eric612__MobileNet-YOLO/models__mobilenetv2_voc__ssd_lite__train.prototxt"


def _analyze(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(["analyze", *args]) == 0
    out: str = capsys.readouterr().out
    return out


def test_notices_are_grouped_by_kind(capsys: pytest.CaptureFixture[str]) -> None:
    """An SSD net: one line for its fork layer types, one for its fork fields; --verbose lists each."""
    grouped = [line for line in _analyze(capsys, str(SSD_LITE), "--summary").splitlines()
               if line.startswith(("notice:", "note:"))]
    verbose = [line for line in _analyze(capsys, str(SSD_LITE), "--summary", "--verbose").splitlines()
               if line.startswith(("notice:", "note:"))]
    fork_types = [line for line in grouped if "not in BVLC Caffe:" in line]
    assert fork_types == ["notice: layer types not in BVLC Caffe: AnnotatedData, MultiBoxLoss, Permute, PriorBox "
                          "(the SSD fork (weiliu89/caffe)); DepthwiseConvolution (the DepthwiseConvolution fork "
                          "(yonghenglh6/DepthwiseConvolution))"]
    assert sum("fields of forks are not in BVLC Caffe's schema" in line for line in grouped) == 1
    assert sum("is not in BVLC Caffe's schema" in line for line in verbose) == 9
    assert len(grouped) < len(verbose)
    # Nothing is lost: every fork type and field named in the verbose lines is in the grouped ones.
    assert all(name in " ".join(grouped) for name in ("LayerParameter.annotated_data_param", "PriorBox"))


def test_summary_prints_the_totals_without_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    full = _analyze(capsys, str(RESNET))
    summary = _analyze(capsys, str(RESNET), "--summary")
    assert "bn_conv1" in full and "bn_conv1" not in summary
    assert summary.splitlines()[0] == full.splitlines()[0]
    assert [line for line in summary.splitlines() if line.startswith("parameters:")] == \
        [line for line in full.splitlines() if line.startswith("parameters:")]
    assert len(summary.splitlines()) < 40 < len(full.splitlines())
    assert main(["analyze", str(RESNET), "--summary", "--format", "json"]) == 2


@pytest.mark.parametrize("width", [80, 100, 120])
def test_the_table_fits_the_terminal(width: int, capsys: pytest.CaptureFixture[str]) -> None:
    lines = _analyze(capsys, str(SSD_LITE), "--width", str(width)).splitlines()
    table = lines[2:lines.index("", 2)]
    assert max(map(len, table)) <= width
    full = _analyze(capsys, str(SSD_LITE), "--width", "0").splitlines()
    assert max(map(len, full[2:full.index("", 2)])) > 120  # the net's own table is wider than any of these
    assert len(table) >= len(full[2:full.index("", 2)])  # every layer is still there
    assert any("…" in line for line in table)
    assert any(line.startswith(f"(fitted to {width} columns") for line in table[-2:])
