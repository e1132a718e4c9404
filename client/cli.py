"""The `rnncast` command line: server commands (up, api, worker) and client commands."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Annotated, Any

import click
import typer
from typer.core import TyperGroup

from rnncast.client import (
    alias_commands,
    commands,
    dataset_commands,
    label_commands,
    search_commands,
    stream_commands,
    study_commands,
    transfer_commands,
    webhook_commands,
)
from rnncast.common.artifacts import ArtifactError, open_store
from rnncast.common.settings import Settings, get_settings
from rnncast.service.doctor import run_checks
from rnncast.service.launcher import default_workers, preflight, run_api
from rnncast.service.up import up as run_up
from rnncast.worker.alive import container_worker, worker_alive
from rnncast.worker.main import run_worker

# Typer from 0.20 or so carries its own Click, whose errors derive from TyperException; earlier ones use Click's.
USAGE_ERRORS: tuple[type[Exception], ...] = (click.ClickException,
                                             getattr(typer, "TyperException", click.ClickException))
ABORTS: tuple[type[BaseException], ...] = (click.Abort, typer.Abort)


def usage_line(error: Any) -> str:
    """A usage error as one line: what is wrong, and where the help is."""
    message = " ".join(error.format_message().split())
    ctx = getattr(error, "ctx", None)
    return f"error: {message}" + (f" (see: {ctx.command_path} --help)" if ctx is not None else "")


class OneLineErrors(TyperGroup):
    """Usage errors (a missing option, an unknown flag, a bad value) as one line on stderr, exit code 2,
    in place of Typer's boxed panel."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True, windows_expand_args: bool = True,
             **extra: Any) -> Any:
        try:
            result = super().main(args, prog_name or "rnncast", complete_var, standalone_mode=False,
                                  windows_expand_args=windows_expand_args, **extra)
        except USAGE_ERRORS as exc:
            if not standalone_mode:
                raise
            if type(exc).__name__ != "NoArgsIsHelpError":  # that one's help is printed already
                typer.echo(usage_line(exc), err=True)
            sys.exit(getattr(exc, "exit_code", 2))
        except ABORTS:
            if not standalone_mode:
                raise
            typer.echo("aborted", err=True)
            sys.exit(1)
        if not standalone_mode:
            return result
        sys.exit(result if isinstance(result, int) else 0)


app = typer.Typer(
    cls=OneLineErrors,
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


@app.command("worker-alive")
def worker_alive_command(
    name: Annotated[str | None, typer.Argument(
        help="The worker's node name (default: rnncast-1@<this host>, the container's own worker).")] = None,
) -> None:
    """Exit 0 if the worker beat in Redis within RNNCAST_HEARTBEAT_TIMEOUT (a cheap healthcheck: no torch)."""
    reason = worker_alive(name or container_worker())
    if reason:
        typer.echo(f"rnncast: {reason}", err=True)
        raise typer.Exit(1)


for command in (commands.train, commands.jobs, commands.job, commands.cancel, commands.delete, commands.models,
                commands.forecast, study_commands.compare, study_commands.comparisons, study_commands.comparison,
                study_commands.cancel_comparison, study_commands.watch, study_commands.delete_comparison,
                study_commands.ensemble, search_commands.search, search_commands.searches, search_commands.search_show,
                search_commands.cancel_search, search_commands.delete_search,
                dataset_commands.dataset,
                dataset_commands.backtest, transfer_commands.export, stream_commands.stream, label_commands.label):
    app.command(name=command.__name__.replace("_", "-"))(commands.handled(command))
app.command(name="import")(commands.handled(transfer_commands.import_))
app.add_typer(dataset_commands.datasets_app, name="datasets")
app.add_typer(webhook_commands.webhooks_app, name="webhooks")
app.add_typer(alias_commands.alias_app, name="alias")
app.add_typer(stream_commands.session_app, name="session")
artifacts_app = typer.Typer(help="The artifact store (RNNCAST_ARTIFACTS): checkpoints, models, datasets.",
                            no_args_is_help=True)
app.add_typer(artifacts_app, name="artifacts")


def store_named(url: str, settings: Settings) -> str:
    """The store `url` as these commands name it: a local folder says it is one, and how to choose S3."""
    if settings.artifacts.startswith("s3://"):
        return f"artifact store {url}"
    unset = "" if settings.artifacts else ", RNNCAST_ARTIFACTS unset"
    return f"artifact store {url} (a local folder{unset}; S3: export RNNCAST_ARTIFACTS=s3://bucket/prefix)"


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
    typer.echo(f"{store_named(open_store(settings).url, settings)}: ok")


@artifacts_app.command("init")
def artifacts_init() -> None:
    """Create the S3 bucket RNNCAST_ARTIFACTS names if it is missing (a local folder: create it), then check."""
    settings = get_settings()
    store = open_store(settings)
    try:
        created = store.create()
        store.check()
    except ArtifactError as exc:
        raise SystemExit(f"rnncast: artifact store: {exc}") from None
    typer.echo(f"{store_named(store.url, settings)}: {'created' if created else 'ok'}")


def main() -> None:
    app()
