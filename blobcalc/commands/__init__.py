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
