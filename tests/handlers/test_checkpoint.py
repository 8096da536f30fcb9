"""An interrupted run resumed from TrainingCheckpoint ends with the same weights as an uninterrupted one."""

from __future__ import annotations

import torch
from ignite.engine import Engine, Events

from microseg.handlers import TrainingCheckpoint


def _trainer(tmp_path, resume=True):
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 1, 0.5)

    def step(engine, _):
        x = torch.randn(4, 3)  # random data: the random state must be restored too
        optimizer.zero_grad()
        loss = (model(x) - x.sum(1, keepdim=True)).pow(2).mean()
        loss.backward()
        optimizer.step()
        return loss.item()

    engine = Engine(step)
    engine.add_event_handler(Events.EPOCH_COMPLETED, lambda _: scheduler.step())
    TrainingCheckpoint(
        tmp_path, {"model": model, "optimizer": optimizer, "scheduler": scheduler}, resume=resume
    ).attach(engine)
    return engine, model


def test_resume_matches_uninterrupted(tmp_path):
    engine, reference = _trainer(tmp_path / "a", resume=False)
    engine.run(range(5), max_epochs=4)

    engine, _ = _trainer(tmp_path / "b")
    engine.add_event_handler(Events.EPOCH_COMPLETED(once=2), lambda e: e.terminate())  # "killed" after epoch 2
    engine.run(range(5), max_epochs=4)
    assert (tmp_path / "b" / "checkpoint_last.pt").is_file()

    engine, resumed = _trainer(tmp_path / "b")  # the same command again
    state = engine.run(range(5), max_epochs=4)
    assert state.epoch == 4 and state.iteration == 20
    for a, b in zip(reference.parameters(), resumed.parameters(), strict=True):
        torch.testing.assert_close(a, b)


def test_checkpoint_loads_with_weights_only(tmp_path):
    engine, _ = _trainer(tmp_path)
    engine.run(range(2), max_epochs=1)
    state = torch.load(tmp_path / "checkpoint_last.pt", weights_only=True)
    assert state["engine"] == {"epoch": 1, "iteration": 2} and {"model", "optimizer", "rng"} <= set(state)
