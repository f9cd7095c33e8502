"""The U-Net generator of pix2pix (Isola et al. 2017).

Built from nested skip blocks exactly like the reference implementation, so its checkpoints
(`model.model.0.weight`, `model.model.1.model.1.weight`, ...) load directly.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from vidtrans.networks.config import UnetGeneratorConfig
from vidtrans.networks.layers import conv_bias, norm_layer


class UnetSkipBlock(nn.Module):
    """down-conv -> [inner block] -> up-conv, with the input concatenated to the output (except outermost)."""

    def __init__(self, outer_channels: int, inner_channels: int, config: UnetGeneratorConfig, *,
                 in_channels: int | None = None, submodule: nn.Module | None = None,
                 outermost: bool = False, innermost: bool = False, dropout: bool = False) -> None:
        super().__init__()
        self.outermost = outermost
        norm = norm_layer(config.norm)
        bias = conv_bias(config.norm)
        down_conv = nn.Conv2d(in_channels or outer_channels, inner_channels, 4, stride=2, padding=1, bias=bias)
        if outermost:
            up_conv = nn.ConvTranspose2d(inner_channels * 2, outer_channels, 4, stride=2, padding=1)
            layers = [down_conv, submodule, nn.ReLU(True), up_conv, nn.Tanh()]
        elif innermost:
            up_conv = nn.ConvTranspose2d(inner_channels, outer_channels, 4, stride=2, padding=1, bias=bias)
            layers = [nn.LeakyReLU(0.2, True), down_conv, nn.ReLU(True), up_conv, norm(outer_channels)]
        else:
            up_conv = nn.ConvTranspose2d(inner_channels * 2, outer_channels, 4, stride=2, padding=1, bias=bias)
            layers = [nn.LeakyReLU(0.2, True), down_conv, norm(inner_channels), submodule,
                      nn.ReLU(True), up_conv, norm(outer_channels)]
            if dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


class UnetGenerator(nn.Module):
    """Maps (N, in_channels, H, W) in [-1, 1] to the same range; H, W multiples of 2**num_downs."""

    def __init__(self, config: UnetGeneratorConfig) -> None:
        super().__init__()
        self.config = config
        ngf = config.ngf
        block = UnetSkipBlock(ngf * 8, ngf * 8, config, innermost=True)
        for _ in range(config.num_downs - 5):
            block = UnetSkipBlock(ngf * 8, ngf * 8, config, submodule=block, dropout=config.dropout)
        block = UnetSkipBlock(ngf * 4, ngf * 8, config, submodule=block)
        block = UnetSkipBlock(ngf * 2, ngf * 4, config, submodule=block)
        block = UnetSkipBlock(ngf, ngf * 2, config, submodule=block)
        self.model = UnetSkipBlock(config.out_channels, ngf, config, in_channels=config.in_channels,
                                   submodule=block, outermost=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)
