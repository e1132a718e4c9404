"""The tutorial's procedure, re-implemented from its description, as the bar to beat.

Per-sample Dataset through DataLoaders (train batch 500 in order, test batch
200 shuffled), a test pass after every epoch with autograd on, losses read
with .item() per batch, the cells one after another, default torch threads,
hidden 20, Adam lr 1e-3, MSE. The forecast is scored like rnncast's (start
123, horizon 100, on the signal's own step) so the two compare.
Prints one line per cell, then: wall_s=.. peak_rss_mb=..
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from rnncast.common.options import SineData
from rnncast.core.data import series
from rnncast.core.forecast import forecast_from_starts


class SineWindows(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """One (window, next value) pair per index, built on every access."""

    def __init__(self, values: np.ndarray, length: int) -> None:
        self.values, self.length = values, length

    def __len__(self) -> int:
        return len(self.values) - self.length

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.tensor(self.values[i : i + self.length], dtype=torch.float32).unsqueeze(-1)
        y = torch.tensor([self.values[i + self.length]], dtype=torch.float32)
        return x, y


class Simple(nn.Module):
    def __init__(self, cell: str, hidden: int = 20) -> None:
        super().__init__()
        self.rnn = getattr(nn, cell)(input_size=1, hidden_size=hidden, num_layers=1, batch_first=True)
        self.fc = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)
        return self.fc(out[:, -1, :])


def run(cell: str, epochs: int) -> tuple[float, float, float]:
    data = SineData()
    values = series(data)
    windows = SineWindows(values, 80)
    n_train = int(len(windows) * 0.8)
    train_set = torch.utils.data.Subset(windows, range(n_train))
    test_set = torch.utils.data.Subset(windows, range(n_train, len(windows)))
    train_loader = DataLoader(train_set, batch_size=500, shuffle=False)
    test_loader = DataLoader(test_set, batch_size=200, shuffle=True)
    model = Simple(cell)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.MSELoss()
    t0 = time.perf_counter()
    test_loss = float("nan")
    for _ in range(epochs):
        model.train()
        for x, y in train_loader:
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            loss.item()
        model.eval()
        total, count = 0.0, 0
        for x, y in test_loader:
            total += loss_fn(model(x), y).item() * len(x)
            count += len(x)
        test_loss = total / count
    wall = time.perf_counter() - t0
    fc = forecast_from_starts(model, data, 80, [123.0], 100)[0]
    return wall, test_loss, float(fc.mse or 0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=500)
    parser.add_argument("--cells", default="RNN,LSTM,GRU")
    parser.add_argument("--seeds", default="", help="comma-separated torch seeds, one study each (default: unseeded)")
    args = parser.parse_args()
    t0 = time.perf_counter()
    for seed in args.seeds.split(",") if args.seeds else [""]:
        for cell in args.cells.split(","):
            if seed:  # the tutorial does not seed; seeding makes runs comparable, not faster
                torch.manual_seed(int(seed))
            wall, test_mse, forecast_mse = run(cell, args.epochs)
            print(f"ref cell={cell} seed={seed or 'none'} test_mse={test_mse:.3g} forecast_mse={forecast_mse:.3g} "
                  f"wall_s={wall:.1f}", flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"wall_s={time.perf_counter() - t0:.1f} peak_rss_mb={peak:.0f}")


if __name__ == "__main__":
    main()
