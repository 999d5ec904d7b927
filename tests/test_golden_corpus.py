"""Every corpus net real BVLC Caffe built must give exactly Caffe's answer; every net Caffe refused
must be refused or flagged by us. A missing corpus is a failure under CI, never a silent skip."""
from __future__ import annotations

import os

import pytest

from blobcalc import analyze
from blobcalc.errors import BlobcalcError
from tests.golden_support import CORPUS, differences, golden_rows, input_shapes, load_golden, row_id

ROWS = golden_rows()
BVLC_ROWS = [r for r in ROWS if r["oracle"] == "bvlc" and r["ok"] == "true"]
REFUSED_ROWS = [r for r in ROWS if r["ok"] == "false"]


def test_golden_corpus_is_present() -> None:
    if not ROWS and not os.environ.get("CI"):
        pytest.skip("../shared/golden is not beside this checkout (it is under CI)")
    assert ROWS, "../shared/golden/INDEX.tsv is missing"
    assert len(BVLC_ROWS) >= 200


@pytest.mark.parametrize("row", BVLC_ROWS, ids=row_id)
def test_matches_real_caffe(row: dict[str, str]) -> None:
    analysis = analyze(str(CORPUS / row["file"]), phase=row["phase"],
                       stages=[row["stage"]] if row["stage"] else [], input_shapes=input_shapes(row))
    assert differences(load_golden(row), analysis) == []


@pytest.mark.parametrize("row", REFUSED_ROWS, ids=row_id)
def test_refused_by_caffe_is_refused_or_flagged(row: dict[str, str]) -> None:
    try:
        analysis = analyze(str(CORPUS / row["file"]), phase=row["phase"],
                           stages=[row["stage"]] if row["stage"] else [], input_shapes=input_shapes(row))
    except BlobcalcError:
        return
    assert analysis.partial or analysis.unsupported_types or analysis.fork_types or analysis.fork_fields, (
        f"Caffe refused this net ({row['error'][:200]}) but we gave complete figures")
