"""The peer: the same checkpoint served with LitServe, as its docs show a batched model served.

One CPU inference worker, `max_batch_size` 64, `batch_timeout` 5 ms. The rollout
is written as a competent user would: per batch, one forward of the whole
(B, T, 1) window per step, then slide. Answers {"start", "horizon"} with the
same fields as rnncast (x, y, exact, mse, max_abs_error).
Usage: python bench/litserve_peer.py MODEL_DIR PORT
"""

from __future__ import annotations

import sys
from pathlib import Path

import litserve as ls
import numpy as np
import torch

from rnncast.common.artifacts import LocalStore
from rnncast.core.checkpoint import load_checkpoint
from rnncast.core.data import exact
from rnncast.core.forecast import forecast_times, start_window


class ForecastAPI(ls.LitAPI):
    def setup(self, device: str) -> None:
        torch.set_num_threads(1)
        self.ckpt = load_checkpoint(LocalStore(Path(sys.argv[1])), "model")
        self.model = self.ckpt.build_model(device)
        self.seq = self.ckpt.train.sequence_length

    def decode_request(self, request: dict) -> tuple[float, int]:
        return float(request["start"]), int(request["horizon"])

    def batch(self, inputs: list[tuple[float, int]]) -> tuple[list[float], torch.Tensor, int]:
        starts = [s for s, _ in inputs]
        windows = np.stack([start_window(self.ckpt.data, self.seq, s) for s in starts])
        return starts, torch.tensor(windows, dtype=torch.float32), max(h for _, h in inputs)

    def predict(self, batch: tuple[list[float], torch.Tensor, int]) -> list[tuple[float, np.ndarray]]:
        starts, window, horizon = batch
        out = []
        with torch.inference_mode():
            for _ in range(horizon):
                y = self.model(window.unsqueeze(-1))  # (B, 1)
                out.append(y)
                window = torch.cat([window[:, 1:], y], dim=1)
        preds = torch.cat(out, dim=1).double().numpy()  # (B, H)
        return list(zip(starts, preds, strict=True))

    def unbatch(self, output: list) -> list:
        return output

    def encode_response(self, output: tuple[float, np.ndarray]) -> dict:
        start, preds = output
        x = forecast_times(self.ckpt.data, start, preds.shape[0])
        truth = exact(self.ckpt.data, x)
        err = preds - truth
        return {"x": x.tolist(), "y": preds.tolist(), "exact": truth.tolist(), "mse": float(np.mean(err**2)),
                "max_abs_error": float(np.max(np.abs(err)))}


if __name__ == "__main__":
    api = ForecastAPI(max_batch_size=64, batch_timeout=0.005, api_path="/forecast")
    server = ls.LitServer(api, accelerator="cpu", devices=1, workers_per_device=1, timeout=60)
    server.run(host="127.0.0.1", port=int(sys.argv[2]), generate_client_file=False, log_level="warning")
