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

import argparse
import ast
import json
import logging
import os
import re
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


def run_bundle(
    bundle: str | os.PathLike,
    configs: Sequence[str],
    trust_bundle: bool = False,
    bundle_logging: bool = True,
    **overrides,
) -> None:
    """Run ``python -m monai.bundle run`` in-process on the bundle's ``configs`` with ``overrides``, with progress
    bars on the engines it runs (:mod:`microseg.progress`; shown only when turned on).

    Args:
        bundle: an installed bundle's name, or a bundle folder (outside the installed ones only with
            ``trust_bundle``: its configs run Python code).
        configs: config file names under ``configs/``; later ones override earlier ones.
        trust_bundle: run a bundle from outside the installed collection.
        bundle_logging: apply the bundle's ``logging.conf`` (MONAI's INFO lines on standard output) as
            ``python -m monai.bundle run`` does; ``False`` leaves logging as the caller set it up.
        overrides: config keys and values; each must exist in the configs, with a value of the default's kind.
    """
    from monai.bundle import create_workflow

    from microseg.bundle import check_trusted

    root = check_trusted(bundle, as_bool(trust_bundle, "trust_bundle"))
    files = [str(root / "configs" / name) for name in configs]
    overrides = _normalise(overrides)
    check_overrides(files, overrides)
    workflows_logger = logging.getLogger("monai.bundle.workflows")
    level = workflows_logger.level
    if not bundle_logging:
        workflows_logger.setLevel(logging.ERROR)  # its "logging file is set to False" notice
    try:
        workflow = create_workflow(
            config_file=files if len(files) > 1 else files[0],
            meta_file=str(root / "configs" / "metadata.json"),
            logging_file=str(root / "configs" / "logging.conf") if bundle_logging else False,
            bundle_root=str(root),
            **overrides,
        )
    finally:
        workflows_logger.setLevel(level)
    bars = _attach_progress(workflow.parser)
    try:
        workflow.run()
        workflow.finalize()
    finally:
        for bar in bars:
            bar.close()


_RUN_ENGINE = re.compile(r"@([\w#:]+)\.run\(")  # MONAI writes a#b as a::b once parsed


def _attach_progress(parser) -> list:
    """Progress bars on the engines that the config's ``run`` expressions start (``$@train#trainer.run()``): a
    trainer gets epoch and iteration bars with its validation metric, an evaluator a bar over its inputs."""
    from monai.engines import Trainer

    from microseg.handlers.progress import EvaluationProgress, TrainingProgress

    runs = parser.get("run", [])
    bars = []
    for engine_id in _RUN_ENGINE.findall(" ".join(str(r) for r in (runs if isinstance(runs, list) else [runs]))):
        engine_id = engine_id.replace("::", "#")
        engine = parser.get_parsed_content(engine_id)
        if isinstance(engine, Trainer):
            validation = "validate#evaluator"
            bar = TrainingProgress(parser.get_parsed_content(validation) if validation in parser else None)
        else:
            bar = EvaluationProgress("evaluate" if engine_id.startswith("validate") else "segment")
        bar.attach(engine)
        bars.append(bar)
    return bars


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

    def __init__(self, bundle_logging: bool = True, show_summary: bool = True) -> None:
        """
        Args:
            bundle_logging: let bundle runs apply their ``logging.conf`` (MONAI's INFO lines), as
                ``python -m monai.bundle run`` does; the ``microseg`` command sets it only with ``--verbose``.
            show_summary: print the table of results at the end of ``segment``.
        """
        self.data = Data()
        self.bundle_logging = bundle_logging
        self.show_summary = show_summary

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
        preview: bool = False,
        pixel_size: float | str | Sequence[float] | None = None,
        **overrides,
    ) -> str:
        """Segment ``input`` (image, stack, folder, ``file.h5:/dataset``) into ``output`` with ``bundle``.

        Inputs that fail their checks are reported and skipped; the others are segmented, and the command ends with
        status 2 naming how many failed. Run again after an interruption: finished inputs are skipped.

        ``--runtime onnx`` runs ``models/model.onnx`` on ONNX Runtime with NumPy pre- and post-processing and never
        imports PyTorch (:mod:`microseg.onnx_infer`; every input is segmented, there is no resume);
        ``--providers CUDAExecutionProvider,CPUExecutionProvider`` picks its execution providers.

        At the end ``summary.csv`` in ``output`` gives, per input, the objects, foreground fraction and median object
        size (in µm² or µm³ when ``pixel_size`` in µm is given or the input file records it), and the same table is
        printed; ``preview`` also writes ``<input>_preview.png``, the objects' outlines over the image.
        """
        if runtime not in ("torch", "onnx"):
            raise MicrosegInputError(f"--runtime {runtime!r}: use torch (the default) or onnx.")
        preview = as_bool(preview, "preview")
        if pixel_size is not None:
            from microseg.io.metadata import parse_pixel_size

            parse_pixel_size(pixel_size, 2)  # refuse a bad value before the run
        finished = False
        try:
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
            else:
                run_bundle(
                    bundle,
                    ["inference.json"],
                    trust_bundle,
                    self.bundle_logging,
                    dataset_dir=str(input),
                    output_dir=str(output),
                    **overrides,
                )
            finished = True
        finally:  # a batch in which some inputs failed (failed_inputs.txt) still gets the summary of the others
            if finished or (Path(output) / "failed_inputs.txt").is_file():
                self._summarise(bundle, input, output, preview, pixel_size, overrides)
        return str(output)

    def _summarise(self, bundle, input, output, preview: bool, pixel_size, overrides: dict) -> list[dict]:
        """``summary.csv`` (and previews) for the masks that a segment run wrote into ``output``."""
        from microseg.reporting.summary import format_summary, segmented_pairs, summarise_run, write_summary_csv

        pairs = segmented_pairs(bundle, input, output, **_normalise(overrides))
        rows = summarise_run(pairs, pixel_size)
        if not rows:
            return rows
        write_summary_csv(rows, Path(output) / "summary.csv")
        if preview:
            from microseg.reporting.preview import write_previews

            write_previews(pairs, output)
        if self.show_summary:
            print(format_summary(rows))
            print(f"{len(rows)} result(s) in {output} (table: {Path(output) / 'summary.csv'})")
        return rows

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
        run_bundle(
            bundle,
            configs,
            trust_bundle,
            self.bundle_logging,
            dataset_dir=str(dataset_dir),
            output_dir=str(output),
            **overrides,
        )
        return str(Path(output) / "metrics.json")

    def train(self, bundle: str, dataset_dir: str, trust_bundle: bool = False, **overrides) -> None:
        """Train the bundle on ``dataset_dir`` (resumes from ``models/checkpoint_last.pt`` when present)."""
        run_bundle(bundle, ["train.json"], trust_bundle, self.bundle_logging, dataset_dir=str(dataset_dir), **overrides)

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


# ---------------------------------------------------------------------------------------------------------------------
# The command line: argparse, one spelling per command, the bundle's own settings in --help.

COMMANDS = {
    "list": "list the installed bundles with their version and task",
    "segment": "segment images, stacks or folders with a bundle; prints a table of results, writes summary.csv",
    "segment-large": "segment an image or volume larger than memory into a chunked HDF5 or Zarr output",
    "evaluate": "score the bundle's weights on a labelled data set; writes metrics.json, a CSV table, report.html",
    "train": "train the bundle on your data (resumes from models/checkpoint_last.pt)",
    "export": "write TorchScript/ONNX files of the weights, or a bioimage.io package",
    "check-bundle": "check a bundle folder: layout, metadata, config keys, weights, export parity",
    "data": "public data sets: 'data list', 'data download NAME --dest DIR'",
}

# The configs each command runs, whose top-level settings it accepts as --key value.
COMMAND_CONFIGS = {
    "segment": ("inference.json",),
    "segment-large": ("inference.json",),
    "evaluate": ("train.json", "evaluate.json"),
    "train": ("train.json",),
    "export": ("inference.json",),
}

# One line on the settings most bundles share (the others are listed with their default only).
SETTING_HELP = {
    "threshold": "probability threshold of the mask",
    "tta": "test-time augmentation: none, flips or dihedral (dihedral_z for the 3D-context SBEM models)",
    "backend": "inference back end: eager, compile, torchscript or onnx",
    "precision": "auto (bfloat16 on CUDA GPUs, float32 on CPUs), float32, bfloat16 or float16",
    "channels_last": "channels-last memory layout for the network",
    "roi_size": "tile size of the tiled prediction",
    "overlap": "fraction of a tile shared with its neighbours",
    "sw_batch_size": "tiles per network call",
    "min_object_size": "objects smaller than this many pixels (voxels) are removed",
    "save_probabilities": "also write the probability map (<name>_prob)",
    "save_uncertainty": "also write the test-time augmentation spread (<name>_uncertainty)",
    "skip_existing": "skip inputs finished by an earlier run into the same output folder",
    "write_in_background": "write outputs on a background thread while the next input is predicted",
    "folder_mode": "a folder is: auto, stack (one stack of slices) or images (each file one input)",
    "context_slices": "adjacent slices given to the network as channels",
    "max_epochs": "epochs to train",
    "batch_size": "training batch size",
    "learning_rate": "learning rate of the optimiser",
    "num_workers": "data loader worker processes",
    "augment_on_device": "run the random augmentation batched on the training device (GPU) instead of the workers",
    "resume": "resume from models/checkpoint_last.pt",
    "tensorboard": "log to TensorBoard under output_dir",
    "mlflow": "log the run to MLflow",
    "val_interval": "validate every this many epochs",
    "seed": "random seed",
    "target": "which model of the bundle: its target (SBEM: mitochondria or membrane)",
    "variant": "which model of the bundle: its variant (SBEM: deepem3d_1fm, deepem3d_3fm, ...)",
    "save_predictions": "also write the predicted masks",
}

_HIDDEN_SETTINGS = {"bundle_root", "dataset_dir", "output_dir", "imports", "progress_bar"}


def bundle_settings(bundle: str | os.PathLike, configs: Sequence[str]) -> dict:
    """The settings of ``configs`` that ``--key value`` overrides: top-level keys with a literal value (no ``$``
    expression, reference or component), later files overriding earlier ones, in file order."""
    from microseg.bundle import resolve_bundle

    root = resolve_bundle(bundle)
    merged: dict = {}
    for name in configs:
        path = root / "configs" / name
        if path.is_file():
            merged.update(json.loads(path.read_text()))
    settings = {}
    for key, value in merged.items():
        if key.startswith("_") or "#" in key or key in _HIDDEN_SETTINGS or isinstance(value, dict):
            continue
        if _kind(value) is None or (
            isinstance(value, list) and not all(_kind(v) in ("a number", "text") for v in value)
        ):
            continue
        settings[key] = value
    return settings


def _settings_epilog(command: str, bundle: str | None) -> str:
    configs = COMMAND_CONFIGS.get(command)
    if configs is None:
        return ""
    if not bundle:
        return (
            f"Every setting of the bundle's {' + '.join(configs)} is an option too (--key value; nested ones a#b). "
            f"Add --bundle NAME to this --help to list them with their defaults."
        )
    try:
        settings = bundle_settings(bundle, configs)
    except MicrosegInputError as error:
        return f"(cannot list the settings of {bundle}: {error})"
    lines = [f"settings of {Path(str(bundle)).name} ({' + '.join(configs)}), each overridable as --key value:"]
    shown = {key: value if isinstance(value, str) else json.dumps(value) for key, value in settings.items()}
    width = max((len(key) + len(text) for key, text in shown.items()), default=0) + 5
    for key, text in shown.items():
        option = f"  --{key} {text}"
        lines.append(f"{option.ljust(width)}  {SETTING_HELP[key]}" if key in SETTING_HELP else option)
    return "\n".join(lines)


class _Parser(argparse.ArgumentParser):
    """argparse with errors as :class:`MicrosegInputError` (printed as one line, exit status 2)."""

    def error(self, message: str):
        raise MicrosegInputError(f"{message} (see {self.prog} --help).")


def _doc(method) -> str:
    """A method's docstring as command help: its paragraphs without reStructuredText markup."""
    import inspect

    text = inspect.cleandoc(method.__doc__ or "")
    return re.sub(r":\w+:`([^`]*)`", r"\1", text).replace("``", "")


def _flag(text: str) -> bool:
    return as_bool(text)


def _add_common(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("output of the command")
    group.add_argument("-q", "--quiet", action="store_true", help="no progress bars, no table; warnings and errors")
    group.add_argument("-v", "--verbose", action="store_true", help="every log line of MONAI and microseg")
    group.add_argument("--debug", action="store_true", help="show the Python traceback of an error (implies -v)")


def _add_trust(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--trust_bundle",
        type=_flag,
        nargs="?",
        const=True,
        default=False,
        help="run a bundle from outside the installed collection (its configs run Python code) (default: false)",
    )


def _add_runtime(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runtime", default="torch", help="torch or onnx (ONNX Runtime, no PyTorch) (default: torch)")
    parser.add_argument(
        "--providers", default="", help="ONNX Runtime execution providers, comma-separated (default: automatic)"
    )


def build_parser(bundle: str | None = None) -> argparse.ArgumentParser:
    """The ``microseg`` argument parser; ``bundle`` (when known) adds its settings to the commands' ``--help``."""
    from microseg import __version__

    formatter = argparse.RawDescriptionHelpFormatter
    parser = _Parser(
        prog="microseg",
        description="Segment microscopy images with the microseg MONAI bundles.",
        epilog="Run 'microseg COMMAND --help' for a command's options (with --bundle NAME: the bundle's settings).",
        formatter_class=formatter,
        allow_abbrev=False,
    )
    parser.add_argument("--version", action="version", version=f"microseg {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands", parser_class=_Parser)

    def command(name: str, description: str = "") -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name,
            help=COMMANDS[name],
            description=description or COMMANDS[name],
            epilog=_settings_epilog(name, bundle),
            formatter_class=formatter,
            allow_abbrev=False,
        )
        _add_common(sub)
        return sub

    command("list")

    sub = command("segment", _doc(Microseg.segment))
    sub.add_argument("--bundle", required=True, help="an installed bundle's name, or a bundle folder")
    sub.add_argument("--input", required=True, help="image, stack, folder of images or slices, or file.h5:/dataset")
    sub.add_argument("--output", required=True, help="output folder")
    sub.add_argument(
        "--preview", type=_flag, nargs="?", const=True, default=False, help="write <input>_preview.png per input"
    )
    sub.add_argument(
        "--pixel_size",
        default=None,
        help="pixel size in µm (one number, or y,x or z,y,x) for the sizes in the table (default: the file's own)",
    )
    _add_runtime(sub)
    _add_trust(sub)

    sub = command("segment-large")
    sub.add_argument("--bundle", required=True, help="an installed bundle's name, or a bundle folder")
    sub.add_argument("--input", required=True, help="TIFF, file.h5:/dataset, .zarr or folder of slices")
    sub.add_argument("--output", required=True, help="output.h5 or output.zarr")
    sub.add_argument(
        "--block_size", type=int, default=2048, help="side of the blocks predicted at once (default: %(default)s)"
    )
    sub.add_argument("--save_probabilities", type=_flag, nargs="?", const=True, default=True, help="(default: true)")
    sub.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    _add_runtime(sub)
    _add_trust(sub)

    sub = command("evaluate")
    sub.add_argument("--bundle", required=True, help="an installed bundle's name, or a bundle folder")
    sub.add_argument("--dataset_dir", required=True, help="the labelled data set (layout: the bundle's model card)")
    sub.add_argument("--output", required=True, help="folder for metrics.json, the CSV table and report.html")
    _add_trust(sub)

    sub = command("train")
    sub.add_argument("--bundle", required=True, help="an installed bundle's name, or a bundle folder")
    sub.add_argument("--dataset_dir", required=True, help="the labelled data set (layout: the bundle's model card)")
    _add_trust(sub)

    sub = command("export", _doc(Microseg.export))
    sub.add_argument("bundle_name", nargs="?", metavar="BUNDLE", help="the bundle (or give --bundle)")
    sub.add_argument("output", nargs="?", metavar="OUT", help="with --format bioimageio: the package file (.zip)")
    sub.add_argument("--bundle", dest="bundle_option", default=None, help="the bundle")
    sub.add_argument("--format", default=None, choices=("bioimageio",), help="write one bioimage.io package")
    sub.add_argument(
        "--formats", default="torchscript,onnx", help="bundle exports: torchscript, onnx, pt2 (default: %(default)s)"
    )
    sub.add_argument("--check", type=_flag, nargs="?", const=True, default=True, help="check parity (default: true)")
    _add_trust(sub)

    sub = command("check-bundle", _doc(Microseg.check_bundle))
    sub.add_argument("bundle", help="a bundle name or folder")
    sub.add_argument(
        "--parity", type=_flag, nargs="?", const=True, default=True, help="check export parity (default: true)"
    )
    _add_trust(sub)

    sub = command("data")
    actions = sub.add_subparsers(dest="action", metavar="ACTION", title="actions", parser_class=_Parser, required=True)
    listing = actions.add_parser("list", help="the data sets with home page, licence and bundle")
    _add_common(listing)
    download = actions.add_parser("download", help="download, verify and lay out a data set")
    download.add_argument("name", help="a data set name from 'microseg data list'")
    download.add_argument("--dest", required=True, help="destination folder")
    download.add_argument("--sha256", action="append", default=[], metavar="FILE=HASH", help="pin a file's digest")
    _add_common(download)
    return parser


def _literal(text: str):
    """A command-line value as Python reads a literal (numbers, lists, tuples ``128,128``), else the text."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return text


def split_overrides(argv: Sequence[str], known: set[str]) -> tuple[list[str], dict]:
    """``(argv without the overrides, {key: value})``: every ``--key value`` / ``--key=value`` / ``--key`` (true)
    whose option is not in ``known`` is a config override."""
    rest, overrides = [], {}
    tokens = list(argv)
    i = 0
    while i < len(tokens):
        token = tokens[i]
        name = token.split("=", 1)[0]
        if token.startswith("--") and len(token) > 2 and name not in known:
            key = name[2:]
            if "=" in token:
                overrides[key] = _literal(token.split("=", 1)[1])
            elif i + 1 < len(tokens) and not tokens[i + 1].startswith("--"):
                overrides[key] = _literal(tokens[i + 1])
                i += 1
            else:
                overrides[key] = True
        else:
            rest.append(token)
        i += 1
    return rest, overrides


def _option_names(parser: argparse.ArgumentParser, command: str | None) -> set[str]:
    """Every option string of ``command`` (and its sub-actions), or of the top-level parser."""
    names = {s for a in parser._actions for s in a.option_strings}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and command in action.choices:
            sub = action.choices[command]
            names |= {s for a in sub._actions for s in a.option_strings}
            for inner in sub._actions:
                if isinstance(inner, argparse._SubParsersAction):
                    for child in inner.choices.values():
                        names |= {s for a in child._actions for s in a.option_strings}
    return names


def _bundle_in(argv: Sequence[str]) -> str | None:
    """The ``--bundle`` value (or ``check-bundle``/``export``'s positional bundle) of an argument list."""
    for i, token in enumerate(argv):
        if token == "--bundle" and i + 1 < len(argv):
            return argv[i + 1]
        if token.startswith("--bundle="):
            return token.split("=", 1)[1]
    positional = [t for t in argv[1:] if not t.startswith("-")]
    if argv and argv[0] in ("check-bundle", "export") and positional:
        return positional[0]
    return None


def parse_command_line(argv: Sequence[str]) -> tuple[argparse.Namespace, dict]:
    """``(options, config overrides)`` of a ``microseg`` command line (``segment_large`` is read as
    ``segment-large``)."""
    argv = list(argv)
    if argv and argv[0] in ("segment_large", "check_bundle"):
        argv[0] = argv[0].replace("_", "-")
    parser = build_parser(_bundle_in(argv) if {"-h", "--help"} & set(argv) else None)
    command = argv[0] if argv and not argv[0].startswith("-") else None
    rest, overrides = split_overrides(argv, _option_names(parser, command) | {"-h", "--help"})
    if overrides and command not in COMMAND_CONFIGS:
        shown = ", ".join(f"--{k}" for k in overrides)
        raise MicrosegInputError(f"microseg {command or ''}: unknown option(s) {shown} (see microseg --help).")
    return parser.parse_args(rest), overrides


def _run_command(options: argparse.Namespace, overrides: dict) -> None:
    app = Microseg(bundle_logging=options.verbose or options.debug, show_summary=not options.quiet)
    command = options.command
    if command == "list":
        app.list()
    elif command == "segment":
        app.segment(
            options.bundle,
            options.input,
            options.output,
            options.trust_bundle,
            options.runtime,
            options.providers,
            options.preview,
            options.pixel_size,
            **overrides,
        )
    elif command == "segment-large":
        output = app.segment_large(
            options.bundle,
            options.input,
            options.output,
            options.block_size,
            options.save_probabilities,
            options.device,
            options.trust_bundle,
            options.runtime,
            options.providers,
            **overrides,
        )
        if not options.quiet:
            print(output)
    elif command == "evaluate":
        metrics = app.evaluate(options.bundle, options.dataset_dir, options.output, options.trust_bundle, **overrides)
        if not options.quiet:
            print(f"metrics: {metrics}; report: {Path(metrics).with_name('report.html')}")
    elif command == "train":
        app.train(options.bundle, options.dataset_dir, options.trust_bundle, **overrides)
    elif command == "export":
        bundle = options.bundle_option or options.bundle_name
        if bundle is None:
            raise MicrosegInputError("microseg export: name the bundle (microseg export NAME, or --bundle NAME).")
        result = app.export(
            bundle, options.output, options.format, options.formats, options.check, options.trust_bundle, **overrides
        )
        if not options.quiet:
            print(json.dumps(result, indent=2) if isinstance(result, dict) else result)
    elif command == "check-bundle":
        app.check_bundle(options.bundle, options.parity, options.trust_bundle)
    elif command == "data" and options.action == "list":
        app.data.list()
    elif command == "data":
        path = app.data.download(options.name, options.dest, options.sha256)
        if not options.quiet:
            print(path)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``microseg`` console script: 0 on success, 2 with one ``microseg: error:`` line on standard
    error for bad input (``--debug``: with its traceback)."""
    from microseg.console import console

    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        options, overrides = parse_command_line(argv)
    except MicrosegInputError as error:
        print(f"microseg: error: {error}", file=sys.stderr)
        return 2
    except SystemExit as done:  # --help and --version
        return int(done.code or 0)
    if options.command is None:
        build_parser().print_help()
        return 0
    with console(options.quiet, options.verbose, options.debug) as handler:
        try:
            _run_command(options, overrides)
        except Exception as error:
            found = _input_error(error)
            if found is None:
                raise
            if options.debug:
                import traceback

                traceback.print_exc()
            for line in handler.skipped:
                if line != str(found):
                    print(f"microseg: skipped: {line}", file=sys.stderr)
            print(f"microseg: error: {found}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("microseg: interrupted; run the same command again to resume.", file=sys.stderr)
            return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
