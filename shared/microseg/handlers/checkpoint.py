"""Resumable training: one checkpoint file rewritten atomically after every epoch, reloaded at start."""

from __future__ import annotations

import logging
import os
import random
from pathlib import Path

import numpy as np
import torch
from ignite.engine import Engine, Events

__all__ = ["RecordWeights", "TrainingCheckpoint"]

logger = logging.getLogger(__name__)


def _rng_state() -> dict:
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": pos,
            "has_gauss": has_gauss,
            "gauss": gauss,
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def _set_rng_state(state: dict) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class TrainingCheckpoint:
    """Save everything needed to resume training after every ``interval`` epochs, and resume from it.

    The file holds the ``state_dict`` of every object in ``save_dict`` (model, optimizer, scheduler, ...), the
    engine's state (epoch, iteration) and the Python, NumPy and torch random states. It is written to a temporary
    file and renamed, so a run killed while saving keeps the previous checkpoint. With ``resume=True`` and an
    existing file, training continues after the last completed epoch when the engine starts; the same command
    resumes an interrupted run. It is loaded with ``torch.load(weights_only=True)``.

    Args:
        save_dir: folder of the checkpoint.
        save_dict: objects with ``state_dict``/``load_state_dict``, e.g. ``{"model": net, "optimizer": opt}``.
        filename: checkpoint file name.
        resume: load the checkpoint at start when it exists.
        interval: save every ``interval`` epochs (and always after the last one).
        validator: the validation engine; its best metric and epoch are kept across a resume.
        best_saver: MONAI ``CheckpointSaver`` of the best model; its record of the best score is kept across a
            resume, so a resumed run does not overwrite the best model with a worse one.
    """

    def __init__(
        self,
        save_dir: str | os.PathLike,
        save_dict: dict,
        filename: str = "checkpoint_last.pt",
        resume: bool = True,
        interval: int = 1,
        validator: Engine | None = None,
        best_saver=None,
    ) -> None:
        self.path = Path(save_dir) / filename
        self.save_dict, self.resume, self.interval = save_dict, resume, interval
        self.validator = validator
        self.best_tracker = getattr(best_saver, "_key_metric_checkpoint", None)

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.STARTED, self.load)
        engine.add_event_handler(Events.EPOCH_STARTED, self.reseed_transforms)
        engine.add_event_handler(Events.EPOCH_COMPLETED(every=self.interval), self.save)
        engine.add_event_handler(Events.COMPLETED, self.save)

    @staticmethod
    def reseed_transforms(engine: Engine) -> None:
        """Seed the random transforms of the engine's training data from the torch random state at each epoch start.

        The torch state is in the checkpoint, the transforms' own NumPy states are not: with this, epoch ``k`` of a
        resumed run draws the same augmentations as epoch ``k`` of an uninterrupted one. Data loader workers need
        nothing more: PyTorch seeds new workers from the torch state (so the bundles do not keep workers alive
        across epochs, which would carry their random state past a resume). Augmentation done on the device by
        :class:`~microseg.engines.AugmentOnDevice` is reseeded too.
        """
        from monai.data.utils import set_rnd

        loader = getattr(engine, "data_loader", None)
        if loader is not None and getattr(loader, "num_workers", 0) == 0:
            set_rnd(loader.dataset, int(torch.randint(0, 2**31 - 1, ()).item()))
        on_device = getattr(getattr(engine, "prepare_batch", None), "transform", None)  # AugmentOnDevice
        if on_device is not None:
            set_rnd(on_device, int(torch.randint(0, 2**31 - 1, ()).item()))

    def save(self, engine: Engine) -> None:
        if _rank():
            return  # one writer: rank 0
        state = {name: _unwrap(obj).state_dict() for name, obj in self.save_dict.items()}
        state["engine"] = {"epoch": engine.state.epoch, "iteration": engine.state.iteration}
        state["rng"] = _rng_state()
        if self.validator is not None:
            state["validator"] = {
                "best_metric": float(self.validator.state.best_metric),
                "best_metric_epoch": int(self.validator.state.best_metric_epoch),
            }
        if self.best_tracker is not None:
            state["best_saver"] = {
                "_saved": [(float(item.priority), str(item.filename)) for item in self.best_tracker._saved]
            }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".partial")
        torch.save(state, tmp)
        os.replace(tmp, self.path)

    def load(self, engine: Engine) -> None:
        if not (self.resume and self.path.exists()):
            return
        state = torch.load(self.path, map_location="cpu", weights_only=True)
        for name, obj in self.save_dict.items():
            _unwrap(obj).load_state_dict(state[name])
        engine.state.epoch = state["engine"]["epoch"]
        engine.state.iteration = state["engine"]["iteration"]
        _set_rng_state(state["rng"])
        if self.validator is not None and "validator" in state:
            self.validator.state.best_metric = state["validator"]["best_metric"]
            self.validator.state.best_metric_epoch = state["validator"]["best_metric_epoch"]
        if self.best_tracker is not None and "best_saver" in state:
            self.best_tracker.load_state_dict({"_saved": [tuple(item) for item in state["best_saver"]["_saved"]]})
        logger.info("resumed from %s after epoch %d of %s", self.path, engine.state.epoch, engine.state.max_epochs)


class RecordWeights:
    """Keep the bundle's ``large_files.yml`` true to a weight file that training rewrites (the best model saved by
    MONAI's ``CheckpointSaver``): after every epoch of the engine it is attached to (put it after the saver), a
    changed file gets its new SHA-256 recorded (:func:`microseg.bundle.record_weights`), so the bundle's inference
    verifies and accepts the weights you trained. Files the listing does not name are left alone.

    Args:
        path: the weight file, e.g. ``models/model.pt``.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._seen: tuple[int, int] | None = None

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.EPOCH_COMPLETED, self)

    def __call__(self, engine: Engine) -> None:
        if _rank() or not self.path.is_file():
            return
        stat = self.path.stat()
        if (stat.st_size, stat.st_mtime_ns) == self._seen:
            return
        self._seen = (stat.st_size, stat.st_mtime_ns)
        from microseg.bundle import record_weights

        if record_weights(self.path):
            logger.info("%s: new weights; their SHA-256 is now in the bundle's large_files.yml", self.path)


def _rank() -> int:
    distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
    return torch.distributed.get_rank() if distributed else 0


def _unwrap(obj):
    return obj.module if isinstance(obj, torch.nn.parallel.DistributedDataParallel) else obj
