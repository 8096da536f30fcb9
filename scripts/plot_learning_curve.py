#!/usr/bin/env python
"""Plot a training run's validation (and training) key metric per epoch from its log, for a model card.

Reads the ``Epoch[N] Metrics -- val_<name>: value`` and ``train_<name>: value`` lines that the bundles' training
prints (``microseg train --verbose`` or ``python -m monai.bundle run``) and writes a PNG (matplotlib, the ``plots``
extra).

    python scripts/plot_learning_curve.py train.log bundles/he_gland_segmentation/docs/learning_curve.png \\
        --title "GlaS U-Net, three-class head, 2 CPU cores" --ylabel "mean Dice of interior and contour"
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

_METRIC = re.compile(r"Epoch\[(\d+)\] Metrics -- .*?\b(val|train)_(\w+): ([\d.]+)")


def read_curves(log: Path) -> dict[str, dict[int, float]]:
    """``{"val": {epoch: value}, "train": {epoch: value}}`` of the first key metric named on each metrics line."""
    curves: dict[str, dict[int, float]] = {"val": {}, "train": {}}
    for line in log.read_text().splitlines():
        match = _METRIC.search(line)
        if match:
            curves[match.group(2)][int(match.group(1))] = float(match.group(4))
    return curves


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--title", default="")
    parser.add_argument("--ylabel", default="key metric")
    args = parser.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = read_curves(args.log)
    if not curves["val"]:
        raise SystemExit(f"{args.log}: no 'Epoch[N] Metrics -- val_...' lines; log the run with --verbose")
    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=120)
    if curves["train"]:
        ax.plot(list(curves["train"]), list(curves["train"].values()), "o-", label="training (train mode)")
    ax.plot(list(curves["val"]), list(curves["val"].values()), "s-", label="validation (eval mode)")
    best = max(curves["val"], key=curves["val"].get)
    ax.annotate(
        f"best {curves['val'][best]:.3f} (epoch {best})",
        (best, curves["val"][best]),
        textcoords="offset points",
        xytext=(-60, 10),
    )
    ax.set(xlabel="epoch", ylabel=args.ylabel, ylim=(0, 1), title=args.title)
    ax.title.set_fontsize(9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(args.output)
    return args.output


if __name__ == "__main__":
    main()
