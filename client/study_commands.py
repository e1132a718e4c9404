"""Client commands for comparisons: the RNN vs LSTM vs GRU study."""


from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from rnncast.client.api import Client
from rnncast.client.commands import client, emit_json, out
from rnncast.client.errors import NotFound
from rnncast.client.options import (
    CellFilter,
    DatasetFilter,
    IntervalOpt,
    JsonOpt,
    KeyOpt,
    NameFilter,
    TagFilter,
    TagOpt,
    UrlOpt,
    WatchOpt,
    training_flags,
)
from rnncast.client.tables import print_list, short, when
from rnncast.client.types import FINAL as ENDED
from rnncast.client.types import Comparison, Job
from rnncast.client.watch import fmt, follow_hint, say_if_no_worker, watch_comparison, watch_job
from rnncast.common import defaults as D


@training_flags
def compare(
    cells: Annotated[str, typer.Option(help="Comma-separated cells (any case).")] = "RNN,LSTM,GRU",
    seeds: Annotated[str, typer.Option(help="Comma-separated seeds.")] = "0",
    start: Annotated[float, typer.Option(help="Forecast start for every run.")] = D.FORECAST_START,
    horizon: Annotated[int, typer.Option(min=1, help="Forecast steps for every run.")] = D.FORECAST_HORIZON,
    origin: Annotated[int | None, typer.Option(
        min=0, help="With --dataset: the forecast's first position (default: the test part's first).")] = None,
    name: Annotated[str | None, typer.Option(help="A name for the study (its runs' and their models' too).")] = None,
    tag: TagOpt = None,
    plots: Annotated[Path | None, typer.Option(file_okay=False, help="Save loss.png and predictions.png here.")] = None,
    watch: WatchOpt = False, json_: JsonOpt = False, url: UrlOpt = None, api_key: KeyOpt = None,
    options: dict[str, Any] | None = None,
) -> None:
    """Compare cells over seeds (RNN vs LSTM vs GRU), trained in parallel."""
    try:
        seed_list = [int(s) for s in seeds.split(",") if s.strip()]
    except ValueError:
        raise typer.BadParameter(f"--seeds ({seeds!r}) must be comma-separated integers") from None
    with client(url, api_key) as c:
        study = c.compare(cells=[x.strip() for x in cells.split(",") if x.strip()], seeds=seed_list,
                          forecast_start=start, forecast_horizon=horizon, forecast_origin=origin, name=name,
                          tags=tag or (), **(options or {}))
        say_if_no_worker(c)
        if watch:
            study = watch_comparison(c, study, quiet=json_)
        if plots is not None:
            plots.mkdir(parents=True, exist_ok=True)
            for kind, png in c.comparison_plots(study.id).items():
                (plots / f"{kind}.png").write_bytes(png)
    if json_:
        emit_json(study)
        return
    print_summary(study)
    if plots is not None:
        out.print(f"saved {plots / 'loss.png'} and {plots / 'predictions.png'}")
    if not watch:
        out.print(follow_hint(study.id), soft_wrap=True)


def watch(
    ident: Annotated[str, typer.Argument(metavar="ID", help="A job's or a comparison's id.")],
    comparison_: Annotated[bool, typer.Option("--comparison", help="ID is a comparison's (default: ask the API: "
                                              "a job's, else a comparison's).")] = False,
    json_: JsonOpt = False, url: UrlOpt = None, api_key: KeyOpt = None,
) -> None:
    """Follow a job or a comparison to its end, also after Ctrl-C: where it stands, then live progress."""
    with client(url, api_key) as c:
        target = c.comparison(ident) if comparison_ else find(c, ident)
        if not target.finished:
            say_if_no_worker(c)
        if isinstance(target, Job):
            final = watch_job(c, target, quiet=json_)
            if json_:
                emit_json(final)
            return
        study = watch_comparison(c, target, quiet=json_)
    if json_:
        emit_json(study)
    else:
        print_summary(study)


def find(c: Client, ident: str) -> Job | Comparison:
    """The job with this id, else the comparison; NotFound naming both when neither is."""
    try:
        return c.job(ident)
    except NotFound:
        pass
    try:
        return c.comparison(ident)
    except NotFound:
        raise NotFound(f"404: no job or comparison {ident!r}", status=404) from None


def comparisons(
    limit: Annotated[int, typer.Option(min=1, max=D.MAX_VIEW_PAGE)] = 20,
    name: NameFilter = None, tag: TagFilter = None, cell: CellFilter = None, dataset: DatasetFilter = None,
    status: Annotated[str | None, typer.Option(help="Only comparisons with this status.")] = None,
    json_: JsonOpt = False, url: UrlOpt = None, api_key: KeyOpt = None,
) -> None:
    """List comparisons, newest first (those that match every filter given)."""
    with client(url, api_key) as c:
        page = c.comparisons(limit=limit, name=name, tag=tag, cell=cell, dataset=dataset, status=status)
    if json_:
        emit_json(page)
        return
    print_list(out, ["id", "name", "tags", "status", "cells", "seeds", "runs ended", "best", "created"],
               [[short(s.id), s.name or "", ",".join(s.tags), s.status, ",".join(s.cells), ",".join(map(str, s.seeds)),
                 f"{sum(r.status in ENDED for r in s.runs)}/{len(s.runs)}", s.best_cell or "", when(s.created_at)]
                for s in page.data], free=["name", "tags", "seeds"], numeric=["runs ended"])
    out.print(page.tally(len(page.data)))


def comparison(comparison_id: str, json_: JsonOpt = False, url: UrlOpt = None, api_key: KeyOpt = None) -> None:
    """Show a comparison's runs and summary."""
    with client(url, api_key) as c:
        study = c.comparison(comparison_id)
    if json_:
        emit_json(study)
    else:
        print_summary(study)


def print_summary(study: Comparison) -> None:
    """The summary table: mean ± std per cell, the best one marked."""
    done = sum(r.status in ENDED for r in study.runs)
    out.print(f"comparison {study.id}: {study.status} ({done}/{len(study.runs)} runs ended)")
    table = Table("cell", "n", "test loss (mean ± std)", "forecast MSE (mean ± std)", "train s (mean)", "")
    for cell, s in study.summary.items():
        tl, fm, ts = s.final_test_loss, s.forecast_mse, s.train_seconds
        table.add_row(cell, str(tl.n), f"{fmt(tl.mean)} ± {fmt(tl.std, '.2g')}",
                      f"{fmt(fm.mean)} ± {fmt(fm.std, '.2g')}", fmt(ts.mean, ".1f"),
                      "best" if cell == study.best_cell else "")
    out.print(table)
    for cell, t in (study.time_to_accuracy or {}).items():
        out.print(f"{cell}: {t.epochs} epochs, {fmt(t.wall_seconds, '.1f')} s wall, {fmt(t.cpu_seconds, '.1f')} s CPU "
                  f"per run; test {fmt(t.test_mse)} (tutorial's {fmt(t.target_test_mse)}), forecast "
                  f"{fmt(t.forecast_mse)} (tutorial's {fmt(t.target_forecast_mse)}): "
                  f"{'at' if t.reached else 'not at'} the tutorial's 500-epoch accuracy")
    for run in study.runs:
        if run.error:
            out.print(f"{run.cell} seed {run.seed} failed: {run.error}")


def cancel_comparison(comparison_id: str, json_: JsonOpt = False, url: UrlOpt = None,
                      api_key: KeyOpt = None) -> None:
    """Cancel every unfinished run of a comparison."""
    with client(url, api_key) as c:
        study = c.cancel_comparison(comparison_id)
    if json_:
        emit_json(study)
    else:
        out.print(f"{study.id}: cancelling {sum(r.status in ('queued', 'running') for r in study.runs)} run(s)")


def delete_comparison(comparison_id: str, url: UrlOpt = None, api_key: KeyOpt = None) -> None:
    """Delete an ended comparison and its runs' jobs; their models stay."""
    with client(url, api_key) as c:
        c.delete_comparison(comparison_id)
    out.print(f"{comparison_id}: deleted")




def ensemble(
    comparison_id: str,
    start: Annotated[float | None, typer.Option(
        help="Where to start (default: where the runs' forecasts did).")] = None,
    horizon: Annotated[int, typer.Option(min=1, help="Steps to predict.")] = D.FORECAST_HORIZON,
    plot: Annotated[Path | None, typer.Option(help="Save the ensemble figure (PNG) here.")] = None,
    interval: IntervalOpt = None,
    json_: JsonOpt = False, url: UrlOpt = None, api_key: KeyOpt = None,
) -> None:
    """Forecast with every model of a comparison: per cell, the mean over its seeds and its spread (and
    conformal intervals around the mean, asked for with --interval)."""
    with client(url, api_key) as c:
        result = c.ensemble_forecast(comparison_id, start=start, horizon=horizon, intervals=interval)
        if plot is not None:
            plot.write_bytes(c.ensemble_png(comparison_id, start=start, horizon=horizon, intervals=interval))
    if json_:
        emit_json(result)
        return
    levels = interval or []
    table = Table("cell", "seeds", "MSE of the mean", "seed MSEs", "mean band width (last step)",
                  *(f"{level:g} interval width (last step)" for level in levels))
    for cell, band in result["cells"].items():
        bands = [(band["upper"][-1], band["lower"][-1])]
        bands += [(b["upper"][-1], b["lower"][-1]) for b in band.get("intervals") or []]
        widths = [None if upper is None or lower is None else upper - lower for upper, lower in bands]
        table.add_row(cell, str(band["n"]), fmt(band.get("mse_of_mean")),
                      ", ".join(fmt(s["mse"]) for s in band["seeds"]), *(fmt(w) for w in widths))
    out.print(table)
    if plot is not None:
        out.print(f"saved {plot}")
