"""The ``microseg`` command: a thin layer over ``monai.bundle`` for users who prefer one word.

    microseg list
    microseg segment --bundle fibsem_mitochondria_segmentation --input stack.tif --output out/
    microseg evaluate --bundle fibsem_mitochondria_segmentation --dataset_dir data/lucchi --output out/
    microseg train --bundle fibsem_mitochondria_segmentation --dataset_dir data/lucchi
    microseg export --bundle fibsem_mitochondria_segmentation
    microseg data list | microseg data download lucchi --dest data/lucchi

Extra ``--key value`` options are passed to the bundle config as overrides (e.g. ``--tta dihedral``). Errors in
the input print one line and exit with status 2.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from microseg.errors import MicrosegInputError

__all__ = ["Microseg", "main", "run_bundle"]


def run_bundle(bundle: str | os.PathLike, configs: Sequence[str], **overrides) -> None:
    """Run ``python -m monai.bundle run`` in-process on the bundle's ``configs`` with ``overrides``."""
    from monai.bundle import run

    from microseg.bundle import resolve_bundle

    root = resolve_bundle(bundle)
    files = [str(root / "configs" / name) for name in configs]
    run(
        config_file=files if len(files) > 1 else files[0],
        meta_file=str(root / "configs" / "metadata.json"),
        logging_file=str(root / "configs" / "logging.conf"),
        bundle_root=str(root),
        **overrides,
    )


class Data:
    """Public data sets: ``list``, and ``download NAME --dest DIR``."""

    def list(self) -> list[str]:
        """Print the data sets with their home page, licence and bundle."""
        from microseg.data.download import DATASETS

        for spec in DATASETS.values():
            print(
                f"{spec.name:14s} {spec.description}\n{'':14s} {spec.homepage}\n{'':14s} licence: {spec.license}"
                + (f"\n{'':14s} bundle: {spec.bundle}" if spec.bundle else "")
            )
        return []

    def download(self, name: str, dest: str, sha256: str | Sequence[str] = ()) -> str:
        """Download, verify and lay out data set ``name`` under ``dest``; ``--sha256 FILE=HASH`` pins a file."""
        from microseg.data.download import download_dataset

        pins = dict(item.split("=", 1) for item in ([sha256] if isinstance(sha256, str) else sha256) if item)
        return str(download_dataset(name, dest, pins))


class Microseg:
    """Segment microscopy images with the microseg MONAI bundles."""

    def __init__(self) -> None:
        self.data = Data()

    def list(self) -> list[str]:
        """Print the installed bundles with version and task."""
        from microseg.bundle import bundle_dirs, bundles_home

        bundles = bundle_dirs()
        if not bundles:
            print(f"no bundles found in {bundles_home()} (set MICROSEG_BUNDLES to a folder of bundles)")
        for name, path in bundles.items():
            meta = json.loads((path / "configs" / "metadata.json").read_text())
            print(f"{name:40s} {meta.get('version', '?'):8s} {meta.get('task', '')}")
        return []

    def segment(self, bundle: str, input: str, output: str, **overrides) -> str:
        """Segment ``input`` (image, stack, folder, ``file.h5:/dataset``) into ``output`` with ``bundle``."""
        run_bundle(bundle, ["inference.json"], dataset_dir=input, output_dir=output, **overrides)
        return output

    def evaluate(self, bundle: str, dataset_dir: str, output: str, **overrides) -> str:
        """Evaluate the bundle's weights on ``dataset_dir``; writes ``metrics.json`` and a per-slice/image CSV."""
        run_bundle(bundle, ["train.json", "evaluate.json"], dataset_dir=dataset_dir, output_dir=output, **overrides)
        return str(Path(output) / "metrics.json")

    def train(self, bundle: str, dataset_dir: str, **overrides) -> None:
        """Train the bundle on ``dataset_dir`` (resumes from ``models/checkpoint_last.pt`` when present)."""
        run_bundle(bundle, ["train.json"], dataset_dir=dataset_dir, **overrides)

    def export(self, bundle: str, formats: str | Sequence[str] = ("torchscript", "onnx"), check: bool = True) -> dict:
        """Write ``models/model.ts`` and ``models/model.onnx`` from ``models/model.pt`` and check their parity."""
        from microseg.export import export_bundle

        names = formats.split(",") if isinstance(formats, str) else list(formats)
        return export_bundle(bundle, names, check)


def _input_error(error: BaseException) -> MicrosegInputError | None:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, MicrosegInputError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``microseg`` console script."""
    import fire

    logging.basicConfig(level=logging.INFO, format="%(asctime)s - %(name)s - %(levelname)s - %(message)s")
    try:
        fire.Fire(Microseg, command=list(argv) if argv is not None else None, name="microseg")
    except Exception as error:
        found = _input_error(error)
        if found is None:
            raise
        print(f"microseg: error: {found}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
