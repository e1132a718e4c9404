"""The client's names and tags: changing a record's (`LabelCalls.label`) and filtering lists by them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rnncast.client.transport import Transport

# What `label` takes, and where each one's records live.
RESOURCES = {"job": "jobs", "model": "models", "comparison": "comparisons", "dataset": "datasets"}
FILTERS = ("name", "tag", "cell", "dataset", "status")


def list_filters(given: dict[str, Any]) -> dict[str, Any]:
    """A list's query filters (None: not filtered; `tag` a string or a list: every one of them), refused before any
    HTTP when one is not a filter."""
    unknown = sorted(set(given) - set(FILTERS))
    if unknown:
        raise TypeError(f"unknown list filter(s) {unknown}; the filters are {list(FILTERS)}")
    out = {k: v for k, v in given.items() if v is not None and v != []}
    if isinstance(out.get("tag"), str):
        out["tag"] = [out["tag"]]
    return out


class LabelCalls(Transport):
    """`PATCH /v1/{resource}/{id}` as a method."""

    def label(
        self, resource: str, record_id: str, *, name: str | None = None, clear_name: bool = False,
        tags: Sequence[str] | None = None, add: Sequence[str] = (), remove: Sequence[str] = (),
    ) -> dict[str, Any]:
        """Change a job's, model's, comparison's or dataset's name and tags; its record as the server answers.

        Args:
            tags: the whole new list; `add`/`remove`: tags added to or taken from the record's tags as they are when
                the server makes the change (in one step: a change made by someone else meanwhile is kept).
        """
        if resource not in RESOURCES:
            raise ValueError(f"resource {resource!r}: one of {sorted(RESOURCES)}")
        path = f"/v1/{RESOURCES[resource]}/{record_id}"
        body: dict[str, Any] = {}
        if name is not None or clear_name:
            body["name"] = None if clear_name else name
        if tags is not None:
            body["tags"] = list(tags)
        if add:
            body["add_tags"] = list(dict.fromkeys(add))
        if remove:
            body["remove_tags"] = list(dict.fromkeys(remove))
        answer: dict[str, Any] = self._request("PATCH", path, retry=True, json=body).json()
        return answer
