"""The documentation site builds with `mkdocs build --strict` (no dead link, no broken generated page), its generated
reference names everything the code declares, and no page links outside the repository."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer

from rnncast.client.cli import app as cli_app
from rnncast.common.settings import Settings
from rnncast.service.main import create_app

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)


def links(page: Path) -> list[str]:
    """The targets of a page's Markdown links and images, outside code blocks and code spans."""
    text = re.sub(r"`[^`\n]*`", "", FENCE.sub("", page.read_text()))
    return LINK.findall(text)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("mkdocs", reason="mkdocs is not installed (make setup installs the dev extra)")
    pytest.importorskip("mkdocs_gen_files", reason="mkdocs-gen-files is not installed (make setup)")
    pytest.importorskip("material", reason="mkdocs-material is not installed (make setup)")
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "DISABLE_MKDOCS_2_WARNING": "true", "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def page(site: Path, name: str) -> str:
    return (site / name / "index.html").read_text()


def commands(command: object, path: str) -> Iterator[str]:
    yield path
    for name, sub in getattr(command, "commands", {}).items():
        yield from commands(sub, f"{path} {name}")


def test_the_reference_pages_are_generated_from_settings_openapi_and_the_cli(site):
    settings = page(site, "reference/settings")
    for name in Settings.model_fields:
        assert f"RNNCAST_{name.upper()}" in settings, name
    document = create_app(Settings()).openapi()
    options = page(site, "reference/training-options")
    job = document["components"]["schemas"]["JobCreate"]
    fields = [*job.get("properties", {}), *(f for part in job.get("allOf", []) for f in part.get("properties", {}))]
    for name in {"cell", "epochs", "early_stopping", "patience", *fields}:
        assert f"<td><code>{name}</code></td>" in options, name
    api = page(site, "reference/api")
    for item in document["paths"].values():
        for op in item.values():
            assert f"<code>{op['operationId']}</code>" in api, op["operationId"]
    cli = page(site, "reference/cli")
    for path in commands(typer.main.get_command(cli_app), "rnncast"):
        assert f"<code>{path}</code>" in cli, path
    assert (site / "reference" / "openapi.json").is_file()
    assert (site / "img" / "sunspots-backtest.png").is_file()


def test_no_page_links_outside_the_repository():
    for md in PAGES:
        for target in links(md):
            where = f"{md.relative_to(ROOT)} links to {target}"
            assert not re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I), f"{where}: outside the repository"
            assert not target.startswith("/"), f"{where}: an absolute path"
            path = (md.parent / target.split("#")[0]).resolve()
            assert path.is_relative_to(ROOT), f"{where}: outside the repository"
            if md.name == "README.md":  # GitHub renders it as is: every target must be a file in the tree
                assert path.exists(), f"{where}: no such file"


def test_the_readme_is_a_door_of_at_most_150_lines():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 150, len(lines)
    assert any("docs/index.md" in line for line in lines)


def test_every_bench_script_the_performance_page_names_exists():
    named = set(re.findall(r"bench/([\w-]+\.(?:py|sh))", (ROOT / "docs" / "performance.md").read_text()))
    assert "rollout_kernel.py" in named
    assert not {name for name in named if not (ROOT / "bench" / name).exists()}
