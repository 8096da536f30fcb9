"""A MONAI Deploy application that segments microscopy TIFFs (and PNG, HDF5, slice folders) with a bundle's
TorchScript file through MONAI Deploy's ``MonaiBundleInferenceOperator``.

    python -m microseg.deploy --bundle bundles/fibsem_mitochondria_segmentation/models/model.ts \\
        --input stack.tif --output out/

Three operators: :class:`MicroscopyLoaderOperator` (ours) reads the input with :mod:`microseg.io.load` and emits a
MONAI Deploy ``Image`` with a channel axis, ``(C, H, W)`` or ``(C, Z, H, W)``, and the metadata the bundle's
transforms expect; :class:`BundleOperator` is MONAI Deploy's bundle operator, which reads ``metadata.json`` and
``inference.json`` from the TorchScript archive (``microseg export`` embeds them) and runs the bundle's preprocessing,
inferer and postprocessing, with the bundle's own file loader and writer left out (MONAI Deploy leaves out only
``LoadImage``/``SaveImage``); :class:`MaskWriterOperator` (ours) writes the mask like the input, as ``microseg
segment`` names it.

MONAI Deploy hands bundle outputs of type ``image`` on as ``uint8``: masks are exact, instance labels (DSB, GlaS
U-Net) are exact up to 255 objects per image (more wrap around). Detector bundles (Mask R-CNN) do not run here: the
operator has no output type for their detections. Needs
``pip install monai-deploy-app-sdk`` (Holoscan; see the README for the extra packages it needs on a CPU machine).
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from monai.deploy.core import AppContext, Application, Fragment, Image, IOType, Operator, OperatorSpec
from monai.deploy.operators.monai_bundle_inference_operator import (
    BundleConfigNames,
    IOMapping,
    MonaiBundleInferenceOperator,
)

from microseg.config import SAVED_DEFAULTS, embedded_config, saved_format
from microseg.io.load import read_channel_first
from microseg.io.writers import write_prediction

__all__ = [
    "BundleOperator",
    "MaskWriterOperator",
    "MicroscopyLoaderOperator",
    "MicrosegDeployApp",
    "main",
]

logger = logging.getLogger(__name__)

FILE_STEPS = ("LoadImage", "SaveImage", "LoadMicroscopy", "SaveMask")
"""Transforms left out of a bundle's pre- and postprocessing here: the operators around the bundle read and write."""


class MicroscopyLoaderOperator(Operator):
    """Read ``input_path`` and emit it as ``image``: a MONAI Deploy ``Image`` holding the channel-first array
    (:func:`microseg.io.load.read_channel_first`) and its metadata (``filename_or_obj``, ``original_channel_dim`` 0,
    ``spatial_shape``, ``slice_names`` for folders)."""

    def __init__(self, fragment: Fragment, *args, input_path: str | os.PathLike, **kwargs) -> None:
        self.input_path = Path(input_path)
        super().__init__(fragment, *args, **kwargs)

    def setup(self, spec: OperatorSpec) -> None:
        spec.output("image")

    def compute(self, op_input, op_output, context) -> None:
        array, metadata = read_channel_first(self.input_path)
        logger.info("%s: %s %s", self.input_path, array.dtype, array.shape)
        op_output.emit(Image(array.astype(np.float32), metadata=metadata), "image")


class BundleOperator(MonaiBundleInferenceOperator):
    """MONAI Deploy's bundle inference operator, leaving out the bundle's own file loader and writer as well
    (:data:`FILE_STEPS`)."""

    def _get_compose(self, obj_name, disallowed_prefixes):
        return super()._get_compose(obj_name, [*disallowed_prefixes, *FILE_STEPS])


class MaskWriterOperator(Operator):
    """Receive ``pred`` (a MONAI Deploy ``Image``: ``(H, W)``, or ``(W, H, Z)`` for a stack as the bundle operator
    lays 3D out) and write it like the input into ``output_folder``, as the bundle's ``SaveMaskd`` would
    (:func:`microseg.config.saved_format`: a 0/255 mask, or instance labels)."""

    def __init__(
        self,
        fragment: Fragment,
        *args,
        input_path: str | os.PathLike,
        output_folder: str | os.PathLike,
        saved: dict | None = None,
        **kwargs,
    ) -> None:
        self.input_path, self.output_folder = Path(input_path), Path(output_folder)
        self.saved = saved or dict(SAVED_DEFAULTS)
        self.written: list[str] = []
        super().__init__(fragment, *args, **kwargs)

    def setup(self, spec: OperatorSpec) -> None:
        spec.input("pred")

    def compute(self, op_input, op_output, context) -> None:
        image = op_input.receive("pred")
        mask = np.asarray(image.asnumpy())
        if mask.ndim == 3:
            mask = np.swapaxes(mask, 0, 2)  # MONAI Deploy's (W, H, Z) back to (Z, H, W)
        names = image.metadata().get("slice_names")
        slice_names = names.split("\n") if names else None
        path = write_prediction(mask[None], self.input_path, self.output_folder, slice_names=slice_names, **self.saved)
        self.written.append(path)
        logger.info("%s -> %s", self.input_path, path)


class MicrosegDeployApp(Application):
    """Loader -> bundle (TorchScript with embedded configs) -> mask writer, for one input.

    Args:
        bundle_path: the bundle's ``model.ts`` (``microseg export`` writes it with the configs inside).
        input_path: a TIFF image or stack (or PNG, HDF5 ``file.h5:/ds``, folder of slices).
        output_folder: where the mask goes.
    """

    def __init__(
        self, bundle_path: str | os.PathLike, input_path: str | os.PathLike, output_folder: str | os.PathLike, **kwargs
    ) -> None:
        self.bundle_path, self.input_path, self.output_folder = Path(bundle_path), input_path, output_folder
        self.writer: MaskWriterOperator | None = None
        super().__init__(**kwargs)

    def compose(self) -> None:
        from holoscan.conditions import CountCondition

        loader = MicroscopyLoaderOperator(self, CountCondition(self, 1), input_path=self.input_path, name="loader")
        bundle = BundleOperator(
            self,
            app_context=AppContext({}),  # no model folder: the operator loads bundle_path itself
            input_mapping=[IOMapping("image", Image, IOType.IN_MEMORY)],
            output_mapping=[IOMapping("pred", Image, IOType.IN_MEMORY)],
            bundle_path=self.bundle_path,
            bundle_config_names=BundleConfigNames(config_names=["inference"]),
            name="bundle",
        )
        self.writer = MaskWriterOperator(
            self,
            input_path=self.input_path,
            output_folder=self.output_folder,
            saved=saved_format(embedded_config(self.bundle_path)),
            name="writer",
        )
        self.add_flow(loader, bundle, {("image", "image")})
        self.add_flow(bundle, self.writer, {("pred", "pred")})


def main(argv: Sequence[str] | None = None) -> list[str]:
    """``python -m microseg.deploy --bundle MODEL.ts --input IN --output OUT``; returns the written paths."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", required=True, help="the bundle's TorchScript file (models/model.ts)")
    parser.add_argument("--input", required=True, help="a TIFF image or stack, PNG, file.h5:/dataset or folder")
    parser.add_argument("--output", required=True, help="output folder")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s - %(name)s - %(levelname)s - %(message)s")
    app = MicrosegDeployApp(args.bundle, args.input, args.output)
    app.run()
    return app.writer.written if app.writer else []


if __name__ == "__main__":
    main()
