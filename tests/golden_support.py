"""Reading ../shared/golden (real Caffe's answers) and comparing our analysis with one of them."""
from __future__ import annotations

import csv
import json
import os
import re
from pathlib import Path
from typing import Any

from blobcalc.report.json_report import analysis_dict
from blobcalc.result import NetAnalysis

PROJECT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("BLOBCALC_SHARED", PROJECT.parent / "shared"))
GOLDEN = SHARED / "golden"
CORPUS = SHARED / "corpus"


def golden_rows() -> list[dict[str, str]]:
    index = GOLDEN / "INDEX.tsv"
    if not index.exists():
        return []
    with open(index, newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def golden_path(row: dict[str, str]) -> Path:
    stage = f".stage-{row['stage']}" if row.get("stage") else ""
    return GOLDEN / f"{row['file']}.{row['phase']}{stage}.json"


def input_shapes(row: dict[str, str]) -> dict[str, tuple[int, ...]]:
    shapes = {}
    for item in filter(None, row.get("input_shapes", "").split(";")):
        name, _, dims = item.partition("=")
        shapes[name] = tuple(int(d) for d in dims.split(",")) if dims else ()
    return shapes


def row_id(row: dict[str, str]) -> str:
    return f"{row['file']}[{row['phase']}{'/' + row['stage'] if row.get('stage') else ''}]"


def differences(golden: dict[str, Any], analysis: NetAnalysis) -> list[str]:
    """The comparison golden_check.py makes: layer by layer (Caffe's own Split layers aside),
    then param_count and Caffe's memory figure."""
    got = analysis_dict(analysis)
    want = [layer for layer in golden["layers"] if not layer.get("auto_split")]
    have = [layer for layer in got["layers"] if not layer["auto_split"]]
    diffs = []
    if len(have) != len(want):
        diffs.append(f"{len(have)} layers, Caffe built {len(want)}")
    for i, (g, b) in enumerate(zip(want, have, strict=False)):
        where = f"layer #{i} {g['name']!r}"
        for key in ("name", "type", "tops", "top_shapes", "param_shapes"):
            if b[key] != g[key]:
                diffs.append(f"{where}: {key} {b[key]}, Caffe {g[key]}")
    if got["param_count"] != golden["num_params"]:
        diffs.append(f"param_count {got['param_count']}, Caffe {golden['num_params']}")
    if got["caffe_memory_required_bytes"] != golden["memory_used_bytes"]:
        diffs.append(f"memory {got['caffe_memory_required_bytes']}, Caffe {golden['memory_used_bytes']}")
    return diffs


def load_golden(row: dict[str, str]) -> dict[str, Any]:
    with open(golden_path(row)) as handle:
        data: dict[str, Any] = json.load(handle)
    return data


SPLIT_NAME = re.compile(r"_\d+_split$")
