"""Grid-search the instance post-processing of a bundle whose evaluation reports the Kaggle AP (DSB 2018 bundle).

The network runs once per image (the bundle's own ``validate#preprocessing``, ``validate#inferer`` and weights); then
the bundle's own ``instance_chains`` is rebuilt for every combination of the given settings and scored with
:class:`microseg.metrics.InstanceMatchingMetric`. One line per setting is printed, best Kaggle AP first.

Tune on images that are not the validation part, so that the validation figure stays honest:

    python scripts/tune_instance_postprocessing.py --bundle bundles/dsb2018_nuclei_segmentation \
        --dataset_dir data/dsb2018/stage1_train --ids_slice 5::10 \
        --grid mask_threshold=0.4,0.5,0.6 seed_threshold=0.5,0.7 min_seed_size=4,16
"""

from __future__ import annotations

import argparse
import itertools
import logging
from pathlib import Path

import torch
from monai.bundle import ConfigParser

from microseg.data import list_dsb2018
from microseg.metrics import INSTANCE_METRICS, InstanceMatchingMetric

logger = logging.getLogger("tune_instance_postprocessing")


def _grid(items: list[str]) -> dict[str, list]:
    grid = {}
    for item in items:
        key, _, values = item.partition("=")
        grid[key] = [float(v) if "." in v else int(v) for v in values.split(",")]
    return grid


def _parser(bundle: Path, dataset_dir: str, ids_slice: str) -> ConfigParser:
    parser = ConfigParser()
    parser.read_config([str(bundle / "configs" / "train.json"), str(bundle / "configs" / "evaluate.json")])
    parser.update({"bundle_root": str(bundle), "dataset_dir": dataset_dir})
    start, stop, step = (int(v) if v else None for v in [*ids_slice.split(":"), "", ""][:3])
    names = [item["name"] for item in list_dsb2018(dataset_dir)]
    parser["val_ids"] = names[slice(start, stop, step)]
    return parser


def predict(parser: ConfigParser) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(logits ``(C, H, W)``, instance labels ``(1, H, W)``) of every image of ``val_ids``."""
    network = parser.get_parsed_content("network")
    weights = Path(parser.get_parsed_content("ckpt_dir")) / "model.pt"
    network.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    network.eval()
    datalist = parser.get_parsed_content("val_datalist")
    preprocessing = parser.get_parsed_content("validate#preprocessing")
    inferer = parser.get_parsed_content("validate#inferer")
    device = parser.get_parsed_content("device")
    results = []
    with torch.no_grad():
        for item in datalist:
            data = preprocessing(item)
            logits = inferer(data["image"][None].to(device), network)[0].cpu()
            results.append((logits, data["label"]))
    logger.info("predicted %d images", len(results))
    return results


def score(parser: ConfigParser, predictions, setting: dict) -> dict[str, float]:
    for key, value in setting.items():
        parser[key] = value
    head = parser.get_parsed_content("head")
    chain = parser.get_parsed_content(f"instance_chains#{head}", lazy=False)
    metric = InstanceMatchingMetric(list(INSTANCE_METRICS))
    for logits, label in predictions:
        data = {"pred": logits.clone()}
        for transform in chain:
            data = transform(data)
        metric(data["pred"][None], label[None])
    return dict(zip(INSTANCE_METRICS, (v.item() for v in metric.aggregate()), strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--dataset_dir", required=True, help="a DSB 2018 layout folder with masks")
    parser.add_argument("--ids_slice", default="5::10", help="which sorted image ids to tune on (start:stop:step)")
    parser.add_argument("--grid", nargs="+", required=True, help="key=v1,v2,... settings of the bundle config")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    config = _parser(args.bundle, args.dataset_dir, args.ids_slice)
    predictions = predict(config)
    grid = _grid(args.grid)
    rows = []
    for values in itertools.product(*grid.values()):
        setting = dict(zip(grid, values, strict=True))
        rows.append((score(config, predictions, setting), setting))
    rows.sort(key=lambda r: -r[0]["kaggle_ap"])
    for scores, setting in rows:
        logger.info(
            "%s  Kaggle AP %.4f  AP@0.5 %.4f  F1@0.5 %.4f  PQ %.4f",
            setting,
            scores["kaggle_ap"],
            scores["ap_50"],
            scores["f1_50"],
            scores["panoptic_quality"],
        )


if __name__ == "__main__":
    main()
