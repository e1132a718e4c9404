"""Installed, the project is one `rnncast` namespace: no generic top-level package names."""

from __future__ import annotations

import subprocess
import sys
import zipfile

from tests.support import ROOT


def test_the_packages_import_under_rnncast_and_no_generic_name_is_installed(tmp_path):
    code = (
        "import importlib.util, rnncast.core.train, rnncast.common.options, rnncast.client.api\n"
        "assert rnncast.common.options.ModelOptions().cell in ('RNN', 'LSTM', 'GRU')\n"
        "taken = [n for n in ('core', 'common', 'service', 'worker', 'client') if importlib.util.find_spec(n)]\n"
        "assert not taken, taken\n"
    )
    # Outside the repository: only what is installed can be imported.
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_the_build_prints_no_setuptools_warning_and_the_wheel_carries_the_dashboard(tmp_path):
    """`make setup`'s editable install and a wheel (the Docker image's `pip install .`), built by setuptools as pip
    builds them: no deprecation or notice walls, and the dashboard's files are in the wheel."""
    built = []
    for hook in ("build_editable", "build_wheel"):  # one process each, as pip calls them
        code = f"import sys; from setuptools import build_meta; print('BUILT', build_meta.{hook}(sys.argv[1]))"
        out = subprocess.run([sys.executable, "-W", "always", "-c", code, str(tmp_path)], cwd=ROOT,
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        warned = [line for line in out.stderr.splitlines() if "Warning" in line or "InformationOnly" in line]
        assert not warned, out.stderr
        built.append(out.stdout.split("BUILT ")[-1].strip())
    editable, wheel = built
    with zipfile.ZipFile(tmp_path / editable) as z:
        # A plain .pth line (src/), not an import hook the type checker and tools cannot follow.
        assert [n for n in z.namelist() if n.endswith(".pth")] and not [n for n in z.namelist() if "finder" in n]
    with zipfile.ZipFile(tmp_path / wheel) as z:
        names = set(z.namelist())
    assert {"rnncast/service/ui/index.html", "rnncast/service/ui/views/jobs.js", "rnncast/core/device.py",
            "rnncast/service/ui/vendor/uPlot.iife.min.js"} <= names, sorted(names)[:20]
    assert not any(n.split("/")[0] in ("core", "common", "service", "worker", "client") for n in names)
