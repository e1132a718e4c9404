"""An imported model's page in the dashboard (real Chromium, real stack): no training job to link to."""

from __future__ import annotations

import pytest

from tests.support import TINY
from tests.ui.browser import CHROMIUM

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium on this machine: `make browser` installs Debian's package (as root)")


def test_an_imported_models_page_says_it_has_no_training_job_here(ui, stack):
    job = stack.api.http.post("/v1/jobs", json={"cell": "RNN", **TINY}).json()
    done = stack.api.wait_job(job["id"])
    package = stack.api.http.get(f"/v1/models/{done['model_id']}/export").content
    imported = stack.api.http.post("/v1/models", content=package, headers={"Content-Type": "application/zip"}).json()
    page = ui.go(f"/models/{imported['id']}")
    page.wait_for_selector("#delete-model")
    actions = page.inner_text(".actions")
    assert "Imported (no training job here)" in actions and "Its training job" not in actions
    page = ui.go(f"/models/{done['model_id']}")
    page.wait_for_selector("#delete-model")
    assert page.get_attribute(".actions a", "href") == f"#/jobs/{done['model_id']}"
    assert stack.api.http.delete(f"/v1/models/{imported['id']}").status_code == 204
