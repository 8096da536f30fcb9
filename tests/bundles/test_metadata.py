"""Every bundle: Model Zoo layout, metadata valid against the in-tree schema and in agreement with the configs
(``microseg check-bundle``), inference settings complete."""

from __future__ import annotations

import json
from importlib import resources

import jsonschema
import numpy as np
import pytest
import torch
from monai.bundle import ConfigParser

from conftest import BUNDLES
from microseg.bundle_check import check_bundle

ALL = sorted(p.name for p in BUNDLES.iterdir() if (p / "configs" / "metadata.json").is_file())


def _meta(name):
    return json.loads((BUNDLES / name / "configs" / "metadata.json").read_text())


def _parser(name, *configs):
    parser = ConfigParser()
    parser.read_config([str(BUNDLES / name / "configs" / c) for c in configs])
    parser["bundle_root"] = str(BUNDLES / name)
    return parser


def test_there_are_bundles():
    assert "fibsem_mitochondria_segmentation" in ALL


@pytest.mark.parametrize("name", ALL)
def test_check_bundle_passes(name):
    """``microseg check-bundle``: every check passes for every bundle (parity for the exports it ships)."""
    assert check_bundle(BUNDLES / name) == {
        "layout": [],
        "metadata": [],
        "config keys": [],
        "weights": [],
        "export parity": [],
    }


def test_schema_rejects_incomplete_metadata():
    schema = json.loads(resources.files("microseg").joinpath("schemas/metadata_schema.json").read_text())
    meta = _meta("fibsem_mitochondria_segmentation")
    del meta["network_data_format"]["inputs"]["image"]["num_channels"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(meta, schema)


def _network_input_shape(parser) -> list:
    """The spatial shape a config feeds its network: ``roi_size`` tiles, an ``image_size`` square, or any size."""
    if "roi_size" in parser:
        return list(parser.get_parsed_content("roi_size"))
    if "network_def#in_channels" in parser:
        size = parser.get_parsed_content("image_size")
        return [size, size]
    return ["*", "*"]  # a detector that scales any image itself


@pytest.mark.parametrize("name", ALL)
def test_metadata_agrees_with_configs(name):
    image = _meta(name)["network_data_format"]["inputs"]["image"]
    pred = _meta(name)["network_data_format"]["outputs"]["pred"]
    for configs in (("train.json",), ("inference.json",)):
        parser = _parser(name, *configs)
        if "network_def#in_channels" in parser:
            assert parser.get_parsed_content("network_def#in_channels") == image["num_channels"], configs
            assert parser.get_parsed_content("network_def#out_channels") == pred["num_channels"], configs
        elif "network_def#variant" in parser:  # SBEM: the variant's network reads context_slices slices
            network = parser.get_parsed_content("network_def")
            slices = parser.get_parsed_content("context_slices")
            out = network(torch.zeros(1, image["num_channels"] * slices, 64, 64))
            assert out.shape[1] == pred["num_channels"], configs
        else:
            assert parser.get_parsed_content("network_def#num_classes") == pred["num_channels"] + 1, configs
        assert _network_input_shape(parser) == image["spatial_shape"] == pred["spatial_shape"], configs
    train, infer = _parser(name, "train.json"), _parser(name, "inference.json")
    keep = {k: v for k, v in train.get("network_def").items() if k != "pretrained"}
    assert keep == {k: v for k, v in infer.get("network_def").items() if k != "pretrained"}, "networks differ"
    assert len(image["channel_def"]) == image["num_channels"] and len(pred["channel_def"]) == pred["num_channels"]


@pytest.mark.parametrize("name", ALL)
def test_preprocessing_gives_declared_value_range(name, tmp_path):
    import tifffile
    from PIL import Image

    image = _meta(name)["network_data_format"]["inputs"]["image"]
    if image["num_channels"] == 3:  # RGB bundles: 8-bit colour images
        ramp = np.broadcast_to(np.linspace(0, 255, 50).astype(np.uint8)[None, :, None], (40, 50, 3))
        Image.fromarray(np.ascontiguousarray(ramp)).save(tmp_path / "x.png")
        path, percentiles = tmp_path / "x.png", [0, 100]
    else:  # greyscale images of any bit depth (a 2D image: every grey bundle takes one)
        image_2d = np.random.default_rng(0).integers(0, 60000, (40, 50), dtype=np.uint16)
        tifffile.imwrite(tmp_path / "x.tif", image_2d)
        path, percentiles = tmp_path / "x.tif", [1, 99]
    pre = _parser(name, "inference.json").get_parsed_content("preprocessing")
    out = pre({"image": str(path)})["image"]
    assert str(out.dtype).endswith(image["dtype"]) and out.shape[0] == image["num_channels"]
    low, high = np.percentile(out.numpy(), percentiles)
    assert (low, high) == pytest.approx(tuple(image["value_range"]), abs=0.01)


NOT_OUTPUT_SETTINGS = {
    "bundle_root",
    "ckpt_dir",
    "output_dir",
    "dataset_dir",
    "device",
    "skip_existing",
    "write_in_background",  # where the files are written from, not what they hold
    "sw_batch_size",
}


def _merged(name: str, configs: list[str]) -> dict:
    """The bundle's config files merged key by key, later ones winning (as ``monai.bundle run`` merges them)."""
    merged: dict = {}
    for config in configs:
        for key, value in json.loads((BUNDLES / name / "configs" / config).read_text()).items():
            *parents, last = key.split("#")
            node = merged
            for parent in parents:  # "a#b" overrides item b of a
                node = node[int(parent)] if isinstance(node, list) else node.setdefault(parent, {})
            if isinstance(node, list):
                node[int(last)] = value
            else:
                node[last] = value
    return merged


def _plain_settings(config: dict, excluded: set[str]) -> set[str]:
    """Top-level keys holding a plain value (not a component, reference, expression or list of those)."""
    return {
        key
        for key, value in config.items()
        if key not in excluded
        and not isinstance(value, dict)
        and not (isinstance(value, str) and value[:1] in "$@%")
        and not (isinstance(value, list) and any(isinstance(v, dict | str) and str(v)[:1] in "{$@%" for v in value))
    }


def _inference_configs() -> list[tuple[str, list[str]]]:
    cases = []
    for name in ALL:
        for extra in sorted((BUNDLES / name / "configs").glob("inference_*.json")):
            cases.append((name, ["inference.json", extra.name]))
        cases.append((name, ["inference.json"]))
    return cases


@pytest.mark.parametrize(
    ("name", "configs"), _inference_configs(), ids=lambda v: v if isinstance(v, str) else "+".join(v)
)
def test_output_settings_name_every_setting(name, configs):
    """A restart skips inputs only when the settings that shape the outputs are unchanged: every plain top-level
    setting of an inference config must be part of ``output_settings`` (and the weights' digest too)."""
    merged = _merged(name, configs)
    plain = _plain_settings(merged, NOT_OUTPUT_SETTINGS)
    settings = merged["output_settings"]
    assert plain <= set(settings), f"settings missing from output_settings: {sorted(plain - set(settings))}"
    assert "file_sha256(" in settings["weights"] and "@weights_file" in settings["weights"]


@pytest.mark.parametrize(
    ("name", "configs"), _inference_configs(), ids=lambda v: v if isinstance(v, str) else "+".join(v)
)
def test_failed_inputs_report_is_the_last_handler(name, configs):
    """It raises at the end of the run; a handler after it (a submission writer) would never run."""
    merged = _merged(name, configs)
    targets = [handler["_target_"] for handler in merged["handlers"]]
    assert targets[-1] == "microseg.handlers.FailedInputsReport", targets


NOT_TRACKED = {"bundle_root", "tensorboard", "progress_bar", "mlflow"}


@pytest.mark.parametrize("name", ALL)
def test_every_train_config_logs_to_mlflow_with_one_override(name):
    """``--mlflow true`` switches on a ``MLflowTracker`` in the trainer's handlers, before ``StatsHandler`` (whose
    exception handler re-raises first), that logs every plain setting of ``train.json`` as a parameter."""
    from monai.bundle import ConfigParser

    config = _merged(name, ["train.json"])
    assert config["mlflow"] is False
    handlers = config["train"]["handlers"]
    targets = [h["_target_"] for h in handlers]
    tracker = handlers[targets.index("microseg.handlers.MLflowTracker")]
    assert tracker["_disabled_"] == "$not @mlflow" and tracker["params"] == "@tracked_settings"
    assert targets.index("microseg.handlers.MLflowTracker") < targets.index("StatsHandler")
    plain = _plain_settings(config, NOT_TRACKED)
    assert plain == set(config["tracked_settings"]), sorted(plain ^ set(config["tracked_settings"]))
    parser = ConfigParser(config)
    parser["bundle_root"] = str(BUNDLES / name)
    parser["max_epochs"] = 3
    assert parser.get_parsed_content("tracked_settings")["max_epochs"] == 3
