"""Finding bundles and loading their configs and networks."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from microseg.errors import MicrosegInputError

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

__all__ = [
    "bundle_dirs",
    "bundles_home",
    "check_trusted",
    "checked_weights",
    "file_digest",
    "file_sha256",
    "large_files_entries",
    "load_network",
    "load_parser",
    "load_weights",
    "models_dir",
    "network_input_channels",
    "record_weights",
    "require_weights",
    "resolve_bundle",
    "stored_threshold",
    "write_large_files",
]

REQUIRED_FILES = ("configs/metadata.json", "configs/inference.json")


def bundles_home() -> Path:
    """The folder that holds the bundles: ``$MICROSEG_BUNDLES``, else ``bundles/`` of the source checkout."""
    env = os.environ.get("MICROSEG_BUNDLES")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "bundles"


def bundle_dirs(home: str | os.PathLike | None = None) -> dict[str, Path]:
    """Bundle name -> folder, for every folder of ``home`` with ``configs/metadata.json`` and ``inference.json``."""
    root = Path(home) if home is not None else bundles_home()
    if not root.is_dir():
        return {}
    return {p.name: p for p in sorted(root.iterdir()) if all((p / f).is_file() for f in REQUIRED_FILES)}


def resolve_bundle(name_or_path: str | os.PathLike) -> Path:
    """A bundle folder from its name (see :func:`bundle_dirs`) or its path.

    Raises:
        MicrosegInputError: no such bundle; the message lists the installed ones.
    """
    path = Path(name_or_path)
    if path.is_dir() and all((path / f).is_file() for f in REQUIRED_FILES):
        return path.resolve()
    known = bundle_dirs()
    if str(name_or_path) in known:
        return known[str(name_or_path)].resolve()
    raise MicrosegInputError(
        f"unknown bundle {str(name_or_path)!r}; installed bundles: {', '.join(known) or 'none'} "
        f"(from {bundles_home()}; set MICROSEG_BUNDLES to another folder of bundles)."
    )


def load_parser(bundle: str | os.PathLike, config: str = "inference.json", **overrides):
    """A MONAI ``ConfigParser`` of ``configs/<config>`` (a list of names merges them), ``bundle_root`` set."""
    from monai.bundle import ConfigParser

    root = resolve_bundle(bundle)
    names = [config] if isinstance(config, str) else list(config)
    parser = ConfigParser()
    parser.read_config([str(root / "configs" / name) for name in names])
    parser.read_meta(str(root / "configs" / "metadata.json"))
    parser.update({"bundle_root": str(root), **overrides})
    return parser


def network_input_channels(bundle: str | os.PathLike, **overrides) -> int:
    """Input channels of the bundle's network: ``num_channels`` of the image in its metadata's
    ``network_data_format``, times the adjacent slices it reads (``context_slices`` of ``inference.json``, 1 if none;
    a config override such as ``variant`` may change it)."""
    root = resolve_bundle(bundle)
    meta = json.loads((root / "configs" / "metadata.json").read_text())
    channels = int(meta["network_data_format"]["inputs"]["image"]["num_channels"])
    parser = load_parser(root, **overrides)
    return channels * (int(parser.get_parsed_content("context_slices")) if "context_slices" in parser else 1)


def models_dir(bundle: str | os.PathLike, **overrides) -> Path:
    """The folder of the weights that ``inference.json`` loads (its ``ckpt_dir``; ``models/`` if it has none). A
    bundle with several models (one per target and variant) picks the folder by config overrides."""
    root = resolve_bundle(bundle)
    return _models_dir(load_parser(root, **overrides), root)


def _models_dir(parser, root: Path) -> Path:
    return Path(parser.get_parsed_content("ckpt_dir")) if "ckpt_dir" in parser else root / "models"


THRESHOLDS_FILE = "thresholds.json"


def stored_threshold(folder: str | os.PathLike, default: float = 0.5) -> float:
    """The probability threshold tuned for the weights in ``folder`` (``thresholds.json`` next to ``model.pt``,
    written by ``scripts/tune_thresholds.py``), or ``default`` when there is none (a logged warning says so)."""
    path = Path(folder) / THRESHOLDS_FILE
    if not path.is_file():
        logger.warning("%s not found: using the probability threshold %s", path, default)
        return float(default)
    try:
        value = float(json.loads(path.read_text())["threshold"])
    except (ValueError, KeyError, TypeError) as error:
        raise MicrosegInputError(
            f"{path}: expected a JSON object with a numeric 'threshold' ({error}); run scripts/tune_thresholds.py "
            "again or pass --threshold."
        ) from error
    if not 0 < value < 1:
        raise MicrosegInputError(f"{path}: threshold {value} is not between 0 and 1; pass --threshold to override.")
    return value


def require_weights(path: str | os.PathLike) -> Path:
    """``path`` when it is a file; otherwise an error saying how to get weights (:func:`checked_weights` starts with
    it, so that a bundle that ships no weights says so before anything runs).

    Raises:
        MicrosegInputError: no file at ``path``.
    """
    path = Path(path)
    if not path.is_file():
        raise MicrosegInputError(
            f"{path}: no weights; train the bundle first (configs/train.json with your dataset_dir) or point ckpt_dir "
            "at a folder holding model.pt (see the bundle's docs/README.md)."
        )
    return path


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 hex digest of a file (cached per path, size and modification time)."""
    return file_digest(path, "sha256")


def file_digest(path: str | os.PathLike, hash_type: str = "sha256") -> str:
    """Hex digest of a file with ``hash_type`` (any ``hashlib`` name; cached per path, size and modification time)."""
    stat = Path(path).stat()
    return _digest(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns, hash_type.lower())


@lru_cache(maxsize=64)
def _digest(path: str, size: int, mtime_ns: int, hash_type: str) -> str:
    digest = hashlib.new(hash_type)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _listing(path: Path) -> tuple[Path, list[dict], dict] | None:
    """``(large_files.yml, its entries, the entry of path)`` in the bundle that holds ``path`` (the nearest parent
    with a listing), or ``None`` when no listing names it."""
    import yaml

    for root in path.parents:
        listing = root / "large_files.yml"
        if listing.is_file():
            entries = (yaml.safe_load(listing.read_text()) or {}).get("large_files") or []
            relative = path.relative_to(root).as_posix()
            entry = next((e for e in entries if e.get("path") == relative), None)
            return None if entry is None else (listing, entries, entry)
    return None


def checked_weights(path: str | os.PathLike) -> str:
    """``path`` of a weight file, after checking it exists and, when its bundle's ``large_files.yml`` lists it, that
    its digest is the one listed (``hash_type``, SHA-256 by default; Model Zoo listings may use MD5). Bundle configs
    pass every weight file through this before loading it.

    Weights the bundle does not list (your own training run, ``ckpt_dir`` pointing elsewhere) are used as they are.

    Raises:
        MicrosegInputError: the file is missing, or its content differs from the listed one (a damaged download, an
            unfinished Git LFS checkout or a replaced file).
    """
    path = require_weights(path).resolve()
    found = _listing(path)
    if found is not None:
        listing, _, entry = found
        expected = str(entry.get("hash_val", "")).lower()
        hash_type = str(entry.get("hash_type") or "sha256")
        actual = file_digest(path, hash_type)
        if actual != expected:
            shown = hash_type.upper().replace("SHA", "SHA-")
            raise MicrosegInputError(
                f"{path}: {shown} {actual[:16]}... differs from {expected[:16]}... listed in {listing}; the file is "
                "damaged, a Git LFS pointer or not the released weights. Fetch the bundle's models/ again (git lfs "
                "pull, or a fresh download); if you replaced the weights on purpose, run scripts/update_large_files.py "
                "on the bundle."
            )
    return str(path)


WEIGHT_SUFFIXES = (".pt", ".ts", ".onnx", ".pt2")
NOT_LISTED = ("checkpoint_last.pt",)  # training state, rewritten every epoch


def large_files_entries(bundle: str | os.PathLike) -> list[dict]:
    """``large_files.yml`` entries for every weight file under the bundle's ``models/`` and its sub-folders (path,
    SHA-256, size)."""
    root = Path(bundle)
    return [
        {
            "path": p.relative_to(root).as_posix(),
            "hash_val": file_sha256(p),
            "hash_type": "sha256",
            "size": p.stat().st_size,
        }
        for p in sorted((root / "models").rglob("*"))
        if p.suffix in WEIGHT_SUFFIXES and p.name not in NOT_LISTED
    ]


def write_large_files(bundle: str | os.PathLike, entries: list[dict]) -> Path:
    """Rewrite the bundle's ``large_files.yml`` with ``entries``, keeping its leading comment lines."""
    import yaml

    from microseg.io.writers import atomic_output

    listing = Path(bundle) / "large_files.yml"
    old = listing.read_text().splitlines() if listing.is_file() else []
    header = old[: next((i for i, line in enumerate(old) if not line.startswith("#")), len(old))] or [
        "# Weight files of this bundle, shipped in the repository; verify with sha256sum."
    ]
    with atomic_output(listing) as tmp:
        tmp.write_text("\n".join(header) + "\n" + yaml.safe_dump({"large_files": entries}, sort_keys=False))
    return listing


def record_weights(path: str | os.PathLike) -> bool:
    """After this project wrote the weight file ``path`` (training, export), put its new SHA-256 and size into its
    bundle's ``large_files.yml`` if that lists it, so :func:`checked_weights` accepts it. Returns whether it did."""
    path = Path(path).resolve()
    found = _listing(path)
    if found is None:
        return False
    listing, entries, entry = found
    entry.update(hash_val=file_sha256(path), hash_type="sha256", size=path.stat().st_size)
    write_large_files(listing.parent, entries)
    return True


def check_trusted(bundle: str | os.PathLike, trust: bool = False) -> Path:
    """The bundle's folder, if it is one of the installed bundles (:func:`bundles_home`) or ``trust`` is set.

    Bundle configs run Python (``$`` expressions), so running a bundle is running its author's code; ``microseg``
    runs bundles from elsewhere only when asked to explicitly.

    Raises:
        MicrosegInputError: the bundle lies outside the installed collection and ``trust`` is false.
    """
    root = resolve_bundle(bundle)
    home = bundles_home().resolve()
    if trust is True or root.parent == home:
        return root
    raise MicrosegInputError(
        f"{root}: not one of the installed bundles (in {home}). A bundle's configs run Python code, so microseg runs "
        "a bundle from another folder only with --trust_bundle (use it for bundles you wrote or reviewed), or set "
        "MICROSEG_BUNDLES to the folder that holds your bundles (it replaces the installed collection)."
    )


def load_weights(
    network: torch.nn.Module, path: str | os.PathLike, device: str = "cpu", key: str = "model"
) -> torch.nn.Module:
    """``network`` with the weights of ``path`` loaded (``torch.load(weights_only=True)``; a ``{key: state}``
    checkpoint or a bare state dict), for configs that assemble several trained networks (an ensemble)."""
    import torch

    state = torch.load(checked_weights(path), map_location=device, weights_only=True)
    network.load_state_dict(state.get(key, state) if isinstance(state, dict) else state)
    return network


def load_network(
    bundle: str | os.PathLike, weights: str | os.PathLike | None = None, device: str = "cpu", **overrides
) -> torch.nn.Module:
    """The bundle's ``network_def`` with weights loaded (default ``model.pt`` in :func:`models_dir`), in eval mode.

    The weight file is read with ``torch.load(weights_only=True)``; a checkpoint holding ``{"model": state_dict}``
    (as MONAI's ``CheckpointSaver`` writes) or a bare state dict both work.
    """
    root = resolve_bundle(bundle)
    parser = load_parser(root, **overrides)
    network = parser.get_parsed_content("network_def")
    load_weights(network, weights if weights is not None else _models_dir(parser, root) / "model.pt", device)
    return network.to(device).eval()
