"""Command-line options shared by the client commands."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from rnncast.common import defaults as D

UrlOpt = Annotated[str | None, typer.Option("--url", help="API address (default: RNNCAST_URL).")]
KeyOpt = Annotated[str | None, typer.Option("--api-key", help="API key (default: RNNCAST_API_KEY).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print raw JSON for scripts.")]
WatchOpt = Annotated[bool, typer.Option("--watch", help="Show live progress until it ends.")]



# Training options shared by `train` and `compare`.
def train_options(
    hidden_size: int | None, num_layers: int | None, dropout: float | None, epochs: int | None,
    batch_size: int | None, lr: float | None, sequence_length: int | None, checkpoint_every: int | None,
    noise_std: float | None, points: int | None, micro_batch_size: int | None, dataset: str | None = None,
) -> dict[str, Any]:
    data: dict[str, Any] = {k: v for k, v in {"noise_std": noise_std, "points": points}.items() if v is not None}
    if dataset is not None:
        if data:
            raise typer.BadParameter("--noise-std and --points shape the sine: they do not apply with --dataset")
        data = {"dataset_id": dataset}
    return {"hidden_size": hidden_size, "num_layers": num_layers, "dropout": dropout, "epochs": epochs,
            "batch_size": batch_size, "lr": lr, "sequence_length": sequence_length,
            "checkpoint_every": checkpoint_every, "micro_batch_size": micro_batch_size, "data": data or None}


HiddenOpt = Annotated[int | None, typer.Option(help=f"Hidden units (default {D.HIDDEN_SIZE}).")]
LayersOpt = Annotated[int | None, typer.Option(help=f"Recurrent layers (default {D.NUM_LAYERS}).")]
DropoutOpt = Annotated[float | None, typer.Option(
    help=f"Dropout between layers (default: 0, or {D.STACKED_DROPOUT} if stacked).")]
EpochsOpt = Annotated[int | None, typer.Option(help=f"Epochs (default {D.EPOCHS}).")]
BatchOpt = Annotated[int | None, typer.Option(help=f"Batch size (default {D.BATCH_SIZE}).")]
LrOpt = Annotated[float | None, typer.Option(help=f"Adam learning rate (default {D.LR:g}).")]
SeqOpt = Annotated[int | None, typer.Option(help=f"Window length (default {D.SEQUENCE_LENGTH}).")]
CkptOpt = Annotated[int | None, typer.Option(help=f"Checkpoint every N epochs (default {D.CHECKPOINT_EVERY}).")]
NoiseOpt = Annotated[float | None, typer.Option(help=f"Noise std of the training signal (default {D.NOISE_STD:g}).")]
PointsOpt = Annotated[int | None, typer.Option(help=f"Samples of the training signal (default {D.POINTS}).")]
MicroOpt = Annotated[int | None, typer.Option(
    help="Rows per forward/backward pass, gradients summed over a batch's passes; 0: whole batch (default: "
    + ", ".join(f"{n} for {cell}" for cell, n in D.MICRO_BATCH_SIZE.items()) + ").")]

DatasetOpt = Annotated[str | None, typer.Option(
    "--dataset", help="Train on this dataset (its id) instead of the sine.")]
