"""A small fully-convolutional segmentation network: a mini U-Net that trains in minutes on a CPU.

    stem      3x3 conv, stride 2 (the whole network works at half resolution), then a 3x3 conv
    encoder   per extra width: 2x2 max-pool, two 3x3 convs
    decoder   per level: bilinear x2 upsampling, concatenation with the skip, two 3x3 convs
    head      1x1 conv to class logits, bilinear x2 back to the input size

Every conv is followed by BatchNorm and ReLU. With the default widths (16, 32, 48, 64) it has about
0.23 M parameters; the input's height and width must be multiples of `SegNetConfig.size_multiple`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass(frozen=True)
class SegNetConfig:
    """The architecture: `widths` are the channels at 1/2, 1/4, ... of the input resolution."""

    num_classes: int = 19
    widths: tuple[int, ...] = (16, 32, 48, 64)

    def __post_init__(self) -> None:
        if self.num_classes < 2:
            raise ValueError(f"num_classes must be at least 2, got {self.num_classes}")
        if len(self.widths) < 2 or min(self.widths) < 1:
            raise ValueError(f"widths needs at least 2 positive channel counts, got {self.widths}")

    @property
    def size_multiple(self) -> int:
        """Input sides must be multiples of this (the stem halves them, each encoder level again)."""
        return 2 ** len(self.widths)


def _conv(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


def _double(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(_conv(in_channels, out_channels), _conv(out_channels, out_channels))


class SegNet(nn.Module):
    """Mini U-Net: (N, 3, H, W) images in [-1, 1] -> (N, num_classes, H, W) logits."""

    def __init__(self, config: SegNetConfig = SegNetConfig()) -> None:
        super().__init__()
        self.config = config
        widths = config.widths
        self.stem = nn.Sequential(_conv(3, widths[0], stride=2), _conv(widths[0], widths[0]))
        self.down = nn.ModuleList(_double(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.up = nn.ModuleList(_double(b + a, a) for a, b in zip(widths[:-1], widths[1:]))
        self.head = nn.Conv2d(widths[0], config.num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        multiple = self.config.size_multiple
        if x.shape[-2] % multiple or x.shape[-1] % multiple:
            raise ValueError(f"input height and width must be multiples of {multiple}; got {tuple(x.shape[-2:])}")
        skips = [self.stem(x)]
        for block in self.down:
            skips.append(block(F.max_pool2d(skips[-1], 2)))
        y = skips.pop()
        for block in reversed(self.up):
            skip = skips.pop()
            y = F.interpolate(y, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            y = block(torch.cat([y, skip], dim=1))
        return F.interpolate(self.head(y), size=x.shape[-2:], mode="bilinear", align_corners=False)


def build_segnet(config: SegNetConfig = SegNetConfig(), *, seed: int = 0) -> SegNet:
    """A SegNet with weights drawn from `seed` (PyTorch's default initialisation), so runs repeat exactly."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return SegNet(config)
