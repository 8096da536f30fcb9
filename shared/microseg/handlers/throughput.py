"""How fast a trainer goes, and how much of its time it waits for data."""

from __future__ import annotations

import logging
import time

import torch
from ignite.engine import Engine, Events

__all__ = ["ThroughputMonitor"]

logger = logging.getLogger(__name__)


def _batch_size(batch) -> int:
    """Samples in a batch: the first dimension of its image tensor (or of its first value), or its length."""
    if isinstance(batch, dict):
        batch = batch.get("image", next(iter(batch.values()), None))
    if isinstance(batch, torch.Tensor):
        return int(batch.shape[0]) if batch.ndim else 1
    return len(batch) if isinstance(batch, (list, tuple)) else 1


class ThroughputMonitor:
    """Per epoch: samples per second and the share of the epoch's time spent waiting for the data loader.

    The wait is the time from ``GET_BATCH_STARTED`` to ``GET_BATCH_COMPLETED`` (the loader's ``next``). On a CUDA
    device the queued GPU work is finished first (``torch.cuda.synchronize`` at ``GET_BATCH_STARTED``), so the wait
    is time in which the GPU has nothing to do: the "GPU waits for data" figure. The cost is that the host can no
    longer queue the next step while the GPU finishes the last one, a few percent for small networks; pass
    ``synchronize=False`` to measure host-side waiting only.

    At each epoch end the figures are logged and stored in ``engine.state.metrics`` as ``samples_per_second`` and
    ``data_wait_fraction`` (so that TensorBoard and MLflow handlers record them), and in ``self.history``.

    Args:
        synchronize: finish queued CUDA work before timing the loader (see above).
    """

    def __init__(self, synchronize: bool = True) -> None:
        self.synchronize = synchronize
        self.history: list[dict] = []
        self._epoch_start = self._batch_start = 0.0
        self._wait = 0.0
        self._samples = 0

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.EPOCH_STARTED, self.epoch_started)
        engine.add_event_handler(Events.GET_BATCH_STARTED, self.batch_started)
        engine.add_event_handler(Events.GET_BATCH_COMPLETED, self.batch_completed)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self.epoch_completed)

    def _sync(self, engine: Engine) -> None:
        device = getattr(engine.state, "device", None)  # MONAI workflows keep their device in the state
        if self.synchronize and isinstance(device, torch.device) and device.type == "cuda":
            torch.cuda.synchronize(device)

    def epoch_started(self, engine: Engine) -> None:
        self._sync(engine)
        self._wait, self._samples = 0.0, 0
        self._epoch_start = time.perf_counter()

    def batch_started(self, engine: Engine) -> None:
        self._sync(engine)
        self._batch_start = time.perf_counter()

    def batch_completed(self, engine: Engine) -> None:
        self._wait += time.perf_counter() - self._batch_start
        self._samples += _batch_size(engine.state.batch)

    def epoch_completed(self, engine: Engine) -> None:
        self._sync(engine)
        seconds = max(time.perf_counter() - self._epoch_start, 1e-9)
        figures = {
            "epoch": engine.state.epoch,
            "seconds": seconds,
            "samples": self._samples,
            "samples_per_second": self._samples / seconds,
            "data_wait_seconds": self._wait,
            "data_wait_fraction": self._wait / seconds,
        }
        self.history.append(figures)
        engine.state.metrics["samples_per_second"] = figures["samples_per_second"]
        engine.state.metrics["data_wait_fraction"] = figures["data_wait_fraction"]
        logger.info(
            "epoch %d: %.1f samples/s, waited for data %.1f%% of the time (%.1f s of %.1f s)",
            engine.state.epoch,
            figures["samples_per_second"],
            100 * figures["data_wait_fraction"],
            self._wait,
            seconds,
        )
