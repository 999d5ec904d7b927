"""`blobcalc scan`: every path yields exactly one documented row, whatever the file; shards partition
the files exactly; the corpus scan agrees with real Caffe's parameter counts."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from blobcalc import caffe_pb2
from blobcalc.cli import main
from blobcalc.scan import ScanOptions, discover, in_shard, scan
from tests.golden_support import CORPUS, golden_rows

PROJECT = Path(__file__).resolve().parent.parent
LENET = (PROJECT / "blobcalc" / "examples" / "lenet.prototxt").read_text()


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "zoo"
    (root / "nets").mkdir(parents=True)
    (root / "nets" / "good.prototxt").write_text(LENET)
    (root / "nets" / "broken.prototxt").write_text('layer { name: "c" type: "Convolution" \n  bottom: "x" top: "y"\n')
    (root / "solver.prototxt").write_text(f'net: "{root / "nets" / "good.prototxt"}"\ntype: "Adam"\nbase_lr: 0.1\n')
    weights = caffe_pb2.NetParameter(name="w")
    layer = weights.layer.add(name="conv1", type="Convolution")
    layer.blobs.add().shape.dim.extend([20, 1, 5, 5])
    (root / "model.caffemodel").write_bytes(weights.SerializeToString())
    (root / "labels.prototxt").write_text('item { name: "cat" label: 1 }\n')
    (root / "big.prototxt").write_text(LENET + "#" * 5000)
    os.symlink(root, root / "nets" / "loop")
    os.mkfifo(root / "pipe.prototxt")
    unreadable = root / "secret.prototxt"
    unreadable.write_text(LENET)
    unreadable.chmod(0)
    return root


def test_each_file_gets_its_documented_row(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["scan", str(tree), "--format", "jsonl", "--max-bytes", "4000", "--jobs", "2", "--no-progress",
                 "--no-cache"])
    rows = {Path(row["path"]).name: row for row in map(json.loads, capsys.readouterr().out.splitlines())}
    assert code == 1  # the broken net (and, as root is not needed here, nothing else) failed
    assert rows["good.prototxt"]["status"] == "ok" and rows["good.prototxt"]["params"] == 431080
    assert rows["broken.prototxt"]["status"] == "error"
    assert rows["broken.prototxt"]["message"].endswith('broken.prototxt:2:20: Expected "}".')
    assert rows["solver.prototxt"]["kind"] == "solver" and rows["solver.prototxt"]["training_bytes"] > 0
    assert rows["model.caffemodel"]["kind"] == "weights" and rows["model.caffemodel"]["params"] == 500
    assert rows["labels.prototxt"]["status"] == "skipped" and rows["labels.prototxt"]["kind"] == "other"
    assert rows["big.prototxt"]["status"] == "skipped" and "--max-bytes 4000" in rows["big.prototxt"]["message"]
    assert rows["loop"]["kind"] == "special" and "symlink to a directory, not followed" in rows["loop"]["message"]
    assert rows["pipe.prototxt"]["kind"] == "special" and "never opened" in rows["pipe.prototxt"]["message"]
    if os.geteuid() != 0:  # root reads any file
        assert rows["secret.prototxt"]["status"] == "error"
    assert len(rows) == 9


def test_a_bug_of_ours_becomes_the_file_row(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import blobcalc.scan as scan_module

    def explode(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(scan_module, "_scan_net", explode)
    rows = list(scan([tree / "nets" / "good.prototxt"], ScanOptions()))
    assert rows[0].status == "error" and "internal error (please report): ZeroDivisionError: boom" in rows[0].message


def test_shards_partition_the_files_exactly(tree: Path) -> None:
    paths = [c.path for c in discover([str(CORPUS)])]
    parts = [[p for p in paths if in_shard(p, (k, 3))] for k in (1, 2, 3)]
    assert sorted(p for part in parts for p in part) == sorted(paths)
    assert all(parts) and sum(len(part) for part in parts) == len(paths)


def test_shard_rows_concatenate_into_the_full_scan(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["scan", str(tree / "nets"), str(tree / "solver.prototxt"), "--format", "jsonl", "--jobs", "1"])
    full = capsys.readouterr().out.splitlines()
    pieces = []
    for k in (1, 2):
        main(["scan", str(tree / "nets"), str(tree / "solver.prototxt"), "--format", "jsonl", "--jobs", "1",
              "--shard", f"{k}/2"])
        pieces += capsys.readouterr().out.splitlines()
    assert sorted(pieces) == sorted(full)


def test_weights_are_paired_and_audited(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "net.prototxt").write_text(LENET)
    weights = caffe_pb2.NetParameter(name="w")
    layer = weights.layer.add(name="conv1", type="Convolution")
    layer.blobs.add().shape.dim.extend([20, 1, 3, 3])  # wrong kernel
    layer.blobs[0].data.extend([0.0] * 180)
    (tmp_path / "net.caffemodel").write_bytes(weights.SerializeToString())
    main(["scan", str(tmp_path / "net.prototxt"), "--pair-weights", "--format", "jsonl"])
    row = json.loads(capsys.readouterr().out)
    assert row["audit"].startswith("Caffe refuses net.caffemodel")


def test_usage_errors_exit_2() -> None:
    assert main(["scan", ".", "--shard", "3/2"]) == 2


def test_scan_of_the_corpus_has_one_row_per_file_and_agrees_with_caffe() -> None:
    if not CORPUS.exists():
        assert not os.environ.get("CI"), "../shared/corpus is missing under CI"
        pytest.skip("../shared/corpus is not beside this checkout")
    out = subprocess.run([sys.executable, "-m", "blobcalc", "scan", str(CORPUS), "--format", "jsonl", "--no-cache"],
                         capture_output=True, text=True, timeout=600)
    assert "Traceback" not in out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    files = sorted(str(p) for p in CORPUS.rglob("*") if p.is_file())
    assert sorted(row["path"] for row in rows) == files
    # Classified by parsing: the corpus's own notes mention `layers {` but are no nets.
    by_name = {str(Path(row["path"]).relative_to(CORPUS)): row for row in rows}
    assert by_name["README.md"]["kind"] == by_name["MANIFEST.tsv"]["kind"] == "other"
    want = {row["file"]: int(row["num_params"]) for row in golden_rows()
            if row["phase"] == "TEST" and row["ok"] == "true" and not row["stage"]}
    checked, differing = 0, []
    for row in rows:
        name = str(Path(row["path"]).relative_to(CORPUS))
        if name in want and row["status"] == "ok":
            checked += 1
            if row["params"] != want[name]:
                differing.append((name, row["params"], want[name]))
    assert differing == []
    assert checked >= 80
