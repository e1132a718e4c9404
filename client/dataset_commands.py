"""Client commands for your own series: datasets and backtests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from rnncast.client.commands import client, emit_json, handled, out
from rnncast.client.options import IntervalOpt, JsonOpt, KeyOpt, NameFilter, TagFilter, TagOpt, UrlOpt
from rnncast.client.tables import print_list, short, when
from rnncast.client.types import Backtest, Dataset
from rnncast.client.watch import fmt
from rnncast.common import defaults as D
from rnncast.common.defaults import MISSING_HELP, Missing

datasets_app = typer.Typer(help="Your own series: upload, list, delete.", invoke_without_command=True,
                           no_args_is_help=False)


def dataset_fields(d: Dataset) -> list[tuple[str, str]]:
    """A dataset as (field, value) pairs for people."""
    s = d.stats
    source = ", ".join(f"{k} {v if isinstance(v, str | int | float) else json.dumps(v)}"
                       for k, v in d.source.items()) or "-"
    return [("id", d.id), ("name", d.name), *([("tags", ", ".join(d.tags))] if d.tags else []),
            ("length", f"{d.length} values"), ("step", f"{d.step:g}"),
            ("stats", f"mean {s.mean:.4g}  std {s.std:.4g}  min {s.min:.4g}  max {s.max:.4g}"),
            *([("time axis", f"{d.frequency} from {d.start} to {d.end}")] if d.frequency else []),
            ("source", source), ("sha256", d.sha256), ("created", when(d.created_at))]


def print_fields(pairs: list[tuple[str, str]]) -> None:
    """`name: value` lines, the values aligned."""
    width = max(len(k) for k, _ in pairs) + 1
    for key, value in pairs:
        out.print(f"{key + ':':<{width}} {value}", soft_wrap=True, markup=False)


def datasets(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, max=D.MAX_LIST_PAGE)] = 20,
    name: NameFilter = None, tag: TagFilter = None,
    json_: JsonOpt = False, url: UrlOpt = None, api_key: KeyOpt = None,
) -> None:
    """List datasets, newest first, those that match every filter given (or run one of the subcommands)."""
    if ctx.invoked_subcommand is not None:
        return
    with client(url, api_key) as c:
        page = c.datasets(limit=limit, name=name, tag=tag)
    if json_:
        emit_json(page)
        return
    print_list(out, ["id", "name", "tags", "length", "step", "mean", "std", "created"],
               [[short(d.id), d.name, ",".join(d.tags), str(d.length),
                 f"{d.step:g}", f"{d.stats.mean:.4g}", f"{d.stats.std:.4g}",
                 when(d.created_at)] for d in page.data], numeric=["length", "step", "mean", "std"])
    out.print(page.tally(len(page.data)))


def upload(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A CSV file.")],
    column: Annotated[str | None, typer.Option(help="The value column: header name or 0-based index "
                                               "(needed when the CSV has several numeric columns).")] = None,
    missing: Annotated[Missing, typer.Option(help=MISSING_HELP)] = "refuse",
    name: Annotated[str | None, typer.Option(help="The dataset's name (default: the file's).")] = None,
    step: Annotated[float | None, typer.Option(min=0, help="Step between values (default 1).")] = None,
    tag: TagOpt = None,
    json_: JsonOpt = False, url: UrlOpt = None, api_key: KeyOpt = None,
) -> None:
    """Upload a CSV file as a dataset; a refused file names the row at fault."""
    with client(url, api_key) as c:
        record = c.upload_dataset(file, column=column, name=name, step=step, tags=tag or (),
                                  missing=missing if missing != "refuse" else None)
    if json_:
        emit_json(record)
        return
    print_fields(dataset_fields(record))
    out.print(f"train on it: rnncast train --cell LSTM --dataset {record.id}", soft_wrap=True)


def delete(dataset_id: str, url: UrlOpt = None, api_key: KeyOpt = None) -> None:
    """Delete a dataset (refused while a queued or running job trains on it; its models keep a copy)."""
    with client(url, api_key) as c:
        c.delete_dataset(dataset_id)
    out.print(f"{dataset_id}: deleted")


datasets_app.callback()(handled(datasets))
datasets_app.command(name="upload")(handled(upload))
datasets_app.command(name="delete")(handled(delete))


def dataset(
    dataset_id: str,
    plot: Annotated[Path | None, typer.Option(help="Save the series' plot (PNG) here.")] = None,
    json_: JsonOpt = False, url: UrlOpt = None, api_key: KeyOpt = None,
) -> None:
    """Show one dataset and its first values."""
    with client(url, api_key) as c:
        record = c.dataset(dataset_id)
        head = c.dataset_values(dataset_id, limit=5)
        if plot is not None:
            plot.write_bytes(c.dataset_plot(dataset_id))
    if json_:
        emit_json(record)
        return
    print_fields([*dataset_fields(record), ("first values", ", ".join(f"{v:.6g}" for v in head.values))])
    if plot is not None:
        out.print(f"saved {plot}")


def backtest_table(result: Backtest) -> Table:
    table = Table("forecaster", "MSE", "MAE", "sMAPE %", "MASE")
    rows = [("model", result.model), ("naive", result.naive),
            (f"seasonal naive (season {result.season})", result.seasonal_naive)]
    if result.seasonal_naive_drift is not None:
        rows.append(("seasonal naive with drift", result.seasonal_naive_drift))
    for label, scores in rows:
        table.add_row(label, fmt(scores.mse), fmt(scores.mae), fmt(scores.smape), fmt(scores.mase))
    return table


def backtest(
    model_id: str,
    origins: Annotated[int, typer.Option(min=1, max=D.MAX_BACKTEST_ORIGINS,
                                         help="Forecast origins over the test part.")] = D.BACKTEST_ORIGINS,
    horizon: Annotated[int, typer.Option(min=1, help="Steps per forecast.")] = D.BACKTEST_HORIZON,
    season: Annotated[int | None, typer.Option(
        min=1, help="The seasonal naive baseline's season (default: found from the train part).")] = None,
    plot: Annotated[Path | None, typer.Option(help="Save the error-by-step figure (PNG) here.")] = None,
    interval: IntervalOpt = None,
    json_: JsonOpt = False, url: UrlOpt = None, api_key: KeyOpt = None,
) -> None:
    """Backtest a model over its test part against naive, seasonal naive and seasonal naive with drift forecasts,
    with its intervals' coverage (default levels 0.8 and 0.95)."""
    with client(url, api_key) as c:
        result = c.backtest(model_id, origins=origins, horizon=horizon, season=season, intervals=interval)
        if plot is not None:
            plot.write_bytes(c.backtest_png(model_id, origins=origins, horizon=horizon, season=season))
    if json_:
        emit_json(result)
        return
    out.print(f"{result.origins} origins from position {result.test_start}, horizon {result.horizon}, "
              f"season {result.season} ({result.season_source})")
    out.print(backtest_table(result))
    out.print(f"skill {fmt(result.skill)} (1 - model MSE / the best baseline's, {result.best_baseline})")
    if result.coverage is None:
        out.print("coverage: none (the model has no calibration)")
    else:
        shares = ", ".join(f"{level} {fmt(share)}" for level, share in result.coverage.items())
        out.print(f"interval coverage {shares} over {result.coverage_origins} origins past the calibration "
                  f"part (position {result.calibration_end})")
    if plot is not None:
        out.print(f"saved {plot}")
