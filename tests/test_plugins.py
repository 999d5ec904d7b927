"""User shape rules: `--rules FILE.py` and installed plugins (entry points of blobcalc.shape_rules),
registered with the registry the built-in rules use."""
from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from blobcalc import plugins
from blobcalc.api import analyze
from blobcalc.cli import main
from blobcalc.plugins import RulesError, load_entry_points, load_rule_files
from blobcalc.shapes import registry
from tests.golden_support import PROJECT

NET = '''name: "tiny"
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 2 dim: 3 dim: 8 dim: 8 } } }
layer { name: "fold" type: "SpaceToDepth" bottom: "data" top: "fold" }
layer { name: "relu" type: "ReLU" bottom: "fold" top: "fold" }
'''

SPACE_TO_DEPTH = '''
from blobcalc.shapes.model import no_buffers, no_compute
from blobcalc.shapes.registry import BlobCounts, LayerContext, LayerShapes, check, shape_rule


@shape_rule("SpaceToDepth", counts=BlobCounts(exact_bottoms=1, exact_tops=1), buffers=no_buffers,
            compute=no_compute)
def space_to_depth(ctx: LayerContext) -> LayerShapes:
    check(len(ctx.bottom) == 4, "SpaceToDepth needs a 4-axis bottom")
    n, c, h, w = ctx.bottom
    check(h % 2 == 0 and w % 2 == 0, f"height and width must be even, not {h}x{w}")
    return LayerShapes(((n, c * 4, h // 2, w // 2),))
'''


@contextmanager
def registry_restored() -> Iterator[None]:
    """Rules and loaded rule files as they were before: each test registers its own."""
    registry.registered_types()
    rules = dict(registry._RULES)
    files = dict(plugins._LOADED_FILES)
    modules = set(sys.modules)
    try:
        yield
    finally:
        registry._RULES.clear()
        registry._RULES.update(rules)
        plugins._LOADED_FILES.clear()
        plugins._LOADED_FILES.update(files)
        for name in set(sys.modules) - modules:
            if name.startswith("blobcalc_user_rules_") or name.startswith("my_blobcalc_plugin"):
                del sys.modules[name]


@pytest.fixture(autouse=True)
def _clean_registry() -> Iterator[None]:
    with registry_restored():
        yield


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def test_rules_file_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    net = write(tmp_path, "net.prototxt", NET)
    rules = write(tmp_path, "rules.py", SPACE_TO_DEPTH)
    assert main(["analyze", str(net)]) == 0  # without the rules the type is unknown, not an error
    assert "unknown: layer 'fold' (SpaceToDepth): no shape rule" in capsys.readouterr().out
    assert main(["analyze", str(net), "--rules", str(rules), "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [layer["top_shapes"] for layer in result["layers"]] == [[[2, 3, 8, 8]], [[2, 12, 4, 4]], [[2, 12, 4, 4]]]
    assert result["partial"] is False and result["unsupported_types"] == []
    assert result["fork_types"] == {"SpaceToDepth": f"user rules ({rules})"}
    # Twice in one process (fit analyses many batches): the file is loaded once, no "two rules" error.
    assert main(["fit", str(net), "--rules", str(rules), "--memory", "1MiB"]) == 0
    assert "largest batch for inference" in capsys.readouterr().out


def test_table_names_the_rules_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    net = write(tmp_path, "net.prototxt", NET)
    rules = write(tmp_path, "rules.py", SPACE_TO_DEPTH)
    assert main(["analyze", str(net), "--rules", str(rules)]) == 0
    assert (f"notice: layer type 'SpaceToDepth' is not in BVLC Caffe; it comes from the user rules ({rules})"
            in capsys.readouterr().out)


def test_a_rule_check_fails_like_a_caffe_check(tmp_path: Path) -> None:
    rules = write(tmp_path, "rules.py", SPACE_TO_DEPTH)
    from blobcalc.errors import ShapeError

    with pytest.raises(ShapeError, match="height and width must be even, not 7x8"):
        analyze(NET.replace("dim: 8 dim: 8", "dim: 7 dim: 8"), rules=[str(rules)])


def test_an_existing_type_needs_replace(tmp_path: Path) -> None:
    clash = write(tmp_path, "clash.py", '''
        from blobcalc.shapes.registry import LayerShapes, shape_rule

        @shape_rule("ReLU")
        def relu(ctx):
            return LayerShapes((ctx.bottom,))
        ''')
    with pytest.raises(RulesError) as caught:
        load_rule_files([str(clash)])
    assert str(caught.value) == (
        f"{clash}: loading the rules failed: ValueError: two shape rules for layer type 'ReLU' (the first from "
        "BVLC Caffe); pass replace=True to replace it")
    assert registry.rule_for("ReLU").origin == registry.BVLC  # type: ignore[union-attr]


def test_replace_true_replaces_and_names_the_file(tmp_path: Path) -> None:
    halve = write(tmp_path, "halve.py", '''
        from blobcalc.shapes.registry import BlobCounts, LayerShapes, shape_rule

        @shape_rule("ReLU", counts=BlobCounts(exact_bottoms=1, exact_tops=1), replace=True)
        def relu(ctx):
            n, *rest = ctx.bottom
            return LayerShapes(((n, *(d // 2 for d in rest)),))
        ''')
    analysis = analyze(NET.replace('"SpaceToDepth"', '"ReLU"'), rules=[str(halve)])
    assert analysis.layers[1].top_shapes == ((2, 1, 4, 4),)
    assert analysis.layers[1].origin == f"user rules ({halve})"


def test_rules_file_errors(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match="no such rules file"):
        load_rule_files([str(tmp_path / "missing.py")])
    broken = write(tmp_path, "broken.py", "import no_such_module_for_blobcalc\n")
    with pytest.raises(RulesError, match="ModuleNotFoundError: No module named 'no_such_module_for_blobcalc'"):
        load_rule_files([str(broken)])


def test_two_files_of_one_name_do_not_collide(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = write(tmp_path / "a", "rules.py", SPACE_TO_DEPTH)
    second = write(tmp_path / "b", "rules.py", SPACE_TO_DEPTH.replace("SpaceToDepth", "SpaceToDepth2"))
    modules = load_rule_files([str(first), str(second)])
    assert modules[0] is not modules[1] and modules[0].__name__ != modules[1].__name__
    assert {"SpaceToDepth", "SpaceToDepth2"} <= set(registry.registered_types())


def test_cli_usage_error_for_a_bad_rules_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    net = write(tmp_path, "net.prototxt", NET)
    assert main(["analyze", str(net), "--rules", str(tmp_path / "nope.py")]) == 1
    assert capsys.readouterr().err == f"blobcalc: error: {tmp_path / 'nope.py'}: no such rules file\n"


# Entry points

PLUGIN_MODULE = '''
from blobcalc.shapes.registry import BlobCounts, LayerShapes, shape_rule


@shape_rule("SpaceToDepth", counts=BlobCounts(exact_bottoms=1, exact_tops=1), origin="my fork (me/caffe)")
def space_to_depth(ctx):
    n, c, h, w = ctx.bottom
    return LayerShapes(((n, c * 4, h // 2, w // 2),))


def register():
    @shape_rule("DepthToSpace", counts=BlobCounts(exact_bottoms=1, exact_tops=1))
    def depth_to_space(ctx):
        n, c, h, w = ctx.bottom
        return LayerShapes(((n, c // 4, h * 2, w * 2),))
'''


def installed_plugin(folder: Path) -> Path:
    """A package installed the way pip leaves it: a module and a dist-info folder with entry_points.txt;
    one entry point names the module (imported), one a function (called)."""
    site = folder / "site"
    (site / "my_blobcalc_plugin-1.0.dist-info").mkdir(parents=True)
    (site / "my_blobcalc_plugin.py").write_text(PLUGIN_MODULE)
    (site / "my_blobcalc_plugin-1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: my-blobcalc-plugin\nVersion: 1.0\n")
    (site / "my_blobcalc_plugin-1.0.dist-info" / "entry_points.txt").write_text(
        "[blobcalc.shape_rules]\nfold = my_blobcalc_plugin\nunfold = my_blobcalc_plugin:register\n")
    return site


def test_entry_points_are_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = installed_plugin(tmp_path)
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    names = {entry.name for entry in importlib.metadata.entry_points(group=plugins.ENTRY_POINT_GROUP)}
    assert names == {"fold", "unfold"}
    load_entry_points()
    fold, unfold = registry.rule_for("SpaceToDepth"), registry.rule_for("DepthToSpace")
    assert fold is not None and unfold is not None
    assert fold.origin == "my fork (me/caffe), by rules plugin fold, package my-blobcalc-plugin"
    assert unfold.origin == "rules plugin unfold, package my-blobcalc-plugin"


def test_entry_points_load_with_the_builtin_rules(tmp_path: Path) -> None:
    """In a fresh process, the registry's first use loads installed plugins after the built-in rules."""
    site = installed_plugin(tmp_path)
    net = write(tmp_path, "net.prototxt", NET)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(PROJECT)])}
    done = subprocess.run([sys.executable, "-m", "blobcalc", "analyze", str(net), "--format", "json"],
                          capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["layers"][1]["top_shapes"] == [[2, 12, 4, 4]]
    assert result["fork_types"] == {"SpaceToDepth": "my fork (me/caffe), by rules plugin fold, package "
                                                    "my-blobcalc-plugin"}


def test_a_broken_entry_point_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    class Broken:
        name, value, dist = "broken", "nowhere:register", None

        def load(self) -> Any:
            raise ImportError("No module named 'nowhere'")

    def entry_points(group: str) -> list[Any]:
        assert group == "blobcalc.shape_rules"
        return [Broken()]

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    with pytest.raises(RulesError, match=r"plugin 'broken' \(nowhere:register\): loading the rules failed: "
                                         "ImportError: No module named 'nowhere'"):
        load_entry_points()


PHASE_PROBE = '''
from blobcalc import caffe_pb2
from blobcalc.shapes.registry import BlobCounts, LayerContext, LayerShapes, shape_rule


@shape_rule("PhaseProbe", counts=BlobCounts(exact_bottoms=1, exact_tops=1))
def phase_probe(ctx: LayerContext) -> LayerShapes:
    n, *rest = ctx.bottom
    return LayerShapes(((n * (2 if ctx.phase == caffe_pb2.TRAIN else 1), *rest),))
'''


def test_a_user_rule_may_read_the_phase(tmp_path: Path) -> None:
    """report() trains a net without phase rules as its TEST analysis run in the TRAIN phase, unless
    one of its rules is the user's: that rule may give other shapes in the TRAIN phase."""
    from blobcalc import caffe_pb2
    from blobcalc.api import report
    from blobcalc.memory import net_memory

    net = str(write(tmp_path, "net.prototxt", NET.replace("SpaceToDepth", "PhaseProbe")))
    rules = [str(write(tmp_path, "rules.py", PHASE_PROBE))]
    training = report(net, rules=rules, assume_loss=False).memory.training
    assert training == net_memory(analyze(net, phase="TRAIN", rules=rules), training=True)
    assert training != net_memory(analyze(net, rules=rules), training=True, run_phase=caffe_pb2.TRAIN)
