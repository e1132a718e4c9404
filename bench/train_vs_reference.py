"""The tutorial's three-model study, its way and rnncast's, one after the other in one run.

(a) bench/reference_tutorial.py in a child process (its own peak RSS);
(b) the same cells and epochs as one rnncast comparison through a real stack
(private Redis, --processes training processes, the API over HTTP), timed from
the POST to the comparison's end with the stack already up; peak RSS is the
largest of the training processes'. With --seeds 0,1,2 both sides run every
seed (the reference seeded likewise) and a `mean cell=..` line per cell compares
accuracy over the seeds.
CPU time is the reference process's, and the stack's: its worker processes
(training processes reaped meanwhile included), the API and Redis.
Last line: train_ratio=<b/a> reference_s=.. service_s=.. ref_test_mse=.. service_test_mse=..
ref_peak_rss_mb=.. service_peak_rss_mb=.. cpu_ratio=..   (test MSE: mean over cells)

With --recipe fast the service side runs the `fast` recipe (each cell its own
epochs and schedule; --epochs still sets the reference's), and a last line
follows: fast_cpu_ratio=<service CPU / reference CPU> fast_wall_ratio=<b/a>
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import threading
from pathlib import Path

import psutil
from _stack import run_comparison, stack, study_body

from rnncast.common.options import RECIPES

HERE = Path(__file__).resolve().parent


def _hwm_mb(pid: int) -> float | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:  # exited meanwhile
        return None
    hwm = re.search(r"VmHWM:\s+(\d+) kB", status)
    return int(hwm.group(1)) / 1024 if hwm else None


class PeakRss(threading.Thread):
    """Largest VmHWM among the pool processes of the worker `pid` (they train), polled
    while the run lasts (pool processes are replaced between jobs, so reading them once
    at the end would miss them); and the worker's main process's own (it trains nothing)."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak_mb, self.main_mb, self.stopped = pid, 0.0, 0.0, threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(0.1):
            self.main_mb = max(self.main_mb, _hwm_mb(self.pid) or 0.0)
            for child in psutil.Process(self.pid).children(recursive=True):
                self.peak_mb = max(self.peak_mb, _hwm_mb(child.pid) or 0.0)


def tree_cpu(pids: list[int]) -> float:
    """CPU seconds of these processes and their descendants, those already reaped included."""
    total = 0.0
    for pid in pids:
        root = psutil.Process(pid)
        times = root.cpu_times()
        total += times.user + times.system + times.children_user + times.children_system
        for child in root.children(recursive=True):
            try:
                total += sum(child.cpu_times()[:2])
            except psutil.NoSuchProcess:  # reaped meanwhile: counted in its parent's children_* next time
                pass
    return total


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=500)
    parser.add_argument("--cells", default="RNN,LSTM,GRU")
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 2,
                        help="training processes (default: one per core)")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--recipe", default="tutorial", choices=sorted(RECIPES), help="the service side's recipe")
    args = parser.parse_args()

    ref_cpu = _children_cpu()
    ref = subprocess.run([sys.executable, str(HERE / "reference_tutorial.py"), "--epochs", str(args.epochs),
                          "--cells", args.cells, "--seeds", args.seeds], capture_output=True, text=True, check=True)
    ref_cpu = _children_cpu() - ref_cpu
    print(ref.stdout, end="", flush=True)
    ref_wall = float(re.search(r"^wall_s=([\d.]+)", ref.stdout, re.M).group(1))  # type: ignore[union-attr]
    ref_rss = float(re.search(r"peak_rss_mb=([\d.]+)", ref.stdout).group(1))  # type: ignore[union-attr]
    ref_runs = re.findall(r"ref cell=(\w+) seed=\S+ test_mse=([\d.e+-]+) forecast_mse=([\d.e+-]+)", ref.stdout)
    ref_mse = statistics.fmean(float(test) for _, test, _ in ref_runs)

    with stack(concurrency=args.processes) as s:
        peak = PeakRss(s.workers[0].proc.pid)
        peak.start()
        body = study_body(args.cells, args.seeds, args.epochs)
        if args.recipe != "tutorial":  # the recipe's own epochs per cell
            body["train"] = {"recipe": args.recipe}
        pids = [*(w.proc.pid for w in s.workers), s.api.proc.proc.pid, s.redis.proc.pid]
        cpu_before = tree_cpu(pids)
        view, service_wall = run_comparison(s.api.http, body)
        service_cpu = tree_cpu(pids) - cpu_before
        peak.stopped.set()
        peak.join()
        service_rss = peak.peak_mb
    print(f"worker_main_peak_rss_mb={peak.main_mb:.0f} (the Celery main process: imports torch, forks the "
          f"training processes, trains nothing)")
    for run in view["runs"]:
        print(f"service cell={run['cell']} seed={run['seed']} test_mse={run['final_test_loss']:.3g} "
              f"forecast_mse={run['forecast_mse']:.3g} train_s={run['train_seconds']:.1f}")
    service_mse = statistics.fmean(r["final_test_loss"] for r in view["runs"])
    for cell in args.cells.split(","):  # accuracy, mean over the seeds, side by side
        ref_cell = [(float(t), float(f)) for c, t, f in ref_runs if c == cell]
        ours = [(r["final_test_loss"], r["forecast_mse"]) for r in view["runs"] if r["cell"] == cell]
        print(f"mean cell={cell} n={len(ours)} ref_test_mse={statistics.fmean(t for t, _ in ref_cell):.3g} "
              f"service_test_mse={statistics.fmean(t for t, _ in ours):.3g} "
              f"ref_forecast_mse={statistics.fmean(f for _, f in ref_cell):.3g} "
              f"service_forecast_mse={statistics.fmean(f for _, f in ours):.3g}")
    print(f"train_ratio={service_wall / ref_wall:.3f} reference_s={ref_wall:.1f} service_s={service_wall:.1f} "
          f"ref_test_mse={ref_mse:.3g} service_test_mse={service_mse:.3g} ref_peak_rss_mb={ref_rss:.0f} "
          f"service_peak_rss_mb={service_rss:.0f} cpu_ratio={service_cpu / ref_cpu:.3f} ref_cpu_s={ref_cpu:.1f} "
          f"service_cpu_s={service_cpu:.1f}")
    for cell, t in (view.get("time_to_accuracy") or {}).items():
        print(f"time_to_accuracy cell={cell} epochs={t['epochs']} wall_s={t['wall_seconds']:.1f} "
              f"cpu_s={t['cpu_seconds']:.1f} test_mse={t['test_mse']:.3g}/{t['target_test_mse']:.3g} "
              f"forecast_mse={t['forecast_mse']:.3g}/{t['target_forecast_mse']:.3g} reached={t['reached']}")
    if args.recipe == "fast":
        print(f"fast_cpu_ratio={service_cpu / ref_cpu:.3f} fast_wall_ratio={service_wall / ref_wall:.3f}")


if __name__ == "__main__":
    main()
