"""The scan's result cache: a rescan reuses the rows of unchanged files and analyses only what changed,
never trusts a row of another build or other options, ignores corrupt or foreign entries, stays under
its size bound, and is safe when scans run at the same time."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from blobcalc.scan import Candidate, ScanOptions, ScanRow, scan
from blobcalc.scan_cache import ScanCache

PROJECT = Path(__file__).resolve().parent.parent
LENET = (PROJECT / "blobcalc" / "examples" / "lenet.prototxt").read_text()


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "zoo"
    root.mkdir()
    for index in range(6):  # six different nets: the batch differs, so do the rows
        (root / f"net{index}.prototxt").write_text(LENET.replace("dim: 64", f"dim: {index + 1}"))
    (root / "solver.prototxt").write_text('net: "net0.prototxt"\nbase_lr: 0.01\n')
    (root / "README.md").write_text("# nets\nEach file has `layers {` blocks.\n")
    return root


def scan_counting(root: Path, cache: ScanCache | None, options: ScanOptions | None = None,
                  jobs: int = 1) -> tuple[list[ScanRow], list[str]]:
    """The rows and the names of the files that were analysed (not answered from the cache)."""
    analysed: list[str] = []

    def on_file(candidate: Candidate, row: ScanRow, cached: bool) -> None:
        if not cached:
            analysed.append(os.path.basename(candidate.path))

    rows = list(scan([root], options, jobs=jobs, cache=cache, on_file=on_file))
    return rows, sorted(analysed)


def test_a_warm_rescan_reuses_every_row(tree: Path, tmp_path: Path) -> None:
    cold, analysed = scan_counting(tree, ScanCache(str(tmp_path / "cache")))
    assert len(analysed) == 8
    warm, analysed = scan_counting(tree, ScanCache(str(tmp_path / "cache")), jobs=2)
    assert analysed == [] and warm == cold
    assert warm == list(scan([tree]))  # and the rows are a scan's without any cache


def test_changing_one_file_reanalyses_only_that_file(tree: Path, tmp_path: Path) -> None:
    scan_counting(tree, ScanCache(str(tmp_path / "cache")))
    target = tree / "net3.prototxt"
    target.write_text(target.read_text().replace("num_output: 500", "num_output: 400"))
    rows, analysed = scan_counting(tree, ScanCache(str(tmp_path / "cache")))
    assert analysed == ["net3.prototxt"]
    assert rows == list(scan([tree]))
    os.utime(tree / "net4.prototxt")  # a new time without new content changes nothing
    assert scan_counting(tree, ScanCache(str(tmp_path / "cache")))[1] == []


def test_a_solver_row_follows_its_net(tree: Path, tmp_path: Path) -> None:
    scan_counting(tree, ScanCache(str(tmp_path / "cache")))
    net = tree / "net0.prototxt"
    net.write_text(net.read_text().replace("num_output: 500", "num_output: 300"))
    rows, analysed = scan_counting(tree, ScanCache(str(tmp_path / "cache")))
    assert analysed == ["net0.prototxt", "solver.prototxt"]
    assert rows == list(scan([tree]))


def test_other_options_or_another_build_never_reuse_a_row(tree: Path, tmp_path: Path) -> None:
    scan_counting(tree, ScanCache(str(tmp_path / "cache")))
    assert len(scan_counting(tree, ScanCache(str(tmp_path / "cache")), ScanOptions(batch=3))[1]) == 8
    other_build = ScanCache(str(tmp_path / "cache"))
    other_build.build = "0" * 64
    assert len(scan_counting(tree, other_build)[1]) == 8


def entry_files(cache_dir: Path) -> list[Path]:
    return sorted(path for path in cache_dir.rglob("*.json") if not path.name.startswith(".tmp-"))


@pytest.mark.parametrize("damage", ["garbage", "truncated", "foreign key", "wrong types", "extra field"])
def test_corrupt_or_foreign_entries_are_ignored(tree: Path, tmp_path: Path, damage: str) -> None:
    cold, _ = scan_counting(tree, ScanCache(str(tmp_path / "cache")))
    for path in entry_files(tmp_path / "cache"):
        entry = json.loads(path.read_text())
        if damage == "garbage":
            path.write_bytes(b"\x80\x04\x95 not json at all")
        elif damage == "truncated":
            path.write_text(path.read_text()[:40])
        elif damage == "foreign key":
            entry["key"] = "0" * 64
            path.write_text(json.dumps(entry))
        elif damage == "wrong types":
            entry["row"]["params"] = "431080"
            path.write_text(json.dumps(entry))
        else:
            entry["row"]["command"] = "rm -rf /"
            path.write_text(json.dumps(entry))
    rows, analysed = scan_counting(tree, ScanCache(str(tmp_path / "cache")))
    assert len(analysed) == 8 and rows == cold


def test_entries_are_plain_json_rows(tree: Path, tmp_path: Path) -> None:
    scan_counting(tree, ScanCache(str(tmp_path / "cache")))
    entries = [json.loads(path.read_bytes()) for path in entry_files(tmp_path / "cache")]
    assert len(entries) == 8
    assert all(set(entry) == {"format", "key", "path", "digest", "depends_on", "folders", "row"}
               for entry in entries)


def test_the_cache_stays_under_its_size_bound(tree: Path, tmp_path: Path) -> None:
    scan_counting(tree, ScanCache(str(tmp_path / "cache")))
    one_entry = max(path.stat().st_size for path in entry_files(tmp_path / "cache"))
    bounded = ScanCache(str(tmp_path / "cache"), max_bytes=3 * one_entry)
    scan_counting(tree, bounded, ScanOptions(batch=2))  # 8 new entries
    assert sum(path.stat().st_size for path in entry_files(tmp_path / "cache")) <= 3 * one_entry


def test_concurrent_scans_share_a_cache(tree: Path, tmp_path: Path) -> None:
    command = [sys.executable, "-m", "blobcalc", "scan", str(tree), "--format", "jsonl", "--jobs", "1",
               "--cache", str(tmp_path / "cache")]
    runs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(3)]
    outputs = [run.communicate(timeout=300)[0] for run in runs]
    assert len(set(outputs)) == 1 and outputs[0].count(b"\n") == 8
    again = subprocess.run(command, capture_output=True, timeout=300, check=False)
    assert again.stdout == outputs[0]
    assert not [path for path in (tmp_path / "cache").rglob(".tmp-*")]


def test_the_cli_uses_the_cache_and_no_cache_bypasses_it(tree: Path, tmp_path: Path) -> None:
    command = [sys.executable, "-m", "blobcalc", "scan", str(tree), "--format", "jsonl",
               "--cache", str(tmp_path / "cache")]
    environment = dict(os.environ, BLOBCALC_SCAN_STATS="1")
    first = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=300, check=False)
    second = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=300, check=False)
    assert "cache: 0 reused, 8 analysed, 8 stored" in first.stderr
    assert "cache: 8 reused, 0 analysed, 0 stored" in second.stderr and second.stdout == first.stdout
    bypass = subprocess.run([*command, "--no-cache"], capture_output=True, text=True, env=environment,
                            timeout=300, check=False)
    assert "cache:" not in bypass.stderr and bypass.stdout == first.stdout


def test_a_solver_whose_net_is_missing_is_analysed_again_when_it_arrives(tmp_path: Path) -> None:
    root = tmp_path / "zoo"
    root.mkdir()
    (root / "solver.prototxt").write_text('net: "later.prototxt"\nbase_lr: 0.01\n')
    cache = str(tmp_path / "cache")
    [row], _ = scan_counting(root, ScanCache(cache))
    assert row.status == "error"
    assert scan_counting(root, ScanCache(cache)) == ([row], [])  # still missing: the row is reused
    (root / "later.prototxt").write_text(LENET)  # the net arrives: the solver's row must see it
    rows, analysed = scan_counting(root, ScanCache(cache))
    assert analysed == ["later.prototxt", "solver.prototxt"] and rows[1].status == "ok"


def test_the_plugin_group_is_the_one_plugins_load() -> None:
    from blobcalc import plugins, scan_cache

    assert scan_cache.ENTRY_POINT_GROUP == plugins.ENTRY_POINT_GROUP


def test_a_rescan_from_the_cache_loads_no_analysis(tree: Path, tmp_path: Path) -> None:
    """What makes a warm rescan fast: it never imports the analysis (protobuf schema, shape rules)."""
    cache = str(tmp_path / "cache")
    for _ in range(2):
        probe = (f"import sys; from blobcalc.cli import main; main(['scan', {str(tree)!r}, '--cache', {cache!r}, "
                 "'--format', 'jsonl']); print(sorted(m for m in ('blobcalc.api', 'blobcalc.propagate', "
                 "'blobcalc.shapes.registry') if m in sys.modules), file=sys.stderr)")
        result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300,
                                check=False)
    # The solver's net is found: nothing is left to check by planning it, so nothing loads the analysis.
    assert result.stderr.splitlines()[-1] == "[]"


def test_the_build_fingerprint_is_remembered_and_a_bad_memo_ignored(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import blobcalc
    from blobcalc.scan_cache import build_fingerprint, remembered_build_fingerprint

    real = build_fingerprint()
    assert remembered_build_fingerprint(tmp_path) == real  # computed and remembered
    [memo] = (tmp_path / "builds").iterdir()
    memo.write_text("not a digest")
    assert remembered_build_fingerprint(tmp_path) == real
    memo.write_text("f" * 64)  # a memo is only trusted under the exact sizes and times it was made for
    assert remembered_build_fingerprint(tmp_path) == "f" * 64
    monkeypatch.setattr(blobcalc, "__version__", "99.0")  # another build: the memo is not used
    assert remembered_build_fingerprint(tmp_path) == build_fingerprint() != real


def test_a_missing_net_that_arrives_in_a_folder_above_is_seen(tmp_path: Path) -> None:
    """Caffe-checkout style: the net path is relative to a folder above the solver, in folders that exist."""
    solvers = tmp_path / "checkout" / "examples" / "mine"
    solvers.mkdir(parents=True)
    (tmp_path / "checkout" / "models" / "net").mkdir(parents=True)
    (solvers / "solver.prototxt").write_text('net: "models/net/train.prototxt"\nbase_lr: 0.01\n')
    cache = str(tmp_path / "cache")
    [before], _ = scan_counting(solvers, ScanCache(cache))
    assert before.status == "error" and scan_counting(solvers, ScanCache(cache))[1] == []
    (tmp_path / "checkout" / "models" / "net" / "train.prototxt").write_text(LENET)
    [after], analysed = scan_counting(solvers, ScanCache(cache))
    assert analysed == ["solver.prototxt"] and after.status == "ok"
