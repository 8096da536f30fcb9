"""``microseg segment --runtime onnx``: the same masks as the PyTorch path for every bundle, in a fresh interpreter
that never imports torch or MONAI; and the errors of :mod:`microseg.onnx_infer`.

Bundles that ship ``models/model.onnx`` run in the default suite; the others need an export first (30-60 s for the
GlaS networks), so they run under ``-m slow``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from conftest import (
    BUNDLES,
    bundle_with_weights,
    default_models,
    single_model,
    synthetic_glands,
    synthetic_nuclei,
    synthetic_stack,
)
from microseg.cli import main
from microseg.errors import MicrosegInputError

ALL_BUNDLES = sorted(p.name for p in BUNDLES.iterdir() if (p / "configs" / "metadata.json").is_file())
SHIPS_ONNX = {name for name in ALL_BUNDLES if (default_models(name) / "model.onnx").is_file()}
PROBABILITY_TOLERANCE = 1e-4  # ONNX Runtime and PyTorch kernels differ in float32 rounding (about 1e-5 on logits)

NO_TORCH = """
import sys
from microseg.cli import main
status = main(sys.argv[1:])
loaded = sorted(m for m in ("torch", "monai", "torchvision") if m in sys.modules)
assert not loaded, f"imported {loaded}"
sys.exit(status)
"""


def _config(bundle: Path) -> dict:
    return json.loads((bundle / "configs" / "inference.json").read_text())


def _check_arguments(bundle: Path) -> dict:
    steps = _config(bundle)["preprocessing"]["transforms"]
    return next(s for s in steps if s["_target_"] == "microseg.transforms.CheckImaged")


def write_inputs(bundle: Path, folder: Path) -> Path:
    """Inputs the bundle takes: a TIFF stack for a volume bundle, else two PNGs of different sizes (RGB glands for
    an RGB-only bundle, grey and RGB bright-field nuclei for one that takes both)."""
    folder.mkdir(parents=True)
    check = _check_arguments(bundle)
    if 3 in check["spatial_ndims"]:
        tifffile.imwrite(folder / "stack.tif", synthetic_stack(depth=3, height=72, width=100)[0])
        return folder / "stack.tif"
    if check["num_channels"] == [3]:
        images = [synthetic_glands(90, 120, seed=0, n_glands=3)[0], synthetic_glands(70, 70, seed=1)[0]]
    else:
        images = [
            synthetic_nuclei(64, 80, seed=0)[0],
            synthetic_nuclei(72, 60, seed=1, bright_background=True, rgb=True)[0],
        ]
    for index, image in enumerate(images):
        Image.fromarray(image).save(folder / f"image{index}.png")
    return folder


def exported_bundle(name: str, tmp_path: Path) -> Path:
    """The installed bundle if it ships ``model.onnx``; else a copy with weights (untrained where none ship) and an
    ONNX export of them."""
    if name in SHIPS_ONNX:
        return BUNDLES / name
    from microseg.export import export_onnx

    bundle = bundle_with_weights(name, tmp_path)
    if bundle.parent == BUNDLES:
        bundle = Path(shutil.copytree(bundle, tmp_path / name, ignore=shutil.ignore_patterns("eval")))
    export_onnx(bundle)
    return bundle


def _read(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path)) if path.suffix == ".png" else tifffile.imread(path)


@pytest.mark.parametrize(
    "name",
    [  # default run: the single-model bundles that ship model.onnx (time budget); the others under -m slow
        pytest.param(n, marks=() if n in SHIPS_ONNX and single_model(n) else pytest.mark.slow) for n in ALL_BUNDLES
    ],
)
def test_onnx_runtime_gives_the_pytorch_masks_without_importing_torch(name, tmp_path):
    bundle = exported_bundle(name, tmp_path)
    inputs = write_inputs(bundle, tmp_path / "in")
    config = _config(bundle)
    options = ["--tta", "flips"] if "tta" in config else []
    options += ["--save_probabilities", "true"] if "save_probabilities" in config else []
    common = ["segment", "--bundle", str(bundle), "--trust_bundle", "--input", str(inputs), *options]
    assert main([*common, "--output", str(tmp_path / "torch")]) == 0
    command = [sys.executable, "-c", NO_TORCH, *common, "--runtime", "onnx", "--output", str(tmp_path / "onnx")]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]

    expected = sorted(p.name for p in (tmp_path / "torch").iterdir() if not p.name.startswith("."))
    assert expected == sorted(p.name for p in (tmp_path / "onnx").iterdir())
    assert any("_seg" in n for n in expected)
    summaries = [
        (tmp_path / run / "summary.csv").read_text().replace(str(tmp_path / run), "") for run in ("torch", "onnx")
    ]
    assert summaries[0] == summaries[1]  # the same objects and sizes
    for file_name in (n for n in expected if n != "summary.csv"):
        torch_out, onnx_out = _read(tmp_path / "torch" / file_name), _read(tmp_path / "onnx" / file_name)
        assert torch_out.dtype == onnx_out.dtype and torch_out.shape == onnx_out.shape, file_name
        if "_prob" in file_name:
            np.testing.assert_allclose(onnx_out, torch_out, atol=PROBABILITY_TOLERANCE, err_msg=file_name)
        else:
            np.testing.assert_array_equal(onnx_out, torch_out, err_msg=file_name)


def test_predict_returns_outputs_without_writing(tmp_path):
    from microseg.onnx_infer import OnnxBundle

    stack = tmp_path / "stack.tif"
    tifffile.imwrite(stack, synthetic_stack(depth=2, height=40, width=50)[0])
    bundle = OnnxBundle("fibsem_mitochondria_segmentation", save_probabilities=True, save_uncertainty=True, tta="flips")
    outputs = bundle.predict(stack)
    assert outputs["pred"].shape == outputs["probability"].shape == outputs["uncertainty"].shape == (1, 2, 40, 50)
    assert set(np.unique(outputs["pred"])) <= {0, 1} and outputs["uncertainty"].min() >= 0
    assert not list(tmp_path.glob("*_seg*"))


def test_missing_export_names_the_command(tmp_path):
    from microseg.onnx_infer import OnnxBundle

    bundle = shutil.copytree(BUNDLES / "fibsem_mitochondria_segmentation" / "configs", tmp_path / "b" / "configs")
    (bundle.parent / "models").mkdir()
    with pytest.raises(MicrosegInputError, match="microseg export --bundle b"):
        OnnxBundle(bundle.parent, trust_bundle=True)


def test_bad_override_and_unknown_component_are_input_errors(tmp_path, capsys):
    from microseg.onnx_infer import OnnxBundle

    with pytest.raises(MicrosegInputError, match="--threshold 'high'"):
        OnnxBundle("fibsem_mitochondria_segmentation", threshold="high")
    bundle = shutil.copytree(BUNDLES / "fibsem_mitochondria_segmentation", tmp_path / "b")
    config = json.loads((bundle / "configs" / "inference.json").read_text())
    config["postprocessing"]["transforms"].insert(0, {"_target_": "KeepLargestConnectedComponentd", "keys": "pred"})
    (bundle / "configs" / "inference.json").write_text(json.dumps(config))
    with pytest.raises(MicrosegInputError, match="KeepLargestConnectedComponentd, which has no NumPy twin"):
        OnnxBundle(bundle, trust_bundle=True)
    argv = ["segment", "--bundle", "fibsem_mitochondria_segmentation", "--input", "x.tif", "--output", "o"]
    assert main([*argv, "--runtime", "tensorflow"]) == 2
    assert "--runtime 'tensorflow'" in capsys.readouterr().err


def test_failed_inputs_are_skipped_and_counted(tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    tifffile.imwrite(folder / "good.tif", synthetic_stack(depth=2, height=40, width=50)[0])
    tifffile.imwrite(folder / "flat.tif", np.zeros((2, 40, 50), np.uint8))
    argv = ["segment", "--bundle", "fibsem_mitochondria_segmentation", "--input", str(folder), "--runtime", "onnx"]
    assert main([*argv, "--output", str(tmp_path / "out")]) == 2
    assert "1 of 2 inputs failed" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["failed_inputs.txt", "good_seg.tif", "summary.csv"]


TWINS = [  # (config target, arguments, input kind) for the post-processing steps the default bundles do not run
    ("microseg.transforms.OtsuThresholdd", {}, "probability"),
    ("microseg.transforms.HysteresisThresholdd", {"low": 0.4, "high": 0.8}, "probability"),
    ("FillHolesd", {}, "mask"),
    ("microseg.transforms.SplitTouchingObjectsd", {"min_depth": 1.0, "sigma": 1.0}, "mask"),
    ("microseg.transforms.FillInstanceHolesd", {}, "labels"),
    ("RemoveSmallObjectsd", {"min_size": 20, "connectivity": 1}, "labels"),
]


@pytest.mark.parametrize(("target", "arguments", "kind"), TWINS, ids=[t[0].rsplit(".", 1)[-1] for t in TWINS])
def test_numpy_twins_equal_the_monai_transforms(target, arguments, kind):
    import monai.transforms
    import torch
    from scipy import ndimage

    import microseg.transforms
    from microseg.onnx_infer import TRANSFORMS

    rng = np.random.default_rng(0)
    probability = ndimage.gaussian_filter(rng.random((1, 64, 80)), (0, 3, 3)).astype(np.float32)
    probability = (probability - probability.min()) / (probability.max() - probability.min())
    mask = (probability > 0.5).astype(np.float32)
    array = {"probability": probability, "mask": mask, "labels": ndimage.label(mask[0])[0][None].astype(np.int32)}[kind]
    module = microseg.transforms if target.startswith("microseg.") else monai.transforms
    expected = getattr(module, target.rsplit(".", 1)[-1])(keys="pred", **arguments)({"pred": torch.from_numpy(array)})
    got = TRANSFORMS[target](keys="pred", **arguments)({"pred": array})
    np.testing.assert_array_equal(got["pred"], np.asarray(expected["pred"]))
    assert got["pred"].dtype == np.asarray(expected["pred"]).dtype
