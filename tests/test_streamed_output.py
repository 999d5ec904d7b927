"""`blobcalc analyze` writes its output piece by piece (blobcalc.report.write_report): the text must be
exactly what each renderer returns, and the streamed JSON exactly json.dumps of the report's dict."""
from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from blobcalc.api import NetReport, report
from blobcalc.cli import main
from blobcalc.report import RENDERERS, render, write_report
from blobcalc.report.json_report import INDENT, _encoded, _materialized, as_dict

PROJECT = Path(__file__).resolve().parent.parent
LENET = str(PROJECT / "blobcalc" / "examples" / "lenet.prototxt")
TINY = str(PROJECT / "fixtures" / "memory" / "tiny_train.prototxt")


def chain(layers: int) -> str:
    """A net whose every output is far longer than one write (64 Ki characters)."""
    text = ['name: "chain"\nlayer { name: "data" type: "Input" top: "x0" '
            'input_param { shape { dim: 1 dim: 4 dim: 8 dim: 8 } } }\n']
    text += [f'layer {{ name: "r{i}" type: "ReLU" bottom: "x{i}" top: "x{i + 1}" }}\n' for i in range(layers)]
    return "".join(text)


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, NetReport]:
    folder = tmp_path_factory.mktemp("nets")
    solver = folder / "solver.prototxt"
    solver.write_text(f'net: "{TINY}"\ntype: "Adam"\ntest_iter: 1\ntest_interval: 10\n')
    unknown = folder / "unknown.prototxt"
    unknown.write_text('name: "n\\u00e9t \\"q\\""\n'
                       'layer { name: "data" type: "Input" top: "d" input_param { shape { dim: 1 dim: 2 } } }\n'
                       'layer { name: "mystery" type: "NoSuchLayer" bottom: "d" top: "m" }\n')
    return {"lenet": report(LENET), "tiny-train": report(TINY, phase="TRAIN"),
            "solver-with-test-net": report(solver=str(solver)), "unknown-layer": report(str(unknown)),
            "chain": report(chain(600))}


@pytest.mark.parametrize("fmt", sorted(RENDERERS))
@pytest.mark.parametrize("name", ["lenet", "tiny-train", "solver-with-test-net", "unknown-layer", "chain"])
def test_written_output_is_the_rendered_text(reports: dict[str, NetReport], name: str, fmt: str) -> None:
    out = io.StringIO()
    write_report(reports[name], fmt, out, "KiB")
    assert out.getvalue() == render(reports[name], fmt, "KiB")


@pytest.mark.parametrize("name", ["lenet", "solver-with-test-net", "unknown-layer", "chain"])
def test_streamed_json_is_json_dumps_of_the_dict(reports: dict[str, NetReport], name: str) -> None:
    out = io.StringIO()
    write_report(reports[name], "json", out)
    assert out.getvalue() == json.dumps(as_dict(reports[name]), indent=1) + "\n"


def document() -> dict[str, Any]:
    # Fresh iterators each time: an iterator is a list written as it is consumed.
    def entries() -> Iterator[Any]:
        yield {"x": [1, [2, {}], []], "s": "\u00e9\n\"\\", "f": 1.5, "n": None, "t": True, "e": {}}
        yield [1, 2]
        yield "last"

    return {"empty": iter(()), "d": {}, "l": [], "entries": entries(), "k": "v",
            "nested": [{"layers": iter([[1], [2]]), "none": iter(())}, 3], "deep": {"a": {"b": entries()}}}


def test_the_encoder_matches_json_dumps_on_every_kind_of_value() -> None:
    assert "".join(_encoded(document(), 0)) == json.dumps(_materialized(document()), indent=INDENT)


def test_the_cli_writes_the_rendered_json(reports: dict[str, NetReport], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", LENET, "--format", "json"]) == 0
    assert capsys.readouterr().out == render(reports["lenet"], "json")
