"""Test-session settings: scans run by the tests keep their result cache in a temporary folder, never in
the user's own cache folder (tests that study the cache pass their own --cache); a skipped browser test is
said loudly at the end of the run, never only as an 's' among the dots."""
from __future__ import annotations

import os
import shutil
import tempfile

import pytest

_CACHE_HOME = tempfile.mkdtemp(prefix="blobcalc-test-cache-")


def pytest_configure() -> None:
    os.environ["XDG_CACHE_HOME"] = _CACHE_HOME


def pytest_unconfigure() -> None:
    shutil.rmtree(_CACHE_HOME, ignore_errors=True)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    skipped = [report for report in terminalreporter.stats.get("skipped", [])
               if "test_browser.py" in str(getattr(report, "nodeid", ""))]
    if not skipped:
        return
    reasons = sorted({str(report.longrepr[2]) if isinstance(report.longrepr, tuple) else str(report.longrepr)
                      for report in skipped})
    terminalreporter.section("BROWSER TEST SKIPPED", sep="!", red=True, bold=True)
    terminalreporter.write_line(f"{len(skipped)} browser test(s) did not run: " + "; ".join(reasons),
                                red=True, bold=True)
    terminalreporter.write_line("the HTML report was not checked in a browser; `make browser-deps` installs "
                                "what it needs (CI sets CI=1, which makes this a failure)", red=True)
