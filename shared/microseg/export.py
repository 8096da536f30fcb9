"""Export a bundle's network to TorchScript and ONNX, and check both against eager PyTorch.

TorchScript goes through ``monai.bundle ckpt_export`` (the archive embeds the bundle's metadata and inference
config, as MONAI Model Zoo does). ONNX uses ``torch.onnx.export`` (the dynamo exporter, which needs
``onnxscript``) with dynamic batch, height and width; the network takes any height and width divisible by its total
stride (16 for the 4-level U-Net), which the tiled inferer's tiles always are. Detectors (torchvision Mask R-CNN)
are scripted for TorchScript and exported to ONNX with the TorchScript-based exporter, one image per call.
Single-slope ``PReLU`` activations are written as ``LeakyRelu`` (the same function), which ONNX Runtime fuses into
the preceding convolution.

``torch.export`` (``models/model.pt2``, the successor of TorchScript) is written on request (format ``pt2``) for the
segmentation networks, with dynamic batch, height and width (multiples of the network's total stride, found by
trying 8, 16 and 32); load it with ``torch.export.load(path).module()``. The detectors are not exported this way
(torchvision's Mask R-CNN does not go through ``torch.export``): use TorchScript for them.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from microseg.bundle import load_network, models_dir, network_input_channels, record_weights, resolve_bundle
from microseg.io.writers import atomic_output

__all__ = [
    "check_parity",
    "export_bundle",
    "export_onnx",
    "export_program",
    "export_torchscript",
    "prelu_as_leaky_relu",
]

logger = logging.getLogger(__name__)

PARITY_SHAPES = ((1, 256, 256), (2, 320, 448))


def export_torchscript(
    bundle: str | os.PathLike,
    filepath: str | os.PathLike | None = None,
    weights: str | os.PathLike | None = None,
    **overrides,
) -> Path:
    """Write ``model.ts`` (or ``filepath``) from ``model.pt`` (or ``weights``) in the bundle's weight folder
    (:func:`~microseg.bundle.models_dir`, chosen by ``overrides``) with ``monai.bundle.ckpt_export``; the
    overrides are stored in the embedded config."""
    from monai.bundle import ckpt_export

    root = resolve_bundle(bundle)
    folder = models_dir(root, **overrides)
    target = Path(filepath) if filepath is not None else folder / "model.ts"
    ckpt_export(
        net_id="network_def",
        filepath=str(target),
        ckpt_file=str(weights if weights is not None else folder / "model.pt"),
        meta_file=str(root / "configs" / "metadata.json"),
        config_file=str(root / "configs" / "inference.json"),
        key_in_ckpt="model",
        bundle_root=str(root),
        **overrides,
    )
    return target


DETECTION_OUTPUTS = ("boxes", "labels", "scores", "masks")
STRIDES = (8, 16, 32)  # the spatial divisors tried for torch.export's dynamic height and width


def export_program(bundle: str | os.PathLike, filepath: str | os.PathLike | None = None, **overrides) -> Path:
    """Write ``models/model.pt2`` (or ``filepath``) with ``torch.export``: dynamic batch, height and width.

    Height and width are dynamic multiples of the smallest of :data:`STRIDES` that the network accepts (its total
    stride: 16 for the 4-level U-Nets, 8 for the Deep Residual U-Net).

    Raises:
        ValueError: the bundle's network is a detector, or exports with none of the strides.
    """
    from torch.export import Dim, export

    root = resolve_bundle(bundle)
    if _is_detector(root):
        raise ValueError(
            f"{root.name}: torch.export does not take torchvision's Mask R-CNN; export TorchScript instead"
        )
    network = load_network(root, **overrides)
    argument = next(iter(inspect.signature(network.forward).parameters))
    example = torch.rand(2, network_input_channels(root, **overrides), 256, 320)
    errors = []
    for stride in STRIDES:
        batch, height, width = Dim("batch", min=1, max=4096), Dim("h", min=1, max=4096), Dim("w", min=1, max=4096)
        shapes = {argument: {0: batch, 2: stride * height, 3: stride * width}}
        try:
            program = export(network, (example,), dynamic_shapes=shapes)
        except Exception as error:  # torch reports a stride the network cannot take as a constraint violation
            errors.append(f"stride {stride}: {type(error).__name__}")
            continue
        target = Path(filepath) if filepath is not None else models_dir(root, **overrides) / "model.pt2"
        with atomic_output(target) as tmp:
            torch.export.save(program, str(tmp))
        logger.info("%s: torch.export program with height and width multiples of %d", target, stride)
        return target
    raise ValueError(f"{root.name}: torch.export failed with every stride ({'; '.join(errors)})")


def _export_detector_onnx(network: torch.nn.Module, target: Path, opset: int = 17) -> None:
    """A torchvision detector to ONNX with the TorchScript-based exporter (``dynamo=False``), as torchvision tests
    it: one ``(3, H, W)`` image in, ``boxes``, ``labels``, ``scores``, ``masks`` out, dynamic H, W and detection
    count. The dynamo exporter (``torch.export``) cannot capture it: torchvision's ``batched_nms`` branches on
    ``boxes.numel() > 4000``, a data-dependent condition."""
    example = torch.nn.functional.interpolate(torch.rand(1, 3, 8, 8), size=(240, 320), mode="bilinear")[0]
    detections = {0: "detections"}
    tmp = target.with_name(target.name + ".partial")
    torch.onnx.export(
        network,
        ([example],),
        str(tmp),
        input_names=["image"],
        output_names=list(DETECTION_OUTPUTS),
        opset_version=opset,
        dynamo=False,
        dynamic_axes={
            "image": {1: "height", 2: "width"},
            "boxes": detections,
            "labels": detections,
            "scores": detections,
            "masks": {0: "detections", 2: "height", 3: "width"},
        },
    )
    os.replace(tmp, target)


def prelu_as_leaky_relu(network: torch.nn.Module) -> int:
    """Replace every ``PReLU`` with one slope by ``LeakyReLU`` with that slope, in place: the same function (``x``
    for ``x >= 0``, ``slope * x`` below), frozen. ONNX Runtime fuses ``Conv`` + ``LeakyRelu`` into one kernel and
    has no such fusion for ``PRelu``: the FIB-SEM U-Net runs 11-17% faster per tile batch on 2 CPU cores.

    Returns:
        the number of activations replaced.
    """
    replaced = 0
    for module in list(network.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, torch.nn.PReLU) and child.weight.numel() == 1:
                setattr(module, name, torch.nn.LeakyReLU(float(child.weight.detach().reshape(()))))
                replaced += 1
    return replaced


def export_onnx(
    bundle: str | os.PathLike, filepath: str | os.PathLike | None = None, opset: int = 18, **overrides
) -> Path:
    """Write ``models/model.onnx`` (or ``filepath``) with dynamic batch, height and width (input ``image``,
    output ``pred``: logits); a detector is exported by :func:`_export_detector_onnx`. Single-slope ``PReLU``
    activations become ``LeakyRelu`` (:func:`prelu_as_leaky_relu`)."""
    root = resolve_bundle(bundle)
    target = Path(filepath) if filepath is not None else models_dir(root, **overrides) / "model.onnx"
    network = load_network(root, **overrides)
    if _is_detector(root):
        _export_detector_onnx(network, target)
        return target
    logger.info("%d single-slope PReLU written as LeakyRelu", prelu_as_leaky_relu(network))
    example = torch.rand(1, network_input_channels(root, **overrides), 256, 256)
    batch = torch.export.Dim("batch", min=1, max=1024)
    height, width = 16 * torch.export.Dim("h16", min=1, max=4096), 16 * torch.export.Dim("w16", min=1, max=4096)
    tmp = target.with_name(target.name + ".partial")
    torch.onnx.export(
        network,
        (example,),
        str(tmp),
        input_names=["image"],
        output_names=["pred"],
        opset_version=opset,
        dynamo=True,
        external_data=False,
        dynamic_shapes=({0: batch, 2: height, 3: width},),
    )
    os.replace(tmp, target)
    return target


def _is_detector(root: Path) -> bool:
    """Whether the bundle's network returns detections (metadata output type ``object``) rather than logits."""
    meta = json.loads((root / "configs" / "metadata.json").read_text())
    return meta["network_data_format"]["outputs"]["pred"]["type"] == "object"


def _detections_diff(expected: list[dict], actual: list[dict]) -> float:
    """Largest absolute difference between two detectors' outputs; infinite when the detection counts differ."""
    worst = 0.0
    for e, a in zip(expected, actual, strict=True):
        if len(e["scores"]) != len(a["scores"]):
            return float("inf")
        for key in ("boxes", "scores", "masks"):
            if len(e[key]):
                worst = max(worst, float((e[key] - a[key]).abs().max()))
    return worst


def _detector_parity(models: Path, network: torch.nn.Module, shapes: Sequence[Sequence[int]], seed: int) -> dict:
    """TorchScript and ONNX Runtime parity of a torchvision detector on smooth random images."""
    generator = torch.Generator().manual_seed(seed)
    inputs = [
        torch.nn.functional.interpolate(torch.rand(b, 3, 8, 8, generator=generator), size=(h, w), mode="bilinear")
        for b, h, w in shapes
    ]
    result: dict[str, float] = {}
    with torch.no_grad():
        expected = [network(list(x)) for x in inputs]
    ts_path, onnx_path = models / "model.ts", models / "model.onnx"
    if ts_path.is_file():
        scripted = torch.jit.load(str(ts_path), map_location="cpu").eval()
        with torch.no_grad():
            result["torchscript"] = max(
                _detections_diff(e, scripted(list(x))[1]) for x, e in zip(inputs, expected, strict=True)
            )
    if onnx_path.is_file():
        import onnxruntime as ort

        session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
        worst = 0.0
        for x, e in zip(inputs, expected, strict=True):
            for image, det in zip(x, e, strict=True):
                out = session.run(None, {"image": image.numpy()})
                got = {k: torch.from_numpy(v) for k, v in zip(DETECTION_OUTPUTS, out, strict=True)}
                worst = max(worst, _detections_diff([det], [got]))
        result["onnx"] = worst
    return result


def check_parity(
    bundle: str | os.PathLike, shapes: Sequence[Sequence[int]] = PARITY_SHAPES, seed: int = 0, **overrides
) -> dict[str, float]:
    """Largest absolute difference of the TorchScript and ONNX Runtime outputs from eager PyTorch.

    For a detector (Mask R-CNN) the boxes, scores and masks are compared, and a different number of detections
    counts as an infinite difference.

    Args:
        bundle: bundle name or folder with ``models/model.pt`` and the exported files.
        shapes: ``(batch, height, width)`` of the random test inputs (uniform in [0, 1)).
        seed: random seed of the inputs.

    Returns:
        ``{"torchscript": max_abs_diff, "onnx": max_abs_diff, "pt2": max_abs_diff}`` over all inputs (a format whose
        file is missing is left out).
    """
    root = resolve_bundle(bundle)
    network, models = load_network(root, **overrides), models_dir(root, **overrides)
    if _is_detector(root):
        return _detector_parity(models, network, shapes, seed)
    channels = network_input_channels(root, **overrides)
    generator = torch.Generator().manual_seed(seed)
    inputs = [torch.rand(b, channels, h, w, generator=generator) for b, h, w in shapes]
    with torch.no_grad():
        expected = [network(x).numpy() for x in inputs]
    result: dict[str, float] = {}
    ts_path, onnx_path = models / "model.ts", models / "model.onnx"
    if ts_path.is_file():
        scripted = torch.jit.load(str(ts_path), map_location="cpu").eval()
        with torch.no_grad():
            result["torchscript"] = max(
                float(np.abs(scripted(x).numpy() - e).max()) for x, e in zip(inputs, expected, strict=True)
            )
    if onnx_path.is_file():
        import onnxruntime as ort

        session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
        result["onnx"] = max(
            float(np.abs(session.run(None, {"image": x.numpy()})[0] - e).max())
            for x, e in zip(inputs, expected, strict=True)
        )
    program_path = models / "model.pt2"
    if program_path.is_file():
        program = torch.export.load(str(program_path)).module()
        with torch.no_grad():
            result["pt2"] = max(
                float(np.abs(program(x).numpy() - e).max()) for x, e in zip(inputs, expected, strict=True)
            )
    return result


def export_bundle(
    bundle: str | os.PathLike, formats: Sequence[str] = ("torchscript", "onnx"), check: bool = True, **overrides
) -> dict:
    """Export to every format of ``formats`` and, with ``check``, report the parity with eager PyTorch; ``overrides``
    pick the model of a bundle that has several (e.g. ``variant="deepem3d_3fm"``)."""
    unknown = set(formats) - {"torchscript", "onnx", "pt2"}
    if unknown:
        raise ValueError(f"unknown export formats {sorted(unknown)}; use 'torchscript', 'onnx' and/or 'pt2'")
    written = {}
    if "torchscript" in formats:
        written["torchscript"] = str(export_torchscript(bundle, **overrides))
    if "onnx" in formats:
        written["onnx"] = str(export_onnx(bundle, **overrides))
    if "pt2" in formats:
        written["pt2"] = str(export_program(bundle, **overrides))
    for path in written.values():
        record_weights(path)
    report: dict = {"files": written}
    if check:
        report["max_abs_diff"] = check_parity(bundle, **overrides)
        logger.info("export parity (max |difference| from eager PyTorch): %s", report["max_abs_diff"])
    return report
