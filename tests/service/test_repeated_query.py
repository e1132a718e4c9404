"""A query parameter given twice where its route takes one value is a 422 that changes nothing (service.query);
a list parameter (a filter's `tag`) takes every value given."""

from __future__ import annotations


def test_a_repeated_single_valued_query_parameter_is_refused_and_stores_nothing(stack):
    http = stack.api.http
    before = http.get("/v1/datasets").json()["count"]
    # The fuzzer's case: a JSON dataset whose CSV-only `name` came four times (FastAPI would keep the last).
    r = http.post("/v1/datasets?name=true&name=&name=false&name=0.0", json={"name": "0", "values": [0.0, 1.0, 2.0]})
    assert r.status_code == 422, r.text
    (error,) = r.json()["detail"]
    assert error["loc"] == ["query", "name"] and error["input"] == ["true", "", "false", "0.0"]
    assert "given 4 times" in error["msg"]
    assert http.get("/v1/datasets").json()["count"] == before
    # Paging from a dependency (service.deps.PageDep) is judged the same way.
    r = http.get("/v1/jobs?limit=1&limit=2&offset=0")
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "limit"]


def test_a_list_query_parameter_takes_every_value_given(stack):
    http = stack.api.http
    r = http.get("/v1/jobs?tag=a&tag=b&limit=5")
    assert r.status_code == 200, r.text
    assert r.json()["data"] == []
