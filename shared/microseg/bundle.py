"""Finding bundles and loading their configs and networks."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from microseg.errors import MicrosegInputError

__all__ = [
    "bundle_dirs",
    "bundles_home",
    "load_network",
    "load_parser",
    "network_input_channels",
    "require_weights",
    "resolve_bundle",
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


def network_input_channels(bundle: str | os.PathLike) -> int:
    """Input channels of the bundle's network, from ``network_data_format`` of its metadata."""
    meta = json.loads((resolve_bundle(bundle) / "configs" / "metadata.json").read_text())
    return int(meta["network_data_format"]["inputs"]["image"]["num_channels"])


def require_weights(path: str | os.PathLike) -> Path:
    """``path`` when it is a file; otherwise an error saying how to get weights (a bundle's configs call this in
    ``initialize`` before loading ``model.pt``, so that a bundle that ships no weights says so at once).

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


def load_network(
    bundle: str | os.PathLike, weights: str | os.PathLike | None = None, device: str = "cpu", **overrides
) -> torch.nn.Module:
    """The bundle's ``network_def`` with weights loaded (default ``models/model.pt``), in eval mode.

    The weight file is read with ``torch.load(weights_only=True)``; a checkpoint holding ``{"model": state_dict}``
    (as MONAI's ``CheckpointSaver`` writes) or a bare state dict both work.
    """
    root = resolve_bundle(bundle)
    parser = load_parser(root, **overrides)
    network = parser.get_parsed_content("network_def")
    path = require_weights(weights if weights is not None else root / "models" / "model.pt")
    state = torch.load(path, map_location=device, weights_only=True)
    network.load_state_dict(state.get("model", state) if isinstance(state, dict) else state)
    return network.to(device).eval()
