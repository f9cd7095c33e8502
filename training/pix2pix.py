"""pix2pix (Isola et al. 2017): a U-Net generator and a conditional PatchGAN on (input, output) pairs.

The step follows the reference implementation: the discriminator first (on the real pair and on the
generated pair, loss halved), then the generator (adversarial loss plus L1 to the target, weight 100).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from vidtrans.training.config import TrainConfig
from vidtrans.training.losses import GANLoss
from vidtrans.training.models import DiscriminatorStep, GanModel, Runtime, set_requires_grad


class Pix2Pix(GanModel):
    """Paired translation A -> B."""

    def __init__(self, config: TrainConfig, runtime: Runtime, *, rank: int = 0) -> None:
        super().__init__(config, runtime)
        optim = config.optim
        self.gan = GANLoss(optim.gan_mode)  # type: ignore[arg-type]
        g = self._new_generator("G")
        d = self._new_discriminator("D", 6)
        self._optimizer("G", [g])
        self._optimizer("D", [d])
        self.run_d = self._runnable(d)
        self.run_g = self._distributed(self._runnable(g))
        self.run_discriminator = self._distributed(
            DiscriminatorStep([self.run_d], [d], penalty=optim.gan_mode == "wgangp"))

    def train_step(self, real_a: torch.Tensor, real_b: torch.Tensor) -> dict[str, torch.Tensor]:
        optim = self.config.optim
        with self.autocast():
            fake_b = self.run_g(real_a)

        set_requires_grad([self.networks["D"]], True)
        self.optimizers["D"].zero_grad(set_to_none=True)
        with self.autocast():
            ((on_real, on_fake, *penalty),) = self.run_discriminator(
                (torch.cat([real_a, real_b], 1), torch.cat([real_a, fake_b.detach()], 1)))
        loss_d = 0.5 * (self.gan(on_real, True) + self.gan(on_fake, False))
        if penalty:
            loss_d = loss_d + optim.lambda_gp * penalty[0]
        loss_d.backward()
        self.optimizers["D"].step()

        set_requires_grad([self.networks["D"]], False)
        self.optimizers["G"].zero_grad(set_to_none=True)
        with self.autocast():
            loss_gan = self.gan(self.run_d(torch.cat([real_a, fake_b], 1)), True)
        loss_l1 = F.l1_loss(fake_b.float(), real_b.float()) * optim.lambda_l1
        (loss_gan + loss_l1).backward()
        self.optimizers["G"].step()

        self.latest = {"real_a": real_a[0], "fake_b": fake_b[0].detach(), "real_b": real_b[0]}
        return {"G": loss_gan.detach(), "L1": loss_l1.detach(), "D": loss_d.detach()}

    def visual_rows(self) -> list[list[torch.Tensor]]:
        """input, output, target."""
        return [[self.latest["real_a"], self.latest["fake_b"], self.latest["real_b"]]]

    def generators(self) -> tuple[nn.Module, nn.Module | None]:
        return self.networks["G"], None
