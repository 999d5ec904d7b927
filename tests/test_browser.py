"""The HTML report in a real browser: headless Chromium driven by selenium through Debian's
chromedriver. Checks with the DOM that the page is complete (one table row per layer, one bar per
layer, the stacked components, the graph's boxes), that clicking a header sorts, that nothing is
fetched from anywhere and that hostile names stay text; saves a screenshot.

Required under CI (CI set): a missing Chromium, chromedriver, Graphviz or selenium fails the test
instead of skipping it (`make browser-deps` installs them).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from blobcalc.api import NetReport, report
from blobcalc.cli import main
from blobcalc.drawing import graph_svg, layer_drawing
from blobcalc.report.html_report import render
from tests.golden_support import CORPUS, PROJECT

RESNET50 = CORPUS / "KaimingHe__deep-residual-networks" / "prototxt__ResNet-50-deploy.prototxt"
LENET = PROJECT / "blobcalc" / "examples" / "lenet.prototxt"
# The flags this machine's headless Chromium needs: running as root (no sandbox), no GPU, and no
# traffic of its own (no QUIC, component updates, sync or background requests).
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1280,1000")


def require(found: object, what: str) -> None:
    if found:
        return
    message = f"{what} is needed for the browser test (run `make browser-deps`)"
    if os.environ.get("CI"):
        pytest.fail(f"{message}; it is required in CI")
    pytest.skip(message)


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    chromium, chromedriver = chromium_path(), shutil.which("chromedriver")
    require(chromium, "Chromium (Debian package chromium)")
    require(chromedriver, "chromedriver (Debian package chromium-driver)")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        require(False, "selenium (pip install -e '.[dev]')")
        raise
    with tempfile.TemporaryDirectory(prefix="blobcalc-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = str(chromium)
        for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        # Both paths are given, so selenium never looks for (or downloads) a driver of its own.
        driver = webdriver.Chrome(service=Service(str(chromedriver)), options=options)
        driver.set_page_load_timeout(60)
        try:
            yield driver
        finally:
            driver.quit()


def real_net() -> Path:
    if RESNET50.exists():
        return RESNET50
    if os.environ.get("CI"):
        pytest.fail(f"{RESNET50} is missing: ../shared/corpus must be beside the checkout in CI")
    return LENET


def open_page(driver: Any, path: Path) -> None:
    driver.get(path.resolve().as_uri())
    assert driver.execute_script("return document.readyState") == "complete"


def console_errors(driver: Any) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def column_values(driver: Any, table: str, column: int) -> list[tuple[int, str]]:
    """(row's original position, the cell's sort key or text) for each body row, as displayed."""
    rows: list[list[Any]] = driver.execute_script(
        "var selector = arguments[0], column = arguments[1];"
        "return Array.from(document.querySelectorAll(selector + ' tbody tr')).map(function (row) {"
        "  var cell = row.cells[column];"
        "  return [Number(row.getAttribute('data-order')),"
        "          cell.hasAttribute('data-sort') ? cell.getAttribute('data-sort') : cell.textContent]; });",
        table, column)
    return [(int(order), str(value)) for order, value in rows]


def click_header(driver: Any, table: str, name: str) -> Any:
    from selenium.webdriver.common.by import By

    header = next(th for th in driver.find_elements(By.CSS_SELECTOR, f"{table} thead th") if th.text.strip() == name)
    header.click()
    return header


def numeric(value: str) -> float:
    return float(value) if value else float("-inf")


@pytest.fixture(scope="module")
def resnet_page(tmp_path_factory: pytest.TempPathFactory) -> tuple[NetReport, Path, str | None]:
    require(shutil.which("dot"), "Graphviz's dot (Debian package graphviz)")
    result = report(real_net())
    svg, note = graph_svg(result.analysis)
    assert svg is not None, note
    path = tmp_path_factory.mktemp("report") / "report.html"
    path.write_text(render(result, svg), encoding="utf-8")
    return result, path, svg


def test_report_page_in_chromium(browser: Any, resnet_page: tuple[NetReport, Path, str | None],
                                 tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    result, path, _ = resnet_page
    layers = result.analysis.layers
    open_page(browser, path)

    # One table row per layer, in the net's order.
    shown = column_values(browser, "#layers", 1)
    assert [name for _, name in shown] == [layer.name for layer in layers]
    assert [order for order, _ in shown] == list(range(len(layers)))

    # Sorting by a numeric column, both ways; ties keep the net's order.
    params = {layer.index: layer.param_count for layer in layers}
    header = click_header(browser, "#layers", "params")
    assert header.get_attribute("aria-sort") == "ascending"
    ascending = column_values(browser, "#layers", 5)
    assert [order for order, _ in ascending] == sorted(params, key=lambda i: (params[i], i))
    assert [numeric(v) for _, v in ascending] == sorted(numeric(v) for _, v in ascending)
    click_header(browser, "#layers", "params")
    assert header.get_attribute("aria-sort") == "descending"
    descending = column_values(browser, "#layers", 5)
    assert [order for order, _ in descending] == sorted(params, key=lambda i: (-params[i], i))
    # A text column sorts by its text, case-insensitively; "#" brings the net's order back.
    click_header(browser, "#layers", "layer")
    by_name = column_values(browser, "#layers", 1)
    assert [name for _, name in by_name] == sorted((layer.name for layer in layers), key=str.lower)
    click_header(browser, "#layers", "#")
    assert [order for order, _ in column_values(browser, "#layers", 0)] == list(range(len(layers)))

    # The per-layer chart has one bar per layer, the tallest for the layer with most memory.
    bars = browser.execute_script(
        "return Array.from(document.querySelectorAll('#layer-chart rect.bar')).map(function (bar) {"
        "  return [bar.getAttribute('data-layer'), bar.getBoundingClientRect().height]; });")
    assert [name for name, _ in bars] == [layer.name for layer in layers]
    totals = [row.total for row in result.memory.inference.rows]
    tallest = max(range(len(bars)), key=lambda i: bars[i][1])
    assert totals[tallest] == max(totals)
    assert bars[tallest][1] > 100  # drawn, in CSS pixels, not a zero-size SVG

    # The stacked bars: every training component, and each stack adds up to its figure.
    stacks = browser.execute_script(
        "return Array.from(document.querySelectorAll('#components-chart g.stack')).map(function (stack) {"
        "  return [stack.getAttribute('data-bar'), Array.from(stack.querySelectorAll('rect.segment')).map("
        "    function (s) { return [s.getAttribute('data-component'), Number(s.getAttribute('data-bytes')),"
        "                           s.getBoundingClientRect().width]; })]; });")
    by_label = {label: segments for label, segments in stacks}
    training = by_label["training (Caffe)"]
    assert [name for name, _, _ in training][:6] == ["activations", "activation gradients", "parameters",
                                                     "parameter gradients", "solver state", "layer buffers"]
    assert sum(size for _, size, _ in training) == result.memory.training_total
    assert sum(size for _, size, _ in by_label["inference (Caffe)"]) == result.memory.inference.totals.total
    assert all(width > 0 for _, size, width in training if size > 0)

    # The graph: one box per drawn layer (in-place layers folded, Splits hidden), one arrow per blob.
    drawing = layer_drawing(result.analysis)
    assert len(browser.find_elements(By.CSS_SELECTOR, "#graph svg g.node")) == len(drawing.layers)
    assert len(browser.find_elements(By.CSS_SELECTOR, "#graph svg g.edge")) == len(drawing.edges)
    assert len(drawing.layers) < len(layers)

    # Self-contained: the page fetched nothing, and ran without errors.
    assert browser.execute_script("return performance.getEntriesByType('resource').length") == 0
    assert console_errors(browser) == []

    screenshot = tmp_path / "report.png"
    assert browser.save_screenshot(str(screenshot))
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert screenshot.stat().st_size > 20_000


HOSTILE = """
name: "</title><script>window.pwned = 'net name'</script>"
layer { name: "<script>window.pwned = 'layer'</script>" type: "Input" top: "data"
        input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } } }
layer { name: "<img src=x onerror=\\"window.pwned = 'img'\\">" type: "Convolution" bottom: "data" top: "a&b"
        convolution_param { num_output: 4 kernel_size: 3 } }
layer { name: "q\\"uote's & <b>bold</b>" type: "ReLU" bottom: "a&b" top: "a&b" }
"""


def test_hostile_names_stay_text(browser: Any, tmp_path: Path) -> None:
    result = report(HOSTILE)
    svg, _ = graph_svg(result.analysis)
    path = tmp_path / "hostile.html"
    path.write_text(render(result, svg), encoding="utf-8")
    open_page(browser, path)
    assert browser.execute_script("return window.pwned === undefined")
    assert browser.execute_script("return document.querySelectorAll('script').length") == 1
    assert browser.execute_script("return document.querySelectorAll('#layers img, #layers b').length") == 0
    names = [name for _, name in column_values(browser, "#layers", 1)]
    assert names == [layer.name for layer in result.analysis.layers]
    assert browser.execute_script("return document.querySelector('h1').textContent") == result.analysis.net_name
    assert console_errors(browser) == []


def test_scan_page_links_to_reports(browser: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    nets = tmp_path / "nets"
    nets.mkdir()
    shutil.copy(LENET, nets / "lenet one.prototxt")  # a space: the link must be URL-quoted
    (nets / "broken.prototxt").write_text('layer { name: "x" type: "ReLU" bottom: "nothing" top: "y" }\n')
    output = tmp_path / "scan.html"
    assert main(["scan", str(nets), "--format", "html", "-o", str(output), "--jobs", "1", "--no-progress"]) == 1
    open_page(browser, output)
    rows = browser.find_elements(By.CSS_SELECTOR, "#files tbody tr")
    assert len(rows) == 2
    links = browser.find_elements(By.CSS_SELECTOR, "#files tbody a")
    assert len(links) == 1  # the broken net has no report
    links[0].click()
    assert browser.execute_script("return document.querySelector('h1').textContent") == "LeNetExample"
    assert len(browser.find_elements(By.CSS_SELECTOR, "#layers tbody tr")) == len(report(LENET).analysis.layers)
    browser.find_element(By.LINK_TEXT, "← scan index").click()
    assert browser.execute_script("return document.querySelector('h1').textContent") == "blobcalc scan"
    assert console_errors(browser) == []
