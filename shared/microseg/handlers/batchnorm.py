"""Precise batch-norm statistics before validation."""

from __future__ import annotations

import itertools
import logging

import torch
from ignite.engine import Engine, Events

__all__ = ["PreciseBatchNorm"]

logger = logging.getLogger(__name__)


class PreciseBatchNorm:
    """Recompute the running mean and variance of every batch norm as the plain average over ``num_batches``
    training batches (weights fixed, no gradients), every ``interval`` epochs, before validation and checkpointing.

    Batch norm's running statistics are an exponential average taken while the weights change; in a deep network
    trained for few iterations at a high learning rate (DeepEM3D: batch norm after every Inception block) they lag
    the weights so much that the network in eval mode predicts nothing, while in train mode it segments well.
    Averaging over batches of the final weights ("PreciseBN": Wu and Johnson, "Rethinking 'Batch' in BatchNorm",
    2021, https://arxiv.org/abs/2105.07576) removes the lag. Attach it before the ``ValidationHandler``.

    Args:
        network: the trained network (a ``DistributedDataParallel`` wrapper is unwrapped).
        num_batches: training batches averaged.
        interval: every this many epochs (use the validation interval).
        loader: batches to average over (default: the trainer's data loader).
    """

    def __init__(self, network: torch.nn.Module, num_batches: int = 8, interval: int = 1, loader=None) -> None:
        self.network = getattr(network, "module", network)
        self.num_batches, self.interval, self.loader = int(num_batches), int(interval), loader

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.EPOCH_COMPLETED(every=self.interval), self)

    def __call__(self, engine: Engine) -> None:
        norms = [m for m in self.network.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
        if not norms:
            return
        momenta = [m.momentum for m in norms]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # cumulative average
        was_training = self.network.training
        self.network.train()
        loader = self.loader if self.loader is not None else engine.data_loader
        seen = 0
        with torch.no_grad():
            for batch in itertools.islice(loader, self.num_batches):
                inputs, _ = engine.prepare_batch(batch, engine.state.device, engine.non_blocking)
                self.network(inputs)
                seen += 1
        for m, momentum in zip(norms, momenta, strict=True):
            m.momentum = momentum
        self.network.train(was_training)
        logger.info("batch-norm statistics of %d layers recomputed over %d batches", len(norms), seen)
