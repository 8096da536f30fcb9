"""MONAI Deploy: :mod:`microseg.deploy` runs a bundle's TorchScript through MONAI Deploy's bundle inference operator
on TIFF input and writes the masks ``microseg segment`` writes.

The application test needs ``monai-deploy-app-sdk`` (Holoscan), which is not in the test extras (see the README for
installing it on a CPU machine); the loader's array and metadata are checked everywhere.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import tifffile

from conftest import BUNDLES, bundle_with_weights, single_model, synthetic_stack
from microseg.cli import main
from microseg.io.load import read_channel_first
from test_onnx_infer import ALL_BUNDLES, _read, write_inputs


def test_loader_gives_channel_first_images_with_their_metadata(tmp_path):
    stack = synthetic_stack(depth=3, height=40, width=50)[0]
    tifffile.imwrite(tmp_path / "stack.tif", stack)
    array, meta = read_channel_first(tmp_path / "stack.tif")
    assert array.shape == (1, 3, 40, 50) and (array[0] == stack).all()
    assert meta["original_channel_dim"] == 0 and tuple(meta["spatial_shape"]) == (3, 40, 50)
    assert meta["filename_or_obj"].endswith("stack.tif") and meta["source_format"] == "TIFF"
    rgb = np.zeros((20, 30, 3), np.uint8)
    tifffile.imwrite(tmp_path / "rgb.tif", rgb, photometric="rgb")
    assert read_channel_first(tmp_path / "rgb.tif")[0].shape == (3, 20, 30)


def _deployable(name: str) -> bool:
    metadata = json.loads((BUNDLES / name / "configs" / "metadata.json").read_text())
    return metadata["network_data_format"]["outputs"]["pred"]["type"] == "image" and single_model(name)


DEPLOYABLE = [n for n in ALL_BUNDLES if _deployable(n)]


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=() if (BUNDLES / n / "models" / "model.ts").is_file() else pytest.mark.slow)
        for n in DEPLOYABLE
    ],
)
def test_deploy_app_writes_the_bundle_masks(name, tmp_path):
    pytest.importorskip("monai.deploy.operators.monai_bundle_inference_operator")
    from microseg.deploy import main as deploy
    from microseg.export import export_torchscript

    bundle = bundle_with_weights(name, tmp_path)
    if not (bundle / "models" / "model.ts").is_file():
        bundle = Path(shutil.copytree(bundle, tmp_path / "exported" / name)) if bundle.parent == BUNDLES else bundle
        export_torchscript(bundle)
    inputs = write_inputs(bundle, tmp_path / "in")
    for image in [inputs] if inputs.is_file() else sorted(inputs.iterdir()):
        (written,) = deploy(
            [
                "--bundle",
                str(bundle / "models" / "model.ts"),
                "--input",
                str(image),
                "--output",
                str(tmp_path / "deploy"),
            ]
        )
        argv = [
            "segment",
            "--bundle",
            str(bundle),
            "--trust_bundle",
            "--input",
            str(image),
            "--output",
            str(tmp_path / "bundle"),
        ]
        assert main(argv) == 0
        expected = tmp_path / "bundle" / Path(written).name
        np.testing.assert_array_equal(_read(Path(written)), _read(expected))
