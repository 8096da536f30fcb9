"""Choose how the network runs at inference: back end, precision and memory format, switchable from the config."""

from __future__ import annotations

import copy
import itertools
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from monai.inferers import Inferer

from microseg.errors import MicrosegError, MicrosegInputError
from microseg.inferers.autocast import autocast_call

__all__ = [
    "BACKENDS",
    "PRECISIONS",
    "BackendMismatchError",
    "RuntimeInferer",
    "build_predictor",
    "fold_batch_norms",
    "resolve_precision",
]

logger = logging.getLogger(__name__)

BACKENDS = ("eager", "compile", "torchscript", "onnx")
PRECISIONS = ("auto", "float32", "bfloat16", "float16")
BACKEND_FILES = {"torchscript": "model.ts", "onnx": "model.onnx"}
PARITY_TOLERANCE = 1e-3  # max |diff| / (1 + max |eager logit|), float32 back ends against float32 eager


class BackendMismatchError(MicrosegError):
    """A TorchScript or ONNX file gives other outputs than the weights the bundle loaded."""


def _check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise MicrosegInputError(f"backend must be one of {BACKENDS}, got {backend!r}")


def resolve_precision(precision: str, device_type: str, backend: str = "eager") -> str:
    """The precision ``"auto"`` stands for: bfloat16 autocast on CUDA GPUs that support it (float16 on older
    ones), float32 on CPUs and for the ONNX back end (``model.onnx`` holds float32 weights)."""
    if precision not in PRECISIONS:
        raise MicrosegInputError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if backend == "onnx":
        if precision not in ("auto", "float32"):
            raise MicrosegInputError(
                f"precision {precision!r} is not available with backend 'onnx' (models/model.onnx runs in float32); "
                "use --precision float32, or a PyTorch back end (eager, compile, torchscript) for mixed precision"
            )
        return "float32"
    if precision != "auto":
        if precision == "float16" and device_type != "cuda":
            raise MicrosegInputError("precision 'float16' needs a CUDA device; on CPUs use 'bfloat16' or 'float32'")
        return precision
    if device_type == "cuda":
        return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    return "float32"


_CONVS = (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d)
_TRANSPOSED = (torch.nn.ConvTranspose1d, torch.nn.ConvTranspose2d, torch.nn.ConvTranspose3d)
_NORMS = (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d, torch.nn.BatchNorm3d)


def _foldable(conv: torch.nn.Module, norm: torch.nn.Module) -> bool:
    return (
        isinstance(conv, _CONVS + _TRANSPOSED)
        and isinstance(norm, _NORMS)
        and norm.track_running_stats
        and norm.running_mean is not None
        and conv.out_channels == norm.num_features
    )


def fold_batch_norms(network: torch.nn.Module) -> int:
    """Fold every eval-mode batch norm that directly follows a convolution into that convolution's weights and
    bias (``y = gamma (conv(x) - mean) / sqrt(var + eps) + beta`` becomes one convolution), in place.

    Two layouts are folded: a convolution and a batch norm next to each other in a ``Sequential``, and MONAI's
    ``Convolution`` blocks (``conv`` then ``adn`` whose first step ``N`` is the norm). The network computes the same
    function up to float32 rounding (about 1e-6 relative); one memory pass per convolution less at inference.
    Only for inference: the folded network has no batch norm left to train.

    Returns:
        the number of batch norms folded.
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    folded = 0
    for module in list(network.modules()):
        conv, adn = getattr(module, "conv", None), getattr(module, "adn", None)
        if conv is not None and isinstance(adn, torch.nn.Sequential) and len(adn) and _foldable(conv, adn[0]):
            module.conv = fuse_conv_bn_eval(conv.eval(), adn[0].eval(), transpose=isinstance(conv, _TRANSPOSED))
            adn[0] = torch.nn.Identity()
            folded += 1
        if isinstance(module, torch.nn.Sequential):
            names = list(module._modules)
            for first, second in itertools.pairwise(names):
                conv, norm = module._modules[first], module._modules[second]
                if _foldable(conv, norm):
                    transposed = isinstance(conv, _TRANSPOSED)
                    module._modules[first] = fuse_conv_bn_eval(conv.eval(), norm.eval(), transpose=transposed)
                    module._modules[second] = torch.nn.Identity()
                    folded += 1
    return folded


def channels_last_strides(x: torch.Tensor) -> torch.Tensor:
    """``x`` (4D) with the strides of channels-last memory, ``(H*W*C, 1, W*C, C)``, copied only if it has others.

    ``x.contiguous(memory_format=torch.channels_last)`` keeps a one-channel tensor's NCHW strides (for ``C == 1``
    both layouts are contiguous); a compiled network guards on strides and, handed those, recompiles into a graph
    that measured slower than eager channels-last (0.30 s against 0.18 s per 8 FIB-SEM tiles).
    """
    _, c, h, w = x.shape
    if x.stride() == (h * w * c, 1, w * c, c):
        return x
    return torch.empty_like(x, memory_format=torch.channels_last).copy_(x)


class _ChannelsLast:
    """Call ``fn`` on channels-last (NHWC in memory) copies of 4D inputs; other inputs pass unchanged."""

    def __init__(self, fn: Callable) -> None:
        self.fn = fn

    def __call__(self, x: Any) -> Any:
        if isinstance(x, torch.Tensor) and x.ndim == 4:
            x = channels_last_strides(x)
        return self.fn(x)


class _FixedBatch:
    """Pad the batch of every call to the largest batch seen, so that a compiled network sees one shape.

    ``sliding_window_inference`` ends an image with a smaller batch of tiles; without padding each new size is a
    recompilation.
    """

    def __init__(self, fn: Callable) -> None:
        self.fn, self.batch = fn, 0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        self.batch = max(self.batch, n)
        if n == self.batch:
            return self.fn(x)
        padding = x.new_zeros((self.batch - n, *x.shape[1:]))
        return self.fn(torch.cat([x, padding]))[:n]


class _OnnxPredictor:
    """Run ``model.onnx`` in ONNX Runtime on torch tensors: ``(B, C, H, W)`` float32 in, logits out on the
    input's device."""

    def __init__(self, path: str, device: torch.device, providers: list[str] | None = None) -> None:
        import onnxruntime as ort

        available = ort.get_available_providers()
        if providers is None:
            providers = ["CUDAExecutionProvider"] if device.type == "cuda" else []
            providers = [p for p in providers if p in available] + ["CPUExecutionProvider"]
        missing = [p for p in providers if p not in available]
        if missing:
            raise MicrosegInputError(
                f"ONNX Runtime here has no {', '.join(missing)} (available: {', '.join(available)}); install "
                "onnxruntime-gpu for the CUDA and TensorRT providers, or leave onnx_providers null"
            )
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        self.session = ort.InferenceSession(path, options, providers=providers)
        self.input_name = self.session.get_inputs()[0].name
        logger.info("ONNX Runtime execution providers: %s", ", ".join(self.session.get_providers()))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        array = x.detach().float().contiguous().cpu().numpy()
        out = self.session.run(None, {self.input_name: array})[0]
        return torch.from_numpy(out).to(x.device)


def _backend_file(model_dir: str | os.PathLike | None, backend: str) -> str:
    from microseg.bundle import checked_weights

    if model_dir is None:
        raise MicrosegInputError(f"backend {backend!r} reads {BACKEND_FILES[backend]} from model_dir; set model_dir")
    path = Path(model_dir) / BACKEND_FILES[backend]
    if not path.is_file():
        raise MicrosegInputError(
            f"{path}: not found; backend {backend!r} needs it. Write it with `microseg export <bundle> "
            f"--formats {'torchscript' if backend == 'torchscript' else 'onnx'}`, or use --backend eager"
        )
    return checked_weights(path)


def _to_channels_last(model: torch.nn.Module) -> None:
    """Channels-last memory format for every 4D parameter and buffer (``Module.to`` refuses a network that also has
    3D convolutions, such as DeepEM3D's 3fm/5fm stem; their 5D weights stay as they are)."""
    with torch.no_grad():
        for tensor in [*model.parameters(), *model.buffers()]:
            if tensor.ndim == 4:
                tensor.data = tensor.data.contiguous(memory_format=torch.channels_last)


def build_predictor(
    network: torch.nn.Module,
    backend: str = "eager",
    channels_last: bool = False,
    model_dir: str | os.PathLike | None = None,
    device: torch.device | str = "cpu",
    onnx_providers: list[str] | None = None,
    compile_mode: str | None = None,
) -> Callable:
    """A callable that computes ``network(x)`` with ``backend``.

    Args:
        network: the eager network with its weights loaded (``eager`` and ``compile`` run it).
        backend: ``"eager"``; ``"compile"`` (``torch.compile``, batch padded to one size); ``"torchscript"``
            (``model_dir/model.ts``); ``"onnx"`` (``model_dir/model.onnx`` in ONNX Runtime).
        channels_last: hand 4D inputs to the network in channels-last memory format (and convert the network).
            ``eager`` with ``channels_last`` and ``compile`` run a copy of ``network`` with its batch norms folded
            into the convolutions (:func:`fold_batch_norms`); plain ``eager`` runs ``network`` itself.
        model_dir: folder of ``model.ts`` / ``model.onnx``; each is checked against ``large_files.yml``.
        device: the device the network runs on.
        onnx_providers: ONNX Runtime execution providers in order of preference (default: CUDA on a CUDA
            device when available, then CPU); e.g. ``["TensorrtExecutionProvider", "CUDAExecutionProvider"]``.
        compile_mode: ``mode`` of ``torch.compile`` (``None``, ``"max-autotune"``, ``"reduce-overhead"``).
    """
    _check_backend(backend)
    device = torch.device(device)
    if backend == "onnx":
        if channels_last:
            logger.info("channels_last applies to the PyTorch back ends; ONNX Runtime picks its own layout")
        return _OnnxPredictor(_backend_file(model_dir, backend), device, onnx_providers)
    if backend == "torchscript":
        model = torch.jit.load(_backend_file(model_dir, backend), map_location=device).eval()
    else:  # a folded copy: the loaded network stays as it is (and trainable)
        model = copy.deepcopy(network).eval()
        logger.info("folded %d batch norms into the preceding convolutions", fold_batch_norms(model))
    if channels_last:
        _to_channels_last(model)
    if backend == "compile":  # channels-last after padding: the compiled network sees one shape and one layout
        compiled = torch.compile(model, mode=compile_mode)
        return _FixedBatch(_ChannelsLast(compiled) if channels_last else compiled)
    return _ChannelsLast(model) if channels_last else model


def _weights_version(network: Any) -> int:
    """Changes whenever weights are loaded into ``network`` in place (each in-place write bumps ``_version``)."""
    return sum(p._version for p in network.parameters()) if isinstance(network, torch.nn.Module) else 0


def _network_device(network: Any, fallback: torch.device) -> torch.device:
    try:
        return next(network.parameters()).device
    except (AttributeError, StopIteration):
        return fallback


class RuntimeInferer(Inferer):
    """Run ``inferer`` with the network on another back end, in mixed precision and/or channels-last.

    Every setting is one config key, so ``--backend onnx`` or ``--precision bfloat16`` on the command line switch
    them. The first call builds the back end from the network as loaded (weights in place) and, for the back ends
    that read a file (TorchScript, ONNX), compares their output on that call's first batch with the eager float32
    network: a file exported from other weights raises :class:`BackendMismatchError` instead of giving other masks.

    Args:
        inferer: the inferer to run (tiling, test-time augmentation, resizing); it gets the fast callable as
            its ``network``.
        backend: see :func:`build_predictor`.
        precision: ``"auto"``, ``"float32"``, ``"bfloat16"`` or ``"float16"`` (see :func:`resolve_precision`);
            mixed precision is ``torch.autocast`` and outputs are returned in float32.
        channels_last: see :func:`build_predictor`.
        model_dir: folder of ``model.ts`` and ``model.onnx``.
        onnx_providers: see :func:`build_predictor`.
        compile_mode: see :func:`build_predictor`.
        parity_tolerance: largest ``max |diff| / (1 + max |eager|)`` accepted for a file back end in float32.

    Shapes: whatever ``inferer`` takes and returns.
    """

    def __init__(
        self,
        inferer: Inferer,
        backend: str = "eager",
        precision: str = "float32",
        channels_last: bool = False,
        model_dir: str | os.PathLike | None = None,
        onnx_providers: list[str] | None = None,
        compile_mode: str | None = None,
        parity_tolerance: float = PARITY_TOLERANCE,
    ) -> None:
        super().__init__()
        _check_backend(backend)
        resolve_precision(precision, "cpu" if precision != "float16" else "cuda", backend)  # validate early
        self.inferer, self.backend, self.precision = inferer, backend, precision
        self.channels_last, self.model_dir, self.onnx_providers = bool(channels_last), model_dir, onnx_providers
        self.compile_mode, self.parity_tolerance = compile_mode, float(parity_tolerance)
        self._network: Any = None
        self._version = 0
        self._predictor: Callable | None = None
        self._checked = False

    def predictor(self, network: Any, device: torch.device) -> Callable:
        """The fast callable for ``network``, built on first use (and again for another network or new weights)."""
        if self._network is not network or self._version != _weights_version(network):
            plain = self.backend == "eager" and not self.channels_last
            if self.backend in ("compile", "onnx") and not isinstance(network, torch.nn.Module):
                raise MicrosegInputError(
                    f"backend {self.backend!r} needs a torch.nn.Module, got {type(network).__name__}"
                )
            self._predictor = (
                network
                if plain
                else build_predictor(
                    network,
                    self.backend,
                    self.channels_last,
                    self.model_dir,
                    _network_device(network, device),
                    self.onnx_providers,
                    self.compile_mode,
                )
            )
            self._network, self._checked = network, self.backend not in BACKEND_FILES
            self._version = _weights_version(network)
            logger.info(
                "inference back end %s, precision %s, channels_last %s",
                self.backend,
                self.precision,
                self.channels_last,
            )
        return self._predictor

    def _checked_call(self, network: Any, predictor: Callable, mixed: bool) -> Callable:
        """Wrap ``predictor`` so that its first tensor call is compared with the eager float32 network (in float32
        also when ``mixed``: the file must hold the same weights, whatever the precision it is run in)."""

        def call(x: Any) -> Any:
            out = predictor(x)
            if self._checked or not isinstance(out, torch.Tensor):
                self._checked = True
                return out
            with torch.autocast(x.device.type, enabled=False), torch.no_grad():
                reference = network(x.float())
                candidate = predictor(x.float()) if mixed else out
            error = float((candidate.float() - reference).abs().max() / (1 + reference.abs().max()))
            if error > self.parity_tolerance:
                raise BackendMismatchError(
                    f"{Path(self.model_dir or '.') / BACKEND_FILES[self.backend]} differs from the loaded weights "
                    f"(relative max |diff| {error:.3g} > {self.parity_tolerance:g}): it was exported from other "
                    "weights. Run `microseg export <bundle>` after training, or use --backend eager"
                )
            self._checked = True
            return out

        return call

    def __call__(self, inputs: torch.Tensor, network: Any, *args: Any, **kwargs: Any) -> Any:
        device_type = inputs.device.type if isinstance(inputs, torch.Tensor) else "cpu"
        precision = resolve_precision(self.precision, device_type, self.backend)
        predictor = self.predictor(network, inputs.device if isinstance(inputs, torch.Tensor) else "cpu")
        dtype = None if precision == "float32" else getattr(torch, precision)
        if not self._checked:
            predictor = self._checked_call(network, predictor, dtype is not None)
        return autocast_call(self.inferer, inputs, predictor, device_type, dtype, *args, **kwargs)
