"""Renderers of scan rows (table, CSV, JSON Lines, JSON) and the summary that follows them."""
from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import fields
from typing import Any

from blobcalc.escaping import CsvWriter, escape_controls, spreadsheet_safe, table_cell
from blobcalc.scan import PARTIAL, ScanRow
from blobcalc.units import human_bytes

COLUMNS = ("path", "kind", "status", "phase", "batch", "training_batch", "era", "net_name", "layers", "params",
           "param_bytes", "activation_bytes", "training_bytes", "caffe_log_bytes", "unknown_types", "audit", "message")


_FIELDS = tuple(field.name for field in fields(ScanRow))


def row_dict(row: ScanRow) -> dict[str, Any]:
    """The row as plain JSON-ready values (tuples as lists), every field in declaration order."""
    data = {name: getattr(row, name) for name in _FIELDS}
    data["unknown_types"] = list(row.unknown_types)
    data["notes"] = list(row.notes)
    return data


def render_jsonl_row(row: ScanRow) -> str:
    return json.dumps(row_dict(row), sort_keys=False) + "\n"


def render_csv(rows: Sequence[ScanRow], header: bool = True) -> str:
    out = io.StringIO()
    writer = CsvWriter(out)
    if header:
        writer.writerow(COLUMNS)
    for row in rows:
        data = row_dict(row)
        writer.writerow([spreadsheet_safe("" if data[c] is None else " ".join(data[c]) if isinstance(data[c], list)
                                          else data[c]) for c in COLUMNS])
    return out.getvalue()


def render_json(rows: Sequence[ScanRow]) -> str:
    return json.dumps({"rows": [row_dict(r) for r in rows], "summary": summary(rows)}, indent=1) + "\n"


def render_table(rows: Sequence[ScanRow]) -> str:
    headers = ("status", "kind", "era", "layers", "params", "activations", "training", "path / message")
    lines = []
    for row in rows:
        # The path is shown whole (escaped); the audit and the message are cut to a few cells' width.
        detail = escape_controls(row.path) + (f"  [weights: {table_cell(row.audit, 240)}]" if row.audit else "") + (
            f"  — {table_cell(row.message, 400)}" if row.message else "")
        none = "?" if row.status == PARTIAL else "-"  # a partial net's figures are unknown, not absent
        cells = [row.status, row.kind, row.era or "-", "-" if row.layers is None else str(row.layers),
                 none if row.params is None else f"{row.params:,}",
                 none if row.activation_bytes is None else human_bytes(row.activation_bytes),
                 none if row.training_bytes is None else human_bytes(row.training_bytes)]
        lines.append([*map(table_cell, cells), detail])
    widths = [max(len(h), *(len(line[i]) for line in lines)) if lines else len(h) for i, h in enumerate(headers)]
    widths[-1] = len(headers[-1])  # the last column is free text: no padding
    right = {3, 4, 5, 6}

    def fmt(cells: Sequence[str]) -> str:
        return "  ".join(c if i == len(cells) - 1 else c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

    out = [fmt(headers), fmt(["-" * w for w in widths]), *(fmt(line) for line in lines)]
    return "\n".join(out) + "\n\n" + summary_text(rows)


def summary(rows: Sequence[ScanRow]) -> dict[str, Any]:
    errors = Counter(_error_kind(row.message) for row in rows if row.status == "error")
    unknown = Counter(t for row in rows for t in row.unknown_types)
    return {"files": len(rows), "by_status": dict(Counter(row.status for row in rows)),
            "by_kind": dict(Counter(row.kind for row in rows)),
            "common_errors": errors.most_common(5), "unknown_types": unknown.most_common(10)}


def _error_kind(message: str) -> str:
    # "path:12:3: Message type ... has no field named "x"." → the reason without the place.
    text = message.split(": ", 1)[-1] if ": " in message else message
    while text[:1].isdigit() and ": " in text:
        text = text.split(": ", 1)[-1]
    return text[:120]


def summary_text(rows: Sequence[ScanRow]) -> str:
    data = summary(rows)
    lines = [f"{data['files']} files: " + ", ".join(f"{n} {s}" for s, n in sorted(data["by_status"].items()))
             + " | " + ", ".join(f"{n} {k}" for k, n in sorted(data["by_kind"].items()))]
    if data["common_errors"]:
        lines.append("most common errors:")
        lines += [f"  {n} x {text}" for text, n in data["common_errors"]]
    if data["unknown_types"]:
        lines.append("unknown layer types: " + ", ".join(f"{t} ({n})" for t, n in data["unknown_types"]))
    return "".join(escape_controls(line) + "\n" for line in lines)  # names from files, one line each
