"""Client commands for searches: automatic selection by backtest, and its candidates' table."""

from __future__ import annotations

from typing import Annotated

import typer

from rnncast.client.api import Client
from rnncast.client.commands import client, emit_json, out
from rnncast.client.options import JsonOpt, KeyOpt, UrlOpt, WatchOpt
from rnncast.client.tables import print_list, short, when
from rnncast.client.types import FINAL as ENDED
from rnncast.client.types import Search
from rnncast.client.watch import err, fmt, say_if_no_worker
from rnncast.common import defaults as D


def search(
    dataset: Annotated[str, typer.Option(help="The dataset to search on (its id).")],
    train_fraction: Annotated[float | None, typer.Option(help="The outer split (default 0.8).")] = None,
    epochs: Annotated[int | None, typer.Option(min=1, help="Each candidate's epochs at most.")] = None,
    patience: Annotated[int | None, typer.Option(min=1, help="Candidates' early-stopping patience.")] = None,
    seed: Annotated[int | None, typer.Option(min=0, help="Candidates' seed; picks a larger grid's sample.")] = None,
    max_candidates: Annotated[int | None, typer.Option(min=1, help="Candidates at most.")] = None,
    refit: Annotated[str | None, typer.Option(help="train (default) or all.")] = None,
    ensemble_seeds: Annotated[int | None, typer.Option(min=1, help="Refit the best with this many seeds.")] = None,
    origins: Annotated[int | None, typer.Option(min=1, help="Backtest origins per candidate.")] = None,
    horizon: Annotated[int | None, typer.Option(min=1, help="Backtest steps per origin.")] = None,
    name: Annotated[str | None, typer.Option(help="A label for the search.")] = None,
    watch: WatchOpt = False, json_: JsonOpt = False, url: UrlOpt = None, api_key: KeyOpt = None,
) -> None:
    """Search a bounded space of configurations on a dataset, score each by backtest, refit the best."""
    backtest = {k: v for k, v in (("origins", origins), ("horizon", horizon)) if v is not None} or None
    with client(url, api_key) as c:
        found = c.start_search(dataset, train_fraction=train_fraction, name=name, epochs=epochs, patience=patience,
                               seed=seed, max_candidates=max_candidates, refit=refit,
                               ensemble_seeds=ensemble_seeds, backtest=backtest)
        say_if_no_worker(c)
        if watch:
            found = follow(c, found, quiet=json_)
    if json_:
        emit_json(found)
        return
    print_search(found)
    if not watch:
        out.print(f"follow it: rnncast search-show {found.id} --watch", soft_wrap=True)


def follow(c: Client, found: Search, quiet: bool = False) -> Search:
    """Poll a search to its end, a line on stderr each time its phase or its ended candidates change."""
    seen: list[tuple[str, int]] = []

    def update(s: Search) -> None:
        state = (s.phase, sum(x.status in ENDED for x in s.candidates))
        if not quiet and (not seen or seen[-1] != state):
            err.print(f"search {short(s.id)}: {s.phase}, {state[1]}/{len(s.candidates)} candidates ended")
            seen.append(state)

    return c.wait_search(found.id, on_update=update) if not found.finished else found


SHORT_NAMES = {"sequence_length": "window", "hidden_size": "hidden", "output_steps": "head", "difference": "diff"}


def _text(value: object) -> str:
    return "" if value is None else str(value)


def print_search(found: Search) -> None:
    """The candidates' table, best first; the winner and its refit's models."""
    out.print(f"search {found.id}: {found.status} ({found.phase}); season {found.season}, candidates read the "
              f"first {found.inner_length} of {found.length} values", soft_wrap=True)
    rows = sorted(found.candidates, key=lambda x: (x.score is None, x.score or 0.0))
    searched = list(dict.fromkeys(k for x in rows for k in x.options))  # the server's space, as it sends it
    headers = [SHORT_NAMES.get(k, k) for k in searched]
    print_list(out, ["job", "status", *headers, "epochs", "score", "kind", "best"],
               [[short(x.job_id), x.status, *(_text(x.options.get(k)) for k in searched),
                 str(x.best_epoch or x.epoch), fmt(x.score), x.score_kind or "",
                 "best" if x.job_id == found.best_job_id else ""]
                for x in rows], free=(), numeric=["window", "lr", "hidden", "head", "season", "epochs", "score"])
    if found.model_ids:
        out.print(f"refit ({found.refit}): model {', '.join(found.model_ids)}", soft_wrap=True)
    if found.error:
        out.print(f"error: {found.error}", soft_wrap=True)


def searches(
    limit: Annotated[int, typer.Option(min=1, max=D.MAX_VIEW_PAGE)] = 20,
    json_: JsonOpt = False, url: UrlOpt = None, api_key: KeyOpt = None,
) -> None:
    """List searches, newest first."""
    with client(url, api_key) as c:
        page = c.searches(limit=limit)
    if json_:
        emit_json(page)
        return
    print_list(out, ["id", "name", "status", "phase", "candidates", "best score", "created"],
               [[short(s.id), s.name or "", s.status, s.phase, str(len(s.candidates)),
                 fmt(min((x.score for x in s.candidates if x.score is not None), default=None)), when(s.created_at)]
                for s in page.data], numeric=["candidates", "best score"])
    out.print(f"{len(page.data)} of {page.count}")


def search_show(search_id: str, watch: WatchOpt = False, json_: JsonOpt = False, url: UrlOpt = None,
                api_key: KeyOpt = None) -> None:
    """Show a search's candidates with their scores (and follow it with --watch)."""
    with client(url, api_key) as c:
        found = c.search(search_id)
        if watch:
            found = follow(c, found, quiet=json_)
    if json_:
        emit_json(found)
    else:
        print_search(found)


def cancel_search(search_id: str, json_: JsonOpt = False, url: UrlOpt = None, api_key: KeyOpt = None) -> None:
    """Cancel every unfinished candidate of a search (and its refit)."""
    with client(url, api_key) as c:
        found = c.cancel_search(search_id)
    if json_:
        emit_json(found)
    else:
        out.print(f"{found.id}: cancelling {sum(x.status in ('queued', 'running') for x in found.candidates)} "
                  f"candidate(s)")


def delete_search(search_id: str, url: UrlOpt = None, api_key: KeyOpt = None) -> None:
    """Delete an ended search and its candidates' jobs; their models and the refit comparison stay."""
    with client(url, api_key) as c:
        c.delete_search(search_id)
    out.print(f"{search_id}: deleted")
