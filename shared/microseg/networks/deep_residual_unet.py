"""Deep Residual U-Net (ResUNet) of Zhang, Liu and Wang (2018)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from monai.networks.layers.factories import Conv, Norm
from torch import nn

from microseg.networks.checks import check_divisible

__all__ = ["DeepResidualUNet"]


class _ResidualUnit(nn.Module):
    """``F(x) + shortcut(x)``: two 3x3 convolutions, each preceded by batch norm and ReLU (full pre-activation),
    and a 1x1 convolution with batch norm on the shortcut. The first unit of the encoder has no activation before
    its first convolution (``first=True``), as the paper's input unit; ``stride`` 2 halves the spatial size."""

    def __init__(self, spatial_dims: int, in_channels: int, out_channels: int, stride: int = 1, first: bool = False):
        super().__init__()
        conv, norm = Conv[Conv.CONV, spatial_dims], Norm[Norm.BATCH, spatial_dims]
        pre = [] if first else [norm(in_channels), nn.ReLU(inplace=False)]
        self.residual = nn.Sequential(
            *pre,
            conv(in_channels, out_channels, kernel_size=3, stride=stride, padding=1),
            norm(out_channels),
            nn.ReLU(inplace=True),
            conv(out_channels, out_channels, kernel_size=3, stride=1, padding=1),
        )
        self.shortcut = nn.Sequential(
            conv(in_channels, out_channels, kernel_size=1, stride=stride, padding=0), norm(out_channels)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.residual(x) + self.shortcut(x)


class DeepResidualUNet(nn.Module):
    """Deep Residual U-Net: a U-Net whose blocks are residual units, with strided convolutions for downsampling.

    Zhang Z., Liu Q., Wang Y. "Road Extraction by Deep Residual U-Net". IEEE Geoscience and Remote Sensing Letters
    15(5):749-753, 2018. https://doi.org/10.1109/LGRS.2018.2802944 (arXiv:1711.10684).

    With the default ``features=(64, 128, 256, 512)`` this is the paper's seven-unit network: encoder units of 64,
    128 and 256 filters (the last two with stride 2), a bridge of 512 (stride 2), decoder units of 256, 128 and 64,
    each after a 2x upsampling and a concatenation with the encoder feature map of the same size, and a 1x1
    convolution to ``out_channels``. 2D, 1 input channel, 1 output channel: 8.22 M parameters. The paper reports
    7.8 M, which is this count without the 0.43 M of the shortcut projections: every unit changes the number of
    channels (and three the size), where an identity shortcut cannot be added, so each shortcut is a 1x1
    convolution with batch norm, as in the public ResUNet implementations. The output is logits; the paper's
    sigmoid is left to the loss and the post-processing.

    Args:
        spatial_dims: 2 or 3.
        in_channels: input channels.
        out_channels: output channels (logits).
        features: filters of the encoder units, the last being the bridge; the decoder mirrors them.
        upsample_mode: ``torch.nn.Upsample`` mode of the decoder (``"nearest"``, or ``"bilinear"`` in 2D).

    Shapes:
        input ``(B, in_channels, *spatial)``, every spatial size divisible by ``2 ** (len(features) - 1)`` (8 by
        default); output ``(B, out_channels, *spatial)``.
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        in_channels: int = 1,
        out_channels: int = 1,
        features: Sequence[int] = (64, 128, 256, 512),
        upsample_mode: str = "nearest",
    ) -> None:
        super().__init__()
        if spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
        if len(features) < 2:
            raise ValueError(f"features needs at least two levels (encoder and bridge), got {list(features)}")
        features = [int(f) for f in features]
        self.divisor = 2 ** (len(features) - 1)
        self.encoder = nn.ModuleList(
            [_ResidualUnit(spatial_dims, in_channels, features[0], stride=1, first=True)]
            + [
                _ResidualUnit(spatial_dims, features[i - 1], features[i], stride=2)
                for i in range(1, len(features))  # the last one is the bridge
            ]
        )
        self.upsample = nn.Upsample(scale_factor=2, mode=upsample_mode)
        self.decoder = nn.ModuleList(
            [
                _ResidualUnit(spatial_dims, features[i + 1] + features[i], features[i])
                for i in reversed(range(len(features) - 1))
            ]
        )
        self.head = Conv[Conv.CONV, spatial_dims](features[0], out_channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.jit.is_scripting() and not torch.compiler.is_compiling():
            check_divisible("DeepResidualUNet", x.shape[2:], self.divisor)
        skips: list[torch.Tensor] = []
        for unit in self.encoder:
            x = unit(x)
            skips.append(x)
        skips.pop()  # the bridge output is x itself
        for unit in self.decoder:
            x = unit(torch.cat([self.upsample(x), skips.pop()], dim=1))
        return self.head(x)
