"""The scan's tree walk: each directory once (by device and inode), never out of the given roots unless
--follow-links, never on Python's stack; and classification by parsing, not by words in the text."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from blobcalc.cli import main
from blobcalc.scan import ScanOptions, discover, scan

PROJECT = Path(__file__).resolve().parent.parent
LENET = (PROJECT / "blobcalc" / "examples" / "lenet.prototxt").read_text()


def test_a_chain_1200_folders_deep_is_walked_without_recursion(tmp_path: Path) -> None:
    folder = tmp_path
    for _ in range(1200):
        folder = folder / "d"
        os.mkdir(folder)  # "d/" × 1200: 2,400 characters, within PATH_MAX
    (folder / "net.prototxt").write_text(LENET)
    try:
        found = discover([str(tmp_path)])
        assert [candidate.path for candidate in found] == [str(folder / "net.prototxt")]
    finally:  # shutil.rmtree (pytest's clean-up of old temporary folders) recurses: remove it here
        (folder / "net.prototxt").unlink()
        while folder != tmp_path:
            folder.rmdir()
            folder = folder.parent


def symlink_ladder(root: Path, levels: int) -> None:
    """levels folders, each with two symlinks to the next: 2**levels paths if links were walked naively."""
    for level in range(levels):
        (root / f"l{level}").mkdir()
        (root / f"l{level}" / "net.prototxt").write_text(LENET)
    for level in range(levels - 1):
        for name in ("a", "b"):
            os.symlink(root / f"l{level + 1}", root / f"l{level}" / name)


def test_48_symlinks_two_per_level_list_each_folder_once(tmp_path: Path) -> None:
    symlink_ladder(tmp_path, 25)  # 48 links
    chain = tmp_path / "chain"  # and the same as a chain of nested folders, entered only through links
    chain.mkdir()
    for level in range(24):
        (chain / f"n{level}").mkdir()
        (chain / f"n{level}" / "net.prototxt").write_text(LENET)
        for name in ("a", "b"):
            os.symlink(chain / f"n{level}", (chain / f"n{level - 1}" if level else chain) / name)
    for follow in (False, True):
        found = discover([str(tmp_path)], follow_links=follow)
        nets = [c for c in found if not c.skip_reason]
        links = [c for c in found if c.skip_reason]
        assert len(nets) == 25 + 24 and len(links) == 48 + 48
        expected = "already scanned" if follow else "not followed"
        assert all(expected in c.skip_reason for c in links)
    # From inside the ladder, the links lead out of the root: followed only when asked.
    assert len([c for c in discover([str(tmp_path / "l0")]) if not c.skip_reason]) == 1
    assert len([c for c in discover([str(tmp_path / "l0")], follow_links=True) if not c.skip_reason]) == 25


def test_a_link_to_proc_self_is_not_followed(tmp_path: Path) -> None:
    if not os.path.isdir("/proc/self"):
        pytest.skip("no /proc here")
    (tmp_path / "net.prototxt").write_text(LENET)
    os.symlink("/proc/self", tmp_path / "self")
    os.symlink("/etc/hostname", tmp_path / "hostname.prototxt")
    found = {os.path.basename(c.path): c for c in discover([str(tmp_path)])}
    assert set(found) == {"net.prototxt", "self", "hostname.prototxt"}
    assert "not followed" in found["self"].skip_reason
    assert "out of the scanned folders" in found["hostname.prototxt"].skip_reason


def test_links_inside_the_roots_are_followed(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "deploy.prototxt").write_text(LENET)
    os.symlink(tmp_path / "real" / "deploy.prototxt", tmp_path / "alias.prototxt")
    os.symlink(tmp_path / "real", tmp_path / "again")
    found = {os.path.basename(c.path): c for c in discover([str(tmp_path)])}
    assert found["alias.prototxt"].skip_reason == ""
    assert "symlink to a directory" in found["again"].skip_reason  # its files are listed where they lie
    followed = {c.path for c in discover([str(tmp_path)], follow_links=True)}
    assert str(tmp_path / "real" / "deploy.prototxt") in followed and str(tmp_path / "again") in followed


def test_follow_links_is_a_cli_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "root").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "net.prototxt").write_text(LENET)
    os.symlink(tmp_path / "elsewhere", tmp_path / "root" / "link")
    main(["scan", str(tmp_path / "root"), "--format", "jsonl"])
    assert [json.loads(line)["kind"] for line in capsys.readouterr().out.splitlines()] == ["special"]
    main(["scan", str(tmp_path / "root"), "--format", "jsonl", "--follow-links"])
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(Path(row["path"]).name, row["status"]) for row in rows] == [("net.prototxt", "ok")]


# Classification: by parsing, whatever the name; prose that mentions a net is not a broken net.
CLASSIFIED = [
    ("README.md", "# Nets\n\nOur model uses `layers {` and `layer {` blocks, and an input_dim of 224.\n",
     "other", "skipped"),
    ("MANIFEST.tsv", "path\tkind\tlayers {\nnets/a.prototxt\tnet\t12\n", "other", "skipped"),
    ("labelmap.prototxt", 'item { name: "none_of_the_above" label: 0 }\n', "other", "skipped"),
    ("empty-name.prototxt", 'name: "only a name"\n', "other", "skipped"),
    ("net.txt", LENET, "net", "ok"),
    ("model.cfg", LENET, "net", "ok"),
    ("broken.txt", 'name: "x"\nlayer { name: "c" type: "Convolution"\n', "net", "error"),
    ("commented.prototxt", '# a net\n\nlayer { name: "c" bottom: "x" top: "y"\n', "net", "error"),
    ("solver.conf", 'base_lr: 0.01\nlr_policy: "fixed"\nmax_iter: oops\n', "solver", "error"),
]


@pytest.mark.parametrize(("name", "text", "kind", "status"), CLASSIFIED, ids=[c[0] for c in CLASSIFIED])
def test_files_are_classified_by_parsing(tmp_path: Path, name: str, text: str, kind: str, status: str) -> None:
    (tmp_path / name).write_text(text)
    [row] = scan([tmp_path / name], ScanOptions())
    assert (row.kind, row.status) == (kind, status), row.message
