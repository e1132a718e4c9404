"""The dashboard tests' fixtures: one headless Chromium per module, and a page per test that must end without
console errors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.ui.browser import CHROMIUM, Page, playwright_api


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def ui(browser, stack) -> Iterator[Page]:
    page = Page(browser, stack.api.url)
    yield page
    page.close()
    assert page.errors == [], page.errors  # no console errors on any page a test visits
