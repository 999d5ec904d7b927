"""Discovery of the files a scan reads: a breadth-first walk with its own queue (never Python's stack),
each directory listed once by (device, inode), never leaving the given roots unless links are followed.

Every entry found gets one Candidate: a regular file to analyse, or a reason it is not opened (a FIFO, a
device, a symlink not followed, a directory seen before, a directory that cannot be listed). Names are
kept as the file system gives them: a name that is not valid UTF-8 stays a `str` with surrogate escapes
(os.fsdecode), so it can be opened again and written back byte for byte.
"""
from __future__ import annotations

import fnmatch
import os
import stat
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from blobcalc.regular_files import file_kind

NET, SOLVER, WEIGHTS, OTHER, SPECIAL, UNREADABLE = "net", "solver", "weights", "other", "special", "unreadable"

# Files a scan writes beside its output while it runs: never read back by a scan of the same tree.
TEMP_PREFIX = ".blobcalc-scan-"


@dataclass(frozen=True, slots=True)
class Candidate:
    path: str
    skip_reason: str = ""  # set for entries listed but never opened (special files, links, loops)
    kind: str = ""
    size: int = 0  # bytes, as listed: big files are started first so that workers finish together


def discover(paths: Sequence[str], globs: Sequence[str] = (), *, follow_links: bool = False,
             exclude: Iterable[str] = ()) -> list[Candidate]:
    """Every file under `paths`, sorted by path; a path given explicitly is always listed.

    Without `follow_links`, a symlink is followed only when what it points to lies inside one of the
    given roots, and a symlink to a directory is never entered (the directory is scanned where it lies,
    if it lies inside a root). With it, every link is followed and each directory is still listed once.
    Paths in `exclude` (the scan's own output) are left out wherever they are found."""
    excluded = _Excluded(exclude)
    roots = [os.path.realpath(path) for path in paths]
    found: dict[str, Candidate] = {}
    visited: set[tuple[int, int]] = set()
    pending: deque[str] = deque()  # folders to list
    # Folders reached through a symlink (with follow_links): listed after every folder reachable without
    # one, so that a folder's files are listed under its own path when it lies inside a root.
    linked: deque[tuple[str, tuple[int, int]]] = deque()
    for root in paths:
        try:
            info = os.stat(root)
        except OSError as exc:
            found[root] = Candidate(root, f"cannot read: {exc.strerror or exc}", UNREADABLE)
            continue
        if stat.S_ISDIR(info.st_mode):
            if (info.st_dev, info.st_ino) not in visited:
                visited.add((info.st_dev, info.st_ino))
                pending.append(root)
        elif excluded.matches(info):
            continue
        else:
            found[root] = _candidate(root, info)
    while pending or linked:
        if pending:
            directory = pending.popleft()
        else:
            directory, key = linked.popleft()
            if key in visited:
                found[directory] = Candidate(directory, "directory already scanned (a symlink loop or a second "
                                                        "link to it)", SPECIAL)
                continue
            visited.add(key)
        try:
            with os.scandir(directory) as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except OSError as exc:
            found[directory] = Candidate(directory, f"cannot list directory: {exc.strerror or exc}", UNREADABLE)
            continue
        for entry in entries:
            _visit(entry, globs, follow_links, roots, excluded, visited, pending, linked, found)
    return [found[key] for key in sorted(found)]


def _visit(entry: os.DirEntry[str], globs: Sequence[str], follow_links: bool, roots: Sequence[str],
           excluded: _Excluded, visited: set[tuple[int, int]], pending: deque[str],
           linked: deque[tuple[str, tuple[int, int]]], found: dict[str, Candidate]) -> None:
    path = entry.path
    if entry.name.startswith(TEMP_PREFIX):
        return
    try:
        is_link = entry.is_symlink()
        info = entry.stat(follow_symlinks=True)
    except OSError as exc:
        found[path] = Candidate(path, f"cannot read: {exc.strerror or exc}"
                                + (" (a broken or looping symlink)" if entry.is_symlink() else ""), UNREADABLE)
        return
    if excluded.matches(info):
        return
    if stat.S_ISDIR(info.st_mode):
        if is_link and not follow_links:
            found[path] = Candidate(path, "symlink to a directory, not followed (--follow-links follows it)",
                                    SPECIAL)
            return
        key = (info.st_dev, info.st_ino)
        if is_link:
            linked.append((path, key))
            return
        if key in visited:
            found[path] = Candidate(path, "directory already scanned (a symlink loop or a second link to it)",
                                    SPECIAL)
            return
        visited.add(key)
        pending.append(path)
        return
    if globs and not any(fnmatch.fnmatch(entry.name, pattern) for pattern in globs):
        return
    if is_link and not follow_links and not _inside(os.path.realpath(path), roots):
        found[path] = Candidate(path, "symlink leading out of the scanned folders, not followed "
                                      "(--follow-links follows it)", SPECIAL)
        return
    found[path] = _candidate(path, info)


def _inside(real_path: str, roots: Sequence[str]) -> bool:
    return any(real_path == root or real_path.startswith(root.rstrip(os.sep) + os.sep) for root in roots)


def _candidate(path: str, info: os.stat_result) -> Candidate:
    if stat.S_ISREG(info.st_mode):
        return Candidate(path, size=info.st_size)
    return Candidate(path, f"{file_kind(info.st_mode)}, never opened", SPECIAL)




class _Excluded:
    """The scan's own output (files or folders), by (device, inode): whatever name reaches it. An output
    that does not exist yet cannot be listed by the walk, which runs before anything is written."""

    __slots__ = ("identities",)

    def __init__(self, paths: Iterable[str]) -> None:
        self.identities: set[tuple[int, int]] = set()
        for path in paths:
            try:
                info = os.stat(path)
            except OSError:
                continue
            self.identities.add((info.st_dev, info.st_ino))

    def matches(self, info: os.stat_result) -> bool:
        return (info.st_dev, info.st_ino) in self.identities
