"""Record fields to and from Redis, and the public JSON views of jobs."""

from __future__ import annotations

import json
from typing import Any

from rnncast.common.values import finite


def flatten(fields: dict[str, Any]) -> list[str]:
    """Hash field/value pairs; structured values as JSON, None as ''."""
    out: list[str] = []
    for key, value in fields.items():
        if value is None:
            text = ""
        elif isinstance(value, str):
            text = value
        else:
            text = json.dumps(value)
        out += [key, text]
    return out


def status_event(status: str, **extra: Any) -> str:
    return json.dumps({"status": status, **{k: v for k, v in extra.items() if v is not None}})


def dumps(value: Any) -> str:
    """Compact JSON, as Starlette's JSONResponse writes it."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _num(raw: dict[str, str], key: str, kind: type = float) -> Any:
    value = raw.get(key, "")
    if value in ("", None):
        return None
    return finite(float(value)) if kind is float else kind(value)


def job_view(raw: dict[str, str], history: list[str] | None) -> dict[str, Any]:
    """The public JSON of a job from its hash and history list (a list row: no history)."""
    view = {
        "id": raw["id"],
        "kind": raw.get("kind", "train"),
        "name": raw.get("name") or None, "tags": json.loads(raw["tags"]) if raw.get("tags") else [],
        "status": raw["status"],
        "params": json.loads(raw["params"]),
        "progress": {"epoch": _num(raw, "epoch", int) or 0, "epochs": _num(raw, "epochs", int)},
        "metrics": {"train_loss": _num(raw, "train_loss"), "test_loss": _num(raw, "test_loss")},
        "model_id": raw.get("model_id") or None,
        "error": raw.get("error") or None,
        "attempts": _num(raw, "attempts", int) or 0,
        "resumed_from_epoch": _num(raw, "resumed_from_epoch", int),
        "device": raw.get("device") or None,
        "comparison_id": raw.get("comparison_id") or None,
        "search_id": raw.get("search_id") or None,
        "cancel_requested": raw.get("cancel_requested") == "1",
        "best_epoch": _num(raw, "best_epoch", int),
        "stopped_early_at": _num(raw, "stopped_early_at", int),
        "created_at": raw["created_at"],
        "started_at": raw.get("started_at") or None,
        "finished_at": raw.get("finished_at") or None,
    }
    scaler = json.loads(raw["scaler"]) if raw.get("scaler") else None
    if scaler is not None:
        # A dataset job reports losses in the series' units; divided by the train part's
        # variance they compare across series.
        view["scaler"] = scaler
        for key in ("train_loss", "test_loss"):
            value = view["metrics"][key]
            view["metrics"][f"{key}_normalized"] = finite(value / scaler["std"] ** 2) if value is not None else None
    if history is not None:
        pairs = json.loads("[" + ",".join(history) + "]")  # one parse, not one per epoch
        view["history"] = {"epoch": [history_epoch(p, i) for i, p in enumerate(pairs)],
                           "train_loss": [finite(p[0]) for p in pairs], "test_loss": [finite(p[1]) for p in pairs]}
        if any(len(p) > 2 for p in pairs):  # the rate, recorded since the training options came
            view["history"]["lr"] = [p[2] if len(p) > 2 else None for p in pairs]
        if any(len(p) > 3 and p[3] is not None for p in pairs):  # a comparison run that tracks its forecast
            view["history"]["forecast_mse"] = [finite(p[3]) if len(p) > 3 else None for p in pairs]
    return view


def history_epoch(entry: list[Any], index: int) -> int:
    """The epoch of a history entry: recorded in it ([train, test, lr, probe, epoch]); an older entry's
    is its place (histories were not thinned then)."""
    return int(entry[4]) if len(entry) > 4 else index + 1
