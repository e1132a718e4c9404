"""The CLI's ETA is the job's own pace (its epochs' end times), not the pace at which a replayed stream arrives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rich.progress import Progress

from rnncast.client.types import EpochEvent
from rnncast.client.watch import EpochTimes, EtaColumn, whole_seconds


def test_a_replayed_burst_of_epochs_gives_the_eta_of_the_jobs_own_pace():
    began = datetime(2026, 1, 1, tzinfo=UTC)
    times = EpochTimes()
    with Progress(EtaColumn(), disable=True) as progress:
        task = progress.add_task("job", total=100, times=times)
        for epoch in range(1, 4):  # arrives at once (a stream opened mid-run replays them), but took 2 s each
            times.add(EpochEvent(epoch=epoch, epochs=100, train_loss=1.0, test_loss=1.0,
                                 at=began + timedelta(seconds=2 * epoch)))
            progress.update(task, completed=epoch)
        shown = EtaColumn().render(progress.tasks[0]).plain
    assert times.eta_s(97) == 194.0
    assert shown == "0:03:14"


def test_the_eta_waits_for_two_epochs_and_durations_are_whole_seconds():
    times = EpochTimes()
    times.add(EpochEvent(epoch=1, epochs=10, train_loss=None, test_loss=None, at=datetime(2026, 1, 1, tzinfo=UTC)))
    assert times.eta_s(9) is None
    assert whole_seconds(119.6) == "0:02:00" and whole_seconds(59.4) == "0:00:59" and whole_seconds(3600) == "1:00:00"
