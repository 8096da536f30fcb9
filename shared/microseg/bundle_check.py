"""``microseg check-bundle``: is a folder a complete, consistent microseg bundle?

Each check returns a list of problems (empty when all is well), one line each, naming the file and what to fix;
:func:`check_bundle` runs them all. The checks read files and parse configs without running them, except the export
parity check, which loads the weights (with ``torch.load(weights_only=True)``) and the exported TorchScript and ONNX
files.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import yaml

__all__ = [
    "CARD_SECTIONS",
    "PARITY_TOLERANCE",
    "REQUIRED_CONFIG_KEYS",
    "REQUIRED_FILES",
    "check_bundle",
    "check_config_keys",
    "check_layout",
    "check_metadata",
    "check_parity_files",
    "check_weights",
]

REQUIRED_FILES = (
    "LICENSE",
    "large_files.yml",
    "configs/metadata.json",
    "configs/train.json",
    "configs/evaluate.json",
    "configs/inference.json",
    "configs/multi_gpu_train.json",
    "configs/logging.conf",
    "docs/README.md",
    "docs/data_license.txt",
)
CARD_SECTIONS = (
    "Overview",
    "Data",
    "Preprocessing",
    "Training configuration",
    "Input/Output",
    "Performance",
    "Commands",
    "References",
    "License",
)
# what MONAI (bundle run, MONAI Label's bundle apps) and microseg look up in each config, merged with the ones before
REQUIRED_CONFIG_KEYS = {
    "inference.json": (
        "bundle_root",
        "device",
        "dataset_dir",
        "output_dir",
        "network_def",
        "preprocessing",
        "inferer",
        "postprocessing",
        "evaluator",
        "run",
        "output_settings",
        "weights_file",
    ),
    "train.json": (
        "bundle_root",
        "device",
        "dataset_dir",
        "network_def",
        "seed",
        "train#trainer",
        "validate#evaluator",
    ),
    "evaluate.json": ("validate#evaluator",),
}
PARITY_TOLERANCE = 1e-3  # largest |difference| of exported outputs from eager PyTorch (float32 logits or scores)


def _read_json(path: Path, problems: list[str]) -> dict | None:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None  # reported by check_layout
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        problems.append(f"{path}: not valid JSON ({error}); fix the syntax.")
        return None


def check_layout(root: Path) -> list[str]:
    """The Model Zoo files exist and the model card has every section."""
    problems = [
        f"{root / f}: missing; every bundle has it (Model Zoo layout)."
        for f in REQUIRED_FILES
        if not (root / f).is_file()
    ]
    card = root / "docs" / "README.md"
    if card.is_file():
        text = card.read_text()
        missing = [s for s in CARD_SECTIONS if f"## {s}" not in text]
        if missing:
            problems.append(f"{card}: no section(s) {', '.join(missing)}; the card has one '## ' heading for each.")
    return problems


def check_metadata(root: Path) -> list[str]:
    """``metadata.json`` is valid against the in-tree schema and its version has a changelog entry."""
    import jsonschema

    problems: list[str] = []
    path = root / "configs" / "metadata.json"
    meta = _read_json(path, problems)
    if meta is None:
        return problems
    schema = json.loads(resources.files("microseg").joinpath("schemas/metadata_schema.json").read_text())
    for error in sorted(jsonschema.Draft7Validator(schema).iter_errors(meta), key=str):
        where = "/".join(map(str, error.absolute_path)) or "(top level)"
        problems.append(f"{path}: {where}: {error.message}")
    version = meta.get("version")
    if version and version not in (meta.get("changelog") or {}):
        problems.append(f"{path}: version {version} has no changelog entry; add one under 'changelog'.")
    return problems


def check_config_keys(root: Path) -> list[str]:
    """Each config defines the keys that MONAI and microseg look up (configs merged as they are run)."""
    from monai.bundle import ConfigParser

    problems: list[str] = []
    for name in ("train.json", "evaluate.json", "inference.json"):
        path = root / "configs" / name
        if _read_json(path, problems) is None:
            continue
        files = [path] if name != "evaluate.json" else [root / "configs" / "train.json", path]
        parser = ConfigParser()
        parser.read_config([str(f) for f in files])
        missing = [key for key in REQUIRED_CONFIG_KEYS[name] if key not in parser]
        if missing:
            problems.append(f"{path}: no {', '.join(missing)}; every bundle's {name} defines them.")
    return problems


def check_weights(root: Path) -> list[str]:
    """Every file in ``large_files.yml`` exists with its listed digest; every weight file in ``models/`` is listed;
    an empty list only when the card says the bundle ships no trained weights."""
    from microseg.bundle import NOT_LISTED, WEIGHT_SUFFIXES, checked_weights
    from microseg.errors import MicrosegInputError

    listing = root / "large_files.yml"
    if not listing.is_file():
        return []
    try:
        entries = (yaml.safe_load(listing.read_text()) or {}).get("large_files") or []
    except yaml.YAMLError as error:
        return [f"{listing}: not valid YAML ({error})."]
    problems = []
    for entry in entries:
        path = root / str(entry.get("path"))
        if not path.is_file():
            problems.append(
                f"{path}: listed in {listing} but missing; fetch the bundle's models/ again (git lfs pull) or remove "
                "the entry."
            )
            continue
        try:
            checked_weights(path)
        except MicrosegInputError as error:
            problems.append(str(error))
    listed = {entry.get("path") for entry in entries}
    models = root / "models"
    shipped = sorted(
        p.relative_to(root).as_posix()
        for p in (models.rglob("*") if models.is_dir() else [])
        if p.suffix in WEIGHT_SUFFIXES and p.name not in NOT_LISTED
    )
    for name in shipped:
        if name not in listed:
            problems.append(f"{root / name}: not in {listing}; run scripts/update_large_files.py {root}.")
    card = root / "docs" / "README.md"
    if not entries and card.is_file() and "no trained weights" not in card.read_text():
        problems.append(f"{listing}: lists no weights, and {card} does not say 'no trained weights'.")
    return problems


def check_parity_files(root: Path, tolerance: float = PARITY_TOLERANCE) -> list[str]:
    """The exported ``model.ts``, ``model.onnx`` and ``model.pt2`` (those present) agree with ``model.pt``, in the
    weight folder ``inference.json`` loads by default (:func:`~microseg.bundle.models_dir`)."""
    from microseg.bundle import models_dir
    from microseg.errors import MicrosegInputError
    from microseg.export import check_parity

    models = models_dir(root)
    if not (models / "model.pt").is_file() or not any(
        (models / f).is_file() for f in ("model.ts", "model.onnx", "model.pt2")
    ):
        return []
    try:
        differences = check_parity(root)
    except MicrosegInputError as error:
        return [f"{models}: parity not checked: {error}"]
    return [
        f"{models}: {name} output differs from eager PyTorch by {diff:.3g} (more than {tolerance:g}); "
        "export again (microseg export --bundle ...)."
        for name, diff in differences.items()
        if not diff <= tolerance
    ]


CHECKS: dict[str, Callable[[Path], list[str]]] = {
    "layout": check_layout,
    "metadata": check_metadata,
    "config keys": check_config_keys,
    "weights": check_weights,
    "export parity": check_parity_files,
}


def check_bundle(bundle: str | os.PathLike, parity: bool = True) -> dict[str, list[str]]:
    """Run every check on the bundle folder (or installed bundle name); ``{check: problems}``, all lists empty when
    the bundle is complete and consistent. ``parity=False`` skips the export parity check, the one that builds the
    network from the configs (running their code) and loads the models.

    Raises:
        MicrosegInputError: ``bundle`` is neither a folder nor an installed bundle's name.
    """
    from microseg.bundle import resolve_bundle

    root = (Path(bundle) if Path(bundle).is_dir() else resolve_bundle(bundle)).resolve()
    return {name: check(root) for name, check in CHECKS.items() if parity or name != "export parity"}
