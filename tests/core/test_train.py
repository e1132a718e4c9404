import pytest
import torch

from rnncast.common.artifacts import LocalStore
from rnncast.common.defaults import CELLS
from rnncast.common.options import ModelOptions, SineData, TrainOptions
from rnncast.core.checkpoint import load_checkpoint, save_checkpoint
from rnncast.core.models import Forecaster, parameter_count
from rnncast.core.train import train

DATA = SineData(points=400, stop=200)
TRAIN = TrainOptions(epochs=6, batch_size=64, sequence_length=20, lr=0.01, seed=3)


@pytest.mark.parametrize("cell", CELLS)
def test_each_cell_trains_and_test_loss_falls(cell):
    result = train(ModelOptions(cell=cell, hidden_size=8), DATA, TRAIN)
    assert len(result.history["train_loss"]) == len(result.history["test_loss"]) == 6
    assert result.history["test_loss"][-1] < result.history["test_loss"][0]
    out = result.model(torch.zeros(5, 20, 1))
    assert out.shape == (5, 1)


def test_parameter_counts_match_torch_layers():
    # LSTM: 4 gates * (H*1 + H*H + 2H) + Linear(H,1)
    assert parameter_count(Forecaster(ModelOptions(cell="LSTM", hidden_size=20))) == 4 * (20 + 400 + 40) + 21
    assert parameter_count(Forecaster(ModelOptions(cell="RNN", hidden_size=20))) == 20 + 400 + 40 + 21


def test_same_seed_gives_identical_weights_and_other_seed_differs():
    cfg = ModelOptions(cell="GRU", hidden_size=8, num_layers=2)
    a = train(cfg, DATA, TRAIN).model.state_dict()
    b = train(cfg, DATA, TRAIN).model.state_dict()
    c = train(cfg, DATA, TrainOptions(**(TRAIN.to_dict() | {"seed": 4}))).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_training_leaves_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    train(ModelOptions(cell="RNN", hidden_size=4), DATA, TrainOptions(**(TRAIN.to_dict() | {"epochs": 1})))
    assert torch.equal(torch.rand(3), expected)


def test_on_epoch_end_reports_every_epoch_and_can_stop():
    seen = []

    def on_epoch_end(report):
        seen.append((report.epoch, report.epochs))
        return report.epoch == 2

    result = train(ModelOptions(cell="RNN", hidden_size=4), DATA, TRAIN, on_epoch_end=on_epoch_end)
    assert seen == [(1, 6), (2, 6)]
    assert result.stopped and result.epochs_completed == 2
    assert len(result.history["test_loss"]) == 2


@pytest.mark.parametrize("cell", CELLS)
def test_micro_batches_make_the_same_updates_as_whole_batches(cell):
    model = ModelOptions(cell=cell, hidden_size=8)
    whole = train(model, DATA, TRAIN)
    # Not smaller than a batch: one pass per batch, the very same run.
    same = train(model, DATA, TrainOptions(**(TRAIN.to_dict() | {"micro_batch_size": TRAIN.batch_size})))
    assert same.history == whole.history
    # 64-row batches as passes of 22/21/21 rows, the last 48-row batch as 24/24: the same
    # update but for float rounding, so the runs stay together.
    split = train(model, DATA, TrainOptions(**(TRAIN.to_dict() | {"micro_batch_size": 25})))
    assert split.history != whole.history  # the passes did run
    for key in ("train_loss", "test_loss"):
        assert split.history[key] == pytest.approx(whole.history[key], rel=1e-3)
    for name, value in whole.model.state_dict().items():
        torch.testing.assert_close(split.model.state_dict()[name], value, rtol=1e-3, atol=1e-4)


def test_micro_batch_size_must_not_be_negative():
    with pytest.raises(ValueError, match="micro_batch_size"):
        TrainOptions(micro_batch_size=-1)


@pytest.mark.parametrize(("num_layers", "micro"), [(1, 0), (2, 0), (1, 25)])
def test_resume_after_k_epochs_equals_uninterrupted_run(tmp_path, num_layers, micro):
    cfg = ModelOptions(cell="LSTM", hidden_size=8, num_layers=num_layers)
    train_cfg = TrainOptions(**(TRAIN.to_dict() | {"checkpoint_every": 2, "micro_batch_size": micro}))
    full = train(cfg, DATA, train_cfg)

    def save(state):
        save_checkpoint(
            LocalStore(tmp_path), f"e{state.epoch}", model=state.model, data=DATA, train=train_cfg,
            epoch=state.epoch, history=state.history, optimizer=state.optimizer,
        )

    train(cfg, DATA, train_cfg, on_checkpoint=save, on_epoch_end=lambda r: r.epoch == 4)
    resumed = train(cfg, DATA, train_cfg, resume=load_checkpoint(LocalStore(tmp_path), "e4"))
    assert resumed.resumed_from_epoch == 4
    assert resumed.history == full.history
    sd_full, sd_res = full.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(sd_full[k], sd_res[k]) for k in sd_full)
