"""The `rnncast` command line: server commands (up, api, worker) and client commands."""

from __future__ import annotations

from typing import Annotated

import typer

from rnncast.client import commands, dataset_commands, study_commands
from rnncast.common.artifacts import ArtifactError, open_store
from rnncast.common.settings import get_settings
from rnncast.service.doctor import run_checks
from rnncast.service.launcher import default_workers, preflight, run_api
from rnncast.service.up import up as run_up
from rnncast.worker.main import run_worker

app = typer.Typer(
    help="rnncast: train and serve RNN/LSTM/GRU forecasters on a sine or your own series.",
    no_args_is_help=True, pretty_exceptions_enable=False,
)

HostOpt = Annotated[str, typer.Option(help="Address to listen on (non-loopback needs RNNCAST_API_KEY).")]
PortOpt = Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")]


@app.command()
def up(
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 8000,
    workers: Annotated[int | None, typer.Option(
        min=1, max=256, help="Training worker processes (default: one per CPU core).")] = None,
    queues: Annotated[str, typer.Option(help="Queues the workers consume.")] = "train,predict",
    redis_port: Annotated[int | None, typer.Option(min=1, max=65535, help=(
        "Port of up's own Redis (default: 6379 if free, else any free port); "
        "ignored when RNNCAST_REDIS_URL names a server."))] = None,
) -> None:
    """Run the API and worker(s) together, with a Redis of their own (AOF under RNNCAST_DATA_DIR/redis) unless
    RNNCAST_REDIS_URL names one."""
    raise typer.Exit(run_up(host, port, workers or default_workers(), queues, redis_port))


@app.command()
def api(
    host: HostOpt = "127.0.0.1", port: PortOpt = 8000, log_level: str = "info",
    root_path: Annotated[str, typer.Option(help="The path prefix a proxy serves the API under (e.g. /api).")] = "",
) -> None:
    """Run only the HTTP API (uvicorn)."""
    run_api(host, port, log_level, root_path)


@app.command()
def worker(
    queues: Annotated[str, typer.Option(help="Comma-separated: train, predict.")] = "train,predict",
    concurrency: Annotated[int, typer.Option(min=1, max=256, help="Worker processes.")] = 1,
    pool: Annotated[str, typer.Option(help="Celery pool: prefork or solo.")] = "prefork",
    loglevel: str = "INFO",
) -> None:
    """Run a Celery worker that trains models and serves forecasts."""
    preflight()
    try:
        run_worker(queues, concurrency, pool, loglevel)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


for command in (commands.train, commands.jobs, commands.job, commands.cancel, commands.delete, commands.models,
                commands.forecast, study_commands.compare, study_commands.comparison,
                study_commands.cancel_comparison, study_commands.delete_comparison, study_commands.ensemble,
                dataset_commands.dataset,
                dataset_commands.backtest):
    app.command(name=command.__name__.replace("_", "-"))(commands.handled(command))
app.add_typer(dataset_commands.datasets_app, name="datasets")
artifacts_app = typer.Typer(help="The artifact store (RNNCAST_ARTIFACTS): checkpoints, models, datasets.",
                            no_args_is_help=True)
app.add_typer(artifacts_app, name="artifacts")


@app.command()
def doctor() -> None:
    """Check Redis (and its persistence), the artifact store, the workers on each queue and their devices, and
    that records and files agree (records whose files are gone, files no record names): one line per check,
    exit 1 on a problem."""
    checks = run_checks()
    for check in checks:
        typer.echo(check.line())
    if not all(c.ok or c.warn for c in checks):
        raise typer.Exit(1)


@artifacts_app.command("check")
def artifacts_check() -> None:
    """Check that the artifact store answers with these settings."""
    settings = preflight(strict=True)
    typer.echo(f"artifact store {open_store(settings).url}: ok")


@artifacts_app.command("init")
def artifacts_init() -> None:
    """Create the S3 bucket RNNCAST_ARTIFACTS names if it is missing (a local folder: create it), then check."""
    store = open_store(get_settings())
    try:
        created = store.create()
        store.check()
    except ArtifactError as exc:
        raise SystemExit(f"rnncast: artifact store: {exc}") from None
    typer.echo(f"artifact store {store.url}: {'created' if created else 'ok'}")


def main() -> None:
    app()
