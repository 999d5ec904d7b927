"""User shape rules: rule files the user names (`--rules FILE.py`) and installed plugins (entry points).

Both register with the same registry as the built-in rules (`blobcalc.shapes.registry.shape_rule`).
Only code the *user* chose is ever imported: a file named on the command line or through the API, or a
package installed with an entry point in the group `blobcalc.shape_rules` — never a name an analyzed
file holds (Python layers stay unimported, keyed by their module and class names).
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import ModuleType
from typing import Any

from blobcalc.errors import BlobcalcError
from blobcalc.shapes import registry

ENTRY_POINT_GROUP = "blobcalc.shape_rules"


class RulesError(BlobcalcError):
    """A rule file or plugin that cannot be loaded, or that registers a rule it may not."""

    def __init__(self, where: str, reason: str) -> None:
        self.where = where
        self.reason = reason
        super().__init__(f"{where}: {reason}")


_LOADED_FILES: dict[str, ModuleType] = {}  # real path → module: a file is loaded once per process
_LOCK = threading.RLock()


@contextmanager
def _registering_as(origin: str) -> Iterator[None]:
    registry._user_origin.append(origin)
    try:
        yield
    finally:
        registry._user_origin.pop()


def load_rule_files(paths: Sequence[str]) -> tuple[ModuleType, ...]:
    """Import each user rule file once (later calls with the same file do nothing) after the built-in
    rules and installed plugins, so that a rule for a type that has one must say replace=True."""
    if not paths:
        return ()
    registry.registered_types()  # built-in rules and entry points first
    return tuple(load_rule_file(path) for path in paths)


def load_rule_file(path: str) -> ModuleType:
    real = os.path.realpath(path)
    with _LOCK:
        module = _LOADED_FILES.get(real)
        if module is not None:
            return module
        if not os.path.isfile(real):
            raise RulesError(path, "no such rules file" if not os.path.exists(real) else "not a file")
        # A name of its own per file, so two files called rules.py never replace each other in sys.modules.
        name = f"blobcalc_user_rules_{hashlib.sha256(real.encode('utf-8', 'surrogateescape')).hexdigest()[:16]}"
        spec = importlib.util.spec_from_file_location(name, real)
        if spec is None or spec.loader is None:
            raise RulesError(path, "cannot be imported as a Python file (does it end in .py?)")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses and pickling look a module up by name
        try:
            with _registering_as(f"user rules ({path})"):
                spec.loader.exec_module(module)
        except BlobcalcError:
            sys.modules.pop(name, None)
            raise
        except Exception as exc:  # the user's code: any failure is reported as the file's
            sys.modules.pop(name, None)
            raise RulesError(path, f"loading the rules failed: {type(exc).__name__}: {exc}") from exc
        _LOADED_FILES[real] = module
        return module


def load_entry_points() -> None:
    """Load every installed plugin of the group blobcalc.shape_rules: an entry point naming a module
    registers its rules by being imported; one naming a callable is called with no arguments."""
    for entry_point in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP),
                              key=lambda entry: entry.name):
        dist = getattr(entry_point, "dist", None)
        package = f", package {dist.name}" if dist is not None and getattr(dist, "name", None) else ""
        where = f"plugin '{entry_point.name}' ({entry_point.value}{package})"
        try:
            with _registering_as(f"rules plugin {entry_point.name}{package}"):
                loaded: Any = entry_point.load()
                if callable(loaded) and not isinstance(loaded, ModuleType):
                    loaded()
        except BlobcalcError:
            raise
        except Exception as exc:
            raise RulesError(where, f"loading the rules failed: {type(exc).__name__}: {exc}") from exc
