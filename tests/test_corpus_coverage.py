"""Issue 6's coverage figure: at least 95% of the corpus's net files analyze with no parse error and no
unknown layer type.

Net files are the MANIFEST.tsv rows of kind deploy or train_val. A file analyzes when it parses with our
schema, upgrades, and every layer of the upgraded net (both phases: no layer is filtered out) has a shape
rule; a data layer whose shapes need --input-shape counts, since its type is known. Each file is then also
analysed in each phase Caffe was asked about, with the golden input shapes: errors there (a net Caffe
refuses too, a missing bottom) are printed for information, not counted. Run this file directly
(`python3 tests/test_corpus_coverage.py`) for the full list.
"""
from __future__ import annotations

import csv
import os
from collections import defaultdict
from dataclasses import dataclass

import pytest

from blobcalc.api import analyze_net
from blobcalc.errors import BlobcalcError
from blobcalc.parse import parse_net, read_text
from blobcalc.shapes.registry import python_rule_key, rule_for_layer
from blobcalc.upgrade import upgrade_net
from tests.golden_support import CORPUS, golden_rows, input_shapes

NET_KINDS = ("deploy", "train_val")
REQUIRED_SHARE = 0.95


@dataclass(frozen=True, slots=True)
class Coverage:
    file: str
    reason: str = ""  # why the file does not analyze; "" when it does
    analysis_errors: tuple[str, ...] = ()  # for information: errors of the full analysis, per phase

    @property
    def analyzes(self) -> bool:
        return not self.reason


def net_files() -> list[str]:
    manifest = CORPUS / "MANIFEST.tsv"
    if not manifest.exists():
        return []
    with open(manifest, newline="") as handle:
        return [row["file"] for row in csv.DictReader(handle, delimiter="\t") if row["kind"] in NET_KINDS]


def golden_runs() -> dict[str, list[dict[str, str]]]:
    runs: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in golden_rows():
        runs[row["file"]].append(row)
    return runs


def coverage_of(file: str, runs: list[dict[str, str]]) -> Coverage:
    path = str(CORPUS / file)
    try:
        net = parse_net(read_text(path), path)
        upgraded = upgrade_net(net, path).net
    except BlobcalcError as exc:
        return Coverage(file, f"{type(exc).__name__}: {exc}".replace(path, "").replace(": :", ":"))
    unknown = sorted({python_rule_key(layer.python_param.module, layer.python_param.layer)
                      if layer.type == "Python" else layer.type
                      for layer in upgraded.layer if rule_for_layer(layer) is None})
    reason = f"no shape rule for {', '.join(unknown)}" if unknown else ""
    errors = []
    for run in runs or [{"phase": "TEST", "stage": "", "input_shapes": ""}]:
        try:
            analyze_net(net, path, phase=run["phase"], stages=[run["stage"]] if run["stage"] else [],
                        input_shapes=input_shapes(run))
        except BlobcalcError as exc:
            stage = f"/{run['stage']}" if run["stage"] else ""
            errors.append(f"{run['phase']}{stage}: {type(exc).__name__}: {exc}".replace(path + ": ", ""))
    return Coverage(file, reason, tuple(errors))


def corpus_coverage() -> list[Coverage]:
    runs = golden_runs()
    return [coverage_of(file, runs.get(file, [])) for file in net_files()]


def coverage_report(results: list[Coverage]) -> str:
    analyzed = sum(result.analyzes for result in results)
    lines = [f"corpus coverage: {analyzed}/{len(results)} net files analyze "
             f"({100 * analyzed / max(len(results), 1):.1f}%; required {100 * REQUIRED_SHARE:.0f}%)"]
    failed = [result for result in results if not result.analyzes]
    if failed:
        lines.append("files that do not analyze:")
        lines += [f"  {result.file}: {result.reason}" for result in failed]
    informational = [result for result in results if result.analyzes and result.analysis_errors]
    if informational:
        lines.append("analyzable files whose full analysis stops (for information; Caffe may refuse them too):")
        lines += [f"  {result.file}: {error}" for result in informational for error in result.analysis_errors]
    return "\n".join(lines)


FILES = net_files()


def test_corpus_is_present() -> None:
    if not FILES and not os.environ.get("CI"):
        pytest.skip("../shared/corpus is not beside this checkout (it is under CI)")
    assert len(FILES) >= 200, "../shared/corpus/MANIFEST.tsv is missing or lists too few nets"


@pytest.mark.skipif(not FILES, reason="../shared/corpus is not beside this checkout")
def test_at_least_95_percent_of_the_corpus_analyzes() -> None:
    results = corpus_coverage()
    report = coverage_report(results)
    print(report)
    share = sum(result.analyzes for result in results) / len(results)
    assert share >= REQUIRED_SHARE, report


if __name__ == "__main__":
    print(coverage_report(corpus_coverage()))
