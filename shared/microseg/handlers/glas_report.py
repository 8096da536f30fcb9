"""GlaS evaluation report: ``metrics.json`` (scores per split and overall) and ``per_image.csv``."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
from ignite.engine import Engine, Events

from microseg.data.glas import glas_split
from microseg.handlers.report_files import as_numpy, item_source, write_report_files
from microseg.metrics.glas import GLAS_METRICS, glas_image_stats, glas_scores

__all__ = ["GlasReport", "glas_report"]

logger = logging.getLogger(__name__)

DEFINITIONS = {
    "object_f1": "GlaS object F1: a segmented object is a TP when it covers > 50% of the ground-truth object it "
    "overlaps most; TP/FP/FN summed over the split",
    "object_dice": "GlaS object Dice: area-weighted Dice of each object with its most-overlapping partner, in both "
    "directions, weights pooled over the split",
    "object_hausdorff": "GlaS object Hausdorff: the same weighting of the Hausdorff distance (pixels of the input "
    "image); objects without overlap are paired with the nearest object",
    "pixel_f1": "F1 (Dice) of foreground pixels, counts summed over the split",
    "per_image": "the same definitions applied to one image",
    "source": "Sirinukunwattana et al., Medical Image Analysis 35 (2017); microseg.metrics.glas",
}


def glas_report(items: list[tuple[str, np.ndarray, np.ndarray]]) -> tuple[dict, list[dict]]:
    """Scores per split (from the image names, e.g. ``testA_3`` -> ``testA``), overall, and per image.

    Args:
        items: ``(image name, predicted instance labels (H, W), true instance labels (H, W))``.

    Returns:
        ``(metrics, rows)``: ``metrics[split]`` and ``metrics["all"]`` hold the :data:`GLAS_METRICS` and the image
        count; ``rows`` has one dict per image.
    """
    stats, rows = {}, []
    for name, pred, label in items:
        vector = glas_image_stats(pred, label)
        stats.setdefault(glas_split(name), []).append(vector)
        scores = glas_scores(vector)
        rows.append({"image": name, "split": glas_split(name), **{k: round(scores[k], 6) for k in GLAS_METRICS}})
    metrics: dict = {}
    for split, vectors in sorted(stats.items()):
        metrics[split] = {**glas_scores(np.sum(vectors, axis=0)), "images": len(vectors)}
    if len(stats) > 1:
        everything = np.sum([v for vectors in stats.values() for v in vectors], axis=0)
        metrics["all"] = {**glas_scores(everything), "images": len(rows)}
    metrics["definitions"] = DEFINITIONS
    return metrics, rows


class GlasReport:
    """Collect instance predictions and labels during an evaluation run; write ``metrics.json`` and
    ``per_image.csv`` (atomically) when it completes.

    Attach to a ``SupervisedEvaluator`` whose post-processing leaves instance label images ``pred`` and ``label``
    of shape ``(1, H, W)`` per item; the image name comes from the ``image`` metadata.

    Args:
        output_dir: folder of the two files.
        metrics_file, per_image_file: file names.
    """

    def __init__(
        self, output_dir: str | os.PathLike, metrics_file: str = "metrics.json", per_image_file: str = "per_image.csv"
    ) -> None:
        self.output_dir = Path(output_dir)
        self.metrics_file, self.per_image_file = metrics_file, per_image_file
        self.items: list[tuple[str, np.ndarray, np.ndarray]] = []
        self.metrics: dict = {}

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.STARTED, lambda _: self.items.clear())
        engine.add_event_handler(Events.ITERATION_COMPLETED, self.collect)
        engine.add_event_handler(Events.COMPLETED, self.write)

    def collect(self, engine: Engine) -> None:
        for item in engine.state.output:
            name = Path(item_source(item, f"image_{len(self.items)}")).stem
            self.items.append((name, as_numpy(item["pred"])[0], as_numpy(item["label"])[0]))

    def write(self, engine: Engine | None = None) -> None:
        self.metrics, rows = glas_report(self.items)
        fieldnames = ["image", "split", *GLAS_METRICS]
        write_report_files(self.output_dir, self.metrics_file, self.metrics, self.per_image_file, fieldnames, rows)
        logger.info("evaluation: %s", {k: v for k, v in self.metrics.items() if k != "definitions"})
