"""Every declared training option (common/options.py) means the same thing everywhere it is derived: the API's
OpenAPI document (default, bounds, description), the CLI (one flag per leaf field), core (accepts each bound,
refuses beyond it) and the Python client (its accepted names). Also: the document states the server's limits."""

from __future__ import annotations

import math
from dataclasses import MISSING
from typing import Any

import pytest
from annotated_types import Ge, Gt, Le, Lt
from typer.testing import CliRunner

from rnncast.client.cli import app as cli
from rnncast.client.fields import JOB_FIELDS
from rnncast.client.options import flag_name, train_leaves
from rnncast.common import options as O
from rnncast.common.settings import Settings
from rnncast.service.main import create_app

SETTINGS = Settings(max_horizon=1234, max_epochs=4321, max_context=555, max_seeds=7, max_dataset_points=999)
DOCUMENT = create_app(SETTINGS).openapi()
SCHEMAS = DOCUMENT["components"]["schemas"]
# (declaration, the component its fields appear in, fields the request states otherwise)
WHERE: list[tuple[type[O.Options], str, set[str]]] = [
    (O.ModelOptions, "JobCreate", {"cell"}),  # required in a request: no default
    (O.TrainOptions, "JobCreate", set()),
    (O.JobOptions, "JobCreate", set()),
    (O.SineData, "DataSpec", set()),
    (O.EarlyStopping, "EarlyStoppingSpec", set()),
    (O.RolloutFinetune, "RolloutFinetuneSpec", set()),
]
FIELDS = [(cls, component, s) for cls, component, skip in WHERE for s in O.spec(cls) if s.name not in skip]


def _branch(prop: dict[str, Any]) -> dict[str, Any]:
    """The non-null branch of a nullable property."""
    for option in prop.get("anyOf", []):
        if option.get("type") != "null":
            return option
    return prop


def _bound(s: O.Spec, kind: type) -> float | None:
    return next((getattr(b, kind.__name__.lower()) for b in s.bounds if isinstance(b, kind)), None)


@pytest.mark.parametrize(("cls", "component", "s"), FIELDS, ids=lambda v: getattr(v, "name", str(v)))
def test_the_openapi_document_states_each_declared_field(cls, component, s):
    prop = SCHEMAS[component]["properties"][s.name]
    if s.null_means is O.RECIPE_VALUE:  # left out, the recipe decides: no default a client would send
        assert "default" not in prop and "the tutorial's" in prop["description"], (s.name, prop)
    elif s.default is not MISSING and s.nested is None:
        assert prop.get("default") == s.default, (s.name, prop)
    if s.help:
        assert s.help in prop["description"]
    branch = _branch(prop)
    limit = getattr(SETTINGS, s.limit.setting) if s.limit else None
    for kind, key in ((Ge, "minimum"), (Gt, "exclusiveMinimum"), (Lt, "exclusiveMaximum")):
        if _bound(s, kind) is not None:
            assert branch[key] == _bound(s, kind), (s.name, key)
    if _bound(s, Le) is not None:
        assert branch["maximum"] == (limit if limit is not None else _bound(s, Le)), s.name
    if s.choices is not None:
        assert branch.get("enum", [branch.get("const")]) == list(s.choices)
    assert (s.optional or s.null_means is not None) == any(o.get("type") == "null" for o in prop.get("anyOf", []))


def _inside(s: O.Spec) -> Any:
    """A value at the field's lower bound (or an allowed one)."""
    if s.choices is not None:
        return s.choices[-1]
    if s.base is bool:
        return True
    lo = _bound(s, Ge)
    if lo is None and _bound(s, Gt) is not None:
        lo = _bound(s, Gt) + (1 if s.base is int else 1e-9)
    return lo


@pytest.mark.parametrize(("cls", "component", "s"), [f for f in FIELDS if f[2].nested is None and f[2].name != "kind"],
                         ids=lambda v: getattr(v, "name", str(v)))
def test_core_accepts_each_bound_and_refuses_beyond_it(cls, component, s):
    required = {"dataset_id": "a" * 32, "sha256": "0" * 64, "length": 10}
    base = {k: v for k, v in required.items() if k in {f.name for f in O.spec(cls)}}
    make = (lambda v: cls(**{**base, s.name: v})) if cls is not O.DatasetData else None
    value = _inside(s)
    if value is not None:
        assert getattr(make(value), s.name) == value
    hi = _bound(s, Le)
    if hi is not None:
        assert getattr(make(hi), s.name) == hi
        with pytest.raises(ValueError, match=rf"{s.name} \("):
            make(hi + 1 if s.base is int else hi * 2 + 1)
    lo, lo_open = _bound(s, Ge), _bound(s, Gt)
    for below in ([lo - 1] if lo is not None else []) + ([lo_open] if lo_open is not None else []):
        with pytest.raises(ValueError, match=rf"{s.name} \("):
            make(below)
    if s.base is float:
        with pytest.raises(ValueError, match="finite"):
            make(math.nan)
    if s.choices is not None:
        with pytest.raises(ValueError, match="must be one of"):
            make("nonsense")


def test_the_cli_has_one_flag_per_leaf_field_and_checks_it_before_any_request():
    help_text = CliRunner().invoke(cli, ["train", "--help"], env={"COLUMNS": "300"}).output
    for _, dotted, _ in train_leaves():
        assert flag_name(dotted) in help_text, dotted
    assert "--early-stopping-patience" in help_text and "--rollout-finetune-lr" in help_text
    leaves = {dotted for _, dotted, _ in train_leaves()}
    declared = set(O.leaf_names(O.TrainOptions)) - {"seed"}
    assert declared <= leaves
    # Checked locally with the declaration's message: no server at this address is ever asked.
    out = CliRunner().invoke(cli, ["train", "--cell", "GRU", "--early-stopping-patience", "0",
                                   "--url", "http://127.0.0.1:9"])
    assert out.exit_code == 2 and "patience (0) must be >= 1" in out.output
    old = CliRunner().invoke(cli, ["train", "--cell", "GRU", "--rollout-horizon", "0", "--url", "http://127.0.0.1:9"])
    assert old.exit_code == 2 and "horizon (0) must be >= 1" in old.output  # the flag's name before, still read


def test_the_client_takes_exactly_the_declared_names():
    declared = {s.name for cls in (O.ModelOptions, O.TrainOptions, O.JobOptions) for s in O.spec(cls)}
    assert declared | {"data", "name", "tags"} == JOB_FIELDS
    assert set(SCHEMAS["JobCreate"]["properties"]) == JOB_FIELDS


def test_the_document_states_this_servers_limits():
    forecast = SCHEMAS["ForecastRequest"]["properties"]
    assert forecast["horizon"]["maximum"] == SETTINGS.max_horizon
    assert _branch(forecast["context"])["maxItems"] == SETTINGS.max_context
    assert _branch(SCHEMAS["JobCreate"]["properties"]["epochs"])["maximum"] == SETTINGS.max_epochs  # null: the recipe's
    assert SCHEMAS["ComparisonCreate"]["properties"]["seeds"]["maxItems"] == SETTINGS.max_seeds
    assert SCHEMAS["DatasetValues"]["properties"]["values"]["maxItems"] == SETTINGS.max_dataset_points
    assert SCHEMAS["BacktestRequest"]["properties"]["horizon"]["maximum"] == SETTINGS.max_horizon
    # Another app, other settings, another document: nothing is fixed at import time.
    other = create_app(Settings(max_horizon=77)).openapi()["components"]["schemas"]
    assert other["ForecastRequest"]["properties"]["horizon"]["maximum"] == 77
    params = {p["name"]: p for p in DOCUMENT["paths"]["/v1/models/{model_id}/forecast.png"]["get"]["parameters"]}
    assert params["horizon"]["schema"]["maximum"] == SETTINGS.max_horizon


def test_a_default_over_the_servers_limit_is_refused_as_if_sent():
    from fastapi.testclient import TestClient

    low = Settings(max_epochs=100, max_horizon=50)
    with TestClient(create_app(low), base_url="http://127.0.0.1") as http:
        job = http.post("/v1/jobs", json={"cell": "LSTM"})  # the default 500 epochs
        assert job.status_code == 422
        assert "epochs (500) exceeds this server's limit RNNCAST_MAX_EPOCHS (100)" in job.text
        study = http.post("/v1/comparisons", json={"train": {"epochs": 5}})  # forecast.horizon's default 100
        assert study.status_code == 422 and "RNNCAST_MAX_HORIZON (50)" in study.text
        figure = http.get(f"/v1/models/{'a' * 32}/forecast.png")  # the query's default horizon
        assert figure.status_code == 422 and "horizon (100) exceeds" in figure.text


def test_every_list_routes_page_bounds_are_the_declared_ones_in_the_schema_and_the_cli():
    """A list's page (common.defaults: LIST_PAGE/MAX_LIST_PAGE, VIEW_PAGE/MAX_VIEW_PAGE, MAX_LIST_OFFSET) is
    stated once: every list route's `limit` and `offset`, and the CLI's `--limit`, come from it."""
    from rnncast.common import defaults as D

    pages = {}
    for path, item in DOCUMENT["paths"].items():
        params = {p["name"]: p["schema"] for p in item.get("get", {}).get("parameters", []) if p["in"] == "query"}
        if "limit" in params and "offset" in params and path != "/v1/datasets/{dataset_id}/values":
            pages[path] = (params["limit"]["default"], params["limit"]["maximum"], params["offset"]["maximum"])
    assert len(pages) >= 7, pages
    views = {"/v1/comparisons", "/v1/searches"}
    for path, page in pages.items():
        declared = (D.VIEW_PAGE, D.MAX_VIEW_PAGE) if path in views else (D.LIST_PAGE, D.MAX_LIST_PAGE)
        assert page == (*declared, D.MAX_LIST_OFFSET), path
    for command, most in (["jobs"], D.MAX_LIST_PAGE), (["comparisons"], D.MAX_VIEW_PAGE):
        out = CliRunner().invoke(cli, [*command, "--limit", str(most + 1)])
        assert out.exit_code == 2 and str(most) in out.output, out.output
