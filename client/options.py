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


# Training options beyond the tutorial, shared by `train` and `compare`.
RecipeOpt = Annotated[str | None, typer.Option(
    help="tutorial (the reference loop) or accurate (the per-cell options bench/accuracy.py found best).")]
ScheduleOpt = Annotated[str | None, typer.Option(
    "--lr-schedule", help="constant, cosine, onecycle or plateau (per epoch).")]
MaxLrOpt = Annotated[float | None, typer.Option("--max-lr", help="onecycle's peak rate (default 10 x lr).")]
MinLrOpt = Annotated[float | None, typer.Option("--min-lr", help="cosine's and onecycle's end rate; plateau's floor.")]
WarmupOpt = Annotated[float | None, typer.Option(help="onecycle: share of the epochs spent warming up.")]
FactorOpt = Annotated[float | None, typer.Option(help="plateau: divide the rate by this.")]
PatienceOpt = Annotated[int | None, typer.Option(help="plateau: epochs without a new best test loss.")]
ClipOpt = Annotated[float | None, typer.Option("--grad-clip", help="max global gradient norm.")]
EarlyOpt = Annotated[int | None, typer.Option(
    "--early-stopping-patience", help="stop after this many epochs without test improvement.")]
DeltaOpt = Annotated[float | None, typer.Option(
    "--early-stopping-min-delta", help="the improvement that counts (default 0).")]
RestoreOpt = Annotated[bool | None, typer.Option(
    "--restore-best/--keep-last", help="end with the best epoch's weights (default: with early stopping).")]
RolloutEpochsOpt = Annotated[int | None, typer.Option(
    "--rollout-epochs", help="fine-tune this many epochs on the free-running loss after training.")]
RolloutHorizonOpt = Annotated[int | None, typer.Option("--rollout-horizon", help="rollout steps (default 10).")]
RolloutLrOpt = Annotated[float | None, typer.Option("--rollout-lr", help="fine-tuning rate (default 1e-4).")]
NoiseInOpt = Annotated[float | None, typer.Option("--input-noise-std", help="Gaussian noise on training inputs.")]


def advanced_options(
    recipe: str | None, lr_schedule: str | None, max_lr: float | None, min_lr: float | None,
    warmup_fraction: float | None, factor: float | None, patience: int | None, grad_clip: float | None,
    early_stopping_patience: int | None, early_stopping_min_delta: float | None, restore_best: bool | None,
    rollout_epochs: int | None, rollout_horizon: int | None, rollout_lr: float | None,
    input_noise_std: float | None,
) -> dict[str, Any]:
    """The job fields those options set (None: left to the recipe and the server)."""
    early = None
    if early_stopping_patience is not None or early_stopping_min_delta is not None:
        early = {k: v for k, v in {"patience": early_stopping_patience, "min_delta": early_stopping_min_delta}.items()
                 if v is not None}
    finetune = None
    if rollout_epochs is not None or rollout_horizon is not None or rollout_lr is not None:
        finetune = {k: v for k, v in {"epochs": rollout_epochs, "horizon": rollout_horizon, "lr": rollout_lr}.items()
                    if v is not None}
    return {"recipe": recipe, "lr_schedule": lr_schedule, "max_lr": max_lr, "min_lr": min_lr,
            "warmup_fraction": warmup_fraction, "factor": factor, "patience": patience, "grad_clip": grad_clip,
            "early_stopping": early, "restore_best": restore_best, "rollout_finetune": finetune,
            "input_noise_std": input_noise_std}
