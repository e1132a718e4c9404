"""Names and tags through the real API and a real Redis: set at creation or by PATCH (a merge patch), lists
filtered by name, tag, cell, dataset and status (indexes kept by the scripts that write the records), a bad
value refused with nothing changed, a deleted record gone from every filter, a filtered page's scan bounded;
webhooks' short ids."""

from __future__ import annotations

import json
import uuid

from typer.testing import CliRunner

from rnncast.client.api import Client
from rnncast.client.cli import app
from rnncast.common.store import JobStatus, Keys
from rnncast.common.store.label_ops import Count, page
from tests.service.test_short_ids import play_worker
from tests.support import TINY

VALUES = [float(i % 7) for i in range(50)]


def ids(answer) -> list[str]:
    assert answer.status_code == 200, answer.text
    return [row["id"] for row in answer.json()["data"]]


def succeed(store, job_id: str) -> None:
    """End a queued job succeeded with a model record as a worker saves one (its cell and params)."""
    lease, params = uuid.uuid4().hex, json.loads(store.job_raw(job_id)["params"])
    assert store.start(job_id, lease, "cpu", 1) == 1
    record = {"id": job_id, "job_id": job_id, "cell": params["cell"], "params": params,
              "metrics": {"train_loss": 0.1, "test_loss": 0.2}, "epochs_trained": 2, "parameters": 40,
              "created_at": "2026-12-06T12:00:00Z",
              "checkpoint": {"format": "safetensors", "sha256": "0" * 64, "bytes": 100}}
    assert store.finish(job_id, lease, JobStatus.SUCCEEDED, model=record) == 1


def test_patch_then_list_filters_by_name_and_tags(site):
    http = site().http
    a = http.post("/v1/jobs", json={"cell": "GRU", **TINY, "name": "baseline", "tags": ["team=ml", "nightly"]})
    b = http.post("/v1/jobs", json={"cell": "LSTM", **TINY}).json()
    assert a.status_code == 202 and a.json()["tags"] == ["team=ml", "nightly"]
    a = a.json()
    assert ids(http.get("/v1/jobs", params={"tag": "nightly"})) == [a["id"]]
    assert ids(http.get("/v1/jobs", params={"name": "baseline"})) == [a["id"]]

    # A merge patch: the name changes, the tags stay; then the tags are replaced and the name cleared.
    patched = http.patch(f"/v1/jobs/{b['id'][:8]}", json={"name": "candidate"})
    assert patched.status_code == 200 and patched.json()["name"] == "candidate" and patched.json()["tags"] == []
    assert ids(http.get("/v1/jobs", params={"name": "candidate"})) == [b["id"]]
    again = http.patch(f"/v1/jobs/{a['id']}", json={"name": None, "tags": ["nightly", "prod", "prod"]}).json()
    assert again["name"] is None and again["tags"] == ["nightly", "prod"]
    assert http.get(f"/v1/jobs/{a['id']}").json()["tags"] == ["nightly", "prod"]
    assert ids(http.get("/v1/jobs", params={"name": "baseline"})) == []
    assert ids(http.get("/v1/jobs", params={"tag": "team=ml"})) == []
    assert ids(http.get("/v1/jobs", params={"tag": "prod"})) == [a["id"]]


def test_filters_combine_with_each_other_status_limit_offset_and_count(site):
    api = site()
    http = api.http
    dataset = http.post("/v1/datasets", json={"name": "sales", "values": VALUES, "tags": ["raw"]}).json()
    on_data = {"data": {"dataset_id": dataset["id"]}, "sequence_length": 5}
    made = [http.post("/v1/jobs", json={"cell": cell, **TINY, **extra, "tags": tags}).json()
            for cell, extra, tags in [("GRU", on_data, ["exp"]), ("GRU", {}, ["exp"]), ("LSTM", on_data, ["exp"]),
                                      ("GRU", on_data, ["exp", "best"]), ("GRU", on_data, [])]]
    succeed(site.store, made[3]["id"])
    query = {"tag": "exp", "cell": "GRU", "dataset": dataset["id"][:8]}
    both = http.get("/v1/jobs", params=query).json()
    assert [j["id"] for j in both["data"]] == [made[3]["id"], made[0]["id"]] and both["count"] == 2  # newest first
    one = http.get("/v1/jobs", params={**query, "limit": 1, "offset": 1}).json()
    assert [j["id"] for j in one["data"]] == [made[0]["id"]] and one["count"] == 2
    assert ids(http.get("/v1/jobs", params={**query, "status": "queued"})) == [made[0]["id"]]
    assert ids(http.get("/v1/jobs", params={"tag": ["exp", "best"]})) == [made[3]["id"]]  # every tag given
    # The model starts with its job's labels; its facets are its own.
    assert ids(http.get("/v1/models", params={"tag": "best", "cell": "GRU", "dataset": dataset["id"]})) == [
        made[3]["id"]]
    assert http.get(f"/v1/models/{made[3]['id']}").json()["tags"] == ["exp", "best"]
    assert ids(http.get("/v1/datasets", params={"tag": "raw", "name": "sales"})) == [dataset["id"]]
    # The same filters through the client and the CLI.
    with Client(api.url) as c:
        assert [j.id for j in c.jobs(tag="exp", cell="GRU", dataset=dataset["id"]).data] == [
            made[3]["id"], made[0]["id"]]
    out = CliRunner().invoke(app, ["jobs", "--tag", "exp", "--tag", "best", "--url", api.url])
    assert out.exit_code == 0 and made[3]["id"][:8] in out.output and "1 of 1" in out.output, out.output


def test_comparisons_are_labelled_and_filtered_by_cell_and_status(site):
    http = site().http
    study = http.post("/v1/comparisons", json={"cells": ["RNN", "GRU"], "train": TINY, "name": "study",
                                               "tags": ["q3"]}).json()
    other = http.post("/v1/comparisons", json={"cells": ["LSTM"], "train": TINY}).json()
    assert study["tags"] == ["q3"]
    assert ids(http.get("/v1/comparisons", params={"cell": "GRU"})) == [study["id"]]
    assert ids(http.get("/v1/comparisons", params={"status": "running", "tag": "q3"})) == [study["id"]]
    assert sorted(ids(http.get("/v1/comparisons", params={"status": "running"}))) == sorted(
        [study["id"], other["id"]])
    # The runs carry the comparison's name and tags.
    assert len(ids(http.get("/v1/jobs", params={"tag": "q3", "name": "study"}))) == 2
    http.post(f"/v1/comparisons/{study['id']}/cancel")
    assert ids(http.get("/v1/comparisons", params={"status": "cancelled"})) == [study["id"]]
    assert ids(http.get("/v1/comparisons", params={"status": "running"})) == [other["id"]]
    dataset = http.post("/v1/datasets", json={"name": "d", "values": VALUES * 4}).json()
    on_data = http.post("/v1/comparisons", json={"cells": ["GRU"], "train": {
        **TINY, "data": {"dataset_id": dataset["id"]}, "sequence_length": 5}})
    assert on_data.status_code == 202, on_data.text
    assert ids(http.get("/v1/comparisons", params={"dataset": dataset["id"][:8]})) == [on_data.json()["id"]]
    relabelled = http.patch(f"/v1/comparisons/{other['id'][:6]}", json={"tags": ["q4"]})
    assert relabelled.status_code == 200 and relabelled.json()["tags"] == ["q4"]
    assert ids(http.get("/v1/comparisons", params={"tag": "q4", "status": "running", "cell": "LSTM"})) == [
        other["id"]]


def test_a_bad_label_is_a_422_and_changes_nothing(site):
    http = site().http
    job = http.post("/v1/jobs", json={"cell": "GRU", **TINY, "name": "kept", "tags": ["one"]}).json()
    dataset = http.post("/v1/datasets", json={"name": "d", "values": VALUES}).json()
    for body in ({"tags": ["has space"]}, {"tags": ["x" * 65]}, {"tags": [f"t{i}" for i in range(17)]},
                 {"name": "n" * 201}, {"tags": ["-lead"]}, {"name": "ok", "colour": "red"}, {"tags": "one"}):
        answer = http.patch(f"/v1/jobs/{job['id']}", json=body)
        assert answer.status_code == 422, (body, answer.text)
    assert http.patch(f"/v1/datasets/{dataset['id']}", json={"name": None}).status_code == 422
    assert http.post("/v1/jobs", json={"cell": "GRU", **TINY, "tags": ["a b"]}).status_code == 422
    assert http.get("/v1/jobs").json()["count"] == 1
    after = http.get(f"/v1/jobs/{job['id']}").json()
    assert after["name"] == "kept" and after["tags"] == ["one"]
    assert ids(http.get("/v1/jobs", params={"tag": "one", "name": "kept"})) == [job["id"]]
    assert http.get("/v1/jobs", params={"tag": "a b"}).status_code == 422
    assert http.patch("/v1/jobs/" + "0" * 32, json={"tags": []}).status_code == 404
    assert http.patch("/v1/models/" + "0" * 32, json={"tags": []}).status_code == 404
    assert http.patch(f"/v1/models/{job['id']}", json={"tags": []}).status_code == 409  # queued: no model yet
    assert http.get(f"/v1/datasets/{dataset['id']}").json()["name"] == "d"


def test_deleting_a_record_takes_it_out_of_every_filter(site):
    http = site().http
    store = site.store
    job = http.post("/v1/jobs", json={"cell": "GRU", **TINY, "name": "gone", "tags": ["tmp"]}).json()
    play_worker(store, job["id"], JobStatus.SUCCEEDED, model=True)
    dataset = http.post("/v1/datasets", json={"name": "gone", "values": VALUES, "tags": ["tmp"]}).json()
    for path in (f"/v1/jobs/{job['id']}", f"/v1/models/{job['id']}", f"/v1/datasets/{dataset['id']}"):
        assert http.delete(path).status_code == 204
    for path in ("/v1/jobs", "/v1/models", "/v1/datasets"):
        answer = http.get(path, params={"tag": "tmp", "name": "gone"}).json()
        assert answer == {"data": [], "count": 0, "count_exact": True, "truncated": False}
    # Nothing is left behind in Redis: no facet set, no labels entry.
    assert store.r.keys(Keys.facet("*", "*")) == []
    assert all(store.r.hlen(Keys.labels(index)) == 0 for index in (Keys.jobs, Keys.models, Keys.datasets))
    assert store.run(page(Keys.jobs, ["tag=tmp", "name=gone"], 10, 0, scan=100)) == ([], Count(0))


def test_the_cli_labels_and_lists_by_label(site):
    api = site()
    run = CliRunner().invoke
    job = api.http.post("/v1/jobs", json={"cell": "GRU", **TINY, "tags": ["a", "b"]}).json()
    result = run(app, ["label", "job", job["id"][:8], "--name", "first try", "--tag", "c", "--untag", "a",
                       "--url", api.url])
    assert result.exit_code == 0, result.output
    assert "first try" in result.output and "b, c" in result.output
    listed = run(app, ["jobs", "--name", "first try", "--url", api.url])
    assert listed.exit_code == 0 and "first try" in listed.output and "b,c" in listed.output, listed.output
    refused = run(app, ["label", "job", job["id"], "--tag", "bad tag", "--url", api.url])
    assert refused.exit_code != 0 and "tags" in refused.output
    assert api.http.get(f"/v1/jobs/{job['id']}").json()["tags"] == ["b", "c"]


def test_webhook_ids_take_short_prefixes(site):
    http = site(webhook_allow_private="true").http
    hook = http.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/x", "events": ["job.failed"]}).json()
    short = hook["id"][:8]
    assert http.get(f"/v1/webhooks/{short}").json()["id"] == hook["id"]
    assert http.get(f"/v1/webhooks/{short}/deliveries").status_code == 200
    assert http.post(f"/v1/webhooks/{short}/test").status_code == 202
    assert http.delete(f"/v1/webhooks/{short}").status_code == 204
    assert http.get(f"/v1/webhooks/{hook['id']}").status_code == 404
    assert site.store.r.zcard(Keys.by_id(Keys.webhooks)) == 0


def test_the_cli_names_and_tags_at_creation_and_filters_every_list(site, tmp_path):
    api = site()
    run = CliRunner().invoke
    url = ["--url", api.url]
    tiny = ["--epochs", "2", "--hidden-size", "2"]
    assert run(app, ["train", "--cell", "GRU", *tiny, "--name", "baseline", "--tag", "team=ml", "--tag", "nightly",
                     *url]).exit_code == 0
    assert run(app, ["compare", "--cells", "RNN,GRU", *tiny, "--name", "study", "--tag", "q3", *url]).exit_code == 0
    csv = tmp_path / "sales.csv"
    csv.write_text("value\n" + "\n".join(str(v) for v in VALUES) + "\n")
    uploaded = run(app, ["datasets", "upload", str(csv), "--name", "sales", "--tag", "raw", "--json", *url])
    assert uploaded.exit_code == 0, uploaded.output
    assert json.loads(uploaded.output)["tags"] == ["raw"]
    job = api.http.get("/v1/jobs", params={"name": "baseline"}).json()["data"][0]
    assert job["tags"] == ["team=ml", "nightly"]
    succeed(site.store, job["id"])
    for command, shown in ((["jobs", "--tag", "team=ml", "--cell", "GRU"], "baseline"),
                           (["models", "--name", "baseline", "--cell", "GRU"], "nightly"),
                           (["comparisons", "--status", "running", "--tag", "q3"], "study"),
                           (["datasets", "--tag", "raw"], "sales")):
        listed = run(app, [*command, *url])
        assert listed.exit_code == 0 and shown in listed.output and "1 of 1" in listed.output, (command, listed.output)
    cleared = run(app, ["label", "model", job["id"][:8], "--no-name", *url])
    assert cleared.exit_code == 0, cleared.output
    assert api.http.get(f"/v1/models/{job['id']}").json()["name"] is None
    assert api.http.get(f"/v1/jobs/{job['id']}").json()["name"] == "baseline"  # the job keeps its own


def test_records_stored_before_facets_existed_are_found_by_the_first_filtered_list(site):
    http = site().http
    job = http.post("/v1/jobs", json={"cell": "GRU", **TINY, "name": "old", "tags": ["before"]}).json()
    dataset = http.post("/v1/datasets", json={"name": "old", "values": VALUES, "tags": ["before"]}).json()
    r = site.store.r
    # As a Redis written before facets existed: no facet sets, no labels, no mark.
    r.delete(Keys.labels_indexed, *r.keys(Keys.facet("*", "*")), *(Keys.labels(i) for i in (Keys.jobs, Keys.datasets)))
    assert ids(http.get("/v1/jobs", params={"tag": "before", "name": "old", "cell": "GRU"})) == [job["id"]]
    assert r.exists(Keys.labels_indexed)
    assert ids(http.get("/v1/datasets", params={"tag": "before"})) == [dataset["id"]]


def test_a_filtered_page_examines_at_most_the_scan_budget(site):
    api = site(max_filter_scan="4")
    http, run = api.http, CliRunner().invoke
    made = [http.post("/v1/jobs", json={"cell": "GRU", **TINY, "tags": ["t"], **({"name": "few"} if i < 2 else {})})
            .json()["id"] for i in range(8)]
    http.post("/v1/jobs", json={"cell": "LSTM", **TINY, "tags": ["t"]})
    newest = made[::-1]
    broad = {"tag": "t", "cell": "GRU"}
    # Both sets hold more than the budget: only the newest 4 of the smaller are examined, and the answer says so.
    first = http.get("/v1/jobs", params={**broad, "limit": 2}).json()
    assert [j["id"] for j in first["data"]] == newest[:2]
    assert (first["count"], first["count_exact"], first["truncated"]) == (4, False, False)
    short = http.get("/v1/jobs", params={**broad, "limit": 5, "offset": 2}).json()
    assert [j["id"] for j in short["data"]] == newest[2:4] and short["truncated"] is True
    past = http.get("/v1/jobs", params={**broad, "offset": 4}).json()  # past the budget: empty, and says so
    assert (past["data"], past["count_exact"], past["truncated"]) == ([], False, True), past
    past = http.get("/v1/jobs", params={"tag": "t", "status": "queued", "offset": 4}).json()
    assert (past["data"], past["count_exact"], past["truncated"]) == ([], False, True), past
    # The CLI says the count is a lower bound.
    listed = run(app, ["jobs", "--tag", "t", "--cell", "GRU", "--limit", "2", "--url", api.url])
    assert listed.exit_code == 0 and "2 of 4+" in listed.output, listed.output
    # Unchanged: a narrow filter (its smallest set within the budget), one filter, and no filter, at any offset.
    narrow = http.get("/v1/jobs", params={**broad, "name": "few"}).json()
    assert [j["id"] for j in narrow["data"]] == made[1::-1] and (narrow["count"], narrow["count_exact"]) == (2, True)
    one = http.get("/v1/jobs", params={"tag": "t", "offset": 6}).json()
    assert len(one["data"]) == 3 and (one["count"], one["count_exact"], one["truncated"]) == (9, True, False)
    assert http.get("/v1/jobs", params={"offset": 8}).json()["count"] == 9
    assert http.get("/v1/models", params={**broad, "offset": 4}).json()["data"] == []
    assert http.get("/v1/comparisons", params=broad).json() == {"data": [], "count": 0, "count_exact": True,
                                                                "truncated": False}


def test_add_and_remove_tags_change_the_tags_as_they_are_so_concurrent_changes_are_all_kept(site):
    """`add_tags`/`remove_tags` are applied in the step that writes (a hash record's script; a JSON record's
    compare-and-set): many clients adding each their own tag at once lose none, on a job (hash) and a dataset
    (JSON); too many added is a 422 that changes nothing."""
    from concurrent.futures import ThreadPoolExecutor

    from rnncast.common.defaults import MAX_TAGS

    api = site()
    http = api.http
    job = http.post("/v1/jobs", json={"cell": "GRU", **TINY, "tags": ["keep", "old"]}).json()
    dataset = http.post("/v1/datasets", json={"name": "d", "values": VALUES, "tags": ["keep", "old"]}).json()
    for path in (f"/v1/jobs/{job['id']}", f"/v1/datasets/{dataset['id']}"):
        first = http.patch(path, json={"add_tags": ["new"], "remove_tags": ["old", "absent"]})
        assert first.status_code == 200 and first.json()["tags"] == ["keep", "new"], first.text
        wanted = [f"t{i}" for i in range(MAX_TAGS - 2)]

        def add(tag: str, path: str = path) -> int:
            return int(http.patch(path, json={"add_tags": [tag]}).status_code)

        with ThreadPoolExecutor(8) as pool:
            assert set(pool.map(add, wanted)) == {200}
        tags = http.get(path).json()["tags"]
        assert tags[:2] == ["keep", "new"] and sorted(tags[2:]) == sorted(wanted)  # none lost
        assert ids(http.get(path.rsplit("/", 1)[0], params={"tag": wanted[-1]})) == [path.rsplit("/", 1)[1]]
        over = http.patch(path, json={"add_tags": ["one-more"], "name": "renamed"})
        assert over.status_code == 422 and str(MAX_TAGS) in over.text
        after = http.get(path).json()
        assert after["tags"] == tags and after["name"] != "renamed"  # nothing changed
        both = http.patch(path, json={"tags": ["a"], "add_tags": ["b"], "remove_tags": ["a"]}).json()
        assert both["tags"] == ["b"]
