"""Export a bundle as a BioImage Model Zoo package (bioimage.io model description 0.5), for Fiji/deepImageJ, ilastik,
napari and ``bioimageio.core``.

    microseg export --format bioimageio fibsem_mitochondria_segmentation fibsem.zip
    bioimageio test fibsem.zip

The package holds ``rdf.yaml`` (name, description, authors, citations with DOI or URL, licence, tags, version,
documentation = the model card, inputs and outputs with their axes, pre- and post-processing, test tensors, a cover
image), the weights in three formats (``pytorch_state_dict`` with the architecture imported from MONAI or shipped as
source, ``torchscript``, ``onnx``; the bundle's own exports when it ships them, else exported now) and the bundle's
``metadata.json``, ``inference.json`` and licence as attachments.

What a bioimage.io description can say of a bundle, and what it cannot: it describes the network on one tile, with
the preprocessing ops of the spec (``scale_range`` for the bundles' percentile scaling, ``scale_linear`` + ``clip``
for a fixed range) and the activation (``sigmoid``, ``softmax``) as post-processing, so the output is the probability
map. Tiling, test-time augmentation, thresholds and instance post-processing (watersheds) stay with the consumer; the
description says what the bundle does after the probabilities. A step with no bioimage.io op (DSB's inversion of
bright-background images) is written into the description. Detectors (Mask R-CNN) have no fixed-shape output and
are refused.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from microseg.bundle import checked_weights, file_sha256, resolve_bundle
from microseg.config import BundleConfig, Component
from microseg.errors import MicrosegInputError
from microseg.ops.image import percentile_normalize
from microseg.ops.labels import sigmoid, softmax

__all__ = ["FORMAT_VERSION", "bioimageio_description", "export_bioimageio"]

logger = logging.getLogger(__name__)

FORMAT_VERSION = "0.5.4"
TEST_SIZE = 256
SPATIAL_STEP = 16  # the ONNX exports take multiples of 16 (the 4-level U-Nets' total stride)
STRUCTURAL = {  # preprocessing steps that only bring the image to the network's layout; a bioimage.io input has it
    "microseg.transforms.LoadMicroscopyd",
    "EnsureChannelFirstd",
    "microseg.transforms.CheckImaged",
    "microseg.transforms.ToGreyd",
    "microseg.transforms.EnsureRGBd",
}


def _preprocessing(steps: Sequence[Component]) -> tuple[list[dict], list[str]]:
    """bioimage.io preprocessing ops for the bundle's preprocessing, and notes on steps no op expresses."""
    ops, notes = [], []
    for step in steps:
        args = step.arguments()
        if step.name in STRUCTURAL:
            continue
        if step.name == "microseg.transforms.PercentileNormalized":
            ops.append(
                {
                    "id": "scale_range",
                    "kwargs": {
                        "axes": ["y", "x"],
                        "min_percentile": float(args.get("lower", 1.0)),
                        "max_percentile": float(args.get("upper", 99.0)),
                        "eps": float(args.get("eps", 1e-6)),
                    },
                }
            )
        elif step.name == "ScaleIntensityRanged":
            gain = (args.get("b_max", 1.0) - args.get("b_min", 0.0)) / (args["a_max"] - args["a_min"])
            offset = args.get("b_min", 0.0) - args["a_min"] * gain
            ops.append({"id": "scale_linear", "kwargs": {"gain": gain, "offset": offset}})
            if args.get("clip", False):
                ops.append({"id": "clip", "kwargs": {"min": args.get("b_min", 0.0), "max": args.get("b_max", 1.0)}})
        elif step.name == "microseg.transforms.InvertBrightBackgroundd":
            notes.append(
                f"Images whose mean intensity after scaling is above {args.get('threshold', 0.5)} (a bright "
                "background: bright-field, H&E) must be inverted (1 - x after the scaling) before the network; no "
                "bioimage.io preprocessing op does that, so invert such images yourself."
            )
        else:
            raise MicrosegInputError(f"{step.name} in the bundle's preprocessing has no bioimage.io equivalent.")
    return ops, notes


def _activation(steps: Sequence[Component]) -> dict | None:
    """The bundle's first activation as a bioimage.io postprocessing op (``None``: the output is logits)."""
    for step in steps:
        if step.name == "Activationsd":
            args = step.arguments()
            if args.get("sigmoid"):
                return {"id": "sigmoid"}
            if args.get("softmax"):
                return {"id": "softmax", "kwargs": {"axis": "channel"}}
    return None


def _cite(references: Sequence[str]) -> list[dict]:
    """Citations with a DOI or URL (bioimage.io requires one); others stay in the documentation only."""
    cites = []
    for text in references:
        doi = re.search(r"https?://doi\.org/(\S+)", text)
        url = re.search(r"https?://\S+", text)
        if doi:
            cites.append({"text": text[: doi.start()].strip(), "doi": doi.group(1).rstrip(".")})
        elif url:
            cites.append({"text": text[: url.start()].strip(), "url": url.group(0).rstrip(".")})
    return cites


def _test_input(channels: int, seed: int = 0) -> np.ndarray:
    """A smooth random float32 ``(1, C, 256, 256)`` image in 0..255 (blobs of several sizes, as micrographs have)."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    image = sum(
        ndimage.gaussian_filter(rng.random((channels, TEST_SIZE, TEST_SIZE)), (0, s, s)) * s for s in (2, 6, 12)
    )
    image = (image - image.min()) / (image.max() - image.min()) * 255
    return image[None].astype(np.float32)


def _apply_ops(array: np.ndarray, ops: Sequence[dict]) -> np.ndarray:
    """The bioimage.io preprocessing ops written by :func:`_preprocessing`, on ``(1, C, H, W)``."""
    for op in ops:
        kwargs = op.get("kwargs", {})
        if op["id"] == "scale_range":
            array = percentile_normalize(array, kwargs["min_percentile"], kwargs["max_percentile"], kwargs["eps"])
        elif op["id"] == "scale_linear":
            array = (array * kwargs["gain"] + kwargs["offset"]).astype(np.float32)
        elif op["id"] == "clip":
            array = np.clip(array, kwargs["min"], kwargs["max"]).astype(np.float32)
    return array


def _name(name: str) -> str:
    """A bioimage.io model name: letters, digits, spaces and ``_-()`` only."""
    return " ".join(re.sub(r"[^A-Za-z0-9_\- ()]", " ", name.replace("&", "and")).split())


def _documentation(root: Path, folder: Path, notes: Sequence[str], name: str) -> None:
    """``README.md``: the model card, then what the package holds and how it was validated."""
    card = (root / "docs" / "README.md").read_text()
    section = (
        f"\n\n## bioimage.io package\n\n{' '.join(notes)}\n\n## Validation\n\nThe figures of the bundle are under "
        f"*Performance* above (bundle {root.name}). This package ({name}) was written by `microseg export --format "
        "bioimageio`; its test output is the PyTorch network's on the test input after the described preprocessing, "
        "and `bioimageio test` reproduces it with each weight format.\n"
    )
    (folder / "README.md").write_text(card.rstrip() + section)


def _short(text: str, limit: int = 128) -> str:
    """bioimage.io tensor descriptions hold at most 128 characters: the first clause that fits."""
    text = text.split(";")[0].strip()
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def _samples(image: np.ndarray, output: np.ndarray, folder: Path) -> None:
    """The test tensors as TIFF images (``sample_tensor``: for viewers), ``(C, H, W)`` float32."""
    import tifffile

    tifffile.imwrite(folder / "sample_input.tif", image[0].astype(np.float32))
    tifffile.imwrite(folder / "sample_output.tif", output[0].astype(np.float32))


def _cover(image: np.ndarray, output: np.ndarray, path: Path) -> None:
    """A 2:1 PNG: the test input (grey or RGB) beside the output probability (the foreground channel)."""
    from PIL import Image

    shown = image[0, :3] if image.shape[1] >= 3 else np.repeat(image[0, :1], 3, 0)
    shown = (shown - shown.min()) / max(float(shown.max() - shown.min()), 1e-6)
    probability = np.repeat(output[0, min(1, output.shape[1] - 1)][None], 3, 0)
    both = np.concatenate([shown, np.clip(probability, 0, 1)], axis=2)
    Image.fromarray((np.moveaxis(both, 0, -1) * 255).astype(np.uint8)).save(path)


def _architecture(network_def: Component, folder: Path) -> dict:
    """MONAI networks are imported from ``monai.networks.nets``; microseg's own network files are shipped."""
    arguments = network_def.arguments()
    name = network_def.name.split(".")[-1]
    if not network_def.target.startswith("microseg."):
        return {"import_from": "monai.networks.nets", "callable": name, "kwargs": arguments}
    import importlib

    module = importlib.import_module(network_def.target.rsplit(".", 1)[0])
    cls = getattr(module, name)
    source = Path(importlib.import_module(cls.__module__).__file__)
    shutil.copy(source, folder / source.name)
    return {"source": source.name, "sha256": file_sha256(folder / source.name), "callable": name, "kwargs": arguments}


def _onnx_opset(path: Path) -> int:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return next(op.version for op in model.opset_import if op.domain in ("", "ai.onnx"))


def _weights(root: Path, config: BundleConfig, folder: Path) -> tuple[dict, Any]:
    """The three weight entries (files written into ``folder``) and the loaded network."""
    import torch

    from microseg.bundle import load_network, models_dir
    from microseg.export import export_onnx, export_torchscript

    network = load_network(root)
    torch.save(network.state_dict(), folder / "weights.pt")
    version = torch.__version__.split("+")[0]
    files = {}
    for fmt, name, export in (("torchscript", "model.ts", export_torchscript), ("onnx", "model.onnx", export_onnx)):
        shipped = models_dir(root) / name
        files[fmt] = folder / name
        if shipped.is_file():
            shutil.copy(checked_weights(shipped), files[fmt])
        else:
            export(root, files[fmt])
    environment = (
        f"name: microseg\ndependencies:\n  - python>=3.10\n  - pip\n  - pip:\n    - torch=={version}\n    - monai\n"
    )
    (folder / "environment.yaml").write_text(environment)
    return {
        "pytorch_state_dict": {
            "source": "weights.pt",
            "sha256": file_sha256(folder / "weights.pt"),
            "architecture": _architecture(config.resolve("network_def"), folder),
            "pytorch_version": version,
            "dependencies": {"source": "environment.yaml", "sha256": file_sha256(folder / "environment.yaml")},
        },
        "torchscript": {
            "source": "model.ts",
            "sha256": file_sha256(files["torchscript"]),
            "pytorch_version": version,
            "parent": "pytorch_state_dict",
        },
        "onnx": {
            "source": "model.onnx",
            "sha256": file_sha256(files["onnx"]),
            "opset_version": _onnx_opset(files["onnx"]),
            "parent": "pytorch_state_dict",
        },
    }, network


def _predict(network: Any, array: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        return network(torch.from_numpy(array)).numpy()


def bioimageio_description(bundle: str | os.PathLike, folder: str | os.PathLike) -> dict:
    """Write the package's files into ``folder`` and return the model description (``rdf.yaml`` content).

    Raises:
        MicrosegInputError: a detector bundle, a bundle without weights, or a preprocessing step with no
            bioimage.io op.
    """
    root, folder = resolve_bundle(bundle), Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    meta = json.loads((root / "configs" / "metadata.json").read_text())
    image, pred = meta["network_data_format"]["inputs"]["image"], meta["network_data_format"]["outputs"]["pred"]
    if pred.get("type") == "object":
        raise MicrosegInputError(
            f"{root.name}: a detector (variable number of detections) has no fixed-shape bioimage.io output; "
            "export a segmentation bundle (e.g. he_gland_segmentation) instead."
        )
    config = BundleConfig([root / "configs" / "inference.json"], {"bundle_root": str(root)})
    pre_ops, notes = _preprocessing(config.components("preprocessing"))
    activation = _activation(config.components("postprocessing"))
    weights, network = _weights(root, config, folder)
    channels = int(config.resolve("network_def").arguments().get("in_channels", image["num_channels"]))

    test_input = _test_input(channels)
    test_output = _predict(network, _apply_ops(test_input, pre_ops))
    if activation is not None:
        test_output = sigmoid(test_output) if activation["id"] == "sigmoid" else softmax(test_output, axis=1)
    np.save(folder / "test_input.npy", test_input)
    np.save(folder / "test_output.npy", test_output.astype(np.float32))
    _samples(test_input, test_output, folder)
    _cover(test_input, test_output, folder / "cover.png")
    for attachment in (root / "configs" / "metadata.json", root / "configs" / "inference.json", root / "LICENSE"):
        shutil.copy(attachment, folder / attachment.name)

    names = [str(v) for v in pred.get("channel_def", {}).values()] or [
        f"channel{i}" for i in range(pred["num_channels"])
    ]
    output_kind = "probabilities" if activation is not None else "logits"
    package_note = (
        f"This package holds the network on one tile, {output_kind} out; the bundle (microseg, MONAI) also tiles "
        "large images, averages test-time augmentations and makes masks or instances."
    )
    description = " ".join([meta["description"], *notes])
    description = description if len(description) <= 512 else meta["description"]
    rdf_name = _name(meta["name"])
    _documentation(root, folder, [package_note, *notes], rdf_name)
    rdf = {
        "type": "model",
        "format_version": FORMAT_VERSION,
        "name": rdf_name,
        "description": description,
        "version": meta["version"],
        "authors": [{"name": meta.get("authors", "microseg developers")}],
        "cite": _cite(meta.get("references", [])),
        "license": meta.get("license", "Apache-2.0").split()[0],
        "documentation": "README.md",
        "tags": sorted(
            {"microseg", "monai-bundle", "2d", "segmentation", "pytorch", "onnx", "torchscript"}
            | {w.strip("()").lower() for w in str(image.get("modality", "")).replace(",", " ").split() if w.isalpha()}
        ),
        "covers": ["cover.png"],
        "attachments": [{"source": name} for name in ("metadata.json", "inference.json", "LICENSE")],
        "inputs": [
            {
                "id": "image",
                "description": _short(meta.get("image_classes", "the image")),
                "axes": [
                    {"type": "batch"},
                    {"type": "channel", "channel_names": [f"channel{i}" for i in range(channels)]},
                    {"type": "space", "id": "y", "size": {"min": SPATIAL_STEP * 4, "step": SPATIAL_STEP}},
                    {"type": "space", "id": "x", "size": {"min": SPATIAL_STEP * 4, "step": SPATIAL_STEP}},
                ],
                "data": {"type": "float32"},
                "preprocessing": pre_ops,
                "test_tensor": {"source": "test_input.npy", "sha256": file_sha256(folder / "test_input.npy")},
                "sample_tensor": {"source": "sample_input.tif", "sha256": file_sha256(folder / "sample_input.tif")},
            }
        ],
        "outputs": [
            {
                "id": "pred",
                "description": _short(f"{output_kind}: {meta.get('pred_classes', 'the prediction')}"),
                "axes": [
                    {"type": "batch"},
                    {"type": "channel", "channel_names": names},
                    {"type": "space", "id": "y", "size": {"tensor_id": "image", "axis_id": "y"}},
                    {"type": "space", "id": "x", "size": {"tensor_id": "image", "axis_id": "x"}},
                ],
                "data": {"type": "float32"},
                "postprocessing": [activation] if activation is not None else [],
                "test_tensor": {"source": "test_output.npy", "sha256": file_sha256(folder / "test_output.npy")},
                "sample_tensor": {"source": "sample_output.tif", "sha256": file_sha256(folder / "sample_output.tif")},
            }
        ],
        "weights": weights,
    }
    return rdf


def export_bioimageio(bundle: str | os.PathLike, output: str | os.PathLike) -> Path:
    """Write the bundle's bioimage.io package to ``output`` (a ``.zip``); returns its path."""
    import yaml

    from microseg.io.writers import atomic_output

    output = Path(output)
    if output.suffix.lower() != ".zip":
        raise MicrosegInputError(f"{output}: name the bioimage.io package with a .zip suffix.")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rdf = bioimageio_description(bundle, folder)
        (folder / "rdf.yaml").write_text(yaml.safe_dump(rdf, sort_keys=False, allow_unicode=True))
        with atomic_output(output) as target, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(folder.iterdir()):
                archive.write(path, path.name)
    logger.info(
        "%s: bioimage.io package (format %s); check it with `bioimageio test %s`", output, FORMAT_VERSION, output
    )
    return output
