"""`rnncast label`: a job's, model's, comparison's or dataset's name and tags changed."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console

from rnncast.client.api import Client
from rnncast.client.labels import RESOURCES
from rnncast.client.options import JsonOpt, KeyOpt, TagOpt, UrlOpt

out = Console(highlight=False)


def label(
    resource: Annotated[str, typer.Argument(help=f"What to label: {', '.join(RESOURCES)}.")],
    record_id: Annotated[str, typer.Argument(metavar="ID", help="Its id (or a short id: its first characters).")],
    name: Annotated[str | None, typer.Option(help="Its new name.")] = None,
    no_name: Annotated[bool, typer.Option("--no-name", help="Clear its name (not for a dataset).")] = False,
    tag: TagOpt = None,
    untag: Annotated[list[str] | None, typer.Option("--untag", help="Take this tag off (repeat for more).")] = None,
    json_: JsonOpt = False, url: UrlOpt = None, api_key: KeyOpt = None,
) -> None:
    """Name or tag a job, model, comparison or dataset (--tag adds, --untag takes off; the rest stays)."""
    if resource not in RESOURCES:
        raise typer.BadParameter(f"{resource!r}: one of {', '.join(RESOURCES)}", param_hint="RESOURCE")
    if name is not None and no_name:
        raise typer.BadParameter("--name and --no-name exclude each other")
    with Client(url, api_key=api_key) as c:
        record = c.label(resource, record_id, name=name, clear_name=no_name, add=tag or (), remove=untag or ())
    if json_:
        typer.echo(json.dumps(record, indent=2))
        return
    tags = ", ".join(record.get("tags") or []) or "-"
    out.print(f"{resource} {record['id']}: name {record.get('name') or '-'}; tags {tags}", soft_wrap=True)
