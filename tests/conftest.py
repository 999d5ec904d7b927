"""Test-session settings: scans run by the tests keep their result cache in a temporary folder, never in
the user's own cache folder (tests that study the cache pass their own --cache)."""
from __future__ import annotations

import os
import tempfile


def pytest_configure() -> None:
    os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="blobcalc-test-cache-")
