"""Hostile input, round two (issue #14): output linear in the input, control characters never reach a
terminal, machine formats exact and safe, weights bombs bounded, no exit 3 on bad input, and the values
Caffe refuses refused with Caffe's words. tests/test_never_blocks.py covers the special files."""
from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
import tracemalloc
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
from google.protobuf import text_format
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blobcalc import caffe_pb2, cli
from blobcalc.escaping import MAX_CELL_CHARS, elide, escape_controls, markdown_cell, spreadsheet_safe
from blobcalc.weights import (
    MAX_FIELD_BYTES,
    MAX_WEIGHTS_LAYERS,
    WeightsError,
    read_weights,
    read_weights_bytes,
)
from tests.wire_writer import varint

PROJECT = Path(__file__).resolve().parent.parent
LENET = str(PROJECT / "blobcalc" / "examples" / "lenet.prototxt")
# What a terminal acts on (tab and line breaks included: they break a table or a one-line message).
RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def run_process(command: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """A shell command line with this interpreter's blobcalc (pipes, closed descriptors)."""
    blobcalc = f"{sys.executable} -m blobcalc"
    return subprocess.run(["/bin/sh", "-c", command.replace("blobcalc ", blobcalc + " ")], capture_output=True,
                          text=True, timeout=timeout, cwd=PROJECT)


def input_layer(name: str = "data", shape: tuple[int, ...] = (1, 3, 8, 8)) -> str:
    dims = " ".join(f"dim: {d}" for d in shape)
    return f'layer {{ name: "{name}" type: "Input" top: "{name}" input_param {{ shape {{ {dims} }} }} }}\n'


# --------------------------------------------------------------------------------------------
# 1. Output and memory linear in the input
# --------------------------------------------------------------------------------------------

FAN_OUT = 2_000


@pytest.fixture(scope="module")
def fan_out_net(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One blob read by 2,000 layers: Caffe's Split gets 2,000 tops, one table cell of ~30 KB."""
    text = 'name: "fan"\n' + input_layer() + "".join(
        f'layer {{ name: "r{i}" type: "ReLU" bottom: "data" top: "r{i}" }}\n' for i in range(FAN_OUT))
    path = tmp_path_factory.mktemp("fan") / "fan.prototxt"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("fmt", ["table", "markdown"])
def test_one_wide_cell_does_not_widen_every_row(fan_out_net: Path, fmt: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["analyze", str(fan_out_net), "--format", fmt], capsys)
    assert code == 0
    rows = FAN_OUT + 2
    # Padded to the widest cell this was ~30 KB a row (60 MB); capped, a row is a few hundred bytes.
    assert len(out) < 400 * rows + 20_000, len(out)
    assert max(len(line) for line in out.splitlines()[:rows + 4]) < 12 * MAX_CELL_CHARS
    assert "…" in out  # the Split's tops were elided, not dropped silently


def weights_bytes(layers: list[tuple[bytes, list[tuple[int, ...]]]], net_name: bytes = b"w") -> bytes:
    """A .caffemodel written by hand (names may be any bytes): (name, blob shapes) per layer."""
    def field(number: int, payload: bytes) -> bytes:
        return varint(number << 3 | 2) + varint(len(payload)) + payload

    data = field(1, net_name)
    for name, shapes in layers:
        layer = field(1, name) + field(2, b"Convolution")
        for shape in shapes:
            layer += field(7, field(7, field(1, b"".join(varint(d) for d in shape))))
        data += field(100, layer)
    return data


def test_a_long_layer_name_in_the_weights_does_not_flood_the_audit(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """A 100 KB name and 3,000 more layers: ~300 MB when every row was padded to the name."""
    model = tmp_path / "long.caffemodel"
    layers = [(b"n" * 100_000, [(1,)])] + [(b"u%d" % i, []) for i in range(3_000)]
    model.write_bytes(weights_bytes(layers))
    code, out, _ = run(["audit", LENET, "--weights", str(model)], capsys)
    assert code == 0
    assert len(out) < 2_000_000, len(out)
    assert max(len(line) for line in out.splitlines()) < 1_000


def test_the_audit_table_is_written_in_pieces_and_matches_the_string(tmp_path: Path) -> None:
    from blobcalc.api import analyze
    from blobcalc.audit import audit
    from blobcalc.report import audit_report

    model = tmp_path / "m.caffemodel"
    model.write_bytes(weights_bytes([(b"conv1", [(20, 1, 5, 5), (20,)])] + [(b"x%d" % i, []) for i in range(5000)]))
    result = audit(analyze(LENET), read_weights(str(model)))

    class Counting(io.StringIO):
        writes = 0

        def write(self, text: str) -> int:
            Counting.writes += 1
            return super().write(text)

    stream = Counting()
    audit_report.write(result, "table", stream)
    assert stream.getvalue() == audit_report.render_table(result)
    assert Counting.writes > 1


# --------------------------------------------------------------------------------------------
# 5. Control characters: escaped for people, exact for machines
# --------------------------------------------------------------------------------------------

HOSTILE = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12) | st.sampled_from([
    "\x1b]52;c;aGVsbG8=\x07", "\x1b[2J\x1b[31mfake", "a\nb", "a\rb", "\u202eevil", "=cmd|' /C calc'!A0",
    "+1", "-2", "@SUM(A1)", "\ttab", "<script>alert(1)</script>", "a|b", "\x9b31m", "x\x00y"])


def hostile_net(name: str, blob: str) -> str:
    net = caffe_pb2.NetParameter(name=name)
    data = net.layer.add(name="data", type="Input")
    data.top.append(blob)
    data.input_param.shape.add().dim.extend([1, 2, 3, 3])
    relu = net.layer.add(name=name, type="ReLU")
    relu.bottom.append(blob)
    relu.top.append(name + "/out")
    return str(text_format.MessageToString(net))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=HOSTILE, blob=HOSTILE)
def test_names_never_reach_a_terminal_raw_and_machine_formats_stay_exact(
        name: str, blob: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "net.prototxt"
    path.write_text(hostile_net(name, blob), encoding="utf-8")
    outputs = {fmt: run(["analyze", str(path), "--format", fmt], capsys) for fmt in ("table", "markdown", "json",
                                                                                      "csv")}
    if outputs["json"][0] != 0:  # e.g. a name Caffe's graph refuses: then the error line is what to check
        for code, _, err in outputs.values():
            assert code == 1 and err.count("\n") == 1 and not RAW_CONTROL.search(err)
        return
    for fmt in ("table", "markdown"):
        code, out, err = outputs[fmt]
        assert code == 0 and not RAW_CONTROL.search(out), fmt
    markdown = outputs["markdown"][1]
    assert "<script>" not in markdown
    assert all(line.startswith(("|", "#", "-")) or not line for line in markdown.splitlines())
    # JSON: the exact names.
    document = json.loads(outputs["json"][1])
    assert document["net_name"] == name if "net_name" in document else True
    assert name in [layer["name"] for layer in document["layers"]]
    # CSV: the exact names, a leading apostrophe only where a spreadsheet would run a formula.
    rows = list(csv.DictReader(io.StringIO(outputs["csv"][1])))
    assert spreadsheet_safe(name) in [row["name"] for row in rows]
    # GraphML: well-formed XML whatever the names hold.
    graphml = tmp_path / "net.graphml"
    assert run(["graph", str(path), "-o", str(graphml)], capsys)[0] == 0
    ElementTree.parse(graphml)


@given(HOSTILE)
def test_escaping_leaves_nothing_a_terminal_acts_on(text: str) -> None:
    assert not RAW_CONTROL.search(escape_controls(text))
    assert "\n" not in escape_controls(text)
    assert len(elide(escape_controls(text))) <= MAX_CELL_CHARS
    cell = markdown_cell(text)
    assert "\n" not in cell and "<" not in cell and ">" not in cell
    assert "|" not in cell.replace("\\|", "")
    assert not str(spreadsheet_safe(text)).startswith(("=", "+", "-", "@", "\t", "\r"))


def test_plain_text_is_left_alone() -> None:
    for text in ("conv1", "inception_3a/1x1", "res2a_branch2a", "Ünïcødé", "a b", "名字"):
        assert escape_controls(text) == text
        assert spreadsheet_safe(text) == text


def test_an_escape_sequence_in_a_name_is_escaped_in_errors(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "net.prototxt"
    path.write_text('layer { name: "c" type: "ReLU" bottom: "a\\033]52;c;aGk=\\007b" top: "c" }\n', encoding="utf-8")
    code, _, err = run(["analyze", str(path)], capsys)
    assert code == 1
    assert err == ("blobcalc: error: layer 'c' (ReLU): needs bottom 'a\\x1b]52;c;aGk=\\x07b' (bottom index 0), "
                   "which no earlier layer produces\n")


def test_scan_table_escapes_file_names(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "evil\x1b[2J.prototxt").write_text("layer { name: 'x' }\n", encoding="utf-8")
    _, out, err = run(["scan", "--jobs", "1", "--no-progress", "--no-cache", str(tmp_path)], capsys)
    assert not RAW_CONTROL.search(out) and not RAW_CONTROL.search(err)
    assert "evil\\x1b[2J.prototxt" in out


# --------------------------------------------------------------------------------------------
# 6. Weights bombs
# --------------------------------------------------------------------------------------------

def test_a_blob_of_240_axes_is_refused_with_caffes_check_quickly() -> None:
    data = weights_bytes([(b"conv1", [(2**62,) * 240])])
    with pytest.raises(WeightsError, match=r"Check failed: shape\.size\(\) <= kMaxBlobAxes \(240 vs\. 32\)"):
        read_weights_bytes(data, "bomb.caffemodel")


def test_a_shape_mismatch_over_int_max_aborts_with_blob_reshapes_check(tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    model = tmp_path / "big.caffemodel"
    model.write_bytes(weights_bytes([(b"conv1", [(65536, 65536), (20,)])]))
    code, out, _ = run(["audit", LENET, "--weights", str(model)], capsys)
    assert code == 1
    assert ("shape mismatch: layer 'conv1': param 0 of layer 'conv1' (reading it to report a shape mismatch): "
            "blob size exceeds INT_MAX") in out


def test_32_axes_of_huge_dims_are_cheap(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = tmp_path / "wide.caffemodel"
    model.write_bytes(weights_bytes([(b"conv1", [(2**62 + 3,) * 32, (20,)])] * 200))
    code, _, err = run(["audit", LENET, "--weights", str(model), "--format", "json"], capsys)
    assert code == 1 and not err


def test_too_many_layers_is_refused_with_the_limit() -> None:
    empty_layer = b"\xa2\x06\x00"  # field 100, length 0
    with pytest.raises(WeightsError, match=f"holds more than {MAX_WEIGHTS_LAYERS:,} layers"):
        read_weights_bytes(empty_layer * (MAX_WEIGHTS_LAYERS + 1), "many.caffemodel")


def test_memory_of_many_empty_layers_follows_what_is_reported() -> None:
    """100,000 empty layers (300 KB): was ~900 bytes a layer; the bound is generous for the interpreter."""
    empty_layer = b"\xa2\x06\x00"
    tracemalloc.start()
    try:
        weights = read_weights_bytes(empty_layer * 100_000, "empty.caffemodel")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(weights.layers) == 100_000
    assert peak < 100_000 * 1_500, peak


def test_a_field_over_the_bound_is_refused_before_it_is_copied() -> None:
    data = weights_bytes([(b"n" * (MAX_FIELD_BYTES + 1), [])])
    with pytest.raises(WeightsError, match=f"over blobcalc's limit of {MAX_FIELD_BYTES:,} bytes"):
        read_weights_bytes(data, "long.caffemodel")


@pytest.mark.skipif(sys.platform != "linux", reason="sparse files and /proc/self/status")
def test_a_sparse_file_whose_name_spans_it_stays_small(tmp_path: Path) -> None:
    """1.9 GB on paper, a few KB on disk: one layer whose name is the whole file."""
    size = 1_900_000_000
    path = tmp_path / "sparse.caffemodel"

    name_length = size - 20
    name_header = b"\x0a" + varint(name_length)
    layer_header = b"\xa2\x06" + varint(len(name_header) + name_length)
    with open(path, "wb") as handle:
        handle.write(layer_header + name_header)
        handle.truncate(len(layer_header) + len(name_header) + name_length)
    # VmHWM, not ru_maxrss: Linux carries the high-water mark of the process that spawned the child (here
    # pytest, hundreds of MB into a full run) over exec into ru_maxrss; VmHWM is the child's own memory.
    script = ("import sys\nfrom blobcalc import cli\ncode = cli.main(['audit', sys.argv[1], '--weights', "
              "sys.argv[2]])\npeak = next(line.split()[1] for line in open('/proc/self/status') "
              "if line.startswith('VmHWM:'))\nprint(peak, code, file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", script, LENET, str(path)], capture_output=True, text=True,
                          timeout=300, cwd=PROJECT)
    error_line, figures = done.stderr.strip().splitlines()[-2:]
    peak_kib, code = map(int, figures.split())
    assert code == 1
    assert "over blobcalc's limit" in error_line
    assert peak_kib < 300 * 1024, peak_kib


# --------------------------------------------------------------------------------------------
# 7. Exit 3 never on bad input
# --------------------------------------------------------------------------------------------

def test_a_layer_name_that_is_not_utf8_is_shown_escaped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = tmp_path / "latin1.caffemodel"
    model.write_bytes(weights_bytes([(b"caf\xe9", [(1,)]), (b"conv1", [(20, 1, 5, 5), (20,)])]))
    for fmt in ("table", "json", "csv"):
        code, out, err = run(["audit", LENET, "--weights", str(model), "--format", fmt], capsys)
        assert code == 1 and not err  # Caffe aborts (no values stored), and says so on stdout
        names = ([layer["name"] for layer in json.loads(out)["layers"]] if fmt == "json"
                 else [row[2] for row in csv.reader(io.StringIO(out))] if fmt == "csv" else out)
        assert "caf\\xe9" in names
    assert "are not UTF-8 text (Caffe accepts any bytes)" in run(["audit", LENET, "--weights", str(model)], capsys)[1]


@pytest.mark.parametrize("argv,code,message", [
    (["estimate", "--activations", "1", "--params", "1", "--input-elements", "1", "--batch", "1" + "0" * 400], 2,
     "is over Caffe's INT_MAX"),
    (["scan", "--jobs", "1", "--no-progress", "--weights-pattern", "{dir}/{stem", LENET], 2, "--weights-pattern"),
    (["scan", "--jobs", "1", "--no-progress", "--weights-pattern", "{dir.__class__}", LENET], 2, "is not a field"),
    (["scan", "--jobs", "1", "--no-progress", "--weights-pattern", "{0}", LENET], 2, "is not a field"),
])
def test_huge_numbers_and_bad_patterns_are_one_line_errors(argv: list[str], code: int, message: str,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    got, _, err = run(argv, capsys)
    assert (got, err.count("\n")) == (code, 1), err
    assert err.startswith("blobcalc: error: ") and message in err


def test_a_budget_beyond_float_range_is_no_overflow(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["fit", LENET, "--memory", "1" + "0" * 400 + "GiB"], capsys)
    assert code in (0, 1) and "internal error" not in err
    assert "10,240,000,000" in out  # the budget, exactly


def test_huge_figures_are_printed_exactly(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["estimate", "--activations", "1" + "0" * 400, "--params", "1", "--input-elements", "1",
                        "--batch", "1"], capsys)
    assert code == 0 and "80,000,000,000" in out


def test_a_huge_integer_in_param_str_is_no_bug(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (PROJECT / "fixtures" / "bad" / "python_layer_extra_tops.prototxt").read_text(encoding="utf-8")
    for value in ("1" + "0" * 400, "-" + "1" * 400, "1e400", "0x" + "f" * 100, "[[[[1]]]]"):
        path = tmp_path / "net.prototxt"
        path.write_text(text.replace("'feat_stride': 16", f"'feat_stride': {value}"), encoding="utf-8")
        for phase in ("TEST", "TRAIN"):
            code, _, err = run(["analyze", str(path), "--phase", phase], capsys)
            assert code in (0, 1) and "internal error" not in err, (value, err)


@pytest.mark.parametrize("command", ["graph {net} -o {target}", "report {net} --no-graph -o {target}",
                                     "upgrade {net} -o {target}", "scan --jobs 1 --no-progress {net} -o {target}"])
@pytest.mark.parametrize("target", ["directory", "/dev/full"])
def test_an_output_that_cannot_be_written_is_one_line(command: str, target: str, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    if target == "/dev/full" and not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    where = str(tmp_path) if target == "directory" else target
    if command.startswith("graph") and target == "directory":
        where = str(tmp_path / "out.dot")
        os.mkdir(where)
    argv = command.format(net=LENET, target=where).split()
    code, _, err = run(argv, capsys)
    assert code in (1, 2), err
    assert err.count("\n") == 1 and err.startswith("blobcalc: error: "), err


# --------------------------------------------------------------------------------------------
# Closed standard output: a pipe whose reader left, a closed descriptor, a full disk
# --------------------------------------------------------------------------------------------

PIPED_COMMANDS = [
    "analyze {fan}", "analyze {fan} --format json", "analyze {fan} --format csv", "analyze {fan} --format markdown",
    "analyze {fan} --phase TRAIN", "upgrade {fan}", "audit {fan} --weights {model}",
    "audit {fan} --weights {model} --format json", "audit {fan} --weights {model} --format csv",
    "scan --jobs 1 --no-progress --no-cache --format jsonl {tree}", "scan --jobs 1 --no-progress --no-cache {tree}",
    "scan --jobs 1 --no-progress --no-cache --format csv {tree}",
]


@pytest.fixture(scope="module")
def piped_inputs(fan_out_net: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("piped")
    model = folder / "m.caffemodel"
    model.write_bytes(weights_bytes([(b"u%d" % i, []) for i in range(20_000)]))
    tree = folder / "tree"
    tree.mkdir()
    for i in range(300):
        (tree / f"n{i:03d}.prototxt").write_text('name: "n"\n' + input_layer(), encoding="utf-8")
    return {"fan": str(fan_out_net), "model": str(model), "tree": str(tree)}


@pytest.mark.parametrize("command", PIPED_COMMANDS)
def test_a_closed_pipe_ends_quietly(command: str, piped_inputs: dict[str, str]) -> None:
    """`blobcalc ... | head -1`: more output than a pipe holds, the reader gone after one line."""
    done = run_process("blobcalc " + command.format(**piped_inputs) + " | head -1 > /dev/null")
    # Only what the command says anyway (upgrade's "already in the latest format", scan's summary).
    assert not [line for line in done.stderr.splitlines()
                if "error" in line or "Traceback" in line or "Broken pipe" in line or "Exception" in line], done.stderr


@pytest.mark.parametrize("command", ["analyze {fan}", "audit {fan} --weights {model}", "upgrade {fan}",
                                     "analyze {fan} --format json"])
def test_a_closed_stdout_is_one_line_with_exit_1(command: str, piped_inputs: dict[str, str]) -> None:
    done = run_process("blobcalc " + command.format(**piped_inputs) + " >&-")
    assert done.returncode == 1
    assert done.stderr.endswith("blobcalc: error: cannot write to standard output: it is closed\n"), done.stderr


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
def test_a_full_disk_on_stdout_is_one_line_with_exit_1(piped_inputs: dict[str, str]) -> None:
    done = run_process(f"blobcalc analyze {piped_inputs['fan']} > /dev/full")
    assert done.returncode == 1
    assert done.stderr == "blobcalc: error: cannot write to standard output: No space left on device\n"


# --------------------------------------------------------------------------------------------
# 8. Figures Caffe would refuse
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("params,message", [
    ("convolution_param { num_output: 4 kernel_size: 4294967295 }", "Filter dimensions must be nonzero."),
    ("convolution_param { num_output: 4 kernel_h: 4294967295 kernel_w: 3 }", "Filter dimensions must be nonzero."),
    ("convolution_param { num_output: 4 kernel_size: 3 stride: 4294967295 }", "Stride dimensions must be nonzero."),
    ("convolution_param { num_output: 4294967295 kernel_size: 1 }",
     "num_output must be greater than 0 (CHECK_GT(num_output_, 0))"),
    ("convolution_param { num_output: 4 kernel_size: 1 group: 4294967295 }", "group must be greater than 0"),
])
def test_uint32_fields_are_ints_to_caffes_checks(params: str, message: str, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "net.prototxt"
    conv = f'layer {{ name: "conv" type: "Convolution" bottom: "data" top: "conv" {params} }}\n'
    path.write_text(input_layer() + conv, encoding="utf-8")
    code, _, err = run(["analyze", str(path)], capsys)
    assert (code, err) == (1, f"blobcalc: error: layer 'conv' (Convolution): {message}\n")


def test_pooling_and_inner_product_read_uint32_as_int(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "net.prototxt"
    path.write_text(input_layer() + 'layer { name: "pool" type: "Pooling" bottom: "data" top: "pool" '
                    'pooling_param { kernel_size: 4294967295 } }\n', encoding="utf-8")
    assert run(["analyze", str(path)], capsys)[2] == ("blobcalc: error: layer 'pool' (Pooling): Filter dimensions "
                                                      "cannot be zero.\n")
    path.write_text(input_layer() + 'layer { name: "fc" type: "InnerProduct" bottom: "data" top: "fc" '
                    'inner_product_param { num_output: 4294967295 } }\n', encoding="utf-8")
    code, _, err = run(["analyze", str(path)], capsys)
    assert code == 1 and "negative dimension" in err and "[1, -1]" in err


@pytest.mark.parametrize("option", ["--input-shape", "--top-shape"])
def test_more_than_32_axes_from_the_command_line_are_refused(option: str,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    net = LENET if option == "--input-shape" else str(PROJECT / "fixtures" / "bad" / "unknown_type.prototxt")
    blob = "data" if option == "--input-shape" else "mystery"
    code, _, err = run(["analyze", net, option, f"{blob}=" + ",".join(["1"] * 33)], capsys)
    assert code == 1
    assert "Check failed: shape.size() <= kMaxBlobAxes (33 vs. 32)" in err


def test_a_given_shape_over_int_max_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["analyze", LENET, "--input-shape", "data=100000,100000,1,1"], capsys)
    assert code == 1 and "blob size exceeds INT_MAX" in err


# --------------------------------------------------------------------------------------------
# 10. Deep nesting gives line:col; the report's graph is bounded
# --------------------------------------------------------------------------------------------

def test_deep_nesting_of_unknown_fields_names_line_and_column(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "deep.prototxt"
    path.write_text('name: "x"\n' + "foo {\n" * 20_000 + "}\n" * 20_000, encoding="utf-8")
    code, _, err = run(["analyze", str(path), "--allow-unknown-fields"], capsys)
    assert (code, err) == (1, f"blobcalc: error: {path}:102:5: blocks nested more than 100 deep: too deep to parse "
                              "(no Caffe net nests that far)\n")


def test_a_huge_fan_out_leaves_the_graph_out_of_the_report(tmp_path: Path) -> None:
    from blobcalc.api import analyze
    from blobcalc.drawing import graph_svg

    text = input_layer() + "".join(f'layer {{ name: "r{i}" type: "ReLU" bottom: "data" top: "r{i}" }}\n'
                                   for i in range(300))
    path = tmp_path / "fan.prototxt"
    path.write_text(text, encoding="utf-8")
    svg, note = graph_svg(analyze(str(path)), max_edges=299)
    assert svg is None
    assert note.startswith("The layer graph was left out: it has 300 edges, more than the 299")
