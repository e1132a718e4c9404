"""Core's config defaults and limits are the ones the API and client use (common.defaults)."""

from __future__ import annotations

import pytest

from rnncast.common import defaults as D
from rnncast.core.config import CELLS, DataConfig, ModelConfig, TrainConfig
from rnncast.service.schemas import DataSpec, JobCreate, TrainOptions


def test_core_config_defaults_equal_the_shared_defaults():
    data, model, train = DataConfig(), ModelConfig(), TrainConfig()
    assert (data.amplitude, data.period, data.phase, data.noise_std, data.points, data.stop,
            data.train_fraction) == (D.AMPLITUDE, D.PERIOD, D.PHASE, D.NOISE_STD, D.POINTS, D.STOP,
                                     D.TRAIN_FRACTION)
    assert (model.hidden_size, model.num_layers, model.dropout) == (D.HIDDEN_SIZE, D.NUM_LAYERS, 0.0)
    assert ModelConfig(num_layers=2).dropout == D.STACKED_DROPOUT
    assert (train.epochs, train.batch_size, train.lr, train.sequence_length, train.seed,
            train.checkpoint_every) == (D.EPOCHS, D.BATCH_SIZE, D.LR, D.SEQUENCE_LENGTH, D.SEED,
                                        D.CHECKPOINT_EVERY)
    assert CELLS == D.CELLS


def test_api_schema_defaults_equal_core_defaults():
    api_data, api_train = DataSpec().model_dump(), TrainOptions().model_dump()
    assert {k: v for k, v in api_data.items() if k != "kind"} == {
        k: v for k, v in DataConfig().to_dict().items() if k != "kind"}
    core = ModelConfig().to_dict() | TrainConfig().to_dict()
    for field in ("hidden_size", "num_layers", "epochs", "batch_size", "lr", "sequence_length",
                  "checkpoint_every"):
        assert api_train[field] == core[field], field
    assert JobCreate(cell="GRU").seed == TrainConfig().seed


@pytest.mark.parametrize(("field", "limit"), [("hidden_size", D.MAX_HIDDEN_SIZE), ("num_layers", D.MAX_NUM_LAYERS)])
def test_core_and_api_share_the_model_size_limits(field, limit):
    ModelConfig(**{field: limit})
    with pytest.raises(ValueError, match=rf"{field} \({limit + 1}\)"):
        ModelConfig(**{field: limit + 1})
    schema = TrainOptions.model_json_schema()["properties"][field]
    assert schema["maximum"] == limit
