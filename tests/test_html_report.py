"""Tests of the HTML pages (one net's report, a scan's index): self-contained, escaped, complete,
and of the `graph`, `report` and `scan --format html` commands through blobcalc.cli.main."""
from __future__ import annotations

import os
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import networkx as nx
import pytest

from blobcalc.api import NetReport, report
from blobcalc.cli import main
from blobcalc.drawing import layer_drawing
from blobcalc.report import html_report, scan_html
from blobcalc.scan import ScanOptions, ScanRow

PROJECT = Path(__file__).resolve().parent.parent
LENET = PROJECT / "blobcalc" / "examples" / "lenet.prototxt"

HOSTILE = """
name: "</title><script>alert('net')</script>"
layer { name: "<script>alert(1)</script>" type: "Input" top: "data"
        input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } } }
layer { name: "a&b \\"q\\" 'x' <i>" type: "Convolution" bottom: "data" top: "c<1>"
        convolution_param { num_output: 4 kernel_size: 3 } }
layer { name: "javascript:alert(2)" type: "ReLU" bottom: "c<1>" top: "c<1>" }
"""


def require_dot() -> None:
    if shutil.which("dot"):
        return
    if os.environ.get("CI"):
        pytest.fail("Graphviz's dot is required in CI (make browser-deps)")
    pytest.skip("Graphviz's dot is not installed")


class Elements(HTMLParser):
    """Every start tag with its attributes, and the text of each <script>."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts.append(data)


def elements(page: str) -> Elements:
    parser = Elements()
    parser.feed(page)
    parser.close()
    return parser


def external_references(page: str) -> list[str]:
    """src/href-like attributes that would make the browser fetch something from elsewhere."""
    found = []
    for _, attrs in elements(page).tags:
        for name, value in attrs.items():
            if name in ("src", "href", "xlink:href", "action", "srcset", "data") and value is not None \
                    and re.match(r"\s*(https?:|//|ftp:)", value, flags=re.IGNORECASE):
                found.append(f"{name}={value}")
    return found


@pytest.fixture(scope="module")
def lenet() -> NetReport:
    return report(str(LENET), phase="TRAIN")


def test_page_is_self_contained(lenet: NetReport) -> None:
    page = html_report.render(lenet, '<svg xmlns="http://www.w3.org/2000/svg"><g class="node"/></svg>')
    assert external_references(page) == []
    tags = elements(page).tags
    assert not [attrs for tag, attrs in tags if tag in ("script", "img", "iframe") and attrs.get("src")]
    assert not [tag for tag, _ in tags if tag == "link"]
    assert "@import" not in page and "url(" not in page
    csp = [attrs["content"] for tag, attrs in tags if tag == "meta" and attrs.get("http-equiv")]
    assert csp == [html_report.CONTENT_SECURITY_POLICY]
    assert "default-src 'none'" in html_report.CONTENT_SECURITY_POLICY


def test_one_row_and_one_bar_per_layer(lenet: NetReport) -> None:
    page = html_report.render(lenet)
    layers = lenet.analysis.layers
    table = page[page.index('id="layers"'):page.index("</table>", page.index('id="layers"'))]
    assert table.count("<tr data-order=") == len(layers)
    assert page.count('<rect class="bar"') == len(layers)
    for layer in layers:
        assert f"<td>{layer.name}</td>" in table
    # Training rows are shown because the table's net is the TRAIN net.
    assert lenet.memory.training is not None
    assert f'data-sort="{lenet.memory.training.rows[1].total}"' in table


def test_stacked_components_add_up(lenet: NetReport) -> None:
    page = html_report.render(lenet)
    stacks = re.findall(r'<g class="stack" data-bar="([^"]+)">(.*?)</g>', page, flags=re.DOTALL)
    sizes = {label: [int(n) for n in re.findall(r'data-bytes="(\d+)"', body)] for label, body in stacks}
    assert sum(sizes["training (Caffe)"]) == lenet.memory.training_total
    assert len(sizes["training (Caffe)"]) == 6
    assert sum(sizes["inference (Caffe)"]) == lenet.memory.inference.totals.total
    assert lenet.memory.seed is not None
    assert sum(sizes["training (seed method)"]) == lenet.memory.seed.training_bytes


def test_summary_figures(lenet: NetReport) -> None:
    page = html_report.render(lenet, unit="KiB")
    memory = lenet.memory
    for figure in (f"{lenet.analysis.param_count:,}", f"{memory.caffe_log_bytes:,} B", "Memory required for data",
                   "unique blob data", "freed after its last reader", "training (TRAIN net, batch", "solver",
                   "seed method", "batch"):
        assert figure in page
    assert "SGD (default: no --solver)" in page
    assert " KiB" in page and " MiB" not in page


def test_hostile_names_are_escaped() -> None:
    result = report(HOSTILE)
    page = html_report.render(result)
    parsed = elements(page)
    assert [tag for tag, _ in parsed.tags].count("script") == 1  # only our sorting script
    assert all("alert" not in script for script in parsed.scripts)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;/title&gt;&lt;script&gt;alert(&#x27;net&#x27;)&lt;/script&gt;" in page
    assert "a&amp;b &quot;q&quot; &#x27;x&#x27; &lt;i&gt;" in page
    assert not [tag for tag, _ in parsed.tags if tag == "i"]
    # A name that looks like a URL never becomes a link.
    assert not [attrs for _, attrs in parsed.tags if "javascript:" in (attrs.get("href") or "")]
    assert "<script>alert" not in page and "<i>" not in page


def test_graph_inlined_or_noted(lenet: NetReport) -> None:
    svg = '<?xml version="1.0"?>\n<!DOCTYPE svg PUBLIC "x" "http://www.w3.org/x.dtd">\n<!-- c -->\n<svg></svg>'
    page = html_report.render(lenet, svg)
    assert '<div class="graph" id="graph"><svg></svg></div>' in page
    assert "<?xml" not in page and "<!DOCTYPE svg" not in page
    without = html_report.render(lenet, None, graph_note="The layer graph is not included: no <dot>")
    assert 'id="graph-note">The layer graph is not included: no &lt;dot&gt;</p>' in without
    assert 'id="graph"' not in without


def test_back_link_is_escaped(lenet: NetReport) -> None:
    page = html_report.render(lenet, back_link=('../a"b.html', "scan <index>"))
    assert '<a href="../a&quot;b.html">← scan &lt;index&gt;</a>' in page


def test_scan_page_rows_and_links() -> None:
    rows = [ScanRow("nets/<a>.prototxt", "net", "ok", "V2", "Net<1>", 3, 10, 40, 100, 200, 300),
            ScanRow("nets/bad.prototxt", "net", "error", message="line 1: <bad>")]
    page = scan_html.render(rows, {0: scan_html.ReportLink("r/0000-a.html")}, options=ScanOptions())
    assert page.count("<tr data-order=") == 2
    assert '<a href="r/0000-a.html">nets/&lt;a&gt;.prototxt</a>' in page
    assert "line 1: &lt;bad&gt;" in page and "Net&lt;1&gt;" in page
    assert external_references(page) == []
    failed = scan_html.render(rows, {0: scan_html.ReportLink(error="boom <x>")})
    assert "report not written: boom &lt;x&gt;" in failed and "<a href" not in failed


def test_report_file_names() -> None:
    assert scan_html.report_file_name(7, "/x/ResNet-50 deploy.prototxt") == "0007-ResNet-50_deploy.html"
    assert scan_html.report_file_name(0, "/x/<>.prototxt") == "0000-net.html"
    assert scan_html.reports_dir("out/scan.html") == "out/scan_reports"


# The commands, through the CLI's entry point.

def test_graph_command_writes_dot_and_graphml(tmp_path: Path) -> None:
    dot = tmp_path / "lenet.dot"
    assert main(["graph", str(LENET), "-o", str(dot), "--phase", "TRAIN"]) == 0
    text = dot.read_text(encoding="utf-8")
    assert text.startswith('digraph "LeNetExample"') and "+ ReLU relu1" in text
    graphml = tmp_path / "lenet.graphml"
    assert main(["graph", str(LENET), "-o", str(graphml), "--batch", "2"]) == 0
    graph = nx.read_graphml(graphml, force_multigraph=True)
    drawing = layer_drawing(report(str(LENET), batch=2).analysis)
    assert graph.number_of_nodes() == len(drawing.layers)
    assert graph.nodes["L1"]["tops"] == "conv1: 2×20×24×24"


def test_graph_command_renders_svg_and_png(tmp_path: Path) -> None:
    require_dot()
    assert main(["graph", str(LENET), "-o", str(tmp_path / "g.svg"), "--direction", "LR"]) == 0
    assert "<svg" in (tmp_path / "g.svg").read_text(encoding="utf-8")
    assert main(["graph", str(LENET), "-o", str(tmp_path / "g.png")]) == 0
    assert (tmp_path / "g.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["graph", str(LENET), "-o", str(tmp_path / "g.out"), "--format", "svg"]) == 0


def test_graph_command_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["graph", str(LENET), "-o", str(tmp_path / "g.txt")]) == 2
    assert "cannot tell the format" in capsys.readouterr().err
    monkeypatch.setenv("PATH", str(tmp_path))  # no Graphviz on the PATH
    assert main(["graph", str(LENET), "-o", str(tmp_path / "g.svg")]) == 1
    err = capsys.readouterr().err
    assert "the program 'dot' is not installed" in err and "apt-get install graphviz" in err
    assert not (tmp_path / "g.svg").exists()
    assert main(["graph", str(LENET), "-o", str(tmp_path / "g.dot")]) == 0  # DOT needs no program


def test_report_command(tmp_path: Path) -> None:
    output = tmp_path / "lenet.html"
    assert main(["report", str(LENET), "-o", str(output), "--phase", "TRAIN", "--dtype", "float16",
                 "--device", "cpu", "--units", "KiB", "--batch", "8"]) == 0
    page = output.read_text(encoding="utf-8")
    assert "<h1>LeNetExample</h1>" in page and "as float16" in page and "CPU code path" in page
    assert report(str(LENET), phase="TRAIN", batch=8).memory.batch == 8
    assert "batch</th><td>batch 8 (TRAIN net); batch 8 (TRAIN net)</td>" in page
    assert external_references(page) == []
    if shutil.which("dot"):
        assert '<div class="graph" id="graph"><svg' in page


def test_report_command_without_graphviz(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    output = tmp_path / "lenet.html"
    assert main(["report", str(LENET), "-o", str(output)]) == 0
    page = output.read_text(encoding="utf-8")
    assert "The layer graph was left out: the program &#x27;dot&#x27; is not installed" in page
    assert page.count("<tr data-order=") == len(report(str(LENET)).analysis.layers)
    assert main(["report", str(LENET), "-o", str(tmp_path / "n.html"), "--no-graph"]) == 0
    assert "left out (--no-graph)" in (tmp_path / "n.html").read_text(encoding="utf-8")


def test_report_command_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(tmp_path / "missing.prototxt"), "-o", str(tmp_path / "r.html")]) == 1
    assert "no such file" in capsys.readouterr().err
    assert main(["report", str(LENET), "-o", str(tmp_path / "no" / "dir" / "r.html")]) == 1
    assert "cannot write" in capsys.readouterr().err


def test_scan_html_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    nets = tmp_path / "nets"
    nets.mkdir()
    shutil.copy(LENET, nets / "lenet.prototxt")
    shutil.copy(LENET, nets / "copy & <two>.prototxt")
    (nets / "broken.prototxt").write_text('layer { name: "x" type: "ReLU" bottom: "none" top: "y" }\n')
    (nets / "labels.txt").write_text("cat\ndog\n")
    assert main(["scan", str(nets), "--format", "html", "--no-progress"]) == 2
    assert "--format html needs --output" in capsys.readouterr().err
    output = tmp_path / "out" / "scan.html"
    output.parent.mkdir()
    assert main(["scan", str(nets), "--format", "html", "-o", str(output), "--no-progress", "--jobs", "2"]) == 1
    page = output.read_text(encoding="utf-8")
    assert page.count("<tr data-order=") == 4
    hrefs = re.findall(r'<a href="([^"]+)">', page)
    assert len(hrefs) == 2
    reports = sorted(os.listdir(tmp_path / "out" / "scan_reports"))
    assert len(reports) == 2
    for href in hrefs:
        target = output.parent / unquote(href)
        assert target.exists()
        assert 'href="../scan.html"' in target.read_text(encoding="utf-8")
    assert external_references(page) == []
