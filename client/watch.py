"""Live progress for `--watch`: a bar per job, with epoch, losses, elapsed time and ETA."""

from __future__ import annotations

import time

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from rnncast.client.api import Client
from rnncast.client.errors import JobCancelled, JobFailed
from rnncast.client.types import Comparison, EpochEvent, Job
from rnncast.common.options import TrainOptions

err = Console(stderr=True, highlight=False)


def fmt(value: float | None, spec: str = ".3g") -> str:
    """A loss for people: 3 significant digits, '-' when there is none."""
    return "-" if value is None else format(value, spec)


def _progress(quiet: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[losses]}"),
        TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
        console=err, disable=quiet, transient=False,
    )


def _interrupted(what: str, ident: str, follow: str, stop: str) -> typer.Exit:
    err.print(f"\nstopped watching; {what} {ident} keeps running.")
    err.print(f"follow it: rnncast {follow} {ident}    cancel it: rnncast {stop} {ident}")
    return typer.Exit(130)


def watch_job(client: Client, job: Job, quiet: bool = False) -> Job:
    """Follow a job to its end with a progress bar; Ctrl-C leaves it running."""
    try:
        with _progress(quiet) as progress:
            task = progress.add_task(f"{job.params['cell']} {job.id[:8]}", total=job.progress.epochs,
                                     losses="queued")

            def on_epoch(e: EpochEvent) -> None:
                progress.update(task, completed=e.epoch, losses=f"train {fmt(e.train_loss)}  test {fmt(e.test_loss)}")

            try:
                final = client.wait(job.id, on_progress=on_epoch)
            except (JobFailed, JobCancelled) as exc:
                final = exc.job
    except KeyboardInterrupt:
        raise _interrupted("job", job.id, "job", "cancel") from None
    if not quiet:
        if final.status == "succeeded":
            err.print(f"{final.status}: test loss {fmt(final.metrics.test_loss)} after {final.progress.epoch} "
                      f"epochs; model {final.model_id}")
        else:
            err.print(f"{final.status}: {final.error or 'no error recorded'}")
    if final.status != "succeeded":
        raise typer.Exit(1)
    return final


def watch_comparison(client: Client, study: Comparison, quiet: bool = False) -> Comparison:
    """One bar per run until the comparison ends; Ctrl-C leaves it running."""
    try:
        with _progress(quiet) as progress:
            bars = {run.job_id: progress.add_task(f"{run.cell:<4} seed {run.seed}",
                                                  total=study.train.get("epochs", TrainOptions.epochs), losses="queued")
                    for run in study.runs}
            while True:
                study = client.comparison(study.id)
                for run in study.runs:
                    text = run.status if run.final_test_loss is None else f"test {run.final_test_loss:.3g}"
                    progress.update(bars[run.job_id], completed=run.epoch, losses=text)
                if study.finished:
                    break
                time.sleep(0.5)
    except KeyboardInterrupt:
        raise _interrupted("comparison", study.id, "comparison", "cancel-comparison") from None
    return study
