"""The ResNet generator of CycleGAN (Zhu et al. 2017, after Johnson et al. 2016).

The layer order matches the reference implementation's `nn.Sequential`, so its checkpoints load directly:
`model.1` 7x7 conv, `model.4`/`model.7` down-convs, `model.10..` residual blocks, then two transposed
convs and the last 7x7 conv.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from vidtrans.networks.config import Padding, ResnetGeneratorConfig
from vidtrans.networks.layers import conv_bias, norm_layer


def _padded_conv3x3(channels: int, padding: Padding, bias: bool) -> list[nn.Module]:
    if padding == "reflect":
        return [nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3, padding=0, bias=bias)]
    if padding == "replicate":
        return [nn.ReplicationPad2d(1), nn.Conv2d(channels, channels, 3, padding=0, bias=bias)]
    return [nn.Conv2d(channels, channels, 3, padding=1, bias=bias)]


class ResnetBlock(nn.Module):
    """conv-norm-relu-[dropout]-conv-norm with a skip connection."""

    def __init__(self, channels: int, config: ResnetGeneratorConfig) -> None:
        super().__init__()
        norm = norm_layer(config.norm)
        bias = conv_bias(config.norm)
        layers = [*_padded_conv3x3(channels, config.padding, bias), norm(channels), nn.ReLU(True)]
        if config.dropout:
            layers.append(nn.Dropout(0.5))
        layers += [*_padded_conv3x3(channels, config.padding, bias), norm(channels)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    """Maps (N, in_channels, H, W) in [-1, 1] to (N, out_channels, H, W) in [-1, 1]; H, W multiples of 4."""

    def __init__(self, config: ResnetGeneratorConfig) -> None:
        super().__init__()
        self.config = config
        norm = norm_layer(config.norm)
        bias = conv_bias(config.norm)
        ngf = config.ngf
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(config.in_channels, ngf, 7, padding=0, bias=bias),
            norm(ngf),
            nn.ReLU(True),
        ]
        for mult in (1, 2):
            layers += [nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1, bias=bias),
                       norm(ngf * mult * 2), nn.ReLU(True)]
        layers += [ResnetBlock(ngf * 4, config) for _ in range(config.n_blocks)]
        for mult in (4, 2):
            layers += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, stride=2, padding=1,
                                          output_padding=1, bias=bias),
                       norm(ngf * mult // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, config.out_channels, 7, padding=0), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)
