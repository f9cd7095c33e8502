"""Normalisation layers and weight initialisation shared by the networks."""

from __future__ import annotations

from typing import Callable

import torch.nn as nn

from vidtrans.networks.config import INIT_TYPES, InitType, Norm, check_choice


def norm_layer(norm: Norm) -> Callable[[int], nn.Module]:
    """A factory for the normalisation layer of `norm` ("none" gives identity layers).

    Instance norm has no affine parameters and no running statistics, as in the reference implementation.
    """
    if norm == "instance":
        return lambda channels: nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if norm == "batch":
        return lambda channels: nn.BatchNorm2d(channels, affine=True, track_running_stats=True)
    return lambda channels: nn.Identity()


def conv_bias(norm: Norm) -> bool:
    """Whether convolutions before a norm layer carry a bias: not before batch norm, which has its own."""
    return norm != "batch"


def init_weights(net: nn.Module, init_type: InitType = "normal", gain: float = 0.02) -> nn.Module:
    """Initialise conv and linear weights as the reference implementation does; biases to zero.

    Batch-norm weights are drawn from normal(1, gain). Returns `net` for chaining.
    """
    check_choice("init_type", init_type, INIT_TYPES)
    for module in net.modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            if init_type == "normal":
                nn.init.normal_(module.weight, 0.0, gain)
            elif init_type == "xavier":
                nn.init.xavier_normal_(module.weight, gain=gain)
            elif init_type == "kaiming":
                nn.init.kaiming_normal_(module.weight, a=0, mode="fan_in")
            else:
                nn.init.orthogonal_(module.weight, gain=gain)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.normal_(module.weight, 1.0, gain)
            nn.init.zeros_(module.bias)
    return net
