"""The layers hold: the API and client processes load no torch, numba nor matplotlib, and imports run only the
ways REDESIGN §6 allows."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("core", "common", "service", "worker", "client")
HEAVY = ("torch", "matplotlib", "numba")
ROUTER_ASSEMBLER = "service/main.py"  # routers only route: no module but the app's assembly imports one

# Which parts each part may import (REDESIGN §6; a part may always import itself). Everything else is
# refused, which covers its "never" list: Core -> Store/Service/Worker/Client, Service -> Core/Worker,
# Client -> Service/Core/Store/Worker, Shared -> Core/Store/Service/Worker, Store -> Core/Service/Worker.
ALLOWED = {
    "CLI": {"Client", "Service", "Worker", "Store", "Shared"},  # launcher, worker main, artifacts init/check
    "Client": {"Shared"},
    "Service": {"Shared", "Store"},
    "Worker": {"Shared", "Store", "Core"},
    "Core": {"Shared"},
    "Store": {"Shared"},
    "Shared": set(),
}

# Edges the code still has against a rule above (none): the test fails once a listed edge is gone, so this
# set can only shrink.
KNOWN_VIOLATIONS: set[tuple[str, str]] = set()


def _module_file(module: str) -> Path | None:
    """The file (or package's __init__.py) of `rnncast.<module path>` in this tree, if there is one."""
    path = ROOT.joinpath(*module.split(".")[1:])
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _cli_modules() -> set[str]:
    """client/cli.py and the client modules it imports to register their commands."""
    tree = ast.parse((ROOT / "client" / "cli.py").read_text())
    registered = {f"client/{alias.name}.py" for node in ast.walk(tree)
                  if isinstance(node, ast.ImportFrom) and node.module == "rnncast.client" for alias in node.names}
    return {"client/cli.py", "client/__main__.py", *registered}


CLI_MODULES = _cli_modules()


def part(rel: str) -> str:
    """The part of REDESIGN §6 a file (relative to the repository root, e.g. 'common/series.py') belongs to."""
    top = rel.split("/")[0]
    if rel in CLI_MODULES:
        return "CLI"
    if top == "common":
        store = rel.startswith(("common/store/", "common/artifacts/")) or rel == "common/datasets.py"
        return "Store" if store else "Shared"
    return {"client": "Client", "service": "Service", "worker": "Worker", "core": "Core"}[top]


def imports(path: Path) -> Iterator[tuple[int, str]]:
    """(line, module) of every rnncast import in `path`: module level and inside functions alike.

    `from rnncast.common import defaults` yields the module rnncast.common.defaults.
    """
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names if alias.name.startswith("rnncast."))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                yield node.lineno, "." * node.level + (node.module or "")  # refused below: absolute only
            elif node.module and node.module.startswith("rnncast."):
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    yield node.lineno, sub if _module_file(sub) else node.module


def edges() -> Iterator[tuple[str, int, str, str]]:
    """(importing file, line, imported module, its file) for every rnncast import in the five folders."""
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            for line, module in dict.fromkeys(imports(path)):  # one edge per import line and module
                target = _module_file(module)
                target_rel = target.relative_to(ROOT).as_posix() if target else module
                yield rel, line, module, target_rel


def test_the_edge_lister_sees_module_level_and_in_function_imports(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import rnncast.core.train\nfrom rnncast.common import series\n"
                      "def f():\n    from rnncast.common.store.keys import Keys\n")
    assert list(imports(sample)) == [
        (1, "rnncast.core.train"), (2, "rnncast.common.series"), (4, "rnncast.common.store.keys")]
    assert [part(p) for p in ("client/cli.py", "client/commands.py", "client/api.py", "common/series.py",
                              "common/datasets.py", "common/artifacts/s3.py", "core/train.py")] == [
        "CLI", "CLI", "Client", "Shared", "Store", "Store", "Core"]


def _check(rel: str, line: int, module: str, target: str) -> str | None:
    """Why the import at `rel`:`line` breaks a layer rule, or None."""
    if module.startswith("."):
        return f"{rel}:{line} imports {module!r}: relative imports hide their layer, import rnncast.* instead"
    if not target.endswith(".py"):
        return f"{rel}:{line} imports {module}, which is no module of this tree"
    src, dst = part(rel), part(target)
    if src != dst and dst not in ALLOWED[src]:
        allowed = ", ".join(sorted(ALLOWED[src])) or "nothing"
        return f"{rel}:{line} imports {module}: {src} -> {dst} is refused ({src} may import {allowed}; REDESIGN §6)"
    router = target.startswith("service/routes/") and not target.endswith("__init__.py")
    if router and rel not in (target, ROUTER_ASSEMBLER):
        who = "a router imports another router" if rel.startswith("service/routes/") else "a module imports a router"
        return (f"{rel}:{line} imports {module}: {who}; only {ROUTER_ASSEMBLER} imports routers "
                f"(share the code through a helper module such as service/errors.py)")
    return None


def test_imports_follow_the_layer_rules():
    found = [(rel, module, why) for rel, line, module, target in edges() if (why := _check(rel, line, module, target))]
    broken = [why for rel, module, why in found if (rel, module) not in KNOWN_VIOLATIONS]
    assert not broken, "\n".join(broken)
    gone = KNOWN_VIOLATIONS - {(rel, module) for rel, module, _ in found}
    assert not gone, f"these known violations no longer exist: remove them from KNOWN_VIOLATIONS: {sorted(gone)}"


def test_no_two_folders_import_each_other():
    seen: dict[tuple[str, str], str] = {}
    for rel, line, module, target in edges():
        pair = (rel.split("/")[0], target.split("/")[0])
        if pair[0] != pair[1]:
            seen.setdefault(pair, f"{rel}:{line} imports {module}")
    both = [f"{a} <-> {b}: {seen[(a, b)]}; {seen[(b, a)]}" for a, b in seen if a < b and (b, a) in seen]
    assert not both, "folders that import each other:\n" + "\n".join(both)


BUILD_APP = (
    "import tempfile\n"
    "from rnncast.common.settings import Settings\n"
    "from rnncast.service.main import create_app\n"
    "app = create_app(Settings(data_dir=tempfile.mkdtemp(), redis_url='redis://127.0.0.1:1/0'))\n"
    "assert app.openapi()['paths']\n"
)


@pytest.mark.parametrize(("what", "code"), [
    ("the API app, built with its OpenAPI document", BUILD_APP),
    ("the Python client", "import rnncast.client.api\n"),
    ("the CLI (its up/worker commands may load worker code when run)", "import rnncast.client.cli\n"),
])
def test_process_loads_no_torch_nor_matplotlib(what, code):
    check = f"import sys\n{code}print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]", f"{what} loads {result.stdout.strip()}"
