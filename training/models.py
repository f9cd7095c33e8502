"""What CycleGAN and pix2pix share: networks placed on the device, optimisers, schedules and saved state.

Each model keeps its plain networks (what checkpoints and model directories store) apart from the modules
it runs: those may be compiled (`torch.compile`) and, in a distributed run, wrapped so that every network
that trains goes through exactly one DistributedDataParallel forward call per backward pass.
"""

from __future__ import annotations

import abc
import contextlib
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import torch
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel

from vidtrans.networks import build_discriminator, build_generator, init_weights
from vidtrans.training.config import TrainConfig
from vidtrans.training.losses import gradient_penalty
from vidtrans.training.schedule import make_scheduler


@dataclass(frozen=True)
class Runtime:
    """Where and how the networks run."""

    device: torch.device
    amp: bool = False
    channels_last: bool = False
    compile: bool = False
    distributed: bool = False


def set_requires_grad(nets: Iterable[nn.Module], flag: bool) -> None:
    """Freeze or unfreeze the parameters of `nets`."""
    for net in nets:
        for parameter in net.parameters():
            parameter.requires_grad_(flag)


class DiscriminatorStep(nn.Module):
    """Runs each discriminator on its (real, fake) batch in one forward call, with WGAN-GP's penalty if asked.

    `discriminators` are the modules to run (perhaps compiled); `plain` the same networks uncompiled, used
    for the penalty (it needs a double backward, which compiled graphs do not support). Returns (score on
    real, score on fake[, penalty]) per discriminator.
    """

    def __init__(self, discriminators: list[nn.Module], plain: list[nn.Module], *, penalty: bool) -> None:
        super().__init__()
        self.nets = nn.ModuleList(discriminators)
        self.plain = list(plain)  # not registered again: the parameters are those of `nets`
        self.penalty = penalty

    def forward(self, *batches: tuple[torch.Tensor, torch.Tensor]) -> list[tuple[torch.Tensor, ...]]:
        results = []
        for net, plain, (real, fake) in zip(self.nets, self.plain, batches):
            scores = (net(real), net(fake))
            results.append(scores + ((gradient_penalty(plain, real, fake),) if self.penalty else ()))
        return results


class GanModel(abc.ABC):
    """The state and plumbing of a GAN under training; subclasses define the networks and `train_step`."""

    def __init__(self, config: TrainConfig, runtime: Runtime) -> None:
        self.config = config
        self.runtime = runtime
        self.networks: dict[str, nn.Module] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.schedulers: dict[str, torch.optim.lr_scheduler.LambdaLR] = {}
        self.latest: dict[str, torch.Tensor] = {}

    # building ----------------------------------------------------------------------------------------

    def _new_generator(self, name: str) -> nn.Module:
        net = build_generator(self.config.model.generator_config())
        return self._place(name, init_weights(net, self.config.model.init_type, self.config.model.init_gain))

    def _new_discriminator(self, name: str, in_channels: int) -> nn.Module:
        net = build_discriminator(self.config.model.discriminator_config(in_channels))
        return self._place(name, init_weights(net, self.config.model.init_type, self.config.model.init_gain))

    def _place(self, name: str, net: nn.Module) -> nn.Module:
        net = net.to(self.runtime.device)
        if self.runtime.channels_last:
            net = net.to(memory_format=torch.channels_last)
        self.networks[name] = net
        return net

    def _runnable(self, net: nn.Module) -> nn.Module:
        return torch.compile(net) if self.runtime.compile else net  # type: ignore[return-value]

    def _distributed(self, module: nn.Module) -> nn.Module:
        if not self.runtime.distributed:
            return module
        device = self.runtime.device
        return DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None)

    def _optimizer(self, name: str, nets: Iterable[nn.Module]) -> None:
        optim = self.config.optim
        params = list(itertools.chain.from_iterable(net.parameters() for net in nets))
        optimizer = torch.optim.Adam(params, lr=optim.lr, betas=(optim.beta1, optim.beta2))
        self.optimizers[name] = optimizer
        self.schedulers[name] = make_scheduler(optimizer, optim)

    # running -----------------------------------------------------------------------------------------

    def autocast(self) -> contextlib.AbstractContextManager:
        """bf16 autocast with --amp (CUDA only), else nothing."""
        if not self.runtime.amp:
            return contextlib.nullcontext()
        return torch.autocast(self.runtime.device.type, dtype=torch.bfloat16)

    def to_device(self, batch: torch.Tensor) -> torch.Tensor:
        batch = batch.to(self.runtime.device, non_blocking=True)
        return batch.contiguous(memory_format=torch.channels_last) if self.runtime.channels_last else batch

    @abc.abstractmethod
    def train_step(self, real_a: torch.Tensor, real_b: torch.Tensor) -> dict[str, torch.Tensor]:
        """One optimisation step of every network; returns the detached losses by name."""

    @abc.abstractmethod
    def visual_rows(self) -> list[list[torch.Tensor]]:
        """Rows of images (3, H, W) from the first sample of the latest step, for grids."""

    @abc.abstractmethod
    def generators(self) -> tuple[nn.Module, nn.Module | None]:
        """The generator (A -> B) and, for CycleGAN, the inverse (B -> A)."""

    def train(self) -> None:
        for net in self.networks.values():
            net.train()

    def step_schedulers(self) -> None:
        for scheduler in self.schedulers.values():
            scheduler.step()

    @property
    def learning_rate(self) -> float:
        return next(iter(self.optimizers.values())).param_groups[0]["lr"]

    # state -------------------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, dict]:
        """Networks, optimisers and schedulers: tensors and plain values only."""
        return {
            "networks": {name: {k: v.detach().cpu() for k, v in net.state_dict().items()}
                         for name, net in self.networks.items()},
            "optimizers": {name: opt.state_dict() for name, opt in self.optimizers.items()},
            "schedulers": {name: sched.state_dict() for name, sched in self.schedulers.items()},
        }

    def load_state_dict(self, state: dict[str, dict]) -> None:
        for name, net in self.networks.items():
            net.load_state_dict(state["networks"][name])
        for name, opt in self.optimizers.items():
            opt.load_state_dict(state["optimizers"][name])
        for name, sched in self.schedulers.items():
            sched.load_state_dict(state["schedulers"][name])

    def rank_state(self) -> dict[str, dict]:
        """State that differs between ranks (image pools); empty by default."""
        return {}

    def load_rank_state(self, state: dict[str, dict]) -> None:
        """Restore what `rank_state` returned."""

    def parameters(self) -> Iterator[nn.Parameter]:
        for net in self.networks.values():
            yield from net.parameters()
