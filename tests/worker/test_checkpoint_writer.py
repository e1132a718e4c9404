"""The resume checkpoint writer against a store that fails the way a network store does."""

from __future__ import annotations

import threading

from rnncast.common.artifacts import LocalStore, StoreUnavailable
from rnncast.common.options import from_params
from rnncast.core.checkpoint import Packed, load_checkpoint, pack_checkpoint
from rnncast.core.train import train
from rnncast.worker.checkpoints import PINNED, CheckpointWriter, pinned_digests
from rnncast.worker.training import RESUME_NAME
from tests.support import wait_until
from tests.worker.test_training import PARAMS


class LosesAnAnswer(LocalStore):
    """Takes the first manifest write but loses its answer (the store went down as it answered),
    then refuses every write until `up` is set."""

    def __init__(self, root, up: threading.Event) -> None:
        super().__init__(root)
        self.up, self.lost, self.refused = up, False, 0

    def put(self, key, data):
        if not self.lost and key.endswith(".json"):
            super().put(key, data)
            self.lost = True
            raise StoreUnavailable("the connection closed before the answer")
        if self.lost and not self.up.is_set():
            self.refused += 1
            raise StoreUnavailable("connection refused")
        return super().put(key, data)


def two_checkpoints() -> list[Packed]:
    model_cfg, data_cfg, train_cfg = from_params(PARAMS)  # 4 epochs, a checkpoint every 2
    packed: list[Packed] = []
    train(model_cfg, data_cfg, train_cfg, on_checkpoint=lambda s: packed.append(pack_checkpoint(
        RESUME_NAME, model=s.model, data=data_cfg, train=train_cfg, epoch=s.epoch, history=s.history,
        optimizer=s.optimizer)))
    assert len(packed) == 2 and packed[0].sha256 != packed[1].sha256
    return packed


def started(tmp_path, up: threading.Event) -> tuple[LosesAnAnswer, CheckpointWriter, dict[str, str], list[Packed]]:
    """A writer whose first checkpoint landed unanswered, with a newer one submitted while the store is down."""
    first, second = packs = two_checkpoints()
    store, pins = LosesAnAnswer(tmp_path / "store", up), {}
    writer = CheckpointWriter(store, "t", pin=lambda field, digest: bool(pins.update({field: digest})) or True)
    writer.start()
    writer.submit(first)
    wait_until(lambda: store.lost, timeout=10)
    writer.submit(second)
    wait_until(lambda: store.refused >= 2, timeout=30)  # tried again (and refused) after the newer one came
    return store, writer, pins, packs


def test_a_write_whose_answer_was_lost_stays_pinned_through_an_outage(tmp_path):
    store, writer, pins, (first, _) = started(tmp_path, threading.Event())
    assert writer.close(drain=True, timeout=0.5) is False  # still down
    held = load_checkpoint(store, RESUME_NAME).info
    assert held is not None and held.sha256 == first.sha256
    # A resume accepts what the store holds: the job pinned it (it used to pin only the newer one).
    assert held.sha256 in pinned_digests(pins)


def test_after_the_outage_the_newest_checkpoint_is_written_and_pinned(tmp_path):
    up = threading.Event()
    store, writer, pins, (_, second) = started(tmp_path, up)
    up.set()
    assert writer.close(drain=True, timeout=30) is True
    held = load_checkpoint(store, RESUME_NAME).info
    assert held is not None and held.sha256 == second.sha256 == pins[PINNED]
    assert writer.written == 2
