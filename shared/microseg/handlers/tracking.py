"""Record a training run in MLflow: settings, metrics, the best checkpoint and its TorchScript export."""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ignite.engine import Engine, Events

from microseg.handlers.checkpoint import _rank

__all__ = ["MLflowTracker"]

logger = logging.getLogger(__name__)


def _param_value(value: Any) -> str:
    """MLflow parameters are text of at most 6000 characters."""
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 6000 else text[:5997] + "..."


class MLflowTracker:
    """Log a bundle's training run to MLflow, as one run per training command (a resumed training starts a new run
    tagged with the epoch it resumed after).

    * parameters: ``params`` (the bundle's ``tracked_settings``: every setting of ``train.json``, overrides applied);
    * metrics, per epoch (``step`` = epoch): the mean training loss ``train_loss``, the trainer's metrics (throughput
      and data-wait share of :class:`~microseg.handlers.ThroughputMonitor`) and, at each validation, the validator's
      metrics (``val_mean_dice`` ...), with the best value and its epoch as tags at the end;
    * artifacts, at the end: the best checkpoint (``best_checkpoint``, the ``model.pt`` the bundle's inference loads)
      under ``model/``, its TorchScript export with the bundle's metadata and inference config embedded
      (``model/model.ts``, loadable by MONAI Deploy and ``torch.jit.load``), and the bundle's ``configs/`` and
      ``large_files.yml``.

    The store is ``tracking_uri`` (the bundles pass ``$MLFLOW_TRACKING_URI`` when set, else a SQLite file under
    ``output_dir``: no server needed). Only rank 0 of a distributed run logs. Needs ``pip install mlflow``.

    Args:
        tracking_uri: MLflow tracking URI.
        experiment_name: the experiment (created when missing); the bundles use the bundle's folder name.
        params: parameters to log at the start.
        validator: the evaluator whose metrics are logged after each validation.
        best_checkpoint: the weight file the validator's ``CheckpointSaver`` keeps up to date.
        bundle_root: the bundle, for the export and its configs.
        run_name: the run's name (MLflow picks one when ``None``).
        export: also log the TorchScript export of the best checkpoint.
    """

    def __init__(
        self,
        tracking_uri: str,
        experiment_name: str = "microseg",
        params: Mapping[str, Any] | None = None,
        validator: Engine | None = None,
        best_checkpoint: str | os.PathLike | None = None,
        bundle_root: str | os.PathLike | None = None,
        run_name: str | None = None,
        export: bool = True,
    ) -> None:
        self.tracking_uri, self.experiment_name, self.run_name = tracking_uri, experiment_name, run_name
        self.params = dict(params or {})
        self.validator, self.export = validator, export
        self.best_checkpoint = Path(best_checkpoint) if best_checkpoint is not None else None
        self.bundle_root = Path(bundle_root) if bundle_root is not None else None
        self.client = None
        self.run_id: str | None = None
        self._losses: list[float] = []
        self._trainer: Engine | None = None

    def attach(self, engine: Engine) -> None:
        self._trainer = engine
        engine.add_event_handler(Events.STARTED, self.start)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self._collect_loss)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self.log_epoch)
        engine.add_event_handler(Events.COMPLETED, self.complete)
        engine.add_event_handler(Events.EXCEPTION_RAISED, self.fail)
        if self.validator is not None:
            self.validator.add_event_handler(Events.EPOCH_COMPLETED, self.log_validation)

    # --- run life cycle ----------------------------------------------------------------------------------------

    def start(self, engine: Engine) -> None:
        if _rank() or self.run_id is not None:
            return
        import mlflow
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient(self.tracking_uri)
        experiment = self.client.get_experiment_by_name(self.experiment_name)
        experiment_id = (
            experiment.experiment_id if experiment is not None else self.client.create_experiment(self.experiment_name)
        )
        tags = {"microseg.bundle": self.bundle_root.name if self.bundle_root else "", "mlflow.source.type": "JOB"}
        if engine.state.epoch:
            tags["microseg.resumed_after_epoch"] = str(engine.state.epoch)
        run = self.client.create_run(experiment_id, run_name=self.run_name, tags=tags)
        self.run_id = run.info.run_id
        params = [mlflow.entities.Param(str(k), _param_value(v)) for k, v in self.params.items()]
        for first in range(0, len(params), 100):  # MLflow takes at most 100 parameters per batch
            self.client.log_batch(self.run_id, params=params[first : first + 100])
        logger.info("MLflow run %s in experiment %r at %s", self.run_id, self.experiment_name, self.tracking_uri)

    def _log_metrics(self, metrics: Mapping[str, Any], step: int) -> None:
        if self.run_id is None:
            return
        for name, value in metrics.items():
            try:
                number = float(value)
            except (TypeError, ValueError):
                continue  # per-class tensors, dicts: not a scalar metric
            self.client.log_metric(self.run_id, str(name), number, step=step)

    def _collect_loss(self, engine: Engine) -> None:
        output = engine.state.output
        item = output[0] if isinstance(output, list) and output else output
        loss = item.get("loss") if isinstance(item, Mapping) else None
        if loss is not None:
            self._losses.append(float(loss))

    def log_epoch(self, engine: Engine) -> None:
        metrics = dict(engine.state.metrics)
        if self._losses:
            metrics["train_loss"] = sum(self._losses) / len(self._losses)
            self._losses = []
        self._log_metrics(metrics, engine.state.epoch)

    def log_validation(self, validator: Engine) -> None:
        step = self._trainer.state.epoch if self._trainer is not None else validator.state.epoch
        self._log_metrics(validator.state.metrics, step)

    def complete(self, engine: Engine) -> None:
        if self.run_id is None:
            return
        if self.validator is not None and getattr(self.validator.state, "best_metric_epoch", -1) > 0:
            self.client.set_tag(self.run_id, "best_metric", str(self.validator.state.best_metric))
            self.client.set_tag(self.run_id, "best_metric_epoch", str(self.validator.state.best_metric_epoch))
        self._log_artifacts()
        self.client.set_terminated(self.run_id, "FINISHED")
        logger.info("MLflow run %s finished", self.run_id)
        self.run_id = None

    def fail(self, engine: Engine, error: BaseException) -> None:
        if self.run_id is not None:
            self.client.set_terminated(self.run_id, "FAILED")
            self.run_id = None
        raise error

    def _log_artifacts(self) -> None:
        if self.bundle_root is not None:
            self.client.log_artifacts(self.run_id, str(self.bundle_root / "configs"), "configs")
            listing = self.bundle_root / "large_files.yml"
            if listing.is_file():
                self.client.log_artifact(self.run_id, str(listing))
        if self.best_checkpoint is None or not self.best_checkpoint.is_file():
            logger.warning("MLflow: no best checkpoint at %s (no validation ran?); none logged", self.best_checkpoint)
            return
        self.client.log_artifact(self.run_id, str(self.best_checkpoint), "model")
        if self.export and self.bundle_root is not None:
            with tempfile.TemporaryDirectory() as folder:
                for path in self._exports(Path(folder)):
                    self.client.log_artifact(self.run_id, str(path), "model")

    def _exports(self, folder: Path) -> Sequence[Path]:
        from microseg.export import export_torchscript

        try:
            return [export_torchscript(self.bundle_root, folder / "model.ts", weights=self.best_checkpoint)]
        except Exception as error:  # a failed export must not lose the run; the checkpoint is logged already
            logger.warning("MLflow: TorchScript export of %s failed (%s); not logged", self.best_checkpoint, error)
            return []
