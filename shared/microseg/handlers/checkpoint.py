"""Resumable training: one checkpoint file rewritten atomically after every epoch, reloaded at start."""

from __future__ import annotations

import logging
import os
import random
from pathlib import Path

import numpy as np
import torch
from ignite.engine import Engine, Events

__all__ = ["TrainingCheckpoint"]

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
        engine.add_event_handler(Events.EPOCH_COMPLETED(every=self.interval), self.save)
        engine.add_event_handler(Events.COMPLETED, self.save)

    def save(self, engine: Engine) -> None:
        if torch.distributed.is_available() and torch.distributed.is_initialized() and torch.distributed.get_rank():
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


def _unwrap(obj):
    return obj.module if isinstance(obj, torch.nn.parallel.DistributedDataParallel) else obj
