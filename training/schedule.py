"""Learning-rate policies: the factor applied to the base learning rate in each epoch (0-based)."""

from __future__ import annotations

import functools
import math

import torch
from torch.optim.lr_scheduler import LambdaLR

from vidtrans.training.config import OptimConfig


def lr_factor(optim: OptimConfig, epoch: int) -> float:
    """The multiplier of `optim.lr` during `epoch`.

    `linear` is the paper's schedule in the reference implementation's steps: constant for `epochs`, then
    `1 - (k + 1) / (epochs_decay + 1)` in decay epoch k, reaching zero just after the last epoch. `step`
    multiplies by `lr_step_gamma` every `lr_step_epochs`; `cosine` anneals to zero over all epochs.
    """
    if optim.lr_policy == "linear":
        return 1.0 - max(0, epoch + 1 - optim.epochs) / float(optim.epochs_decay + 1)
    if optim.lr_policy == "step":
        return optim.lr_step_gamma ** (epoch // optim.lr_step_epochs)
    return 0.5 * (1.0 + math.cos(math.pi * min(epoch, optim.total_epochs) / optim.total_epochs))


def make_scheduler(optimizer: torch.optim.Optimizer, optim: OptimConfig) -> LambdaLR:
    """A scheduler stepped once per epoch; its state holds only numbers, so checkpoints stay plain."""
    return LambdaLR(optimizer, functools.partial(lr_factor, optim))
