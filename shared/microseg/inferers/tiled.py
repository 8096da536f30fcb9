"""Tiled prediction of 2D images and stacks of slices of any size, with optional test-time augmentation."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from monai.inferers import Inferer, sliding_window_inference

from microseg.ops.tiling import TTA_MODES, context_indices, dihedral_transforms, tile_transforms
from microseg.progress import progress

__all__ = ["TTA_MODES", "SliceTiledInferer", "TileTTA", "dihedral_transforms"]


def _apply(x: torch.Tensor, turns: int, flip: bool) -> torch.Tensor:
    x = torch.flip(x, dims=(-1,)) if flip else x
    return torch.rot90(x, turns, dims=(-2, -1)) if turns else x


def _undo(x: torch.Tensor, turns: int, flip: bool) -> torch.Tensor:
    x = torch.rot90(x, -turns, dims=(-2, -1)) if turns else x
    return torch.flip(x, dims=(-1,)) if flip else x


class TileTTA:
    """A network averaging its logits over per-tile augmentations (``(quarter_turns, flip_width, reverse_slices)``,
    :func:`microseg.ops.tiling.tile_transforms`), with the sigmoid's standard deviation appended if ``uncertainty``.
    The PyTorch version of :class:`microseg.ops.tiling.TileTTA`.

    Shapes: ``(N, C, h, w)`` in, ``(N, C_out [+1], h, w)`` out.
    """

    def __init__(self, network: Callable, transforms: Sequence[tuple[int, bool, bool]], uncertainty: bool) -> None:
        self.network, self.transforms, self.uncertainty = network, list(transforms), uncertainty

    def __call__(self, x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        logits = []
        for turns, flip, reverse in self.transforms:
            moved = _apply(torch.flip(x, dims=(1,)) if reverse else x, turns, flip)
            logits.append(_undo(self.network(moved.contiguous(), *args, **kwargs), turns, flip))
        mean = torch.stack(logits).mean(0)
        if not self.uncertainty:
            return mean
        return torch.cat([mean, torch.stack([torch.sigmoid(v) for v in logits]).std(0, unbiased=False)], dim=1)


class SliceTiledInferer(Inferer):
    """Predict 2D images or stacks slice by slice with overlapping tiles, blended by averaging or a Gaussian.

    * ``(B, C, H, W)`` input: one 2D image per batch item.
    * ``(B, C, Z, H, W)`` input: a stack; each slice ``z`` is predicted from slices ``z - k//2 .. z + k//2``
      (``k = context``, edges repeated) stacked as channels, ``slice_batch`` slices at a time. A 2D image given to a
      2.5D network (``context > 1``) is a stack of one slice, repeated ``k`` times.

    Any ``H, W`` works: tiles of ``roi_size`` overlap by ``overlap`` and images smaller than a tile are padded.
    With ``tta`` each slice is also predicted flipped/rotated, the predictions are turned back and their logits
    averaged; with ``uncertainty=True`` one more output channel holds the standard deviation of the sigmoid
    probabilities over the augmentations (0 without TTA).

    Args:
        roi_size: tile size ``(h, w)``.
        sw_batch_size: tiles per network call.
        overlap: fraction of a tile shared with its neighbour (0 to < 1).
        mode: ``"gaussian"`` or ``"constant"`` (plain averaging) blending of overlapping tiles.
        context: adjacent slices as input channels (the network's ``in_channels`` divided by ``C``).
        tta: ``"none"``, ``"flips"`` (4 predictions) or ``"dihedral"`` (8) of the whole image, or ``"dihedral_z"``
            (16 per tile: the 8 of the plane times both orders of the adjacent slices, as CDeep3M).
        uncertainty: append the TTA standard deviation as an extra channel.
        slice_batch: slices of a stack predicted together.
        sw_device: device of the network calls; ``device``: device of the stitched output (default: the input's).
        progress: show a progress bar per image.

    Returns:
        ``(B, out_channels [+1], *spatial)`` logits (plus the uncertainty channel), same spatial shape as the input.
    """

    def __init__(
        self,
        roi_size: Sequence[int] = (256, 256),
        sw_batch_size: int = 8,
        overlap: float = 0.25,
        mode: str = "gaussian",
        context: int = 1,
        tta: str = "none",
        uncertainty: bool = False,
        slice_batch: int = 4,
        sw_device: torch.device | str | None = None,
        device: torch.device | str | None = None,
        progress: bool = False,
    ) -> None:
        super().__init__()
        context_indices(0, 1, context)
        self.roi_size, self.sw_batch_size, self.overlap, self.mode = tuple(roi_size), sw_batch_size, overlap, mode
        self.context, self.transforms, self.uncertainty = context, dihedral_transforms(tta), uncertainty
        self.tile_transforms = tile_transforms(tta)
        self.slice_batch, self.sw_device, self.device, self.progress = slice_batch, sw_device, device, progress

    def __call__(self, inputs: torch.Tensor, network: Callable[..., torch.Tensor], *args, **kwargs) -> torch.Tensor:
        if inputs.ndim == 4 and self.context > 1:  # a lone 2D image: its own context, repeated
            return self._predict_stack(inputs[:, :, None], network)[:, :, 0]
        if inputs.ndim == 4:
            return self._predict_2d(inputs, network)
        if inputs.ndim == 5:
            return self._predict_stack(inputs, network)
        raise ValueError(f"expected (B, C, H, W) or (B, C, Z, H, W) input, got shape {tuple(inputs.shape)}")

    def _windows(self, x: torch.Tensor, network: Callable) -> torch.Tensor:
        return sliding_window_inference(
            x,
            self.roi_size,
            self.sw_batch_size,
            network,
            overlap=self.overlap,
            mode=self.mode,
            sw_device=self.sw_device,
            device=self.device,
            progress=self.progress,
        )

    def _predict_2d(self, x: torch.Tensor, network: Callable) -> torch.Tensor:
        """``(N, C*context, H, W)`` -> ``(N, out[+1], H, W)``."""
        if self.tile_transforms:
            return self._windows(x, TileTTA(network, self.tile_transforms, self.uncertainty))
        logits = [_undo(self._windows(_apply(x, t, f), network), t, f) for t, f in self.transforms]
        mean = torch.stack(logits).mean(0) if len(logits) > 1 else logits[0]
        if not self.uncertainty:
            return mean
        spread = torch.stack([torch.sigmoid(v) for v in logits]).std(0, unbiased=False)
        return torch.cat([mean, spread], dim=1)

    def _predict_stack(self, x: torch.Tensor, network: Callable) -> torch.Tensor:
        batch, channels, depth = x.shape[:3]
        outputs = []
        with progress(total=depth, desc="slices", unit="slice", inner=True) as bar:
            for start in range(0, depth, self.slice_batch):
                zs = range(start, min(start + self.slice_batch, depth))
                # (B, C, n, k, H, W) -> (B*n, C*k, H, W): channels ordered by input channel, then slice offset
                picks = torch.stack([x[:, :, context_indices(z, depth, self.context)] for z in zs], dim=1)
                flat = picks.reshape(batch * len(zs), channels * self.context, *x.shape[-2:])
                pred = self._predict_2d(_plain(flat), network)
                outputs.append(pred.reshape(batch, len(zs), *pred.shape[1:]).transpose(1, 2))
                bar.update(len(zs))
        return torch.cat(outputs, dim=2)


def _plain(x: torch.Tensor) -> torch.Tensor:
    """Drop MONAI metadata so that reshaped slices do not carry the stack's affine."""
    return x.as_tensor() if hasattr(x, "as_tensor") else x
