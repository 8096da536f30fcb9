"""MultiResUNet of Ibtehaz and Rahman (2019)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from monai.networks.layers.factories import Conv, Norm, Pool
from torch import nn

from microseg.networks.checks import check_divisible

__all__ = ["MultiResUNet"]


def _conv_bn(spatial_dims: int, in_channels: int, out_channels: int, kernel_size: int, relu: bool) -> nn.Sequential:
    """The paper's ``conv2d_bn``: convolution without bias, batch norm, then ReLU (or nothing)."""
    conv, norm = Conv[Conv.CONV, spatial_dims], Norm[Norm.BATCH, spatial_dims]
    layers = [conv(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False), norm(out_channels)]
    return nn.Sequential(*layers, nn.ReLU(inplace=True)) if relu else nn.Sequential(*layers)


def multires_channels(filters: int, alpha: float = 1.67) -> tuple[int, int, int]:
    """Channels of the three chained 3x3 convolutions of a MultiRes block: ``W/6``, ``W/3``, ``W/2`` of
    ``W = alpha * filters``, rounded down as the reference implementation does."""
    width = alpha * filters
    return int(width * 0.167), int(width * 0.333), int(width * 0.5)


class _MultiResBlock(nn.Module):
    """Three chained 3x3 convolutions (receptive fields 3, 5, 7) concatenated, plus a 1x1 shortcut; batch norm, ReLU,
    batch norm, as the paper's ``MultiResBlock``."""

    def __init__(self, spatial_dims: int, in_channels: int, filters: int, alpha: float) -> None:
        super().__init__()
        c1, c2, c3 = multires_channels(filters, alpha)
        self.out_channels = c1 + c2 + c3
        self.shortcut = _conv_bn(spatial_dims, in_channels, self.out_channels, 1, relu=False)
        self.conv3 = _conv_bn(spatial_dims, in_channels, c1, 3, relu=True)
        self.conv5 = _conv_bn(spatial_dims, c1, c2, 3, relu=True)
        self.conv7 = _conv_bn(spatial_dims, c2, c3, 3, relu=True)
        self.norm_in = Norm[Norm.BATCH, spatial_dims](self.out_channels)
        self.norm_out = Norm[Norm.BATCH, spatial_dims](self.out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.conv3(x)
        b = self.conv5(a)
        c = self.conv7(b)
        out = self.norm_in(torch.cat([a, b, c], dim=1)) + self.shortcut(x)
        return self.norm_out(torch.relu(out))


class _ResPath(nn.Module):
    """``length`` residual 3x3 convolutions (each with a 1x1 shortcut, ReLU and batch norm) on a skip connection."""

    def __init__(self, spatial_dims: int, in_channels: int, filters: int, length: int) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            _conv_bn(spatial_dims, in_channels if i == 0 else filters, filters, 3, relu=True) for i in range(length)
        )
        self.shortcuts = nn.ModuleList(
            _conv_bn(spatial_dims, in_channels if i == 0 else filters, filters, 1, relu=False) for i in range(length)
        )
        self.norms = nn.ModuleList(Norm[Norm.BATCH, spatial_dims](filters) for _ in range(length))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv, shortcut, norm in zip(self.convs, self.shortcuts, self.norms):  # noqa: B905 - TorchScript has no strict
            x = norm(torch.relu(conv(x) + shortcut(x)))
        return x


class MultiResUNet(nn.Module):
    """MultiResUNet: a U-Net whose double convolutions are MultiRes blocks and whose skip connections pass through
    residual paths (4, 3, 2, 1 residual convolutions from the top level down).

    Ibtehaz N., Rahman M. S. "MultiResUNet: Rethinking the U-Net architecture for multimodal biomedical image
    segmentation". Neural Networks 121:74-87, 2020 (arXiv:1902.04049, 2019).
    https://doi.org/10.1016/j.neunet.2019.08.025

    With the defaults (``filters=(32, 64, 128, 256, 512)``, ``alpha=1.67``) this is the paper's network: MultiRes
    blocks of ``W = alpha * filters`` channels split ``W/6 + W/3 + W/2`` (51, 105, 212, 426 and 853 channels),
    2x2 max pooling, transposed 2x2 convolutions of ``filters`` channels for upsampling, and residual paths of
    ``filters`` channels. The output is logits from a 1x1 convolution (the paper ends with batch norm and a sigmoid;
    the sigmoid is left to the loss and the post-processing). 2D, 1 input and 1 output channel: 7.24 M parameters.

    Args:
        spatial_dims: 2 or 3.
        in_channels: input channels (e.g. adjacent slices).
        out_channels: output channels (logits).
        filters: ``U`` of each level, top to bottom.
        alpha: width multiplier of the MultiRes blocks.

    Shapes:
        input ``(B, in_channels, *spatial)``, every spatial size divisible by ``2 ** (len(filters) - 1)`` (16 by
        default); output ``(B, out_channels, *spatial)``.
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        in_channels: int = 1,
        out_channels: int = 1,
        filters: Sequence[int] = (32, 64, 128, 256, 512),
        alpha: float = 1.67,
    ) -> None:
        super().__init__()
        if spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
        if len(filters) < 2:
            raise ValueError(f"filters needs at least two levels, got {list(filters)}")
        filters = [int(f) for f in filters]
        self.divisor = 2 ** (len(filters) - 1)
        self.encoder = nn.ModuleList()
        self.paths = nn.ModuleList()
        channels = in_channels
        for level, width in enumerate(filters[:-1]):
            block = _MultiResBlock(spatial_dims, channels, width, alpha)
            self.encoder.append(block)
            channels = block.out_channels
            self.paths.append(_ResPath(spatial_dims, channels, width, length=len(filters) - 1 - level))
        self.bottom = _MultiResBlock(spatial_dims, channels, filters[-1], alpha)
        channels = self.bottom.out_channels
        self.pool = Pool[Pool.MAX, spatial_dims](kernel_size=2)
        self.ups = nn.ModuleList()
        self.decoder = nn.ModuleList()
        for width in reversed(filters[:-1]):
            self.ups.append(Conv[Conv.CONVTRANS, spatial_dims](channels, width, kernel_size=2, stride=2))
            block = _MultiResBlock(spatial_dims, 2 * width, width, alpha)
            self.decoder.append(block)
            channels = block.out_channels
        self.head = Conv[Conv.CONV, spatial_dims](channels, out_channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.jit.is_scripting() and not torch.compiler.is_compiling():
            check_divisible("MultiResUNet", x.shape[2:], self.divisor)
        skips: list[torch.Tensor] = []
        for block, path in zip(self.encoder, self.paths):  # noqa: B905 - TorchScript has no strict
            x = block(x)
            skips.append(path(x))
            x = self.pool(x)
        x = self.bottom(x)
        for up, block in zip(self.ups, self.decoder):  # noqa: B905 - TorchScript has no strict
            x = block(torch.cat([up(x), skips.pop()], dim=1))
        return self.head(x)
