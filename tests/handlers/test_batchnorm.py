"""PreciseBatchNorm: running statistics become the plain average over training batches."""

from __future__ import annotations

import torch
from ignite.engine import Engine
from monai.engines import default_prepare_batch

from microseg.handlers import PreciseBatchNorm


def test_running_statistics_are_the_average_over_the_batches_and_weights_stay():
    torch.manual_seed(0)
    network = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 1), torch.nn.BatchNorm2d(2))
    batches = [{"image": torch.randn(4, 1, 8, 8) * (i + 1) + i, "label": torch.zeros(4, 1, 8, 8)} for i in range(3)]
    engine = Engine(lambda e, b: None)
    engine.data_loader, engine.prepare_batch, engine.non_blocking = batches, default_prepare_batch, False
    engine.state.device = torch.device("cpu")
    weights = [p.clone() for p in network.parameters()]
    network.eval()
    PreciseBatchNorm(network, num_batches=3)(engine)
    with torch.no_grad():
        features = [network[0](b["image"]) for b in batches]
    means = torch.stack([f.mean((0, 2, 3)) for f in features])
    variances = torch.stack([f.var((0, 2, 3), unbiased=True) for f in features])
    norm = network[1]
    torch.testing.assert_close(norm.running_mean, means.mean(0))
    torch.testing.assert_close(norm.running_var, variances.mean(0))
    assert not network.training and norm.momentum == 0.1
    assert all(torch.equal(a, b) for a, b in zip(weights, network.parameters(), strict=True))
