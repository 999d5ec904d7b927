"""Make docs/report-resnet50.png: the HTML report of ResNet-50 (deploy) in headless Chromium.

Run from the project root: `python docs/make_screenshot.py [NET] [--output PNG]` (~5 s). Needs Chromium,
chromedriver and Graphviz (`make browser-deps`) and selenium (the dev extras).
"""
from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from blobcalc.api import report
from blobcalc.drawing import graph_svg
from blobcalc.report.html_report import render

PROJECT = Path(__file__).resolve().parent.parent
RESNET50 = PROJECT.parent / "shared" / "corpus" / "KaimingHe__deep-residual-networks" / \
    "prototxt__ResNet-50-deploy.prototxt"
# The flags this machine's headless Chromium needs (root, no GPU, no network but the registries).
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars", "--force-device-scale-factor=1")


def screenshot(html_path: Path, png_path: Path, width: int, height: int) -> None:
    with tempfile.TemporaryDirectory(prefix="blobcalc-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        try:
            driver.set_window_size(width, height)
            driver.get(html_path.resolve().as_uri())
            driver.save_screenshot(str(png_path))
        finally:
            driver.quit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("net", nargs="?", default=str(RESNET50))
    parser.add_argument("--output", default=str(PROJECT / "docs" / "report-resnet50.png"))
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=1900)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="blobcalc-report-") as work:
        html_path = Path(work) / "report.html"
        result = report(os.path.relpath(args.net))  # a relative path reads better on the page
        svg, note = graph_svg(result.analysis)
        html_path.write_text(render(result, svg, graph_note=note), encoding="utf-8")
        screenshot(html_path, Path(args.output), args.width, args.height)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
