"""``microseg.config.BundleConfig``: MONAI's config syntax resolved without MONAI, checked against MONAI's parser."""

from __future__ import annotations

import json

import pytest

from conftest import BUNDLES
from microseg.config import BundleConfig, Component

CONFIG = {
    "imports": ["$import os", "$import os.path as osp"],
    "root": "/data",
    "size": 64,
    "roi": ["@size", "@size"],
    "folder": "$os.path.join(@root, 'models')",
    "joined": "$osp.join(@folder, 'x')",
    "flags": {"a": True, "b": {"c": 3}},
    "nested": "@flags#b#c",
    "steps": [
        {"_target_": "Activationsd", "keys": "pred", "sigmoid": "$@size > 10"},
        {"_target_": "AsDiscreted", "_disabled_": "$@size > 10", "keys": "pred", "threshold": 0.5},
    ],
    "chain": "$@steps + [@steps[0]]",
}


def test_references_expressions_and_components(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps(CONFIG))
    config = BundleConfig([path], {"flags#b#c": 4})
    assert config.resolve("roi") == [64, 64] and config.resolve("joined") == "/data/models/x"
    assert config.resolve("nested") == 4 and "flags#b#c" in config and "flags#z" not in config
    steps = config.resolve("steps")
    assert all(isinstance(s, Component) for s in steps) and steps[0].name == "Activationsd"
    assert steps[0].arguments() == {"keys": "pred", "sigmoid": True} and not steps[0].disabled()
    assert steps[1].disabled() and len(config.resolve("chain")) == 3
    config["size"] = 8
    assert config.resolve("roi") == [8, 8] and not config.resolve("steps")[1].disabled()


@pytest.mark.parametrize("name", sorted(p.parent.parent.name for p in BUNDLES.glob("*/configs/inference.json")))
def test_plain_settings_resolve_as_monai_resolves_them(name):
    from monai.bundle import ConfigParser

    files = [BUNDLES / name / "configs" / "inference.json"]
    ours, monais = BundleConfig(files, {"bundle_root": "/b"}), ConfigParser()
    monais.read_config([str(f) for f in files])
    monais["bundle_root"] = "/b"
    compared = 0
    for key, value in ours.get().items():
        text = json.dumps(value)
        if (
            key in ("imports", "initialize", "run")
            or isinstance(value, dict)
            or any(w in text for w in ("_target_", "torch", "monai", "microseg"))
        ):
            continue  # components, and expressions that need torch, MONAI or the file system
        try:
            resolved = ours.resolve(key)
        except NameError as error:  # refers to a key that needs torch (the network on its device)
            assert "torch" in str(error), key
            continue
        assert resolved == monais.get_parsed_content(key), key
        compared += 1
    assert compared >= 8


def test_saved_format_and_the_config_inside_torchscript():
    from microseg.config import embedded_config, saved_format

    fibsem = BUNDLES / "fibsem_mitochondria_segmentation"
    assert saved_format(BundleConfig([fibsem / "configs" / "inference.json"])) == {
        "postfix": "_seg",
        "scale": 255,
        "dtype": "uint8",
    }
    dsb = BundleConfig([BUNDLES / "dsb2018_nuclei_segmentation" / "configs" / "inference.json"])
    assert saved_format(dsb) == {"postfix": "_seg", "scale": 1, "dtype": "uint16"}
    inside = embedded_config(fibsem / "models" / "model.ts")
    assert inside.get() == {**json.loads((fibsem / "configs" / "inference.json").read_text()), **inside.get()}
    assert saved_format(inside)["scale"] == 255
