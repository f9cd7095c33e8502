"""The PatchGAN and PixelGAN discriminators of pix2pix / CycleGAN."""

from __future__ import annotations

import torch
import torch.nn as nn

from vidtrans.networks.config import PatchDiscriminatorConfig, PixelDiscriminatorConfig
from vidtrans.networks.layers import conv_bias, norm_layer


class PatchDiscriminator(nn.Module):
    """Classifies overlapping patches as real or fake; outputs a (N, 1, h, w) map of logits."""

    def __init__(self, config: PatchDiscriminatorConfig) -> None:
        super().__init__()
        self.config = config
        norm = norm_layer(config.norm)
        bias = conv_bias(config.norm)
        ndf = config.ndf
        layers: list[nn.Module] = [nn.Conv2d(config.in_channels, ndf, 4, stride=2, padding=1),
                                   nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, config.n_layers + 1):
            previous, mult = mult, min(2**n, 8)
            stride = 2 if n < config.n_layers else 1
            layers += [nn.Conv2d(ndf * previous, ndf * mult, 4, stride=stride, padding=1, bias=bias),
                       norm(ndf * mult), nn.LeakyReLU(0.2, True)]
        layers.append(nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class PixelDiscriminator(nn.Module):
    """A 1x1 PatchGAN: classifies each pixel; outputs a (N, 1, H, W) map of logits."""

    def __init__(self, config: PixelDiscriminatorConfig) -> None:
        super().__init__()
        self.config = config
        bias = conv_bias(config.norm)
        ndf = config.ndf
        self.net = nn.Sequential(
            nn.Conv2d(config.in_channels, ndf, 1),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf, ndf * 2, 1, bias=bias),
            norm_layer(config.norm)(ndf * 2),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * 2, 1, 1, bias=bias),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
