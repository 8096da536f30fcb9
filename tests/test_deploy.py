"""MONAI Deploy: :mod:`microseg.deploy` runs a bundle's TorchScript through MONAI Deploy's bundle inference operator
on TIFF input and writes the masks ``microseg segment`` writes.

The application test needs ``monai-deploy-app-sdk`` (Holoscan), which is not in the test extras (see the README for
installing it on a CPU machine); the loader's array and metadata are checked everywhere.
"""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from conftest import BUNDLES, synthetic_stack
from microseg.cli import main
from microseg.io.load import read_channel_first

NAME = "fibsem_mitochondria_segmentation"


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


@pytest.mark.parametrize("depth", [0, 3])
def test_deploy_app_writes_the_bundle_masks(depth, tmp_path):
    pytest.importorskip("monai.deploy.operators.monai_bundle_inference_operator")
    from microseg.deploy import main as deploy

    stack = synthetic_stack(depth=max(depth, 1), height=72, width=100)[0]
    image = tmp_path / "in.tif"
    tifffile.imwrite(image, stack if depth else stack[0])
    model = BUNDLES / NAME / "models" / "model.ts"
    (written,) = deploy(["--bundle", str(model), "--input", str(image), "--output", str(tmp_path / "deploy")])
    assert main(["segment", "--bundle", NAME, "--input", str(image), "--output", str(tmp_path / "bundle")]) == 0
    np.testing.assert_array_equal(tifffile.imread(written), tifffile.imread(tmp_path / "bundle" / "in_seg.tif"))
