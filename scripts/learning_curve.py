"""Learning curve of a bundle: validation score against the number of training images, with and without augmentation.

For every size N (capped by the number of training images the bundle's config finds) and every augmentation
setting, the bundle's own ``train.json`` is run from scratch with ``num_train_images=N`` and ``augment=on/off``; the
network of the last epoch is then scored once by the bundle's own validation evaluator (``validate#evaluator``) on
the bundle's validation part, which is the same for every run. The training images of a smaller N are a subset of
those of a larger N for the same seed (:func:`microseg.data.take_subset`).

A bundle takes part when its ``train.json`` defines ``num_train_images`` (null = all) and ``augment`` (true/false,
switching the random augmentation but not the random crops that feed the network).

Two schedules:

* ``--epochs E``: every run trains E epochs, as in a paper that fixes the epochs (small N then gets few steps);
* ``--steps S``: every run trains ``ceil(S / iterations per epoch)`` epochs, so that every N gets about S
  optimiser steps (whole epochs, so at least S) and the curve shows the effect of the data rather than of the
  amount of training.

Writes ``learning_curve.csv`` (one row per run: size, augmentation, repeat, seed, epochs, iterations, seconds, and
every validation metric) and ``learning_curve.png`` (the key metric against N, mean and range over repeats) into
``--out``, and prints the table; ``--plot_only`` redraws both from an existing CSV (a stopped study, say). Repeat r
runs with seed ``--seed + r``, which draws both the subset and the initialisation. Example, the FIB-SEM bundle on
the Lucchi training stack:

    python scripts/learning_curve.py --bundle bundles/fibsem_mitochondria_segmentation \
        --dataset_dir ../shared/data/lucchi --sizes 5 10 25 50 150 --steps 150 --out curves/fibsem
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from monai.bundle import ConfigParser

from microseg.io.writers import atomic_output

logger = logging.getLogger("learning_curve")

REQUIRED_KEYS = ("num_train_images", "augment", "max_epochs", "val_interval", "train#dataset", "validate#evaluator")


def parse_override(text: str) -> tuple[str, Any]:
    """``key=value`` with the value read as JSON when it parses (``lr=1e-4``, ``roi_size=[64,64]``), else a string."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def make_parser(bundle: Path, settings: dict[str, Any]) -> ConfigParser:
    """The bundle's ``train.json`` with ``settings`` applied; refuses a bundle without the learning-curve keys."""
    parser = ConfigParser()
    parser.read_config(str(bundle / "configs" / "train.json"))
    parser.read_meta(str(bundle / "configs" / "metadata.json"))
    missing = [key for key in REQUIRED_KEYS if key not in parser]
    if missing:
        raise SystemExit(
            f"{bundle}: train.json lacks {', '.join(missing)}; a bundle takes part in a learning curve when it "
            "defines num_train_images (null = all) and augment (true/false)."
        )
    parser.update({"bundle_root": str(bundle), **settings})
    return parser


def capped_sizes(sizes: Sequence[int], available: int) -> list[int]:
    """``sizes`` with every size above ``available`` replaced by ``available``, without repeats, ascending."""
    return sorted({min(int(n), available) for n in sizes if n > 0})


def train_and_score(
    bundle: Path, settings: dict[str, Any], n_images: int, steps: int | None, epochs: int | None
) -> dict[str, Any]:
    """One run: train from scratch on ``n_images`` with ``settings``, score the last epoch's network on the
    validation part. The epochs for ``steps`` come from ``n_images`` and the batch size, so that the training data
    set is built once, by the run itself."""
    parser = make_parser(bundle, settings)
    if epochs is None:
        epochs = max(1, math.ceil(steps / math.ceil(n_images / parser.get_parsed_content("batch_size"))))
    parser.update({"max_epochs": epochs, "val_interval": epochs})  # validate once, after the last epoch
    start = time.perf_counter()
    for section in ("initialize", "run", "finalize"):
        if section in parser:
            parser.get_parsed_content(section)
    seconds = time.perf_counter() - start
    state = parser.get_parsed_content("validate#evaluator").state
    if not state.metrics:
        raise RuntimeError("the validation evaluator did not run; check validate#evaluator and val_interval")
    metrics = {name: float(value) for name, value in state.metrics.items()}
    return {
        "epochs": epochs,
        "iterations": parser.get_parsed_content("train#trainer").state.iteration,
        "seconds": round(seconds, 1),
        "key_metric": state.key_metric_name,
        **metrics,
    }


def write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    """All rows, the columns in order of first appearance, written atomically (rewritten after every run)."""
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    with atomic_output(path) as tmp, tmp.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def summarise(rows: list[dict[str, Any]]) -> dict[bool, list[tuple[int, float, float, float]]]:
    """``{augment: [(N, mean, min, max) of the key metric over repeats, ...]}``, ascending N."""
    out: dict[bool, list[tuple[int, float, float, float]]] = {}
    for augment in sorted({row["augment"] for row in rows}, reverse=True):
        points = []
        for n in sorted({row["n_images"] for row in rows if row["augment"] == augment}):
            values = [row[row["key_metric"]] for row in rows if row["augment"] == augment and row["n_images"] == n]
            points.append((n, sum(values) / len(values), min(values), max(values)))
        out[augment] = points
    return out


def plot(rows: list[dict[str, Any]], path: Path, title: str) -> None:
    """The key metric against N on a log axis, one line per augmentation setting, bars from min to max."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(5.5, 4), dpi=120)
    for augment, points in summarise(rows).items():
        sizes = [p[0] * (0.96 if augment else 1.04) for p in points]  # side by side, so that the bars do not hide
        means = [p[1] for p in points]
        errors = [[p[1] - p[2] for p in points], [p[3] - p[1] for p in points]]
        axes.errorbar(sizes, means, yerr=errors, marker="o", capsize=3, label="on" if augment else "off")
    axes.set_xscale("log")
    axes.minorticks_off()
    sizes = sorted({row["n_images"] for row in rows})
    axes.set_xticks(sizes, [str(n) for n in sizes])
    axes.set_xlabel("training images")
    axes.set_ylabel(f"{rows[0]['key_metric']} on the validation part")
    axes.set_ylim(0, 1)
    axes.grid(alpha=0.3)
    axes.legend(title="augmentation")
    axes.set_title(title, fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def print_table(rows: list[dict[str, Any]]) -> None:
    key = rows[0]["key_metric"]
    print(f"{'N':>5} {'augment':>8} {'repeat':>6} {'epochs':>6} {'steps':>6} {'seconds':>8} {key:>14}")
    for row in rows:
        print(
            f"{row['n_images']:>5} {'on' if row['augment'] else 'off':>8} {row['repeat']:>6} {row['epochs']:>6} "
            f"{row['iterations']:>6} {row['seconds']:>8.1f} {row[key]:>14.4f}"
        )


def read_csv(path: Path) -> list[dict[str, Any]]:
    """The rows of a ``learning_curve.csv`` with their types back (sizes and counts int, ``augment`` bool, metrics
    float)."""
    integers, texts = {"n_images", "repeat", "seed", "epochs", "iterations"}, {"key_metric"}
    rows = []
    with path.open(newline="") as handle:
        for raw in csv.DictReader(handle):
            row: dict[str, Any] = {}
            for key, value in raw.items():
                if key == "augment":
                    row[key] = value == "True"
                elif key in integers:
                    row[key] = int(value)
                else:
                    row[key] = value if key in texts or value == "" else float(value)
            rows.append(row)
    return rows


def describe(rows: list[dict[str, Any]], bundle_name: str) -> str:
    """Plot title: the bundle, the optimiser steps per run and the repeats."""
    steps = sorted({row["iterations"] for row in rows})
    step_text = f"{steps[0]} steps" if len(steps) == 1 else f"{steps[0]}-{steps[-1]} steps"
    repeats = len({row["repeat"] for row in rows})
    repeat_text = f"{repeats} repeats (mean, min-max)" if repeats > 1 else "1 run per point"
    return f"{bundle_name}: {step_text} per run, {repeat_text}"


def run_study(args: argparse.Namespace, bundle: Path) -> list[dict[str, Any]]:
    """Train and score every (size, augmentation, repeat); writes the CSV after every run."""
    base = {
        "dataset_dir": args.dataset_dir,
        "resume": False,
        "tensorboard": False,
        "progress_bar": False,
        **dict(args.override),
    }
    available = len(make_parser(bundle, {**base, "num_train_images": None}).get_parsed_content("train#dataset"))
    sizes = capped_sizes(args.sizes, available)
    augments = {"both": [True, False], "on": [True], "off": [False]}[args.augment]
    logger.info("%s: %d training images available; sizes %s", bundle.name, available, sizes)
    rows = []
    for n in sizes:
        for augment in augments:
            for repeat in range(args.repeats):
                run_dir = args.out / f"n{n}_{'aug' if augment else 'noaug'}_r{repeat}"
                settings = {
                    **base,
                    "num_train_images": n,
                    "augment": augment,
                    "seed": args.seed + repeat,
                    "ckpt_dir": str(run_dir / "models"),
                    "output_dir": str(run_dir),
                }
                logger.info("training on %d images, augmentation %s, repeat %d", n, augment, repeat)
                result = train_and_score(bundle, settings, n, args.steps, args.epochs)
                rows.append({"n_images": n, "augment": augment, "repeat": repeat, "seed": args.seed + repeat, **result})
                write_csv(rows, args.out / "learning_curve.csv")  # after every run: a stopped study keeps its rows
                if not args.keep_weights:
                    shutil.rmtree(run_dir / "models", ignore_errors=True)
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", required=True, type=Path, help="bundle folder")
    parser.add_argument("--dataset_dir", help="the bundle's dataset_dir (its training data)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[5, 10, 25, 50, 150, 300], help="training images")
    parser.add_argument("--augment", choices=["both", "on", "off"], default="both")
    schedule = parser.add_mutually_exclusive_group()
    schedule.add_argument("--steps", type=int, help="about this many optimiser steps per run, for every size")
    schedule.add_argument("--epochs", type=int, help="this many epochs per run, for every size")
    parser.add_argument("--repeats", type=int, default=1, help="runs per setting, with seeds seed, seed+1, ...")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--override", type=parse_override, nargs="*", default=[], help="config key=value (JSON)")
    parser.add_argument("--out", type=Path, required=True, help="folder for the CSV, the plot and the run folders")
    parser.add_argument("--keep_weights", action="store_true", help="keep each run's models/ folder")
    parser.add_argument("--plot_only", action="store_true", help="redraw the plot and table from --out's CSV")
    args = parser.parse_args(argv)
    if not args.plot_only and (args.dataset_dir is None or (args.steps is None and args.epochs is None)):
        parser.error("training needs --dataset_dir and one of --steps or --epochs (or --plot_only)")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")

    bundle = args.bundle.resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    rows = read_csv(args.out / "learning_curve.csv") if args.plot_only else run_study(args, bundle)
    if not rows:
        raise SystemExit(f"{args.out / 'learning_curve.csv'}: no runs to plot")
    plot(rows, args.out / "learning_curve.png", describe(rows, bundle.name))
    print_table(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
