"""Every corpus net that only the SSD-era fork (brocolli-caffe 9.0.2, oracle `ssd-fork`) could build
must give exactly the fork's answer. A missing corpus is a failure under CI, never a silent skip."""
from __future__ import annotations

import os

import pytest

from blobcalc import analyze
from tests.golden_support import CORPUS, differences, golden_rows, input_shapes, load_golden, row_id

ROWS = golden_rows()
SSD_FORK_ROWS = [r for r in ROWS if r["oracle"] == "ssd-fork" and r["ok"] == "true"]


def test_ssd_fork_goldens_are_present() -> None:
    if not ROWS and not os.environ.get("CI"):
        pytest.skip("../shared/golden is not beside this checkout (it is under CI)")
    assert ROWS, "../shared/golden/INDEX.tsv is missing"
    assert len(SSD_FORK_ROWS) >= 26


@pytest.mark.parametrize("row", SSD_FORK_ROWS, ids=row_id)
def test_matches_the_ssd_fork(row: dict[str, str]) -> None:
    analysis = analyze(str(CORPUS / row["file"]), phase=row["phase"],
                       stages=[row["stage"]] if row["stage"] else [], input_shapes=input_shapes(row))
    assert differences(load_golden(row), analysis) == []
    # Each of these nets relies on the fork's fields, and blobcalc says so.
    assert analysis.fork_fields
