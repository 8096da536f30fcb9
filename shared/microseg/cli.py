"""The ``microseg`` command: a thin layer over ``monai.bundle`` for users who prefer one word.

    microseg list
    microseg segment --bundle fibsem_mitochondria_segmentation --input stack.tif --output out/
    microseg evaluate --bundle fibsem_mitochondria_segmentation --dataset_dir data/lucchi --output out/
    microseg train --bundle fibsem_mitochondria_segmentation --dataset_dir data/lucchi
    microseg export --bundle fibsem_mitochondria_segmentation
    microseg export --format bioimageio fibsem_mitochondria_segmentation fibsem.zip
    microseg check-bundle bundles/fibsem_mitochondria_segmentation
    microseg data list | microseg data download lucchi --dest data/lucchi

Extra ``--key value`` options are passed to the bundle config as overrides (e.g. ``--tta dihedral``); a key the
bundle does not have, or a value of another type than the bundle's default, is refused. Bundles outside the installed
collection run only with ``--trust_bundle`` (their configs run Python code). Errors in the input print one line and
exit with status 2.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from microseg.errors import MicrosegInputError, find_input_error

__all__ = ["Microseg", "as_bool", "check_overrides", "check_overrides_in", "main", "run_bundle"]


_RUN_OPTIONS = ("run_id", "init_id", "final_id", "tracking")  # monai.bundle.run's own options, not config keys


def _kind(value) -> str | None:
    """The type family an override must match, or ``None`` when anything goes (expressions, references, null)."""
    if value is None or isinstance(value, dict) or (isinstance(value, str) and value[:1] in "$@%"):
        return None
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list | tuple):
        return "a list"
    return "text"


def as_bool(value, name: str = "flag") -> bool:
    """``True``/``False`` from a command-line value: a bool, or the text true/false/yes/no/1/0 in any case (the
    ``fire`` parser turns ``True`` into a bool but leaves ``true`` as text, which Python would take as true).

    Raises:
        MicrosegInputError: any other value.
    """
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "1"):
        return True
    if text in ("false", "no", "0"):
        return False
    raise MicrosegInputError(f"--{name} {value!r}: give true or false.")


def _normalise(overrides: dict) -> dict:
    """Overrides with the texts true/false turned into bools (see :func:`as_bool`)."""
    return {
        key: as_bool(value, key) if isinstance(value, str) and value.strip().lower() in ("true", "false") else value
        for key, value in overrides.items()
    }


def check_overrides(files: Sequence[str | os.PathLike], overrides: dict) -> None:
    """Refuse overrides of keys the configs do not define, or whose value differs in kind from the default
    (``--threshold high`` for a number, ``--roi_size 256`` for a list): :func:`check_overrides_in` on the configs
    read by MONAI's ``ConfigParser``.

    Raises:
        MicrosegInputError: naming the key, and the keys the bundle has or the kind of value it takes.
    """
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config([str(f) for f in files])
    check_overrides_in(parser, overrides)


def check_overrides_in(parser, overrides: dict) -> None:
    """:func:`check_overrides` against a parsed config: anything with ``key in parser``, ``parser[key]`` (the raw
    value) and ``parser.get()`` (the whole config), as MONAI's ``ConfigParser`` or
    :class:`microseg.config.BundleConfig`."""
    for key, value in overrides.items():
        if key in _RUN_OPTIONS:
            continue
        if key not in parser:
            top = sorted(k for k, v in parser.get().items() if not isinstance(v, dict | list) and k != "imports")
            raise MicrosegInputError(
                f"--{key}: the bundle has no setting {key!r} (nested ones are written a#b); its settings are: "
                f"{', '.join(top)}."
            )
        wanted, given = _kind(parser[key]), _kind(value)
        if wanted == "text" and given == "a number":  # a name or path that looks like a number (fire parses 2024)
            continue
        if wanted is not None and given is not None and wanted != given:
            raise MicrosegInputError(
                f"--{key} {value!r}: the bundle's {key!r} takes {wanted} (default {parser[key]!r}), not {given}."
            )


def run_bundle(bundle: str | os.PathLike, configs: Sequence[str], trust_bundle: bool = False, **overrides) -> None:
    """Run ``python -m monai.bundle run`` in-process on the bundle's ``configs`` with ``overrides``.

    Args:
        bundle: an installed bundle's name, or a bundle folder (outside the installed ones only with
            ``trust_bundle``: its configs run Python code).
        configs: config file names under ``configs/``; later ones override earlier ones.
        trust_bundle: run a bundle from outside the installed collection.
        overrides: config keys and values; each must exist in the configs, with a value of the default's kind.
    """
    from monai.bundle import run

    from microseg.bundle import check_trusted

    root = check_trusted(bundle, as_bool(trust_bundle, "trust_bundle"))
    files = [str(root / "configs" / name) for name in configs]
    overrides = _normalise(overrides)
    check_overrides(files, overrides)
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

    def segment(
        self,
        bundle: str,
        input: str,
        output: str,
        trust_bundle: bool = False,
        runtime: str = "torch",
        providers: str | Sequence[str] = (),
        **overrides,
    ) -> str:
        """Segment ``input`` (image, stack, folder, ``file.h5:/dataset``) into ``output`` with ``bundle``.

        Inputs that fail their checks are reported and skipped; the others are segmented, and the command ends with
        status 2 naming how many failed. Run again after an interruption: finished inputs are skipped.

        ``--runtime onnx`` runs ``models/model.onnx`` on ONNX Runtime with NumPy pre- and post-processing and never
        imports PyTorch (:mod:`microseg.onnx_infer`; every input is segmented, there is no resume);
        ``--providers CUDAExecutionProvider,CPUExecutionProvider`` picks its execution providers.
        """
        if runtime == "onnx":
            from microseg.onnx_infer import segment

            names = providers.split(",") if isinstance(providers, str) else list(providers)
            segment(
                bundle,
                input,
                output,
                [n for n in names if n] or None,
                as_bool(trust_bundle, "trust_bundle"),
                **_normalise(overrides),
            )
            return str(output)
        if runtime != "torch":
            raise MicrosegInputError(f"--runtime {runtime!r}: use torch (the default) or onnx.")
        run_bundle(
            bundle, ["inference.json"], trust_bundle, dataset_dir=str(input), output_dir=str(output), **overrides
        )
        return str(output)

    def segment_large(
        self,
        bundle: str,
        input: str,
        output: str,
        block_size: int = 2048,
        save_probabilities: bool = True,
        device: str | None = None,
        trust_bundle: bool = False,
        runtime: str = "torch",
        providers: str | Sequence[str] = (),
        **overrides,
    ) -> str:
        """Segment an image or volume larger than memory into a chunked ``output.h5`` or ``output.zarr``
        (``mask`` uint8, ``probability`` float32), reading ``input`` (TIFF, ``file.h5:/dataset``, ``.zarr``, folder
        of slices) block by block (:mod:`microseg.largeimage`). Under ``torchrun --nproc_per_node N`` the blocks
        are shared among the processes; the result is the same. ``--runtime onnx`` runs ``model.onnx`` on ONNX
        Runtime without PyTorch (one process)."""
        from microseg.largeimage import segment_large

        names = providers.split(",") if isinstance(providers, str) else list(providers)
        result = segment_large(
            bundle,
            input,
            output,
            int(block_size),
            as_bool(save_probabilities, "save_probabilities"),
            device,
            as_bool(trust_bundle, "trust_bundle"),
            runtime,
            [n for n in names if n] or None,
            **_normalise(overrides),
        )
        return result["output"]

    def evaluate(self, bundle: str, dataset_dir: str, output: str, trust_bundle: bool = False, **overrides) -> str:
        """Evaluate the bundle's weights on ``dataset_dir``; writes ``metrics.json`` and a per-slice/image CSV."""
        configs = ["train.json", "evaluate.json"]
        run_bundle(bundle, configs, trust_bundle, dataset_dir=str(dataset_dir), output_dir=str(output), **overrides)
        return str(Path(output) / "metrics.json")

    def train(self, bundle: str, dataset_dir: str, trust_bundle: bool = False, **overrides) -> None:
        """Train the bundle on ``dataset_dir`` (resumes from ``models/checkpoint_last.pt`` when present)."""
        run_bundle(bundle, ["train.json"], trust_bundle, dataset_dir=str(dataset_dir), **overrides)

    def check_bundle(self, bundle: str, parity: bool = True, trust_bundle: bool = False) -> list[str]:
        """Check a bundle folder: layout and card, metadata against the schema, required config keys, version and
        changelog, the digest of every file in ``large_files.yml``, and (``--parity``, default on) that the exported
        TorchScript/ONNX files agree with ``model.pt``. Prints each problem; exit status 2 if there is any.

        The parity check builds the network from the configs, which runs their code: for a bundle outside the
        installed collection it needs ``--trust_bundle`` (or ``--parity false``).
        """
        from microseg.bundle import check_trusted
        from microseg.bundle_check import check_bundle

        parity = as_bool(parity, "parity")
        if parity:
            check_trusted(bundle, as_bool(trust_bundle, "trust_bundle"))
        results = check_bundle(bundle, parity=parity)
        problems = [problem for found in results.values() for problem in found]
        for name, found in results.items():
            print(f"{name:14s} {'ok' if not found else f'{len(found)} problem(s)'}")
            for problem in found:
                print(f"  - {problem}")
        if problems:
            raise MicrosegInputError(f"{bundle}: {len(problems)} problem(s), listed above.")
        return []

    def export(
        self,
        bundle: str,
        output: str | None = None,
        format: str | None = None,
        formats: str | Sequence[str] = ("torchscript", "onnx"),
        check: bool = True,
        trust_bundle: bool = False,
        **overrides,
    ) -> dict | str:
        """Write ``models/model.ts`` and ``models/model.onnx`` from ``models/model.pt`` and check their parity;
        ``--formats torchscript,onnx,pt2`` adds a ``torch.export`` program (``models/model.pt2``).

        Other ``--key value`` options are config overrides that pick the model of a bundle with several (SBEM:
        ``--target membrane --variant deepem3d_1fm``); the files go to that model's folder.

        ``microseg export --format bioimageio BUNDLE OUT.zip`` writes a BioImage Model Zoo package instead
        (:mod:`microseg.bioimageio`; check it with ``bioimageio test OUT.zip``).
        """
        from microseg.bundle import check_trusted

        root = check_trusted(bundle, as_bool(trust_bundle, "trust_bundle"))
        if format == "bioimageio":
            if not output:
                raise MicrosegInputError(
                    "--format bioimageio: give the package file, e.g. microseg export "
                    f"--format bioimageio {root.name} {root.name}.zip"
                )
            from microseg.bioimageio import export_bioimageio

            return str(export_bioimageio(root, output))
        if format is not None or output is not None:
            raise MicrosegInputError(
                f"--format {format!r}: the only single-file format is bioimageio; bundle exports take --formats."
            )
        from microseg.export import export_bundle

        names = formats.split(",") if isinstance(formats, str) else list(formats)
        return export_bundle(root, names, as_bool(check, "check"), **_normalise(overrides))


_input_error = find_input_error  # the name the tests and older callers use


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
