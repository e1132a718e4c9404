"""Turning a job's stored params (JSON) into core configs."""

from __future__ import annotations

from typing import Any

from rnncast.core.config import AnyData, ModelConfig, TrainConfig, data_config


def configs_from_params(params: dict[str, Any]) -> tuple[ModelConfig, AnyData, TrainConfig]:
    """The model, data and training configs a job's effective params describe."""
    model = ModelConfig(
        cell=params["cell"], hidden_size=params["hidden_size"],
        num_layers=params["num_layers"], dropout=params["dropout"],
    )
    data = data_config(params["data"])
    train = TrainConfig(
        epochs=params["epochs"], batch_size=params["batch_size"], lr=params["lr"],
        sequence_length=params["sequence_length"], seed=params["seed"],
        checkpoint_every=params["checkpoint_every"],
        # Params without the field mean whole batches, TrainConfig's own default.
        micro_batch_size=params.get("micro_batch_size", TrainConfig.micro_batch_size),
        **training_options(params),
    )
    return model, data, train


def training_options(params: dict[str, Any]) -> dict[str, Any]:
    """The options beyond the tutorial as TrainConfig fields (params from before they existed get the defaults)."""
    early = params.get("early_stopping") or {}
    finetune = params.get("rollout_finetune") or {}
    optional = {
        "lr_schedule": params.get("lr_schedule"), "max_lr": params.get("max_lr"), "min_lr": params.get("min_lr"),
        "warmup_fraction": params.get("warmup_fraction"), "factor": params.get("factor"),
        "patience": params.get("patience"), "early_stopping_patience": early.get("patience"),
        "early_stopping_min_delta": early.get("min_delta"), "restore_best": params.get("restore_best"),
        "rollout_epochs": finetune.get("epochs"), "rollout_horizon": finetune.get("horizon"),
        "rollout_lr": finetune.get("lr"), "input_noise_std": params.get("input_noise_std"),
    }
    options = {k: v for k, v in optional.items() if v is not None}
    options["grad_clip"] = params.get("grad_clip")
    return options
