"""Segment with a bundle's ``models/model.onnx`` through ONNX Runtime, without PyTorch or MONAI.

The bundle's own ``configs/inference.json`` drives it: its preprocessing, inferer and postprocessing components are
read from the JSON and each is mapped to its NumPy twin in :mod:`microseg.ops` (the same functions the MONAI
transforms call, or, for MONAI's own transforms, NumPy versions tested against them), so tiling, Gaussian blending,
test-time augmentation, thresholds and instance post-processing follow the config and its overrides exactly as
``microseg segment`` does. A component without a NumPy twin is an error naming it (see :data:`TRANSFORMS`).

    from microseg.onnx_infer import OnnxBundle
    bundle = OnnxBundle("fibsem_mitochondria_segmentation", tta="flips")
    bundle.segment("stack.tif", "out/")            # writes out/stack_seg.tif, as microseg segment does
    outputs = bundle.predict("stack.tif")          # {"pred": (1, Z, H, W) mask, ...} without writing

On the command line: ``microseg segment --runtime onnx --bundle NAME --input IN --output OUT [--key value ...]``.

ONNX Runtime uses the CUDA execution provider when ``onnxruntime-gpu`` provides it, else the CPU; ``providers``
chooses others (e.g. ``["TensorrtExecutionProvider", "CUDAExecutionProvider"]``). What the PyTorch path does and
this one does not: the resumable manifest of finished inputs (every input is segmented again) and the bundles'
extra report files (DSB's ``submission.csv``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from microseg.config import SAVED_DEFAULTS, BundleConfig, Component
from microseg.errors import MicrosegInputError, log_skipped
from microseg.io.failures import failed_inputs_error
from microseg.ops import detection, image, labels, tiling
from microseg.progress import progress

__all__ = ["TRANSFORMS", "OnnxBundle", "build_inferer", "build_transforms", "default_providers", "segment"]

logger = logging.getLogger(__name__)

# --- the NumPy twins of the config's components ------------------------------------------------------------------

Item = dict[str, Any]


def _meta(data: Item, key: str = "image") -> dict:
    return data.setdefault(f"{key}_meta", {})


def _keys(keys: str | Sequence[str]) -> list[str]:
    return [keys] if isinstance(keys, str) else list(keys)


def _per_key(function: Callable[[np.ndarray, Item, str], np.ndarray]) -> Callable[..., Callable[[Item], Item]]:
    """A dictionary transform from ``function(array, data, key)``, applied to each of ``keys``."""

    def build(keys: str | Sequence[str], allow_missing_keys: bool = False, **kwargs) -> Callable[[Item], Item]:
        def apply(data: Item) -> Item:
            for key in _keys(keys):
                if key in data:
                    data[key] = function(data[key], data, key, **kwargs)
                elif not allow_missing_keys:
                    raise KeyError(f"key {key!r} is not in the data")
            return data

        return apply

    return build


def _whole(function: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    """``function(array, **kwargs)`` on the whole channel-first array."""

    def apply(array: np.ndarray, data: Item, key: str, **kwargs) -> np.ndarray:
        return function(array, **kwargs)

    return apply


def _per_channel(function: Callable[..., np.ndarray], dtype: Any = None) -> Callable[..., np.ndarray]:
    """``function(channel, **kwargs)`` on each channel, stacked (and cast to ``dtype``, as the MONAI transform)."""

    def apply(array: np.ndarray, data: Item, key: str, **kwargs) -> np.ndarray:
        stacked = np.stack([function(channel, **kwargs) for channel in array])
        return stacked if dtype is None else stacked.astype(dtype)

    return apply


def _load(path: str, data: Item, key: str, dtype: Any = "float32", **_) -> np.ndarray:
    """``LoadMicroscopyd``: the image as MONAI's ``LoadImaged`` gives it (float32 unless ``dtype`` says otherwise)."""
    from microseg.io.load import read_image

    loaded = read_image(path)
    spatial = loaded.array.shape[:-1] if loaded.channel_last else loaded.array.shape
    data[f"{key}_meta"] = {
        "filename_or_obj": str(path),
        "channel_last": loaded.channel_last,
        "spatial_shape": tuple(spatial),
        **loaded.extra,
    }
    return loaded.array if dtype is None else loaded.array.astype(dtype, copy=False)


def _channel_first(array: np.ndarray, data: Item, key: str, channel_dim: Any = None, **_) -> np.ndarray:
    if channel_dim == "no_channel":
        return array[None]
    if channel_dim is None:
        return image.channel_first(array, bool(_meta(data, key).get("channel_last")))
    return np.moveaxis(array, int(channel_dim), 0)


def _check(array: np.ndarray, data: Item, key: str, **kwargs) -> np.ndarray:
    meta = _meta(data, key)
    image.check_image(
        array, meta.get("filename_or_obj", key), declared_spatial_shape=meta.get("spatial_shape"), **kwargs
    )
    return array


def _named(function: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    def apply(array: np.ndarray, data: Item, key: str, **kwargs) -> np.ndarray:
        return function(array, _meta(data, key).get("filename_or_obj", key), **kwargs)

    return apply


def _activation(array: np.ndarray, data: Item, key: str, sigmoid: bool = False, softmax: bool = False, **_):
    if sigmoid and softmax:
        raise ValueError("Activationsd: sigmoid and softmax are exclusive")
    return labels.sigmoid(array) if sigmoid else labels.softmax(array, 0) if softmax else array


def _threshold(array: np.ndarray, data: Item, key: str, threshold: float | None = None, **kwargs) -> np.ndarray:
    if threshold is None or kwargs.get("argmax") or kwargs.get("to_onehot"):
        raise ValueError("AsDiscreted: only 'threshold' has a NumPy twin here")
    return (array >= threshold).astype(np.float32)


def _remove_small(array: np.ndarray, data: Item, key: str, min_size: int = 64, connectivity: int = 1, **_):
    if array.shape[0] != 1:
        raise ValueError(f"RemoveSmallObjectsd: one channel expected, got {array.shape[0]}")
    return labels.remove_small_objects(array[0], min_size, connectivity)[None]


def _copy_items(keys: str | Sequence[str], names: str | Sequence[str], times: int = 1, **_) -> Callable[[Item], Item]:
    if times != 1:
        raise ValueError("CopyItemsd: only times=1 has a NumPy twin here")

    def apply(data: Item) -> Item:
        for key, name in zip(_keys(keys), _keys(names), strict=True):
            data[name] = np.array(data[key], copy=True)
        return data

    return apply


def _separate_uncertainty(keys: str | Sequence[str] = "pred", uncertainty_key: str = "uncertainty"):
    def apply(data: Item) -> Item:
        for key in _keys(keys):
            if data[key].shape[0] == 2:
                data[uncertainty_key], data[key] = data[key][1:2], data[key][0:1]
        return data

    return apply


def _filter_detections(array: dict, data: Item, key: str, score_threshold: float = 0.4, nms_threshold: float = 0.5):
    return detection.filter_detections(array, score_threshold, nms_threshold)


def _merge_detections(
    keys: str | Sequence[str] = "pred",
    mask_threshold: float = 0.3,
    merge_threshold: float = 0.9,
    prob_key: str | None = None,
    meta_key: str = "image",
    **_,
):
    def apply(data: Item) -> Item:
        for key in _keys(keys):
            merged, probability = detection.merge_detection_masks(data[key]["masks"], mask_threshold, merge_threshold)
            data[key] = merged
            if prob_key:
                data[prob_key] = probability
        return data

    return apply


def _save(
    keys: str | Sequence[str],
    output_dir: str | os.PathLike,
    meta_key: str = "image",
    postfix: str = SAVED_DEFAULTS["postfix"],
    scale: float = SAVED_DEFAULTS["scale"],
    dtype: str = SAVED_DEFAULTS["dtype"],
    **_,
):
    from microseg.io.writers import write_prediction

    names = _keys(keys)

    def apply(data: Item) -> Item:
        meta = _meta(data, meta_key)
        slice_names = str(meta["slice_names"]).split("\n") if meta.get("slice_names") else None
        for key in names:
            suffix = postfix if len(names) == 1 else f"{postfix}_{key}"
            data[f"{key}_path"] = write_prediction(
                np.asarray(data[key]), meta["filename_or_obj"], output_dir, suffix, scale, dtype, slice_names
            )
        return data

    return apply


TRANSFORMS: dict[str, Callable[..., Callable[[Item], Item]]] = {
    "microseg.transforms.LoadMicroscopyd": _per_key(_load),
    "EnsureChannelFirstd": _per_key(_channel_first),
    "microseg.transforms.CheckImaged": _per_key(_check),
    "microseg.transforms.ToGreyd": _per_key(_named(image.to_grey)),
    "microseg.transforms.EnsureRGBd": _per_key(_named(image.ensure_rgb)),
    "microseg.transforms.PercentileNormalized": _per_key(_whole(image.percentile_normalize)),
    "microseg.transforms.InvertBrightBackgroundd": _per_key(_whole(image.invert_bright_background)),
    "ScaleIntensityRanged": _per_key(_whole(image.scale_intensity_range)),
    "microseg.transforms.SeparateUncertaintyd": _separate_uncertainty,
    "Activationsd": _per_key(_activation),
    "CopyItemsd": _copy_items,
    "AsDiscreted": _per_key(_threshold),
    "RemoveSmallObjectsd": _per_key(_remove_small),
    "FillHolesd": _per_key(_per_channel(labels.fill_holes)),
    "microseg.transforms.OtsuThresholdd": _per_key(_per_channel(labels.otsu_threshold, np.float32)),
    "microseg.transforms.HysteresisThresholdd": _per_key(_per_channel(labels.hysteresis_threshold, np.float32)),
    "microseg.transforms.ClassWatershedd": _per_key(_whole(lambda a, **kw: labels.class_watershed(a, **kw)[None])),
    "microseg.transforms.FillInstanceHolesd": _per_key(_per_channel(labels.fill_instance_holes)),
    "microseg.transforms.SplitTouchingObjectsd": _per_key(
        _per_channel(lambda c, **kw: labels.split_touching_objects(c > 0, **kw))
    ),
    "microseg.transforms.FilterDetectionsd": _per_key(_filter_detections),
    "microseg.transforms.MergeDetectionMasksd": _merge_detections,
    "microseg.transforms.SaveMaskd": _save,
}
"""The NumPy twin of each config component this path can run, by ``_target_`` (MONAI's without ``monai.transforms.``).
A bundle whose inference config uses anything else is refused with the component's name."""


def _unsupported(name: str, where: str) -> MicrosegInputError:
    return MicrosegInputError(
        f"the bundle's {where} uses {name}, which has no NumPy twin for --runtime onnx (known: "
        f"{', '.join(sorted(TRANSFORMS))}); segment without --runtime onnx, or add it to "
        "microseg.onnx_infer.TRANSFORMS."
    )


def build_transforms(config: BundleConfig, key: str) -> list[tuple[str, Callable[[Item], Item]]]:
    """``(name, NumPy transform)`` of each enabled component of the config's ``key`` (a ``Compose`` or a list)."""
    built = []
    for component in config.components(key):
        if component.name not in TRANSFORMS:
            raise _unsupported(component.name, key)
        built.append((component.name, TRANSFORMS[component.name](**component.arguments())))
    return built


class DetectionPredictor:
    """:class:`microseg.inferers.DetectionInferer` for an ONNX detector: one ``(3, H, W)`` image per call, its
    ``boxes``, ``labels``, ``scores`` and ``masks`` outputs as a dict."""

    def __call__(self, inputs: np.ndarray, predictor: Callable[[np.ndarray], dict]) -> list[dict]:
        return [predictor(np.ascontiguousarray(item, np.float32)) for item in inputs]


def build_inferer(component: Component) -> Callable[[np.ndarray, Callable], Any]:
    """The NumPy inferer of the config's ``inferer`` (``RuntimeInferer`` is unwrapped: its back end and precision
    settings are PyTorch's)."""
    name, arguments = component.name, component.arguments()
    if name == "microseg.inferers.RuntimeInferer":
        return build_inferer(arguments["inferer"])
    if name == "microseg.inferers.SliceTiledInferer":
        return tiling.TiledPredictor(**arguments)
    if name == "microseg.inferers.LongestSideInferer":
        inner = arguments.get("inferer")
        return tiling.LongestSidePredictor(
            arguments.get("image_size", 512),
            build_inferer(inner) if inner is not None else None,
            arguments.get("mode", "bilinear"),
        )
    if name == "microseg.inferers.DetectionInferer":
        return DetectionPredictor()
    raise _unsupported(name, "inferer")


def default_providers() -> list[str]:
    """ONNX Runtime's CUDA execution provider when installed (``onnxruntime-gpu``), then the CPU."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]


class OnnxBundle:
    """A bundle's inference pipeline on ONNX Runtime and NumPy.

    Args:
        bundle: an installed bundle's name or a bundle folder (outside the installed collection only with
            ``trust_bundle``: its config expressions are Python).
        providers: ONNX Runtime execution providers, in order of preference (default :func:`default_providers`).
        trust_bundle: run a bundle from outside the installed collection.
        overrides: config keys and values, as for ``microseg segment`` (checked the same way).

    Raises:
        MicrosegInputError: no ``models/model.onnx`` (run ``microseg export``), its digest differs from
            ``large_files.yml``, an unknown override, or a component without a NumPy twin.
    """

    def __init__(
        self,
        bundle: str | os.PathLike,
        providers: Sequence[str] | None = None,
        trust_bundle: bool = False,
        **overrides,
    ) -> None:
        from microseg.bundle import check_trusted, checked_weights
        from microseg.cli import check_overrides_in

        self.root = check_trusted(bundle, trust_bundle)
        self.config = BundleConfig([self.root / "configs" / "inference.json"])
        check_overrides_in(self.config, overrides)
        for key, value in {"bundle_root": str(self.root), **overrides}.items():
            self.config[key] = value
        model = Path(self.config.resolve("ckpt_dir")) / "model.onnx"
        if not model.is_file():
            raise MicrosegInputError(
                f"{model}: no ONNX export of this bundle's weights; write it with `microseg export --bundle "
                f"{self.root.name}` (needs PyTorch once), then segment with --runtime onnx."
            )
        self.model_path = checked_weights(model)
        self.session = self._session(providers)
        self.preprocessing = build_transforms(self.config, "preprocessing")
        self.postprocessing = build_transforms(self.config, "postprocessing")
        self.inferer = build_inferer(self.config.resolve("inferer"))

    def _session(self, providers: Sequence[str] | None):
        import onnxruntime as ort

        session = ort.InferenceSession(self.model_path, providers=list(providers or default_providers()))
        self.input_name = session.get_inputs()[0].name
        self.output_names = [output.name for output in session.get_outputs()]
        logger.info("%s on ONNX Runtime %s, providers %s", self.model_path, ort.__version__, session.get_providers())
        return session

    def run_model(self, batch: np.ndarray) -> np.ndarray | dict[str, np.ndarray]:
        """One call of the network: ``(N, C, h, w)`` logits for a segmentation network, a dict of detections for a
        detector (one ``(3, H, W)`` image)."""
        outputs = self.session.run(None, {self.input_name: batch})
        if len(outputs) == 1:
            return outputs[0]
        return dict(zip(self.output_names, outputs, strict=True))

    def inputs(self, path: str | os.PathLike) -> list[dict]:
        """The bundle's data list for ``path`` (its ``input_list``: one item per image, stack or file of a folder)."""
        self.config["dataset_dir"] = str(path)
        return list(self.config.resolve("input_list"))

    def process(self, item: Mapping[str, Any], write: bool = True) -> Item:
        """Preprocess, predict and postprocess one data-list item (``{"image": path}``); without ``write`` the
        bundle's ``SaveMaskd`` steps are skipped."""
        data: Item = dict(item)
        for _, transform in self.preprocessing:
            data = transform(data)
        prediction = self.inferer(np.asarray(data["image"], np.float32)[None], self.run_model)
        data["pred"] = prediction[0]
        for name, transform in self.postprocessing:
            if write or name != "microseg.transforms.SaveMaskd":
                data = transform(data)
        return data

    def predict(self, path: str | os.PathLike) -> Item:
        """The postprocessed outputs (``pred``, and ``probability``/``uncertainty`` where the config makes them) of one
        image or stack, without writing files."""
        return self.process({"image": str(path)}, write=False)

    def segment(self, input: str | os.PathLike, output: str | os.PathLike) -> list[str]:
        """Segment every input found at ``input`` into ``output``, named as ``microseg segment`` names them.

        Inputs that fail their checks are reported and skipped; if any failed, a :class:`MicrosegInputError` at the
        end names how many. Returns the written mask paths.
        """
        self.config["output_dir"] = str(output)
        self.postprocessing = build_transforms(self.config, "postprocessing")
        written, failed = [], []
        for item in progress(self.inputs(input), desc=Path(os.fspath(input)).name, unit="input"):
            try:
                data = self.process(item)
            except MicrosegInputError as error:
                log_skipped(logger, error)
                failed.append((str(item["image"]), str(error)))
                continue
            written.append(data.get("pred_path", ""))
            logger.info("%s -> %s", item["image"], data.get("pred_path"))
        error = failed_inputs_error(output, failed, len(failed) + len(written))
        if error is not None:
            raise error
        return written


def segment(
    bundle: str | os.PathLike,
    input: str | os.PathLike,
    output: str | os.PathLike,
    providers: Sequence[str] | None = None,
    trust_bundle: bool = False,
    **overrides,
) -> list[str]:
    """Segment ``input`` into ``output`` with ``bundle``'s ONNX model (see :class:`OnnxBundle`)."""
    return OnnxBundle(bundle, providers, trust_bundle, **overrides).segment(input, output)
