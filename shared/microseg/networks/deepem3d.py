"""DeepEM3D of Zeng, Wu and Ji (2017), the network behind CDeep3M."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from microseg.networks.checks import check_divisible

__all__ = ["DeepEM3D"]


def _conv(in_channels: int, out_channels: int, kernel: int | tuple[int, int], stride: int = 1, relu: bool = True):
    """A 2D convolution with "same" padding (for odd kernels and stride 1; halving for stride 2) and ReLU."""
    kernel = (kernel, kernel) if isinstance(kernel, int) else kernel
    padding = (kernel[0] // 2, kernel[1] // 2)
    layers: list[nn.Module] = [nn.Conv2d(in_channels, out_channels, kernel, stride=stride, padding=padding)]
    return nn.Sequential(*layers, nn.ReLU(inplace=True)) if relu else nn.Sequential(*layers)


def _chain(*convs: nn.Module) -> nn.Sequential:
    return nn.Sequential(*convs)


class _Concat(nn.Module):
    """Branches applied to one input and concatenated, then batch norm and ReLU."""

    def __init__(self, branches: Sequence[nn.Module], out_channels: int) -> None:
        super().__init__()
        self.branches = nn.ModuleList(branches)
        self.norm = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.norm(torch.cat([branch(x) for branch in self.branches], dim=1)))


class _InceptionResidual(nn.Module):
    """Inception-ResNet-v2 block: branches concatenated, a linear 1x1 back to the input width, scaled by 0.1 and
    added to the input, batch norm, ReLU."""

    def __init__(self, branches: Sequence[nn.Module], merged: int, channels: int, scale: bool) -> None:
        super().__init__()
        self.branches = nn.ModuleList(branches)
        self.project = nn.Conv2d(merged, channels, 1)
        self.scale = 0.1 if scale else 1.0
        self.norm = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = self.project(torch.cat([branch(x) for branch in self.branches], dim=1))
        return torch.relu(self.norm(x + self.scale * residual))


class DeepEM3D(nn.Module):
    """DeepEM3D: an Inception-ResNet-v2 encoder on 2D slices, a 3D convolution stem over ``in_slices`` adjacent
    slices (DeepEM3D-3fm, -5fm) or a 2D one (-1fm), and side outputs at 1/2, 1/4, 1/8 and 1/16 of the input size
    brought back to full size and summed.

    Zeng T., Wu B., Ji S. "DeepEM3D: approaching human-level performance on 3D anisotropic EM image segmentation".
    Bioinformatics 33(16):2555-2562, 2017. https://doi.org/10.1093/bioinformatics/btx188. CDeep3M (Haberl et al.,
    Nature Methods 15:677-680, 2018, https://doi.org/10.1038/s41592-018-0106-z) trains it as 1fm, 3fm and 5fm.

    Layout, with the widths of the authors' implementation: stem (3x3 convolutions of 32 and 64 channels, stride 2;
    two Inception branches of 96 channels, then max pooling beside a strided convolution: 384 channels at 1/4),
    Inception-ResNet-A (384), reduction A (1152 at 1/8), Inception-ResNet-B (1152), reduction B (2144 at 1/16),
    Inception-ResNet-C (2144). With several slices the stem's first two convolutions are 3D (3x3x3, the slice axis
    kept) and the rest runs on the centre slice, as the per-slice ("time-distributed") 2D layers of the
    implementation would for that slice. Each side output is a 3x3 convolution to ``out_channels`` with batch norm
    at its own scale, upsampled bilinearly; the sum is the output, as logits. Two choices differ from the authors'
    code, both to fit memory: the side convolutions run before the upsampling (theirs upsample 2144 channels to the
    full size first), and there is no ReLU on them (the output is logits, not softmax inputs). ``width`` scales every
    channel count (1.0: as above, 10.80 M parameters for one slice, 10.88 M with the 3D stem).

    Args:
        in_slices: adjacent slices given as channels, centre one segmented: 1 (1fm), or an odd number (3fm, 5fm).
        out_channels: output channels (logits).
        width: multiplier of every channel count.
        scale_residual: scale the Inception-ResNet residuals by 0.1, as the paper.

    Shapes:
        input ``(B, in_slices, H, W)``, ``H`` and ``W`` multiples of 16; output ``(B, out_channels, H, W)``.
    """

    def __init__(
        self, in_slices: int = 1, out_channels: int = 1, width: float = 1.0, scale_residual: bool = True
    ) -> None:
        super().__init__()
        if in_slices < 1 or in_slices % 2 == 0:
            raise ValueError(f"in_slices must be 1 or an odd number of adjacent slices, got {in_slices}")

        def w(channels: int) -> int:
            return max(1, round(channels * width))

        self.in_slices, self.divisor = in_slices, 16
        if in_slices == 1:
            self.stem3d = None
            self.stem2d = _chain(_conv(1, w(32), 3, stride=2), _conv(w(32), w(64), 3))
        else:  # 3D over (slices, H, W): slices kept, H and W halved
            self.stem3d = nn.Sequential(
                nn.Conv3d(1, w(32), 3, stride=(1, 2, 2), padding=1),
                nn.ReLU(inplace=True),
                nn.Conv3d(w(32), w(64), 3, padding=1),
                nn.ReLU(inplace=True),
            )
            self.stem2d = _conv(w(64), w(64), 3)
        self.stem_branches = _Concat(
            [
                _chain(_conv(w(64), w(64), 1), _conv(w(64), w(96), 3)),
                _chain(
                    _conv(w(64), w(64), 1),
                    _conv(w(64), w(64), (7, 1)),
                    _conv(w(64), w(64), (1, 7)),
                    _conv(w(64), w(96), 3),
                ),
            ],
            2 * w(96),
        )
        self.stem_reduce = _Concat(
            [nn.MaxPool2d(3, stride=2, padding=1), _conv(2 * w(96), w(192), 3, stride=2)], 2 * w(96) + w(192)
        )
        a = 2 * w(96) + w(192)  # 384
        self.block_a = _InceptionResidual(
            [
                _conv(a, w(32), 1),
                _chain(_conv(a, w(32), 1), _conv(w(32), w(32), 3)),
                _chain(_conv(a, w(32), 1), _conv(w(32), w(48), 3), _conv(w(48), w(64), 3)),
            ],
            w(32) + w(32) + w(64),
            a,
            scale_residual,
        )
        b = a + w(384) + w(384)  # 1152
        self.reduce_a = _Concat(
            [
                nn.MaxPool2d(3, stride=2, padding=1),
                _conv(a, w(384), 3, stride=2),
                _chain(_conv(a, w(256), 1), _conv(w(256), w(256), 3), _conv(w(256), w(384), 3, stride=2)),
            ],
            b,
        )
        self.block_b = _InceptionResidual(
            [
                _conv(b, w(192), 1),
                _chain(_conv(b, w(128), 1), _conv(w(128), w(160), (1, 7)), _conv(w(160), w(192), (7, 1))),
            ],
            w(192) + w(192),
            b,
            scale_residual,
        )
        c = b + w(384) + w(288) + w(320)  # 2144
        self.reduce_b = _Concat(
            [
                nn.MaxPool2d(3, stride=2, padding=1),
                _chain(_conv(b, w(256), 1), _conv(w(256), w(384), 3, stride=2)),
                _chain(_conv(b, w(256), 1), _conv(w(256), w(288), 3, stride=2)),
                _chain(_conv(b, w(256), 1), _conv(w(256), w(288), 3), _conv(w(288), w(320), 3, stride=2)),
            ],
            c,
        )
        self.block_c = _InceptionResidual(
            [
                _conv(c, w(192), 1),
                _chain(_conv(c, w(192), 1), _conv(w(192), w(224), (1, 3)), _conv(w(224), w(256), (3, 1))),
            ],
            w(192) + w(256),
            c,
            scale_residual,
        )
        self.sides = nn.ModuleList(
            nn.Sequential(nn.Conv2d(channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels))
            for channels in (2 * w(96), a, b, c)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.jit.is_scripting() and not torch.compiler.is_compiling():
            _check_input(x.shape, self.in_slices, self.divisor)
        size = x.shape[-2:]
        if self.stem3d is not None:
            volume = self.stem3d(x[:, None])  # (B, C, slices, H/2, W/2)
            x = volume[:, :, self.in_slices // 2]
        x = self.stem2d(x)
        half = self.stem_branches(x)  # 1/2
        quarter = self.block_a(self.stem_reduce(half))  # 1/4
        eighth = self.block_b(self.reduce_a(quarter))  # 1/8
        sixteenth = self.block_c(self.reduce_b(eighth))  # 1/16
        out = torch.zeros(0)
        for index, side in enumerate(self.sides):
            feature = (half, quarter, eighth, sixteenth)[index]
            up = F.interpolate(side(feature), size=size, mode="bilinear", align_corners=False)
            out = up if index == 0 else out + up
        return out


@torch.jit.unused
def _check_input(shape: Sequence[int], slices: int, divisor: int) -> None:
    if len(shape) != 4 or shape[1] != slices:
        raise ValueError(f"DeepEM3D: expected (B, {slices}, H, W) input ({slices} adjacent slices), got {tuple(shape)}")
    check_divisible("DeepEM3D", shape[2:], divisor)
