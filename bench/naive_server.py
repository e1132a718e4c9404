"""A naive forecast server, the baseline: one request at a time, one forward per step.

Loads a checkpoint written by rnncast and serves POST /forecast {"start", "horizon"}
the way the tutorial predicts: a window of one, slid by hand, in the request.
Usage: python bench/naive_server.py MODEL_DIR PORT
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import uvicorn
from fastapi import FastAPI

from rnncast.common.artifacts import LocalStore
from rnncast.core.checkpoint import load_checkpoint
from rnncast.core.forecast import start_window

torch.set_num_threads(1)
ckpt = load_checkpoint(LocalStore(Path(sys.argv[1])), "model")
model = ckpt.build_model()
app = FastAPI()


@app.post("/forecast")
async def forecast(body: dict[str, float]) -> dict[str, list[float]]:
    # async and blocking on purpose: exactly one request is computed at a time.
    window = torch.tensor(start_window(ckpt.data, ckpt.train.sequence_length, body["start"]), dtype=torch.float32)
    out = []
    with torch.no_grad():
        for _ in range(int(body["horizon"])):
            y = model(window.view(1, -1, 1))[0, 0]
            out.append(float(y))
            window = torch.cat([window[1:], y.view(1)])
    return {"y": out}


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
