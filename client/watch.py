"""Live progress for `--watch` and `rnncast watch`: a bar per job, with epoch, losses, elapsed time and ETA."""

from __future__ import annotations

import time

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn, TimeElapsedColumn
from rich.table import Column
from rich.text import Text

from rnncast.client.api import Client
from rnncast.client.errors import JobCancelled, JobFailed
from rnncast.client.types import Comparison, EpochEvent, Job
from rnncast.common.options import TrainOptions

err = Console(stderr=True, highlight=False)


def fmt(value: float | None, spec: str = ".3g") -> str:
    """A loss for people: 3 significant digits, '-' when there is none."""
    return "-" if value is None else format(value, spec)


PACE_EPOCHS = 20  # the ETA's pace: the mean over this many of the latest epochs


class EpochTimes:
    """When each epoch ended, as the job's own events say, so that the ETA does not measure the burst in which a
    stream replays the epochs before it was opened (rich's own ETA would: it times the updates)."""

    def __init__(self) -> None:
        self.ends: list[tuple[int, float]] = []

    def add(self, e: EpochEvent) -> None:
        if e.at is not None:
            self.ends = [*self.ends, (e.epoch, e.at.timestamp())][-PACE_EPOCHS - 1:]

    def eta_s(self, remaining: int) -> float | None:
        if len(self.ends) < 2:
            return None
        (first, began), (last, ended) = self.ends[0], self.ends[-1]
        return remaining * (ended - began) / (last - first) if last > first else None


def whole_seconds(seconds: float) -> str:
    """h:mm:ss from whole seconds (59.6 s is 0:01:00, never 0:00:60)."""
    s = round(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


class EtaColumn(ProgressColumn):
    """The time left at the job's own pace (its epochs' end times); '-:--:--' until two epochs are known."""

    def render(self, task: Task) -> Text:
        times: EpochTimes | None = task.fields.get("times")
        left = int((task.total or 0) - task.completed)
        eta = times.eta_s(left) if times is not None else None
        return Text("-:--:--" if eta is None or task.finished else whole_seconds(eta), style="progress.remaining")


def _progress(quiet: bool) -> Progress:
    """Text and numbers whole on one line; the bar takes what the width leaves (80 columns fit)."""
    def whole() -> Column:
        return Column(no_wrap=True)

    return Progress(
        TextColumn("{task.description}", table_column=whole()), BarColumn(bar_width=None, table_column=Column(ratio=1)),
        MofNCompleteColumn(table_column=whole()), TextColumn("{task.fields[losses]}", table_column=whole()),
        TimeElapsedColumn(table_column=whole()), TextColumn("eta", table_column=whole()),
        EtaColumn(table_column=whole()),
        console=err, disable=quiet, transient=False, expand=True,
    )


NO_WORKER = ("no worker is consuming the training queue: it waits until one starts "
             "(`rnncast worker`, or `rnncast up` for the API and workers together)")


def follow_hint(ident: str) -> str:
    """How to follow a job or a comparison (again): the one command for both."""
    return f"follow it: rnncast watch {ident}"


def say_if_no_worker(client: Client) -> None:
    """One line on stderr when the API's readiness counts no live worker (it cannot say: nothing)."""
    if client.live_workers() == 0:
        err.print(NO_WORKER, soft_wrap=True)


def _interrupted(what: str, ident: str, stop: str) -> typer.Exit:
    err.print(f"\nstopped watching; {what} {ident} keeps running.")
    err.print(f"{follow_hint(ident)}    cancel it: rnncast {stop} {ident}", soft_wrap=True)
    return typer.Exit(130)


def watch_job(client: Client, job: Job, quiet: bool = False) -> Job:
    """Follow a job to its end with a progress bar; Ctrl-C leaves it running."""
    try:
        with _progress(quiet) as progress:
            times = EpochTimes()
            task = progress.add_task(f"{job.params['cell']} {job.id[:8]}", total=job.progress.epochs,
                                     losses="queued", times=times)

            def on_epoch(e: EpochEvent) -> None:
                times.add(e)
                progress.update(task, completed=e.epoch, losses=f"train {fmt(e.train_loss)}  test {fmt(e.test_loss)}")

            try:
                final = client.wait(job.id, on_progress=on_epoch)
            except (JobFailed, JobCancelled) as exc:
                final = exc.job
    except KeyboardInterrupt:
        raise _interrupted("job", job.id, "cancel") from None
    if not quiet:
        if final.status == "succeeded":
            err.print(f"{final.status}: test loss {fmt(final.metrics.test_loss)} after {final.progress.epoch} "
                      f"epochs; model {final.model_id}", soft_wrap=True)
        else:
            err.print(f"{final.status}: {final.error or 'no error recorded'}", soft_wrap=True)
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
        raise _interrupted("comparison", study.id, "cancel-comparison") from None
    return study
