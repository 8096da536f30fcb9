"""Progress bars for the engines of a bundle run (:mod:`microseg.progress`): inputs of an inference or evaluation
run; epochs and iterations of a training run, with the running loss and the last validation metric."""

from __future__ import annotations

import math

from ignite.engine import Engine, Events

from microseg.progress import progress

__all__ = ["EvaluationProgress", "TrainingProgress"]


def _loss(output) -> float | None:
    """The loss of a trainer iteration's output (MONAI: a list of per-sample dicts with ``loss``, or a dict)."""
    item = output[0] if isinstance(output, list | tuple) and output else output
    value = item.get("loss") if isinstance(item, dict) else None
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _validation(evaluator: Engine | None) -> dict[str, str]:
    """``{metric: "last (best best at epoch e)"}`` of the evaluator's key metric, if it ran."""
    state = getattr(evaluator, "state", None)
    name = getattr(state, "key_metric_name", None)
    if state is None or name is None or name not in state.metrics:
        return {}
    text = f"{float(state.metrics[name]):.4f}"
    best, epoch = getattr(state, "best_metric", None), getattr(state, "best_metric_epoch", None)
    if best is not None and epoch is not None and epoch > 0 and math.isfinite(float(best)):
        text += f" (best {float(best):.4f}@{epoch})"
    return {name: text}


class EvaluationProgress:
    """One bar over the iterations of an inference or evaluation engine (one input per iteration).

    Args:
        desc: the bar's label.
        unit: what one iteration is.
        inner: a bar inside another (the validation of a training run): removed when done.
    """

    def __init__(self, desc: str = "segment", unit: str = "input", inner: bool = False) -> None:
        self.desc, self.unit, self.inner = desc, unit, inner
        self.bar = None

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.EPOCH_STARTED, self._start)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self._step)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self.close)

    def _start(self, engine: Engine) -> None:
        self.close()
        self.bar = progress(total=engine.state.epoch_length, desc=self.desc, unit=self.unit, inner=self.inner)

    def _step(self, engine: Engine) -> None:
        if self.bar is not None:
            self.bar.update()

    def close(self, engine: Engine | None = None) -> None:
        """Close the bar (also after a failed run)."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class TrainingProgress:
    """An epoch bar (from the resumed epoch to ``max_epochs``) showing the last epoch's mean loss and the
    validation key metric, and an inner bar over the iterations of the current epoch with the running loss.

    Args:
        evaluator: the validation engine whose key metric is shown (its run is shown as an inner bar too).
    """

    def __init__(self, evaluator: Engine | None = None) -> None:
        self.evaluator = evaluator
        self.epochs = self.iterations = None
        self.losses: list[float] = []
        self.validation = EvaluationProgress("validation", "image", inner=True)

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.STARTED, self._start)
        engine.add_event_handler(Events.EPOCH_STARTED, self._start_epoch)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self._step)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self._end_epoch)
        engine.add_event_handler(Events.COMPLETED, self.close)
        if self.evaluator is not None:
            self.validation.attach(self.evaluator)

    def _start(self, engine: Engine) -> None:
        self.close()
        start = max(0, engine.state.epoch)  # a resumed run starts after its last epoch
        self.epochs = progress(total=engine.state.max_epochs, initial=start, desc="train", unit="epoch")

    def _start_epoch(self, engine: Engine) -> None:
        self.losses = []
        self.iterations = progress(total=engine.state.epoch_length, desc=f"epoch {engine.state.epoch}", inner=True)

    def _step(self, engine: Engine) -> None:
        loss = _loss(engine.state.output)
        if loss is not None:
            self.losses.append(loss)
        if self.iterations is not None:
            self.iterations.update()
            if self.losses:
                self.iterations.set_postfix(loss=f"{sum(self.losses) / len(self.losses):.4f}", refresh=False)

    def _end_epoch(self, engine: Engine) -> None:
        if self.iterations is not None:
            self.iterations.close()
            self.iterations = None
        if self.epochs is not None:
            postfix = {"loss": f"{sum(self.losses) / len(self.losses):.4f}"} if self.losses else {}
            self.epochs.set_postfix({**postfix, **_validation(self.evaluator)}, refresh=False)
            self.epochs.update()

    def close(self, engine: Engine | None = None) -> None:
        """Close the bars (also after a failed or interrupted run)."""
        for bar in (self.iterations, self.epochs):
            if bar is not None:
                bar.close()
        self.iterations = self.epochs = None
        self.validation.close()
