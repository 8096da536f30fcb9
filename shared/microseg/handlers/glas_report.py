"""GlaS evaluation report: ``metrics.json`` (scores per split and overall), ``per_image.csv`` and the page
``report.html`` (object F1 per image, object precision/recall against the IoU threshold, the worst images)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
from ignite.engine import Engine, Events

from microseg.data.glas import glas_split
from microseg.handlers.report_files import (
    WorstImages,
    as_numpy,
    display_thumbnail,
    item_source,
    object_curve,
    write_report_files,
    write_report_page,
)
from microseg.metrics.glas import GLAS_METRICS, glas_image_stats, glas_scores
from microseg.reporting.overlay import fit_size

__all__ = ["GlasReport", "glas_report"]

logger = logging.getLogger(__name__)

PICTURE_SIDE = 384  # a picture of every image is kept until the end: smaller than the other reports' pictures

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


INSTANCE_CURVE_RULE = (
    "objects: the instance labels; a ground-truth and a predicted object match one to one at IoU >= t (not the GlaS "
    "rule of the table); precision = TP/(TP+FP), recall = TP/(TP+FN), pooled over images"
)


class GlasReport:
    """Collect instance predictions and labels during an evaluation run; write ``metrics.json``,
    ``per_image.csv`` and ``report.html`` (atomically) when it completes.

    Attach to a ``SupervisedEvaluator`` whose post-processing leaves instance label images ``pred`` and ``label``
    of shape ``(1, H, W)`` per item; the image name comes from the ``image`` metadata. For the page, a small picture
    of each item's ``image`` is kept (at most :data:`PICTURE_SIDE` pixels a side),
    and the ``worst_images`` images of lowest object F1 are shown with prediction and ground-truth outlines.

    Args:
        output_dir: folder of the files.
        metrics_file, per_image_file: file names.
        html_report: also write the page ``html_file``.
        html_file: its file name.
        worst_images: how many of the worst images the page shows.
        title: the page title.
    """

    def __init__(
        self,
        output_dir: str | os.PathLike,
        metrics_file: str = "metrics.json",
        per_image_file: str = "per_image.csv",
        html_report: bool = True,
        html_file: str = "report.html",
        worst_images: int = 4,
        title: str = "GlaS gland segmentation evaluation",
    ) -> None:
        self.output_dir = Path(output_dir)
        self.metrics_file, self.per_image_file = metrics_file, per_image_file
        self.html_report, self.html_file, self.title = html_report, html_file, title
        self.worst_images = worst_images
        self.items: list[tuple[str, np.ndarray, np.ndarray]] = []
        self.thumbnails: dict[int, np.ndarray] = {}  # item index -> small picture of its image
        self.metrics: dict = {}

    def reset(self, engine: Engine | None = None) -> None:
        self.items.clear()
        self.thumbnails.clear()

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.STARTED, self.reset)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self.collect)
        engine.add_event_handler(Events.COMPLETED, self.write)

    def collect(self, engine: Engine) -> None:
        for item in engine.state.output:
            name = Path(item_source(item, f"image_{len(self.items)}")).stem
            self.items.append((name, as_numpy(item["pred"])[0], as_numpy(item["label"])[0]))
            if self.html_report and self.worst_images > 0 and item.get("image") is not None:
                size = fit_size(self.items[-1][2].shape[-2:], PICTURE_SIDE, PICTURE_SIDE)
                self.thumbnails[len(self.items) - 1] = display_thumbnail(item["image"], size)

    def write(self, engine: Engine | None = None) -> None:
        self.metrics, rows = glas_report(self.items)
        fieldnames = ["image", "split", *GLAS_METRICS]
        write_report_files(self.output_dir, self.metrics_file, self.metrics, self.per_image_file, fieldnames, rows)
        logger.info("evaluation: %s", {k: v for k, v in self.metrics.items() if k != "definitions"})
        if self.html_report:
            self.write_page(rows)

    def write_page(self, rows: list[dict]) -> None:
        """Write ``report.html`` from the collected items, their per-image ``rows`` and :attr:`metrics`."""
        worst = WorstImages(self.worst_images, max_side=PICTURE_SIDE)
        for index, ((name, pred, true), row) in enumerate(zip(self.items, rows, strict=True)):
            worst.offer(name, row["object_f1"], pred, true, thumbnail=self.thumbnails.get(index))
        notes = [
            f"{len(self.items)} images; bars: GlaS object F1 of each image; "
            f"tables next to this page: {self.metrics_file}, {self.per_image_file}"
        ]
        curve = object_curve(self.items, INSTANCE_CURVE_RULE) if self.items else None
        write_report_page(
            self.output_dir / self.html_file, self.title, self.metrics, rows, "object_f1", curve, worst, notes
        )
