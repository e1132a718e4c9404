"""Names and tags on the routes: the filters a list takes (as facets, `common.store.label_lua`), and a PATCH
of a record's labels."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Query, status
from pydantic import Field
from pydantic.json_schema import SkipJsonSchema

from rnncast.common.defaults import MAX_TAGS, Cell
from rnncast.common.store.label_ops import Contended, TooManyTags
from rnncast.common.values import is_id
from rnncast.service.deps import SettingsDep, StoreDep
from rnncast.service.errors import not_found, unprocessable
from rnncast.service.ids import resolve
from rnncast.service.schemas.labels import LabelName, LabelsPatch, Tag

# Not null in the document (SkipJsonSchema): a query parameter is left out, never null.
NameQuery = Annotated[LabelName | SkipJsonSchema[None], Query(
    description="only those with this name (the whole name, exactly)")]
TagQuery = Annotated[Annotated[list[Tag], Field(max_length=MAX_TAGS)] | SkipJsonSchema[None], Query(
    description="only those with this tag; repeated, those with every one of them")]
CellQuery = Annotated[Cell | SkipJsonSchema[None], Query(
    description="only those of this cell (a comparison: among its cells)")]
DatasetQuery = Annotated[str | SkipJsonSchema[None], Query(
    min_length=1, max_length=32, description="only those trained on this dataset (its id or a short id)")]


def facets(**given: str | list[str] | None) -> tuple[str, ...]:
    """The facets ("kind=value") of the filters given."""
    out: list[str] = []
    for kind, value in given.items():
        for one in (value if isinstance(value, list) else [value] if value else []):
            out.append(f"{kind}={one}")
    return tuple(out)


async def labelled(name: NameQuery = None, tag: TagQuery = None) -> tuple[str, ...]:
    """A list's filters by name and tags."""
    return facets(name=name, tag=tag)


async def trained(
    store: StoreDep, name: NameQuery = None, tag: TagQuery = None, cell: CellQuery = None,
    dataset: DatasetQuery = None,
) -> tuple[str, ...]:
    """A list's filters by name, tags, cell and dataset (a short dataset id resolved as a path's is)."""
    dataset_id = await resolve(store, "dataset_id", dataset.lower()) if dataset else None
    return facets(name=name, tag=tag, cell=cell, dataset=dataset_id)


async def scan_budget(settings: SettingsDep) -> int:
    """The ids one page of a list filtered by two or more filters examines at most (RNNCAST_MAX_FILTER_SCAN)."""
    return settings.max_filter_scan


LabelFilters = Annotated[tuple[str, ...], Depends(labelled)]
TrainedFilters = Annotated[tuple[str, ...], Depends(trained)]
ScanBudget = Annotated[int, Depends(scan_budget)]


async def relabel_or_404(store: StoreDep, resource: str, record_id: str, body: LabelsPatch,
                         named: bool = False) -> None:
    """Change a record's name and tags as `body` says (a merge patch); 404 if there is no such record.

    Args:
        named: the record must keep a name (a dataset): `name: null` is a 422.
    """
    if named and "name" in body.model_fields_set and not body.name:
        raise unprocessable(f"a {resource} keeps a name: give a new one instead of null")
    try:
        found = is_id(record_id) and await store.relabel(resource, record_id, body.patch())
    except TooManyTags as exc:
        raise unprocessable(f"add_tags: {exc}") from None
    except Contended as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, f"{exc}: send it again", headers={"Retry-After": "1"}) from None
    if not found:
        raise not_found(resource, record_id)
