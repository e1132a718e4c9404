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
    )
    return model, data, train
