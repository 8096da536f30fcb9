"""Every bundle as a MONAI Label bundle model.

``test_monai_label_infer_task_segments_like_the_bundle`` drives MONAI Label's own ``BundleInferTask`` where
``monailabel`` is installed (it is not in the test extras: it pins ``numpy<2`` through its dependencies; run it in an
environment with ``pip install monailabel``). ``test_the_keys_monai_label_reads`` runs everywhere and does what
``BundleInferTask`` (monailabel 0.8.5, ``tasks/infer/bundle.py`` and ``basic_infer.py``) does with a bundle: read
``configs/inference.json`` with ``bundle_root`` and ``device`` set, build ``network_def`` and load ``models/model.pt``
(``checkpoint.get("model", checkpoint)``), take the first input and output of ``network_data_format`` (labels from
``channel_def``, dimension from ``spatial_shape``), run ``preprocessing`` with the loader's ``image_only`` off,
the ``inferer`` on the batched image (dict outputs decollated) and ``postprocessing`` without the save steps.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
from PIL import Image

from conftest import bundle_with_weights, single_model
from microseg.cli import main
from test_onnx_infer import ALL_BUNDLES, write_inputs

# MONAI Label loads models/model.pt: the bundles that keep one model there (not the SBEM bundle, one per variant)
LABEL_BUNDLES = [n for n in ALL_BUNDLES if single_model(n)]

SAVE_STEPS = ("SaveImaged", "SaveMaskd")


def _first_input(bundle: Path, tmp_path: Path) -> Path:
    """One 2D image (MONAI Label serves these bundles as 2D models: a stack becomes its first slice)."""
    inputs = write_inputs(bundle, tmp_path / "in")
    if inputs.is_file():
        tifffile.imwrite(tmp_path / "slice.tif", tifffile.imread(inputs)[0])
        return tmp_path / "slice.tif"
    return sorted(inputs.iterdir())[0]


def _assert_bundle_wrote(mask, bundle: Path, image: Path, tmp_path: Path) -> None:
    """``mask`` (channel first) equals what ``microseg segment`` writes (0/255 uint8 masks, uint16 labels)."""
    argv = ["segment", "--bundle", str(bundle), "--trust_bundle", "--input", str(image)]
    assert main([*argv, "--output", str(tmp_path / "bundle_out")]) == 0
    (written,) = [p for p in (tmp_path / "bundle_out").iterdir() if "_seg" in p.name]
    saved = np.asarray(Image.open(written)) if written.suffix == ".png" else tifffile.imread(written)
    scale = 255 if saved.dtype == np.uint8 else 1
    np.testing.assert_array_equal(np.asarray(mask)[0] * scale, saved)


@pytest.mark.parametrize("name", LABEL_BUNDLES)
def test_the_keys_monai_label_reads(name, tmp_path):
    from monai.bundle import ConfigParser
    from monai.data import decollate_batch
    from monai.transforms import Compose, LoadImaged

    bundle = bundle_with_weights(name, tmp_path)
    metadata = json.loads((bundle / "configs" / "metadata.json").read_text())
    key_image, image_format = next(iter(metadata["network_data_format"]["inputs"].items()))
    key_pred, pred_format = next(iter(metadata["network_data_format"]["outputs"].items()))
    assert (key_image, key_pred) == ("image", "pred")
    assert len(image_format["spatial_shape"]) == 2  # MONAI Label's dimension: 2D
    assert {v.lower() for v in pred_format["channel_def"].values()} - {"background"}

    parser = ConfigParser()
    parser.read_config(str(bundle / "configs" / "inference.json"))
    parser.config.update({"bundle_root": str(bundle), "device": torch.device("cpu")})
    network = parser.get_parsed_content("network_def", instantiate=True)
    checkpoint = torch.load(bundle / "models" / "model.pt", map_location="cpu", weights_only=True)
    network.load_state_dict(checkpoint.get("model", checkpoint), strict=True)
    network.eval()

    preprocessing = parser.get_parsed_content("preprocessing", instantiate=True)
    assert isinstance(preprocessing, Compose)
    for transform in preprocessing.transforms:
        if isinstance(transform, LoadImaged):
            transform._loader.image_only = False
    image = _first_input(bundle, tmp_path)
    data = {"image": str(image)}
    for transform in preprocessing.transforms:
        data = transform(data)
    with torch.no_grad():
        outputs = parser.get_parsed_content("inferer", instantiate=True)(data["image"][None], network)
    data["pred"] = decollate_batch(outputs)[0] if isinstance(outputs, dict) else outputs[0]
    postprocessing = parser.get_parsed_content("postprocessing", instantiate=True)
    for transform in postprocessing.transforms:
        if type(transform).__name__ not in SAVE_STEPS:
            data = transform(data)
    _assert_bundle_wrote(data["pred"], bundle, image, tmp_path)


@pytest.mark.parametrize("name", LABEL_BUNDLES)
def test_monai_label_infer_task_segments_like_the_bundle(name, tmp_path):
    pytest.importorskip("monailabel")
    from monai.transforms import SaveImaged
    from monailabel.tasks.infer.bundle import BundleInferTask

    from microseg.transforms import SaveMaskd

    bundle = bundle_with_weights(name, tmp_path)
    task = BundleInferTask(str(bundle), {}, post_filter=[SaveImaged, SaveMaskd])
    assert task.is_valid() and task.dimension == 2 and task.labels
    image = _first_input(bundle, tmp_path)
    _, data = task({"image": str(image), "device": "cpu", "skip_writer": True})
    _assert_bundle_wrote(data["pred"], bundle, image, tmp_path)
