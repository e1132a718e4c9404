"""Client commands for comparisons: the RNN vs LSTM vs GRU study."""


from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from rnncast.client.commands import client, emit_json, out
from rnncast.client.options import IntervalOpt, JsonOpt, KeyOpt, UrlOpt, WatchOpt, training_flags
from rnncast.client.types import Comparison
from rnncast.client.watch import fmt, watch_comparison
from rnncast.common import defaults as D


@training_flags
def compare(
    cells: Annotated[str, typer.Option(help="Comma-separated cells.")] = "RNN,LSTM,GRU",
    seeds: Annotated[str, typer.Option(help="Comma-separated seeds.")] = "0",
    start: Annotated[float, typer.Option(help="Forecast start for every run.")] = D.FORECAST_START,
    horizon: Annotated[int, typer.Option(min=1, help="Forecast steps for every run.")] = D.FORECAST_HORIZON,
    origin: Annotated[int | None, typer.Option(
        min=0, help="With --dataset: the forecast's first position (default: the test part's first).")] = None,
    name: Annotated[str | None, typer.Option(help="A label for the study.")] = None,
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
        study = c.compare(cells=[x.strip().upper() for x in cells.split(",") if x.strip()], seeds=seed_list,
                          forecast_start=start, forecast_horizon=horizon, forecast_origin=origin, name=name,
                          **(options or {}))
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
        out.print(f"follow it: rnncast comparison {study.id}")


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
    done = sum(r.status in ("succeeded", "failed", "cancelled") for r in study.runs)
    out.print(f"comparison {study.id}: {study.status} ({done}/{len(study.runs)} runs ended)")
    table = Table("cell", "n", "test loss (mean ± std)", "forecast MSE (mean ± std)", "train s (mean)", "")
    for cell, s in study.summary.items():
        tl, fm, ts = s.final_test_loss, s.forecast_mse, s.train_seconds
        table.add_row(cell, str(tl.n), f"{fmt(tl.mean)} ± {fmt(tl.std, '.2g')}",
                      f"{fmt(fm.mean)} ± {fmt(fm.std, '.2g')}", fmt(ts.mean, ".1f"),
                      "best" if cell == study.best_cell else "")
    out.print(table)
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
