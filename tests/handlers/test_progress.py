"""Progress bars of the engines a bundle run starts: attached from the config's ``run`` expressions, quiet unless
turned on, with the running loss and the validation key metric."""

from __future__ import annotations

from types import SimpleNamespace

from ignite.engine import Engine
from monai.bundle import ConfigParser

from microseg.cli import _attach_progress
from microseg.handlers.progress import EvaluationProgress, TrainingProgress
from microseg.progress import show_progress


def _trainer() -> Engine:
    return Engine(lambda engine, batch: [{"loss": float(batch)}])


def test_training_bar_shows_loss_and_validation_metric(capsys):
    evaluator = SimpleNamespace(
        state=SimpleNamespace(key_metric_name="val_mean_dice", metrics={"val_mean_dice": 0.5}, best_metric=0.75)
    )
    evaluator.state.best_metric_epoch = 1
    show_progress(True)
    try:
        bars = TrainingProgress(evaluator)  # a stand-in evaluator: only its state is read
        bars.validation.attach = lambda engine: None
        trainer = _trainer()
        bars.attach(trainer)
        trainer.run([1, 2, 3], max_epochs=2)
    finally:
        show_progress(False)
    err = capsys.readouterr().err
    assert "2/2" in err and "epoch" in err
    assert "loss=2.0000" in err and "val_mean_dice=0.5000 (best 0.7500@1)" in err


def test_bars_are_silent_when_not_shown(capsys):
    engine = Engine(lambda engine, batch: None)
    EvaluationProgress().attach(engine)
    engine.run([1, 2])
    assert capsys.readouterr().err == ""


def test_bars_attach_to_the_engines_the_run_expressions_start():
    parser = ConfigParser(
        {
            "train": {"trainer": {"_target_": "ignite.engine.Engine", "process_function": "$lambda e, b: None"}},
            "other": {"_target_": "ignite.engine.Engine", "process_function": "$lambda e, b: None"},
            "run": ["$@train#trainer.run([1, 2])"],
        }
    )
    parser.parse()
    (bar,) = _attach_progress(parser)
    assert isinstance(bar, EvaluationProgress)  # an ignite Engine that is not a MONAI Trainer
    assert bar.desc == "segment"
