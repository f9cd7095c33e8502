"""CycleGAN (Zhu et al. 2017): G: A -> B and F: B -> A, judged by D_B and D_A, tied by cycle consistency.

The step follows the reference implementation: generators first (adversarial + cycle + identity losses,
discriminators frozen), then the discriminators on real images and on fakes drawn from the image pools,
each discriminator's loss halved. With `--semantic-loss` the generators also get CyCADA's semantic-consistency
loss (`vidtrans.training.semantic`).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from vidtrans.training.config import TrainConfig
from vidtrans.training.losses import GANLoss
from vidtrans.training.models import DiscriminatorStep, GanModel, Runtime, set_requires_grad
from vidtrans.training.pool import ImagePool
from vidtrans.training.semantic import SemanticConsistency


class CycleGenerators(nn.Module):
    """Both generators' passes of one step in one forward call: fakes, reconstructions and identities."""

    def __init__(self, g: nn.Module, f: nn.Module, *, identity: bool) -> None:
        super().__init__()
        self.g, self.f, self.identity = g, f, identity

    def forward(self, real_a: torch.Tensor, real_b: torch.Tensor) -> dict[str, torch.Tensor]:
        fake_b = self.g(real_a)
        fake_a = self.f(real_b)
        out = {"fake_b": fake_b, "rec_a": self.f(fake_b), "fake_a": fake_a, "rec_b": self.g(fake_a)}
        if self.identity:
            out["idt_b"] = self.g(real_b)
            out["idt_a"] = self.f(real_a)
        return out


class CycleGAN(GanModel):
    """The CycleGAN objective with LSGAN (or vanilla / WGAN-GP) losses and 50-image pools."""

    def __init__(self, config: TrainConfig, runtime: Runtime, *, rank: int = 0,
                 semantic: SemanticConsistency | None = None) -> None:
        super().__init__(config, runtime)
        if (semantic is None) != (config.optim.semantic_loss == 0):
            raise ValueError("a CycleGAN with --semantic-loss needs its SemanticConsistency, and only then")
        self.semantic = semantic
        optim = config.optim
        self.gan = GANLoss(optim.gan_mode)  # type: ignore[arg-type]
        g, f = self._new_generator("G"), self._new_generator("F")
        d_a, d_b = self._new_discriminator("D_A", 3), self._new_discriminator("D_B", 3)
        self._optimizer("G", [g, f])
        self._optimizer("D", [d_a, d_b])
        self.identity = optim.lambda_identity > 0
        self.run_d_a, self.run_d_b = self._runnable(d_a), self._runnable(d_b)
        self.run_generators = self._distributed(
            CycleGenerators(self._runnable(g), self._runnable(f), identity=self.identity))
        self.run_discriminators = self._distributed(
            DiscriminatorStep([self.run_d_a, self.run_d_b], [d_a, d_b], penalty=optim.gan_mode == "wgangp"))
        self.pool_a = ImagePool(optim.pool_size, seed=config.seed * 1000 + 2 * rank)
        self.pool_b = ImagePool(optim.pool_size, seed=config.seed * 1000 + 2 * rank + 1)

    def train_step(self, real_a: torch.Tensor, real_b: torch.Tensor, *, labels_a: torch.Tensor | None = None,
                   labels_b: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """One step; `labels_a` / `labels_b` are the batches' label maps (uint8 (N, H, W)), where the domains have
        them, for the semantic loss."""
        optim = self.config.optim
        lam = optim.lambda_cycle
        discriminators = [self.networks["D_A"], self.networks["D_B"]]

        set_requires_grad(discriminators, False)
        self.optimizers["G"].zero_grad(set_to_none=True)
        with self.autocast():
            out = self.run_generators(real_a, real_b)
            losses = {"G": self.gan(self.run_d_b(out["fake_b"]), True),
                      "F": self.gan(self.run_d_a(out["fake_a"]), True)}
            if self.semantic is not None:
                target_a = labels_a if labels_a is not None else self.semantic.predict(real_a)
                losses["sem_A"] = self.semantic(out["fake_b"], target_a) * optim.semantic_loss
                losses["sem_B"] = self.semantic(out["fake_a"], self.semantic.predict(real_b, labels_b)) \
                    * optim.semantic_loss
        losses["cycle_A"] = F.l1_loss(out["rec_a"].float(), real_a.float()) * lam
        losses["cycle_B"] = F.l1_loss(out["rec_b"].float(), real_b.float()) * lam
        if self.identity:
            losses["idt_A"] = F.l1_loss(out["idt_a"].float(), real_a.float()) * lam * optim.lambda_identity
            losses["idt_B"] = F.l1_loss(out["idt_b"].float(), real_b.float()) * lam * optim.lambda_identity
        sum(losses.values()).backward()
        self.optimizers["G"].step()

        set_requires_grad(discriminators, True)
        self.optimizers["D"].zero_grad(set_to_none=True)
        fake_a = self.pool_a.query(out["fake_a"])
        fake_b = self.pool_b.query(out["fake_b"])
        with self.autocast():
            judged = self.run_discriminators((real_a, fake_a), (real_b, fake_b))
        for name, (on_real, on_fake, *penalty) in zip(("D_A", "D_B"), judged):
            loss = 0.5 * (self.gan(on_real, True) + self.gan(on_fake, False))
            losses[name] = loss + optim.lambda_gp * penalty[0] if penalty else loss
        (losses["D_A"] + losses["D_B"]).backward()
        self.optimizers["D"].step()

        self.latest = {"real_a": real_a[0], "real_b": real_b[0], **{k: v[0].detach() for k, v in out.items()}}
        return {name: loss.detach() for name, loss in losses.items()}

    def visual_rows(self) -> list[list[torch.Tensor]]:
        """real A, G(A), F(G(A)) [, F(A)] / real B, F(B), G(F(B)) [, G(B)]."""
        v = self.latest
        rows = [[v["real_a"], v["fake_b"], v["rec_a"]], [v["real_b"], v["fake_a"], v["rec_b"]]]
        if self.identity:
            rows[0].append(v["idt_a"])
            rows[1].append(v["idt_b"])
        return rows

    def generators(self) -> tuple[nn.Module, nn.Module | None]:
        return self.networks["G"], self.networks["F"]

    def rank_state(self) -> dict[str, dict]:
        return {"pool_A": self.pool_a.state_dict(), "pool_B": self.pool_b.state_dict()}

    def load_rank_state(self, state: dict[str, dict]) -> None:
        self.pool_a.load_state_dict(state["pool_A"], device=self.runtime.device)
        self.pool_b.load_state_dict(state["pool_B"], device=self.runtime.device)
