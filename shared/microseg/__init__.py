"""microseg: the shared package behind the microseg MONAI bundles.

Readers and writers (:mod:`microseg.io`), data lists and datasets (:mod:`microseg.data`), transforms
(:mod:`microseg.transforms`) and the NumPy operations behind them (:mod:`microseg.ops`), tiled inference
(:mod:`microseg.inferers`), losses, metrics, ignite handlers, export (:mod:`microseg.export`,
:mod:`microseg.bioimageio`), PyTorch-free ONNX Runtime inference (:mod:`microseg.onnx_infer`), a MONAI Deploy
application (:mod:`microseg.deploy`) and the ``microseg`` command line (:mod:`microseg.cli`).

Subpackages load on first use (``microseg.data.list_inputs`` works after a bare ``import microseg``, as bundle
config expressions need), so importing the package itself stays cheap and does not import torch.
"""

from __future__ import annotations

import importlib

__version__ = "0.11.0"

_SUBPACKAGES = (
    "bioimageio",
    "bundle",
    "cli",
    "config",
    "console",
    "data",
    "deploy",
    "engines",
    "errors",
    "evaluation",
    "export",
    "handlers",
    "inferers",
    "io",
    "largeimage",
    "losses",
    "metrics",
    "networks",
    "onnx_infer",
    "ops",
    "progress",
    "reporting",
    "transforms",
    "variants",
)
__all__ = ["__version__", *_SUBPACKAGES]


def __getattr__(name: str):
    if name in _SUBPACKAGES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
