"""`--proto FORK.proto`: a fork's schema compiled at run time (cached by content), the net read with it and
copied into ours by field name; and `--allow-unknown-fields`, which skips fields and says where."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from blobcalc import fork_schema
from blobcalc.api import analyze, report
from blobcalc.cli import main
from blobcalc.errors import ParseError
from blobcalc.fork_schema import ForkSchemaError, fork_field, load_fork_schema, parse_with_fork_schema
from blobcalc.parse import SkippedField, parse_net
from blobcalc.result import NetAnalysis
from tests.golden_support import CORPUS, PROJECT

pytest.importorskip("grpc_tools.protoc", reason="--proto needs grpcio-tools (a dev dependency)")

RULES = '''
from blobcalc.fork_schema import fork_field
from blobcalc.shapes.registry import BlobCounts, LayerContext, LayerShapes, check, shape_rule


@shape_rule("MyUpsample", counts=BlobCounts(exact_bottoms=1, exact_tops=1))
def my_upsample(ctx: LayerContext) -> LayerShapes:
    param = fork_field(ctx.layer, "my_param")  # the fork's MyParameter message, or None
    factor = param.factor if param is not None else 2
    check(len(ctx.bottom) == 4 and factor > 0, "MyUpsample needs a 4-axis bottom and a positive factor")
    n, c, h, w = ctx.bottom
    return LayerShapes(((n, c, h * factor, w * factor),))
'''

NET = '''name: "tiny"
input: "data"
input_shape { dim: 1 dim: 3 dim: 8 dim: 8 }
layer { name: "up" type: "MyUpsample" bottom: "data" top: "up" my_param { factor: 3 } }
layer { name: "relu" type: "ReLU" bottom: "up" top: "up" }
'''

# A small fork whose numbers disagree with ours on purpose: ceil_mode sits at 13, which is our round_mode
# (a binary round trip would turn `ceil_mode: true` into round_mode FLOOR), `note` at 5 is our loss_weight,
# and the fork's PoolMethod has a value DEF that we lack. Its pool and ceil_mode defaults differ from ours.
SMALL_FORK = '''syntax = "proto2";
package caffe;
message BlobShape { repeated int64 dim = 1 [packed = true]; }
message NetParameter {
  optional string name = 1;
  repeated string input = 3;
  repeated BlobShape input_shape = 8;
  repeated LayerParameter layer = 100;
}
message LayerParameter {
  optional string name = 1;
  optional string type = 2;
  repeated string bottom = 3;
  repeated string top = 4;
  optional string note = 5;
  optional PoolingParameter pooling_param = 121;
  optional int32 my_level = 7777;
}
message PoolingParameter {
  enum PoolMethod { MAX = 0; AVE = 1; STOCHASTIC = 2; DEF = 3; }
  optional PoolMethod pool = 1 [default = AVE];
  optional uint32 kernel_size = 2;
  optional uint32 stride = 3 [default = 1];
  optional bool ceil_mode = 13 [default = false];
}
'''

POOL_NET = '''name: "pool"
input: "data"
input_shape { dim: 1 dim: 3 dim: 8 dim: 8 }
layer { name: "pool" type: "Pooling" bottom: "data" top: "pool" note: "hi" my_level: -3
        pooling_param { kernel_size: 3 stride: 2 } }
'''


def fork_of_our_schema(folder: Path) -> Path:
    """Our own schema plus a made-up `my_param` (number 9999) in LayerParameter: the usual fork."""
    text = (PROJECT / "proto" / "caffe.proto").read_text()
    text = text.replace("message LayerParameter {",
                        "message LayerParameter {\n  optional MyParameter my_param = 9999;", 1)
    text += "\nmessage MyParameter {\n  optional uint32 factor = 1 [default = 2];\n}\n"
    path = folder / "fork.proto"
    path.write_text(text)
    return path


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh schema cache, and a fresh in-process table of loaded schemas."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(fork_schema, "_LOADED", {})
    return tmp_path / "cache" / "blobcalc" / "proto"


@pytest.fixture
def user_rules(tmp_path: Path) -> Any:
    from tests.test_plugins import registry_restored

    with registry_restored():
        path = tmp_path / "my_rules.py"
        path.write_text(RULES)
        yield path


def test_fork_field_and_user_rule_end_to_end(tmp_path: Path, cache: Path, user_rules: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    proto = fork_of_our_schema(tmp_path)
    net = tmp_path / "net.prototxt"
    net.write_text(NET)
    assert main(["analyze", str(net), "--proto", str(proto), "--rules", str(user_rules), "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [layer["top_shapes"] for layer in result["layers"]] == [[[1, 3, 8, 8]], [[1, 3, 24, 24]],
                                                                   [[1, 3, 24, 24]]]
    assert result["fork_types"] == {"MyUpsample": f"user rules ({user_rules})"}
    notices = result["notices"]
    assert any(n.startswith(f"read with the fork schema {proto} (compiled now;") for n in notices)
    assert any("LayerParameter.my_param (number 9999)" in n and "kept as an unknown field" in n for n in notices)
    # Our own schema refuses the fork's field, with its position.
    assert main(["analyze", str(net), "--rules", str(user_rules)]) == 1
    assert 'has no field named "my_param"' in capsys.readouterr().err


def test_second_run_is_a_cache_hit(tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    proto = fork_of_our_schema(tmp_path)
    first = load_fork_schema(str(proto))
    assert not first.from_cache
    entry = cache / first.digest
    assert sorted(os.listdir(entry)) == ["descriptor_set.pb", "fork.proto"]
    assert [name for name in os.listdir(cache) if name.startswith(".")] == []  # no staging folder left
    # A new process: nothing loaded in memory, and compiling is not allowed any more.
    monkeypatch.setattr(fork_schema, "_LOADED", {})
    monkeypatch.setattr(fork_schema, "_compile_into_cache", _fail)
    second = load_fork_schema(str(proto))
    assert second.from_cache and second.digest == first.digest and second.cache_dir == str(entry)
    fork = parse_with_fork_schema(NET, "<text>", str(proto))
    assert "compiled earlier, from the cache" in fork.notices[0]


def test_cache_key_is_the_content(tmp_path: Path, cache: Path) -> None:
    proto = fork_of_our_schema(tmp_path)
    first = load_fork_schema(str(proto)).digest
    copy = tmp_path / "elsewhere.proto"
    copy.write_bytes(proto.read_bytes())
    assert load_fork_schema(str(copy)).digest == first
    proto.write_text(proto.read_text() + "\nmessage Extra { optional int32 x = 1; }\n")
    assert load_fork_schema(str(proto)).digest != first


def test_two_compilations_at_once_share_one_complete_entry(tmp_path: Path, cache: Path) -> None:
    proto = fork_of_our_schema(tmp_path)
    digest = fork_schema._digest(str(proto))
    final = str(cache / digest)
    errors: list[BaseException] = []

    def compile_once() -> None:
        try:
            fork_schema._compile_into_cache(str(proto), final)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=compile_once) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(os.listdir(cache)) == [digest]  # the loser's staging folder is gone
    assert os.path.getsize(os.path.join(final, "descriptor_set.pb")) > 0


def test_two_processes_compiling_at_once(tmp_path: Path, cache: Path) -> None:
    """Two fresh processes, started together on an empty cache, both get the schema; one entry is left."""
    proto = fork_of_our_schema(tmp_path)
    script = ("import sys; from blobcalc.fork_schema import load_fork_schema; "
              "print(load_fork_schema(sys.argv[1]).net_class.DESCRIPTOR.full_name)")
    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    runs = [subprocess.Popen([sys.executable, "-c", script, str(proto)], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert [out.strip() for out, _ in outputs] == ["caffe.NetParameter"] * 2
    assert os.listdir(cache) == [fork_schema._digest(str(proto))]


def test_a_damaged_cache_entry_is_named(tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    proto = tmp_path / "small.proto"
    proto.write_text(SMALL_FORK)
    entry = Path(load_fork_schema(str(proto)).cache_dir)
    (entry / "descriptor_set.pb").write_bytes(b"\xff\xff\xff")
    monkeypatch.setattr(fork_schema, "_LOADED", {})
    with pytest.raises(ForkSchemaError, match=r"cannot be read .*; delete that folder to compile it again"):
        load_fork_schema(str(proto))


def _fail(*args: object) -> None:
    raise AssertionError("compiled again instead of using the cache")


def test_copy_is_by_field_name(tmp_path: Path, cache: Path) -> None:
    proto = tmp_path / "small.proto"
    proto.write_text(SMALL_FORK)
    fork = parse_with_fork_schema(POOL_NET.replace("kernel_size: 3", "kernel_size: 3 ceil_mode: true"),
                                  "<text>", str(proto))
    pooling = fork.net.layer[0].pooling_param
    # ceil_mode lands in our ceil_mode (5013), not in our field 13 (round_mode).
    assert pooling.ceil_mode is True and not pooling.HasField("round_mode")
    # The fork's default pool (AVE) is set, since the fork's Caffe would use it.
    assert pooling.pool == pooling.AVE
    notices = "\n".join(fork.notices)
    assert "field PoolingParameter.pool is not set and the fork's default (1) differs from ours" in notices
    # `note` is number 5, our loss_weight: it cannot be kept, and is reported; my_level is kept.
    assert "field LayerParameter.note of the fork schema is left out of the analysis: no field of that " \
           "name, and its number 5 is our field 'loss_weight'" in notices
    assert "LayerParameter.my_level (number 7777)" in notices
    assert list(fork.net.layer[0].loss_weight) == []
    assert fork_field(fork.net.layer[0], "my_level") == -3  # negative varint survives the round trip
    assert fork_field(fork.net.layer[0], "note") is None


def test_fork_defaults_change_the_shapes(tmp_path: Path, cache: Path) -> None:
    proto = tmp_path / "small.proto"
    proto.write_text(SMALL_FORK)
    ours = analyze(POOL_NET.replace(' note: "hi" my_level: -3', ""))
    fork = analyze(POOL_NET, proto=str(proto))
    # 8x8, kernel 3, stride 2: ours rounds up (4x4), the fork's ceil_mode default false rounds down (3x3).
    assert ours.layers[-1].top_shapes == ((1, 3, 4, 4),)
    assert fork.layers[-1].top_shapes == ((1, 3, 3, 3),)


def test_enum_value_we_lack_is_reported(tmp_path: Path, cache: Path) -> None:
    proto = tmp_path / "small.proto"
    proto.write_text(SMALL_FORK)
    fork = parse_with_fork_schema(POOL_NET.replace("stride: 2", "stride: 2 pool: DEF"), "<text>", str(proto))
    assert "field PoolingParameter.pool of the fork schema is left out of the analysis: value DEF is not in " \
           "our enum PoolMethod" in fork.notices


def test_parse_errors_follow_the_fork_schema(tmp_path: Path, cache: Path) -> None:
    proto = tmp_path / "small.proto"
    proto.write_text(SMALL_FORK)
    with pytest.raises(ParseError) as caught:  # the fork lacks our convolution_param
        analyze('layer {\n  name: "c"\n  convolution_param { num_output: 1 }\n}\n', proto=str(proto))
    assert (caught.value.line, caught.value.col) == (3, 3)
    assert 'has no field named "convolution_param"' in caught.value.reason


def test_allow_unknown_fields_with_a_fork_schema(tmp_path: Path, cache: Path) -> None:
    proto = tmp_path / "small.proto"
    proto.write_text(SMALL_FORK)
    analysis = analyze(POOL_NET.replace('note: "hi"', 'frobnicate { a: 1 }'), proto=str(proto),
                       allow_unknown_fields=True)
    assert analysis.notices[0].startswith(f"NOT A VALID CAFFE NET: 1 field(s) unknown to the fork schema {proto}")
    assert "skipped unknown field LayerParameter.frobnicate at 4:65" in analysis.notices


def test_package_must_be_caffe(tmp_path: Path, cache: Path) -> None:
    proto = tmp_path / "other.proto"
    proto.write_text(SMALL_FORK.replace("package caffe;", "package mycaffe;"))
    with pytest.raises(ForkSchemaError) as caught:
        load_fork_schema(str(proto))
    assert caught.value.reason.startswith("declares package 'mycaffe'; --proto reads a fork's caffe.proto, "
                                          "whose package is 'caffe'")


def test_compile_error_is_reported_with_its_position(tmp_path: Path, cache: Path) -> None:
    proto = tmp_path / "bad.proto"
    proto.write_text('syntax = "proto2";\npackage caffe;\nmessage NetParameter { optional strin name = 1; }\n')
    with pytest.raises(ForkSchemaError, match=r'does not compile: .*bad.proto:3:33: "strin" is not defined'):
        load_fork_schema(str(proto))
    assert [name for name in os.listdir(cache)] == []  # nothing half-written is left in the cache


def test_missing_grpcio_tools_is_a_clear_error(tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "grpc_tools", None)  # what an import finds when it is not installed
    monkeypatch.setitem(sys.modules, "grpc_tools.protoc", None)
    proto = tmp_path / "small.proto"
    proto.write_text(SMALL_FORK)
    assert main(["analyze", POOL_NET, "--proto", str(proto)]) == 1
    assert capsys.readouterr().err.strip().endswith("--proto needs grpcio-tools: pip install grpcio-tools")


def test_missing_proto_file(tmp_path: Path, cache: Path) -> None:
    with pytest.raises(ForkSchemaError, match=r"nope\.proto: no such file"):
        load_fork_schema(str(tmp_path / "nope.proto"))


# --allow-unknown-fields with our own schema

QCONV = CORPUS / "cwlacewe__netscope" / "presets__ResNet-50_merged.qconv.winograd.cwl.prototxt"


def test_skipped_fields_have_their_positions() -> None:
    text = 'name: "x"\nfoo { bar: 1 baz { q: [1, 2] } }\nlayer { name: "a" zz: 3; type: "ReLU" ww: [1, 2] }\n'
    skipped: list[SkippedField] = []
    net = parse_net(text, "<text>", allow_unknown_fields=True, skipped=skipped)
    assert [str(field) for field in skipped] == ["2:1: NetParameter.foo", "3:19: LayerParameter.zz",
                                                 "3:39: LayerParameter.ww"]
    assert net.name == "x" and net.layer[0].type == "ReLU"
    with pytest.raises(ParseError) as caught:  # the normal path still refuses, at the first one
        parse_net(text, "<text>")
    assert (caught.value.line, caught.value.col) == (2, 1)


def test_other_errors_stay_errors() -> None:
    with pytest.raises(ParseError) as caught:
        parse_net('foo: 1\nname: "x" name: "y"\n', "<text>", allow_unknown_fields=True)
    assert caught.value.line == 2 and "should not have multiple" in caught.value.reason


@pytest.mark.skipif(not QCONV.exists(), reason="the shared corpus is not beside this checkout")
def test_corpus_net_with_unknown_fields_parses() -> None:
    text = QCONV.read_text()
    with pytest.raises(ParseError, match='has no field named "evaluation_method"'):
        parse_net(text, str(QCONV))
    skipped: list[SkippedField] = []
    net = parse_net(text, str(QCONV), allow_unknown_fields=True, skipped=skipped)
    assert len(net.layer) == 56
    assert str(skipped[0]) == "13:3: LayerParameter.evaluation_method"
    names = {f"{field.message_type}.{field.name}" for field in skipped}
    assert {"caffe.LayerParameter.quantization_param", "caffe.ConvolutionParameter.is_relu"} <= names
    # A skipped block is one entry: nothing inside quantization_param is listed on its own.
    assert not any(field.message_type.endswith("QuantizationParameter") for field in skipped)


def test_analysis_marks_a_net_with_skipped_fields(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The bundled example with a field no Caffe we know has, inside conv1's convolution_param (line 19).
    text = (PROJECT / "blobcalc" / "examples" / "lenet.prototxt").read_text()
    text = text.replace("convolution_param { num_output: 20", "convolution_param { winograd_tile: 4 num_output: 20")
    net = tmp_path / "odd.prototxt"
    net.write_text(text)
    line = next(i for i, row in enumerate(text.splitlines(), start=1) if "winograd_tile" in row)
    column = text.splitlines()[line - 1].index("winograd_tile") + 1
    full = report(str(net), phase="TRAIN", allow_unknown_fields=True)
    analysis: NetAnalysis = full.analysis
    assert analysis.notices[:2] == (
        "NOT A VALID CAFFE NET: 1 field(s) unknown to blobcalc's schema (BVLC Caffe and the forks it knows) were "
        "skipped (--allow-unknown-fields); no Caffe we know loads this file, and the figures ignore whatever "
        "those fields mean",
        f"skipped unknown field ConvolutionParameter.winograd_tile at {line}:{column}")
    assert main(["analyze", str(net), "--phase", "TRAIN"]) == 1
    assert 'has no field named "winograd_tile"' in capsys.readouterr().err
    assert main(["analyze", str(net), "--phase", "TRAIN", "--allow-unknown-fields"]) == 0
    out = capsys.readouterr().out
    assert "notice: NOT A VALID CAFFE NET" in out
    assert f"notice: skipped unknown field ConvolutionParameter.winograd_tile at {line}:{column}" in out
