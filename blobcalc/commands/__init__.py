"""The CLI's subcommands: each module adds its parser and runs it; cli.py only dispatches."""
from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    help: str


def all_commands() -> tuple[Command, ...]:
    from blobcalc.commands import (
        analyze_cmd,
        audit_cmd,
        estimate_cmd,
        fit_cmd,
        graph_cmd,
        report_cmd,
        scan_cmd,
        upgrade_cmd,
    )

    modules: tuple[ModuleType, ...] = (analyze_cmd, estimate_cmd, fit_cmd, scan_cmd, audit_cmd, upgrade_cmd,
                                       graph_cmd, report_cmd)
    return tuple(module.COMMAND for module in modules)


_MODULES = {"analyze": "analyze_cmd", "estimate": "estimate_cmd", "fit": "fit_cmd", "scan": "scan_cmd",
            "audit": "audit_cmd", "upgrade": "upgrade_cmd", "graph": "graph_cmd", "report": "report_cmd"}


def command_named(name: str) -> Command | None:
    """The command called `name`, importing only its module; None for any other word."""
    if name not in _MODULES:
        return None
    import importlib

    command: Command = importlib.import_module(f"blobcalc.commands.{_MODULES[name]}").COMMAND
    return command
