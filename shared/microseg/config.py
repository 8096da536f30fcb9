"""MONAI bundle configs read without MONAI or torch: references, expressions and components resolved lazily, for
runtimes that map a bundle's components onto other implementations (:mod:`microseg.onnx_infer`,
:mod:`microseg.bioimageio`)."""

from __future__ import annotations

import builtins
import importlib
import json
import os
import re
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["BundleConfig", "Component", "embedded_config", "saved_format"]

_REFERENCE = re.compile(r"@([\w#]+)")


@dataclass
class Component:
    """A ``{"_target_": ...}`` entry of a config, resolved lazily by its :class:`BundleConfig`."""

    target: str
    spec: dict
    config: BundleConfig

    @property
    def name(self) -> str:
        """The target without MONAI's module prefixes (``monai.transforms.Activationsd`` -> ``Activationsd``)."""
        for prefix in ("monai.transforms.", "monai.inferers.", "monai.data."):
            if self.target.startswith(prefix):
                return self.target[len(prefix) :]
        return self.target

    def disabled(self) -> bool:
        """Whether ``_disabled_`` (resolved) is true: MONAI leaves such a component out of its list."""
        return bool(self.config.resolve_value(self.spec.get("_disabled_", False)))

    def arguments(self) -> dict:
        """The constructor arguments, resolved (nested components stay :class:`Component`)."""
        return {k: self.config.resolve_value(v) for k, v in self.spec.items() if not k.startswith("_")}


class BundleConfig:
    """A bundle config read as plain JSON, with MONAI's reference syntax resolved without MONAI: ``@key`` (``#`` for
    nesting), ``$expression`` (Python, with ``@key`` references and the config's ``imports``), components
    ``{"_target_": ...}`` returned as :class:`Component` and not instantiated.

    Args:
        files: the config files (or already parsed dicts), later ones overriding earlier ones key by key.
        overrides: values for keys (``a#b`` for nested ones) replacing the file's.
    """

    def __init__(self, files: Sequence[str | os.PathLike | dict], overrides: Mapping[str, Any] | None = None) -> None:
        self.config: dict = {}
        for file in files:
            self.config.update(file if isinstance(file, dict) else json.loads(Path(file).read_text()))
        for key, value in (overrides or {}).items():
            self[key] = value
        self._namespace: dict | None = None

    def _parent(self, key: str) -> tuple[Any, str | int]:
        parts = key.split("#")
        node = self.config
        for part in parts[:-1]:
            node = node[int(part)] if isinstance(node, list) else node[part]
        last = parts[-1]
        return node, int(last) if isinstance(node, list) else last

    def __contains__(self, key: str) -> bool:
        try:
            self[key]
        except (KeyError, IndexError, ValueError, TypeError):
            return False
        return True

    def __getitem__(self, key: str) -> Any:
        node, last = self._parent(key)
        return node[last]

    def __setitem__(self, key: str, value: Any) -> None:
        node, last = self._parent(key)
        node[last] = value

    def get(self, key: str | None = None, default: Any = None) -> Any:
        """The raw (unresolved) value of ``key``, or the whole config."""
        if key is None:
            return self.config
        return self[key] if key in self else default  # noqa: SIM401 - this is the dict-like get

    def _imports(self) -> dict:
        if self._namespace is None:
            self._namespace = {"__builtins__": builtins}
            for statement in self.config.get("imports", []):
                match = re.fullmatch(r"\$\s*import\s+([\w.]+)(?:\s+as\s+(\w+))?\s*", statement)
                if match is None:
                    raise ValueError(f"unsupported import statement {statement!r} in the bundle config")
                module, alias = match.groups()
                if module.split(".")[0] in ("torch", "monai", "torchvision"):
                    continue  # not needed here, and importing them is what this path avoids
                imported, top = importlib.import_module(module), module.split(".")[0]
                self._namespace[alias or top] = imported if alias else importlib.import_module(top)
        return self._namespace

    def resolve(self, key: str) -> Any:
        """The value of ``key`` with every reference and expression in it resolved."""
        return self.resolve_value(self[key])

    def components(self, key: str) -> list[Component]:
        """The enabled components of ``key``: a ``Compose`` (its ``transforms``), a list, or one component; what MONAI
        would instantiate, not instantiated."""
        value = self.resolve(key)
        if isinstance(value, Component) and value.name == "Compose":
            value = value.arguments()["transforms"]
        value = [value] if isinstance(value, Component) else value
        return [v for v in value if isinstance(v, Component) and not v.disabled()]

    def resolve_value(self, value: Any) -> Any:
        """``value`` with references, expressions and nested values resolved (a component: a :class:`Component`)."""
        if isinstance(value, str) and value.startswith("@"):
            return self.resolve(value[1:])
        if isinstance(value, str) and value.startswith("$"):
            return self._evaluate(value[1:])
        if isinstance(value, dict) and "_target_" in value:
            return Component(value["_target_"], value, self)
        if isinstance(value, dict):
            return {k: self.resolve_value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve_value(v) for v in value]
        return value

    def _evaluate(self, expression: str) -> Any:
        references = {}

        def substitute(match: re.Match) -> str:
            name = f"__ref{len(references)}"
            references[name] = self.resolve(match.group(1))
            return name

        code = _REFERENCE.sub(substitute, expression)
        return eval(code, dict(self._imports()), references)


def embedded_config(torchscript: str | os.PathLike, **overrides) -> BundleConfig:
    """The inference config that ``microseg export`` (MONAI's ``ckpt_export``) embeds in a TorchScript file."""
    with zipfile.ZipFile(torchscript) as archive:
        name = next((n for n in archive.namelist() if n.endswith("extra/inference.json")), None)
        if name is None:
            raise ValueError(f"{torchscript}: no extra/inference.json inside; write the file with `microseg export`")
        return BundleConfig([json.loads(archive.read(name))], {"bundle_root": "", "output_dir": "", **overrides})


SAVED_DEFAULTS = {"postfix": "_seg", "scale": 255, "dtype": "uint8"}
"""``SaveMaskd``'s defaults: a 0/255 ``uint8`` mask named ``<input>_seg``."""


def saved_format(config: BundleConfig, key: str = "pred") -> dict:
    """``postfix``, ``scale`` and ``dtype`` of the config's ``SaveMaskd`` that writes ``key`` (a 0/255 ``uint8`` mask
    ``_seg`` when there is none), so that other runtimes write what the bundle writes."""
    for step in config.components("postprocessing"):
        if step.name.endswith("SaveMaskd"):
            arguments = step.arguments()
            if key in ([arguments["keys"]] if isinstance(arguments["keys"], str) else arguments["keys"]):
                return {name: arguments.get(name, default) for name, default in SAVED_DEFAULTS.items()}
    return dict(SAVED_DEFAULTS)
