"""Client commands of the `rnncast` CLI: they talk HTTP only, through `Client`."""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from rnncast.client.api import Client
from rnncast.client.errors import RnncastError
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
from rnncast.client.types import Job
from rnncast.client.watch import fmt, follow_hint, say_if_no_worker, watch_job
from rnncast.common import defaults as D

out = Console(highlight=False)


def client(url: str | None, api_key: str | None) -> Client:
    return Client(url, api_key=api_key)


def emit_json(value: Any) -> None:
    data = value.model_dump() if hasattr(value, "model_dump") else value
    typer.echo(json.dumps(data, indent=2))


def job_line(job: Job) -> str:
    p = job.progress
    return (f"{job.id}  {job.params.get('cell', '?'):<4}  {job.status:<9}  epoch {p.epoch}/{p.epochs}  "
            f"test {fmt(job.metrics.test_loss)}")


@training_flags
def train(
    cell: Annotated[str, typer.Option(help="RNN, LSTM or GRU (any case).")],
    seed: Annotated[int | None, typer.Option(help="Seed (default 0).")] = None,
    random_seed: Annotated[bool, typer.Option("--random-seed", help="Let the server pick a seed.")] = False,
    name: Annotated[str | None, typer.Option(help="A name for the job (its model's too).")] = None,
    tag: TagOpt = None,
    watch: WatchOpt = False, json_: JsonOpt = False, url: UrlOpt = None, api_key: KeyOpt = None,
    options: dict[str, Any] | None = None,
) -> None:
    """Submit a training job (and, with --watch, follow it to the end)."""
    if random_seed and seed is not None:
        raise typer.BadParameter("--random-seed and --seed exclude each other")
    with client(url, api_key) as c:
        job = c.train(cell, seed=None if random_seed else (seed or 0), name=name, tags=tag, **(options or {}))
        say_if_no_worker(c)
        if watch:
            job = watch_job(c, job, quiet=json_)
        if json_:
            emit_json(job)
        elif not watch:
            out.print(job_line(job))
            out.print(follow_hint(job.id), soft_wrap=True)


def jobs(
    status: Annotated[str | None, typer.Option(help="Only jobs with this status.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=D.MAX_LIST_PAGE)] = 20,
    name: NameFilter = None, tag: TagFilter = None, cell: CellFilter = None, dataset: DatasetFilter = None,
    json_: JsonOpt = False, url: UrlOpt = None, api_key: KeyOpt = None,
) -> None:
    """List jobs, newest first (those that match every filter given)."""
    with client(url, api_key) as c:
        page = c.jobs(status=status, limit=limit, name=name, tag=tag, cell=cell, dataset=dataset)
    if json_:
        emit_json(page)
        return
    print_list(out, ["id", "name", "tags", "cell", "status", "epoch", "test loss", "created"],
               [[short(j.id), j.name or "", ",".join(j.tags), str(j.params.get("cell", "?")), j.status,
                 f"{j.progress.epoch}/{j.progress.epochs}", fmt(j.metrics.test_loss), when(j.created_at)]
                for j in page.data], numeric=["epoch", "test loss"])
    out.print(page.tally(len(page.data)))


def job(job_id: str, json_: JsonOpt = False, url: UrlOpt = None, api_key: KeyOpt = None) -> None:
    """Show one job."""
    with client(url, api_key) as c:
        record = c.job(job_id)
    if json_:
        emit_json(record)
        return
    out.print(job_line(record))
    out.print(f"params: {json.dumps(record.params)}")
    for label, value in [("model", record.model_id), ("error", record.error), ("device", record.device),
                         ("attempts", record.attempts), ("resumed from epoch", record.resumed_from_epoch)]:
        if value not in (None, ""):
            out.print(f"{label}: {value}")


def cancel(job_id: str, json_: JsonOpt = False, url: UrlOpt = None, api_key: KeyOpt = None) -> None:
    """Cancel a job (a running one stops within one epoch)."""
    with client(url, api_key) as c:
        record = c.cancel(job_id)
    if json_:
        emit_json(record)
    else:
        out.print(f"{record.id}: {record.status}{' (stopping)' if record.status == 'running' else ''}")


def models(limit: Annotated[int, typer.Option(min=1, max=D.MAX_LIST_PAGE)] = 20,
           name: NameFilter = None, tag: TagFilter = None, cell: CellFilter = None, dataset: DatasetFilter = None,
           json_: JsonOpt = False, url: UrlOpt = None, api_key: KeyOpt = None) -> None:
    """List trained models, newest first (those that match every filter given)."""
    with client(url, api_key) as c:
        page = c.models(limit=limit, name=name, tag=tag, cell=cell, dataset=dataset)
    if json_:
        emit_json(page)
        return
    print_list(out, ["id", "name", "tags", "cell", "epochs", "parameters", "test loss", "created"],
               [[short(m.id), m.name or "", ",".join(m.tags), m.cell, str(m.epochs_trained),
                 str(m.parameters), fmt(m.metrics.test_loss),
                 when(m.created_at)] for m in page.data], numeric=["epochs", "parameters", "test loss"])
    out.print(page.tally(len(page.data)))


def input_error(message: str) -> NoReturn:
    """The input's fault (a file's content, stdin's), not the command line's: one line on stderr, exit code 1
    (as the API's errors), where a usage error is exit code 2."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def read_context(path: Path) -> list[float]:
    """Finite values from a file: a JSON list, or one number per line (else `input_error`)."""
    text = path.read_text()
    try:
        parsed = json.loads(text)
        values = [float(v) for v in parsed] if isinstance(parsed, list) else None
    except (ValueError, TypeError, OverflowError):  # an integer past float's range: OverflowError
        values = None
    if values is None:
        try:
            values = [float(line) for line in text.split()]
        except ValueError:
            input_error(f"{path}: expected a JSON list or one number per line")
    if not all(math.isfinite(v) for v in values):
        input_error(f"{path}: every value must be a finite number")
    return values


def forecast(
    model_id: str,
    start: Annotated[float | None, typer.Option(
        help=f"Sine models: phase t of the first prediction (default {D.FORECAST_START:g}).")] = None,
    origin: Annotated[int | None, typer.Option(
        min=0, help="Dataset models: position of the first prediction (default: the series' end).")] = None,
    horizon: Annotated[int, typer.Option(min=1, help="Steps to predict.")] = D.FORECAST_HORIZON,
    context_file: Annotated[Path | None, typer.Option(exists=True, dir_okay=False,
                                                      help="Your context: JSON list or one value per line.")] = None,
    plot: Annotated[Path | None, typer.Option(help="Save the forecast figure (PNG) here.")] = None,
    fallback: Annotated[bool, typer.Option(help="A model that lost its last backtest: answer the better "
                                           "baseline's forecast instead.")] = False,
    interval: IntervalOpt = None,
    json_: JsonOpt = False, url: UrlOpt = None, api_key: KeyOpt = None,
) -> None:
    """Ask a trained model to continue the sine, its dataset's series, or your values."""
    if sum(v is not None for v in (start, origin, context_file)) > 1:
        raise typer.BadParameter("give at most one of --start, --origin or --context-file")
    with client(url, api_key) as c:
        context = read_context(context_file) if context_file else None
        result = c.forecast(model_id, start=start, horizon=horizon, context=context, origin=origin,
                            fallback="baseline" if fallback else None, intervals=interval)
        if plot is not None:
            plot.write_bytes(c.forecast_png(model_id, start=start, origin=origin, horizon=horizon, context=context,
                                            intervals=interval))
    if json_:
        emit_json(result)
        return
    if result.warning:
        out.print(f"warning: {result.warning}")
    if result.source:
        out.print(f"the {result.source} baseline's forecast (--fallback)")
    when = result.timestamps or []
    bands = result.intervals or []
    table = Table("k", "x", *(["time"] if when else []), "y", *(["exact"] if result.exact else []),
                  *(f"{b.level:g} interval" for b in bands))
    rows = list(range(len(result.x)))
    shown = rows if len(rows) <= 10 else [*rows[:5], -1, *rows[-5:]]
    exact = result.exact or []
    for k in shown:
        if k == -1:
            table.add_row("...", "", *([""] if when else []), "", *([""] if exact else []), *("" for _ in bands))
            continue
        extra = ([f"{exact[k]:.5f}" if k < len(exact) else ""]) if exact else []
        ranges = [f"[{fmt(b.lower[k], '.5f')}, {fmt(b.upper[k], '.5f')}]" for b in bands]
        table.add_row(str(k), f"{result.x[k]:.4f}", *([when[k]] if when else []), fmt(result.y[k], ".5f"), *extra,
                      *ranges)
    out.print(table)
    if bands and result.calibrated_steps is not None and result.horizon > result.calibrated_steps:
        out.print(f"intervals past step {result.calibrated_steps} are extrapolated (sqrt growth), not calibrated")
    if result.mse is not None:
        out.print(f"mse {result.mse:.3g}  max abs error {fmt(result.max_abs_error)}")
    if plot is not None:
        out.print(f"saved {plot}")


def delete(job_id: str, url: UrlOpt = None, api_key: KeyOpt = None) -> None:
    """Delete an ended job (its record, history and checkpoints); its model stays."""
    with client(url, api_key) as c:
        c.delete_job(job_id)
    out.print(f"{job_id}: deleted")


def handled(command: Callable[..., None]) -> Callable[..., None]:
    """Client errors as one clean line on stderr and exit code 1, never a traceback."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> None:
        try:
            command(*args, **kwargs)
        except RnncastError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None

    return run
