"""Memory against real Caffe's allocator counters (../shared/golden-memory): every measured run
(inference and training, six solvers, L1, real LMDB data layers) must match byte for byte, in total,
component by component and in each layer's buffers. A missing golden is a failure, never a skip."""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from blobcalc.api import report
from blobcalc.memory import NetMemory
from tests.golden_support import CORPUS, SHARED, input_shapes

GOLDEN_MEMORY = SHARED / "golden-memory"
COMPONENTS = ("activation_data", "activation_diff", "param_data", "param_diff", "solver_state", "buffers")


def memory_rows() -> list[dict[str, str]]:
    index = GOLDEN_MEMORY / "INDEX.tsv"
    if not index.exists():
        return []
    with open(index, newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


ROWS = memory_rows()


def test_memory_goldens_are_present() -> None:
    assert ROWS, f"{GOLDEN_MEMORY}/INDEX.tsv is missing: the memory goldens must be beside this checkout"
    assert len(ROWS) >= 270
    missing = [row["json"] for row in ROWS if not (GOLDEN_MEMORY / row["json"]).exists()]
    assert not missing, f"golden files listed in INDEX.tsv are missing: {missing[:5]}"


def _net_text(row: dict[str, str], golden: dict[str, Any]) -> str:
    """The net Caffe ran: for a real-lmdb run, the corpus file with the golden's recorded edits."""
    text = (CORPUS / row["file"]).read_text()
    for edit in golden.get("data_layer_edits", []):
        assert text.count(edit["old"]) == edit["count"], edit
        text = text.replace(edit["old"], edit["new"])
    return text


def _solver_file(tmp_path: Path, net: Path, golden: dict[str, Any], row: dict[str, str]) -> str:
    settings = golden.get("solver_settings") or {}
    lines = [f'net: "{net}"', f'type: "{row["solver"] or "SGD"}"']
    if row.get("regularization") == "L1":
        lines.append('regularization_type: "L1"')
    if "weight_decay" in settings:
        lines.append(f"weight_decay: {settings['weight_decay']:g}")
    path = tmp_path / "solver.prototxt"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def _measured(row: dict[str, str], tmp_path: Path) -> tuple[dict[str, Any], NetMemory]:
    golden = json.loads((GOLDEN_MEMORY / row["json"]).read_text())
    net = tmp_path / "net.prototxt"
    net.write_text(_net_text(row, golden))
    real_data = row.get("data_layers") == "real-lmdb"
    datums = {layer: tuple(dims) for layer, dims in (golden.get("datum_shapes") or {}).items()} if real_data else {}
    solver = _solver_file(tmp_path, net, golden, row) if row["phase"] == "TRAIN" else None
    result = report(str(net), phase=row["phase"], stages=[row["stage"]] if row["stage"] else [],
                    input_shapes={} if real_data else input_shapes(row), datum_shapes=datums, device="cpu",
                    solver=solver, assume_loss=False)  # Caffe's literal run: a net without a loss has no Backward
    memory = result.memory.training if row["phase"] == "TRAIN" else result.memory.inference
    assert memory is not None, result.memory.training_error
    return golden, memory


def _row_id(row: dict[str, str]) -> str:
    return row["json"].removesuffix(".json")


@pytest.mark.parametrize("row", ROWS, ids=_row_id)
def test_memory_matches_real_caffe_byte_for_byte(row: dict[str, str], tmp_path: Path) -> None:
    golden, memory = _measured(row, tmp_path)
    got = {key: getattr(memory.totals, key) for key in COMPONENTS}
    assert got == {key: golden["totals"][key] for key in COMPONENTS}
    want_layers: dict[str, int] = {}
    for layer in golden["layers"]:
        want_layers[layer["name"]] = want_layers.get(layer["name"], 0) + (
            layer["buffer_bytes_setup"] + layer["buffer_bytes_forward"] + layer["buffer_bytes_backward"])
    have_layers: dict[str, int] = {}
    for memory_row in memory.rows:
        have_layers[memory_row.name] = have_layers.get(memory_row.name, 0) + memory_row.buffer_bytes
    assert {name: size for name, size in have_layers.items() if size} == \
        {name: size for name, size in want_layers.items() if size}
