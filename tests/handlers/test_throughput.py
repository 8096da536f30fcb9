"""ThroughputMonitor: samples per second and the share of the epoch spent waiting for the data loader."""

from __future__ import annotations

import time

import pytest
import torch
from ignite.engine import Engine

from conftest import BUNDLES
from microseg.bundle import load_parser
from microseg.handlers import ThroughputMonitor


class SlowData:
    """Three batches of two samples, each taking ``delay`` seconds to load."""

    def __init__(self, delay: float) -> None:
        self.delay = delay

    def __iter__(self):
        for _ in range(3):
            time.sleep(self.delay)
            yield {"image": torch.zeros(2, 1, 4, 4)}


@pytest.mark.parametrize(("load", "step", "low", "high"), [(0.06, 0.02, 0.6, 0.9), (0.0, 0.04, 0.0, 0.2)])
def test_wait_fraction_follows_the_loader(load, step, low, high):
    engine = Engine(lambda e, batch: time.sleep(step))
    monitor = ThroughputMonitor()
    monitor.attach(engine)
    engine.run(SlowData(load), max_epochs=2)
    assert [h["epoch"] for h in monitor.history] == [1, 2]
    last = monitor.history[-1]
    assert last["samples"] == 6
    assert low <= last["data_wait_fraction"] <= high
    assert last["samples_per_second"] == pytest.approx(6 / last["seconds"])
    assert engine.state.metrics["data_wait_fraction"] == last["data_wait_fraction"]


@pytest.mark.parametrize(
    "bundle", sorted(p.name for p in BUNDLES.iterdir() if (p / "configs" / "train.json").is_file())
)
def test_every_trainer_reports_its_throughput(bundle):
    handlers = load_parser(BUNDLES / bundle, "train.json").get("train#handlers")
    assert handlers[0] == {"_target_": "microseg.handlers.ThroughputMonitor"}, "first, so its metrics are logged"
