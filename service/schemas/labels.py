"""Names and tags: their bounds (the ceilings in `common.defaults`), a change of them (`LabelsPatch`), and the
facets a list is filtered by (`common.store.label_lua`)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field
from pydantic.json_schema import SkipJsonSchema

from rnncast.common.defaults import MAX_NAME_CHARS, MAX_TAG_CHARS, MAX_TAGS, TAG_PATTERN
from rnncast.common.store.label_ops import Patch
from rnncast.service.schemas.base import Strict

TAGS_HELP = (f"up to {MAX_TAGS} tags of up to {MAX_TAG_CHARS} characters (letters, digits and _ . : = / + -, "
             "starting with a letter or a digit; `team=ml` reads as a label); lists filter by them (`?tag=`)")


def _unique(tags: list[str]) -> list[str]:
    return list(dict.fromkeys(tags))


LabelName = Annotated[str, Field(max_length=MAX_NAME_CHARS, description="free text; lists filter by it (`?name=`)")]
Tag = Annotated[str, Field(min_length=1, max_length=MAX_TAG_CHARS, pattern=TAG_PATTERN)]
Tags = Annotated[list[Tag], Field(max_length=MAX_TAGS, description=TAGS_HELP), AfterValidator(_unique)]


class LabelsPatch(Strict):
    """A JSON merge patch of a record's labels: a field left out stays, `null` clears it, `tags` replaces the
    whole list. `add_tags` and `remove_tags` change the tags as they are when the change is made, in the same
    step, so a change made meanwhile by someone else is kept (applied after `tags`, if both are given)."""

    name: LabelName | None = None
    tags: Tags | None = None
    add_tags: Tags = Field(default_factory=list, description="tags to add (those it has stay)")
    remove_tags: Tags = Field(default_factory=list, description="tags to take off (one it lacks is no error)")

    def patch(self) -> Patch:
        given = self.model_fields_set
        return Patch(name=self.name or None, clear_name="name" in given and not self.name,
                     tags=(self.tags or []) if "tags" in given else None,
                     add=tuple(self.add_tags), remove=tuple(self.remove_tags))


class DatasetLabelsPatch(LabelsPatch):
    """A JSON merge patch of a dataset's labels: a field left out stays, `tags` replaces the whole list; a dataset
    keeps a name (the document states no null for it, and a null is a 422)."""

    name: Annotated[LabelName, Field(min_length=1)] | SkipJsonSchema[None] = None


class FilteredCount(BaseModel):
    """A filterable list's count: a page of a list filtered by two or more filters examines at most
    RNNCAST_MAX_FILTER_SCAN ids (the narrowest filter's newest), so its cost is bounded whatever is stored."""

    count: int = Field(description="how many match, not the page size; at least this many when `count_exact` is "
                                   "false")
    count_exact: bool = Field(True, description="false: the count stopped at the scan budget (a lower bound)")
    truncated: bool = Field(False, description="true: the page stopped short at the scan budget; more may match "
                                               "further back: narrow the filters")
