"""The scan's result cache: a file's row is reused when its content, the scan options and the blobcalc
build are all unchanged, so a rescan analyses only what changed.

One JSON file per (build, options, path), named by a SHA-256 of those and holding the row with the
SHA-256 of the content it was computed from (and of any other file it read: a solver's nets, a net's
paired weights). Entries are written to a temporary file and renamed, so concurrent scans never see a
half-written entry; an entry that does not parse, names another key or holds anything but a row of
the expected fields is ignored. Nothing executable is stored (JSON, never pickle). The build is the
version plus a hash of the package's own source files and installed shape-rule plugins, so a changed
or upgraded blobcalc never trusts an old row. The folder is kept under a size bound by removing the
entries used least recently.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from blobcalc.scan import Analysed, ScanOptions, ScanRow, file_digest, folders_unchanged

FORMAT = 3  # of the entries; a new format lives in a new folder
DEFAULT_MAX_BYTES = 512 * 1024 * 1024  # ~1 KiB an entry: about half a million files
_ROW_FIELDS = {f.name: f.type for f in dataclasses.fields(ScanRow)}
# Fields by type: `str`, `int | None` (counts and bytes) and `tuple[str, ...]` (a JSON list of strings).
_TEXT_FIELDS = tuple(name for name, kind in _ROW_FIELDS.items() if kind == "str")
_COUNT_FIELDS = tuple(name for name, kind in _ROW_FIELDS.items() if kind == "int | None")
_LIST_FIELDS = tuple(name for name, kind in _ROW_FIELDS.items() if kind.startswith("tuple[str"))
assert len(_TEXT_FIELDS) + len(_COUNT_FIELDS) + len(_LIST_FIELDS) == len(_ROW_FIELDS), "a ScanRow field type"
# plugins.ENTRY_POINT_GROUP, written out: importing plugins loads the shape registry, which a rescan
# answered from the cache does not need (tests/test_scan_cache.py checks that the two agree).
ENTRY_POINT_GROUP = "blobcalc.shape_rules"


def default_directory() -> str:
    """The user's cache folder: $XDG_CACHE_HOME (or ~/.cache) on Linux, ~/Library/Caches on macOS,
    %LOCALAPPDATA% on Windows; `blobcalc/scan` inside it."""
    if sys.platform == "darwin":
        base = os.path.expanduser("~/Library/Caches")
    elif os.name == "nt":
        base = os.environ.get("LOCALAPPDATA") or os.path.expanduser("~\\AppData\\Local")
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return os.path.join(base, "blobcalc", "scan")


class ScanCache:
    """Rows of earlier scans, looked up by path and checked against the file's current content."""

    def __init__(self, directory: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.directory = Path(directory or default_directory()) / f"v{FORMAT}"
        self.entries = str(self.directory)
        self.max_bytes = max_bytes
        self.build = remembered_build_fingerprint(self.directory)
        self.hits = self.misses = self.stored = 0
        self.cwd = os.getcwd()
        self._prefixes: dict[ScanOptions, bytes] = {}

    def _key(self, path: str, options: ScanOptions) -> str:
        # The working directory is part of the key: a relative path (or a solver's relative net path)
        # names another file from elsewhere.
        prefix = self._prefixes.get(options)
        if prefix is None:
            identity = [FORMAT, self.build, dataclasses.asdict(options), self.cwd]
            prefix = self._prefixes[options] = json.dumps(identity, sort_keys=True).encode() + b"\0"
        return hashlib.sha256(prefix + path.encode("utf-8", "surrogateescape")).hexdigest()

    def _entry_path(self, key: str) -> str:
        return os.path.join(self.entries, key[:2], f"{key}.json")

    def lookup(self, path: str, options: ScanOptions) -> ScanRow | None:
        """The cached row when the file (and every file the row depends on) is unchanged, else None."""
        key = self._key(path, options)
        entry_path = self._entry_path(key)
        try:
            with open(entry_path, "rb") as handle:
                entry = json.loads(handle.read())
            row = _checked_entry(entry, key, path)
        except (OSError, ValueError, TypeError, KeyError):
            row = None
        if row is not None and file_digest(path, options.max_bytes) == entry["digest"] and all(
                file_digest(dependency, 1 << 62) == digest for dependency, digest in entry["depends_on"]) and (
                folders_unchanged(entry["folders"])):
            self.hits += 1
            with contextlib.suppress(OSError):
                os.utime(entry_path)  # recently used: kept longest when the folder is pruned
            return row
        self.misses += 1
        return None

    def store(self, path: str, options: ScanOptions, analysed: Analysed) -> None:
        """Keep the row; a cache that cannot be written (read-only, full disk) only costs speed."""
        key = self._key(path, options)
        entry = {"format": FORMAT, "key": key, "path": path, "digest": analysed.digest,
                 "depends_on": [list(item) for item in analysed.depends_on],
                 "folders": [list(item) for item in analysed.folders],
                 "row": {name: list(value) if isinstance(value, tuple) else value
                         for name, value in ((f, getattr(analysed.row, f)) for f in _ROW_FIELDS)}}
        data = json.dumps(entry).encode("utf-8", "surrogateescape")
        target = self._entry_path(key)
        import tempfile

        try:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=os.path.dirname(target), prefix=".tmp-", suffix=".json")
            try:
                with os.fdopen(handle, "wb") as out:
                    out.write(data)
                os.replace(temporary, target)  # atomic: readers see the old entry or the new one
            except BaseException:
                os.unlink(temporary)
                raise
        except OSError:
            return
        self.stored += 1

    def prune(self) -> None:
        """Keep the folder under max_bytes: drop the least recently used entries (to 80 %), and temporary
        files left behind by a scan that was killed. Only runs after a scan that wrote entries."""
        if not self.stored:
            return
        entries: list[tuple[float, int, str]] = []
        try:
            for folder in os.scandir(self.directory):
                if not folder.is_dir(follow_symlinks=False):
                    continue
                for item in os.scandir(folder.path):
                    info = item.stat(follow_symlinks=False)
                    if item.name.startswith(".tmp-") and info.st_mtime < _now() - 3600:
                        _remove(item.path)
                    else:
                        entries.append((info.st_mtime, info.st_size, item.path))
        except OSError:
            return
        total = sum(size for _, size, _ in entries)
        if total <= self.max_bytes:
            return
        for _, size, path in sorted(entries):
            _remove(path)
            total -= size
            if total <= self.max_bytes * 0.8:
                break


def _checked_entry(entry: Any, key: str, path: str) -> ScanRow | None:
    """The entry's row when it is one of ours for this key, with every field of the expected type."""
    if not isinstance(entry, dict) or entry.get("format") != FORMAT or entry.get("key") != key:
        return None
    if entry.get("path") != path or not isinstance(entry.get("digest"), str) or not entry["digest"]:
        return None
    folders = entry.get("folders")
    if not isinstance(folders, list) or not all(
            isinstance(item, list) and len(item) == 2 and isinstance(item[0], str) and isinstance(item[1], int)
            for item in folders):
        return None
    depends_on = entry.get("depends_on")
    if not isinstance(depends_on, list) or not all(
            isinstance(item, list) and len(item) == 2 and all(isinstance(part, str) for part in item)
            for item in depends_on):
        return None
    fields = entry.get("row")
    if not isinstance(fields, dict) or set(fields) != set(_ROW_FIELDS) or fields.get("path") != path:
        return None
    for name in _TEXT_FIELDS:
        if type(fields[name]) is not str:
            return None
    for name in _COUNT_FIELDS:
        value = fields[name]
        if value is not None and type(value) is not int:  # bool is not int here
            return None
    for name in _LIST_FIELDS:
        value = fields[name]
        if type(value) is not list or not all(type(item) is str for item in value):
            return None
        fields[name] = tuple(value)
    return ScanRow(**fields)


def build_fingerprint() -> str:
    """The blobcalc version, a hash of its source files and the installed shape-rule plugins: a row is
    never reused by another build, even one that kept the version number."""
    import importlib.metadata

    import blobcalc

    digest = hashlib.sha256(blobcalc.__version__.encode())
    package = Path(blobcalc.__file__).parent
    for source in sorted(package.rglob("*.py")):
        digest.update(str(source.relative_to(package)).encode())
        digest.update(source.read_bytes())
    for entry_point in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        distribution = entry_point.dist
        digest.update(f"{entry_point.name}={entry_point.value}@{distribution.version if distribution else ''}"
                      .encode())
    return digest.hexdigest()


def remembered_build_fingerprint(directory: Path) -> str:
    """build_fingerprint(), remembered in the cache folder under the size and time of every source file
    and the time of every folder on sys.path (installing or removing a package changes its folder): the
    same build is not hashed again at every scan, any change is."""
    import blobcalc

    package = Path(blobcalc.__file__).parent
    stats: list[object] = [blobcalc.__version__]
    for source in sorted(package.rglob("*.py")):
        info = source.stat()
        stats.append([str(source.relative_to(package)), info.st_size, info.st_mtime_ns])
    for entry in sys.path:
        with contextlib.suppress(OSError):
            stats.append([entry, os.stat(entry or ".").st_mtime_ns])
    signature = hashlib.sha256(json.dumps(stats).encode("utf-8", "surrogateescape")).hexdigest()
    memo = directory / "builds" / f"{signature}.txt"
    with contextlib.suppress(OSError, UnicodeDecodeError):
        remembered = memo.read_text("ascii").strip()
        if len(remembered) == 64 and all(c in "0123456789abcdef" for c in remembered):
            return remembered
    fingerprint = build_fingerprint()
    with contextlib.suppress(OSError):
        memo.parent.mkdir(parents=True, exist_ok=True)
        temporary = memo.with_name(f".tmp-{os.getpid()}-{memo.name}")
        temporary.write_text(fingerprint, "ascii")
        os.replace(temporary, memo)
    return fingerprint


def _now() -> float:
    import time

    return time.time()


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
