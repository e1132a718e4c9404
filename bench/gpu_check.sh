#!/usr/bin/env bash
# GPU check (under 5 minutes on one CUDA GPU): the 3-cell x 500-epoch comparison
# through core on CUDA, wall time per cell and in total, peak GPU memory.
# Run from the repository root on a machine with CUDA and torch installed:
#   bash bench/gpu_check.sh [EPOCHS]
set -euo pipefail
cd "$(dirname "$0")/.."
EPOCHS="${1:-500}"
PYTHON="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
PYTHONPATH="${PYTHONPATH:-}:$(pwd)" "$PYTHON" - "$EPOCHS" <<'PY'
import sys, time
import torch
from rnncast.core.config import DataConfig, ModelConfig, TrainConfig
from rnncast.core.device import resolve_device
from rnncast.core.forecast import forecast_from_starts
from rnncast.core.train import train

epochs = int(sys.argv[1])
device = resolve_device("cuda")
print(f"device={torch.cuda.get_device_name(device)} torch={torch.__version__}", flush=True)
torch.cuda.reset_peak_memory_stats(device)
total = 0.0
for cell in ("RNN", "LSTM", "GRU"):
    torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    result = train(ModelConfig(cell=cell), DataConfig(), TrainConfig(epochs=epochs), device=device)
    torch.cuda.synchronize(device)
    wall = time.perf_counter() - t0
    total += wall
    fc = forecast_from_starts(result.model, DataConfig(), 80, [123.0], 100)[0]
    print(f"cell={cell} epochs={epochs} wall_s={wall:.1f} test_mse={result.final_test_loss:.3g} "
          f"forecast_mse={fc.mse:.3g}", flush=True)
peak = torch.cuda.max_memory_allocated(device) / 2**20
print(f"gpu_total_s={total:.1f} peak_gpu_mem_mb={peak:.1f}")
PY
