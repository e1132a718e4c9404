"""Installed, the project is one `rnncast` namespace: no generic top-level package names."""

from __future__ import annotations

import subprocess
import sys


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
