"""GAN objectives: least squares (LSGAN), the original cross-entropy one (vanilla) and WGAN-GP."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from vidtrans.training.config import GAN_MODES, GanMode


class GANLoss(nn.Module):
    """The adversarial loss of a discriminator's output map against the label "real" or "fake".

    lsgan: mean squared distance to 1 (real) or 0 (fake); vanilla: binary cross-entropy on logits;
    wgangp: minus the mean score for real, the mean score for fake (the gradient penalty is separate).
    """

    def __init__(self, mode: GanMode) -> None:
        super().__init__()
        if mode not in GAN_MODES:
            raise ValueError(f"gan_mode must be one of {', '.join(GAN_MODES)}; got {mode!r}")
        self.mode = mode

    def forward(self, prediction: torch.Tensor, real: bool) -> torch.Tensor:
        prediction = prediction.float()
        if self.mode == "wgangp":
            return -prediction.mean() if real else prediction.mean()
        target = torch.full_like(prediction, 1.0 if real else 0.0)
        if self.mode == "lsgan":
            return F.mse_loss(prediction, target)
        return F.binary_cross_entropy_with_logits(prediction, target)


def gradient_penalty(discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """WGAN-GP's penalty (Gulrajani et al. 2017): E[(||grad D(x)||_2 - 1)^2] at random mixes x of real and fake."""
    alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=torch.float32)
    mixed = (alpha * real.float() + (1 - alpha) * fake.detach().float()).requires_grad_(True)
    with torch.autocast(mixed.device.type, enabled=False):
        score = discriminator(mixed)
        (gradient,) = torch.autograd.grad(score.sum(), mixed, create_graph=True)
    return ((gradient.flatten(1).norm(2, dim=1) - 1) ** 2).mean()
