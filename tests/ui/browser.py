"""What the dashboard's browser tests share: the system's Chromium through Playwright, a page that records
console errors and requests, and the walks over the API's schema the form tests compare with."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from typing import Any

import pytest

playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (make setup)")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
KEY = "dashboard-secret-key-123"
SHOTS = os.environ.get("RNNCAST_SCREENSHOT_DIR")
# The page's forms take these; a tiny job so tests stay quick.
FORM = {"epochs": "6", "hidden_size": "4", "batch_size": "64", "sequence_length": "10", "lr": "0.01"}


class Page:
    """A page that records console errors and every request URL."""

    def __init__(self, browser: Any, base: str, width: int = 1200, scheme: str = "light", height: int = 900) -> None:
        self.context = browser.new_context(viewport={"width": width, "height": height}, color_scheme=scheme)
        self.page = self.context.new_page()
        self.base = base
        self.errors: list[str] = []
        self.urls: list[str] = []
        self.expected: set[int] = set()
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.urls.append(r.url))

    def expect_status(self, status: int) -> None:
        """A response the test provokes on purpose: Chromium logs any 4xx fetch as a console error."""
        self.expected.add(status)

    def _console(self, message: Any) -> None:
        if message.type != "error":
            return
        if message.text.startswith("Failed to load resource") and any(
                f"status of {code} " in message.text for code in self.expected):
            return
        self.errors.append(message.text)

    def go(self, route: str) -> Any:
        self.page.goto(f"{self.base}/ui/#{route}")
        return self.page

    def close(self) -> None:
        self.context.close()


def wait_js(page: Any, expression: str, timeout: float = 30_000) -> Any:
    """Poll a JavaScript expression until it is truthy. (Playwright's wait_for_function evaluates
    its predicate with eval, which the page's Content-Security-Policy rightly forbids.)"""
    deadline = time.monotonic() + timeout / 1000
    while True:
        value = page.evaluate(expression)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{expression!r} still {value!r} after {timeout / 1000:g}s")
        time.sleep(0.1)


def fill_job_form(page: Any, **values: str) -> None:
    for name, value in values.items():
        page.fill(f"#job-form [name='{name}']", value)


def resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def schema_fields(doc: dict[str, Any], schema: dict[str, Any], path: tuple[str, ...] = ()) -> Iterator[
        tuple[str, list[dict[str, Any]]]]:
    """Every property of a component as (dotted path, its non-null branches), nested objects walked too."""
    for name, prop in schema["properties"].items():
        key = (*path, name)
        if len(prop.get("allOf", [])) == 1:
            prop = prop["allOf"][0]
        alternatives = prop.get("anyOf") or prop.get("oneOf")
        branches = [resolve(doc, a) for a in alternatives if a.get("type") != "null"] if alternatives else [
            resolve(doc, prop)]
        yield ".".join(key), branches
        for branch in branches:
            if "properties" in branch:
                yield from schema_fields(doc, branch, key)


def open_groups(page: Any, form: str) -> None:
    """Expand every collapsible group of a form (nested ones open as their parents do)."""
    page.evaluate(f"document.querySelectorAll('{form} details').forEach((d) => {{ d.open = true; }})")


def assert_a_bounded_input_for_every_field(page: Any, form: str, doc: dict[str, Any], component: str,
                                           omit: tuple[str, ...] = ()) -> dict[str, Any]:
    """Every property of `component` (nested ones too, less the top-level `omit`) has its control in `form`:
    numbers bounded as the schema bounds them, enums offering every value, unions a choice of their branches,
    nested objects a group. Answers the controls found, by name."""
    schema = doc["components"]["schemas"][component]
    found: dict[str, Any] = page.evaluate(f"""Object.fromEntries(
        [...document.querySelectorAll('{form} [name]')].map((el) => [el.name, {{
            tag: el.tagName, type: el.type, min: el.min, max: el.max,
            options: el.tagName === 'SELECT' ? [...el.options].map((o) => o.value) : []}}]))""")
    walked = [(key, branches) for key, branches in schema_fields(doc, schema) if key.split(".")[0] not in omit]
    for key, branches in walked:
        leaf = branches[0]
        if "const" in leaf:  # a union branch's tag: the union's choice names it
            continue
        if len(branches) > 1:  # a union (`data`): a choice between its branches
            assert found[key]["tag"] == "SELECT" and len(found[key]["options"]) == len(branches), key
            continue
        if "properties" in leaf:  # a nested object: its fields are checked on their own; a group holds them
            assert page.locator(f"{form} details[data-path='{key}']").count() == 1, key
            continue
        assert key in found, f"no input for {key}"
        if leaf.get("type") in ("integer", "number"):
            low = leaf.get("minimum", leaf.get("exclusiveMinimum"))
            high = leaf.get("maximum", leaf.get("exclusiveMaximum"))
            assert found[key]["type"] == "number", key
            assert (float(found[key]["min"]) if found[key]["min"] else None) == low, key
            assert (float(found[key]["max"]) if found[key]["max"] else None) == high, key
        if "enum" in leaf:
            assert set(leaf["enum"]) <= set(found[key]["options"]), key
    return found
