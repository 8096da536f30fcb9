"""Instance segmentation outputs of an evaluation or inference run: the score report and the Kaggle submission."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
from ignite.engine import Engine, Events

from microseg.handlers.report_files import WorstImages, as_numpy, item_source, write_report_files, write_report_page
from microseg.io.rle import labels_to_rles, write_submission
from microseg.metrics.instance_ap import (
    INSTANCE_METRICS,
    KAGGLE_THRESHOLDS,
    instance_scores,
    matching_counts,
)
from microseg.metrics.objects import precision_recall_by_threshold

__all__ = ["InstanceReport", "SubmissionWriter"]

logger = logging.getLogger(__name__)

DEFINITIONS = {
    "matching": "objects match when IoU > t (strict); unique for t >= 0.5",
    "kaggle_ap": "Kaggle DSB 2018 score: per image, mean over t = 0.50, 0.55, ..., 0.95 of TP/(TP+FP+FN); then mean "
    "over images; 1 for an image where neither prediction nor ground truth has an object",
    "ap_50, ap_75": "TP/(TP+FP+FN) at one threshold, mean over images",
    "precision_50, recall_50, f1_50": "at IoU > 0.5, TP/FP/FN summed over the images",
    "panoptic_quality": "SQ x RQ at IoU > 0.5 pooled over the images (SQ: mean IoU of matches; RQ = f1_50)",
    "source": "https://www.kaggle.com/c/data-science-bowl-2018/overview/evaluation; microseg.metrics.instance_ap",
}
PER_IMAGE_FIELDS = ("image", "kaggle_ap", "ap_50", "ap_75", "objects_true", "objects_pred", "matched_50")


def _image_name(item: dict, fallback: str) -> str:
    return Path(item_source(item, fallback)).stem


class InstanceReport:
    """Write ``metrics.json`` (all :data:`~microseg.metrics.INSTANCE_METRICS` with their definitions),
    ``per_image.csv`` and ``report.html`` (atomically) when an evaluation run completes.

    Attach to a ``SupervisedEvaluator`` whose post-processing leaves instance label images ``pred`` and ``label``
    of shape ``(1, H, W)`` per item; the image name comes from the ``image`` metadata. Only the per-image counts are
    kept, and small pictures (prediction and ground-truth outlines over the item's ``image``) of the
    ``worst_images`` images of lowest Kaggle AP so far, for the page.

    Args:
        output_dir: folder of the files.
        metrics_file, per_image_file: file names.
        html_report: also write the page ``html_file`` (Kaggle AP per image, object precision/recall against the IoU
            threshold, the worst images).
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
        title: str = "Instance segmentation evaluation",
    ) -> None:
        self.output_dir = Path(output_dir)
        self.metrics_file, self.per_image_file = metrics_file, per_image_file
        self.html_report, self.html_file, self.title = html_report, html_file, title
        self.names: list[str] = []
        self.counts: list[np.ndarray] = []
        self.worst = WorstImages(worst_images if html_report else 0)
        self.metrics: dict = {}

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.STARTED, self.reset)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self.collect)
        engine.add_event_handler(Events.COMPLETED, self.write)

    def reset(self, engine: Engine | None = None) -> None:
        self.names.clear()
        self.counts.clear()
        self.worst.clear()

    def collect(self, engine: Engine) -> None:
        for item in engine.state.output:
            self.names.append(_image_name(item, f"image_{len(self.names)}"))
            true, pred = as_numpy(item["label"])[0], as_numpy(item["pred"])[0]
            self.counts.append(matching_counts(true, pred))
            score = instance_scores(self.counts[-1][None])["kaggle_ap"]
            self.worst.offer(self.names[-1], score, pred, true, image=item.get("image"))

    def rows(self) -> list[dict]:
        """One row per image: its Kaggle AP, AP at 0.5 and 0.75, object counts and matches at IoU > 0.5."""
        rows = []
        for name, counts in zip(self.names, self.counts, strict=True):
            scores = instance_scores(counts[None])
            tp, fp, fn, _ = counts[0]
            rows.append(
                {
                    "image": name,
                    **{k: round(scores[k], 6) for k in ("kaggle_ap", "ap_50", "ap_75")},
                    "objects_true": int(tp + fn),
                    "objects_pred": int(tp + fp),
                    "matched_50": int(tp),
                }
            )
        return rows

    def write(self, engine: Engine | None = None) -> None:
        counts = np.stack(self.counts) if self.counts else np.zeros((0, len(KAGGLE_THRESHOLDS), 4))
        self.metrics = {**instance_scores(counts), "images": len(self.names), "definitions": DEFINITIONS}
        write_report_files(
            self.output_dir, self.metrics_file, self.metrics, self.per_image_file, PER_IMAGE_FIELDS, self.rows()
        )
        logger.info("evaluation: %s", {k: round(self.metrics[k], 4) for k in INSTANCE_METRICS})
        if self.html_report:
            self.write_page()

    def write_page(self) -> None:
        """Write ``report.html`` from the per-image counts, the kept pictures and :attr:`metrics`."""
        curve = None
        if self.counts:
            curve = precision_recall_by_threshold(np.stack(self.counts), KAGGLE_THRESHOLDS)
            curve["rule"] = (
                "objects match one to one when IoU > t (strictly: the matching of the Kaggle scores above); "
                "precision = TP/(TP+FP), recall = TP/(TP+FN), TP/FP/FN pooled over images"
            )
        notes = [
            f"{len(self.names)} images; bars: Kaggle AP of each image (mean over t = 0.50 ... 0.95 of "
            f"TP/(TP+FP+FN)); tables next to this page: {self.metrics_file}, {self.per_image_file}"
        ]
        write_report_page(
            self.output_dir / self.html_file,
            self.title,
            self.metrics,
            self.rows(),
            "kaggle_ap",
            curve,
            self.worst,
            notes,
        )


class SubmissionWriter:
    """Write the Kaggle ``submission.csv`` (``ImageId,EncodedPixels``, see :mod:`microseg.io.rle`) of an inference
    run, atomically, when it completes; the image id is the input file's stem.

    Each item's ``key`` must hold a ``(1, H, W)`` instance label image; only its run-length encodings are kept.

    Args:
        output_dir: folder of the file.
        filename: file name.
        key: the engine output key of the instance labels.
    """

    def __init__(self, output_dir: str | os.PathLike, filename: str = "submission.csv", key: str = "pred") -> None:
        self.path = Path(output_dir) / filename
        self.key = key
        self.rles: dict[str, list[str]] = {}

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.STARTED, lambda _: self.rles.clear())
        engine.add_event_handler(Events.ITERATION_COMPLETED, self.collect)
        engine.add_event_handler(Events.COMPLETED, self.write)

    def collect(self, engine: Engine) -> None:
        for item in engine.state.output:
            self.rles[_image_name(item, f"image_{len(self.rles)}")] = labels_to_rles(as_numpy(item[self.key])[0])

    def write(self, engine: Engine | None = None) -> None:
        write_submission(self.path, self.rles)
        logger.info("wrote %s (%d images, %d objects)", self.path, len(self.rles), sum(map(len, self.rles.values())))
