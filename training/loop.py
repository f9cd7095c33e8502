"""The trainer: epochs of steps, logging, samples, checkpoints, exact resuming, and the final model.

Resuming restores everything a step depends on (networks, optimisers, schedules, image pools, RNG states,
the position in the epoch), and the data order is a function of (seed, epoch, position), so a resumed run
continues exactly as the uninterrupted run would have, bit for bit on the CPU.
"""

from __future__ import annotations

import math
import shutil
import time
from dataclasses import dataclass
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from vidtrans import console
from vidtrans.errors import UsageError, VidtransError
from vidtrans.modeldir import ModelDirectory
from vidtrans.training.checkpoint import (
    ResumePoint,
    epoch_name,
    find_resume_point,
    keep_copy,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from vidtrans.training.config import TrainConfig, config_to_dict, flat_settings, resume_config
from vidtrans.training.cyclegan import CycleGAN
from vidtrans.training.distributed import DistContext, gather, on_main, setup, shutdown
from vidtrans.training.export_model import check_destination, export_run
from vidtrans.training.inputs import TrainingData, build_data
from vidtrans.training.models import GanModel, Runtime
from vidtrans.training.pix2pix import Pix2Pix
from vidtrans.training.rundir import RunDir
from vidtrans.training.semantic import SemanticConsistency, SourceSegmenter, check_same_segmenter, open_source_segmenter

if TYPE_CHECKING:
    from vidtrans.training.logs import RunLog


class TrainingDiverged(VidtransError):
    """A loss became NaN or infinite."""


@dataclass(frozen=True)
class TrainResult:
    """Where a run stands when `train` returns (on rank 0 `model` is the written model directory, if any)."""

    run_dir: Path
    step: int
    epoch: int
    losses: dict[str, float]
    skipped_images: int
    model: ModelDirectory | None


def build_model(config: TrainConfig, runtime: Runtime, *, rank: int = 0,
                semantic: SemanticConsistency | None = None) -> GanModel:
    """The CycleGAN (with `semantic`, the loss of `--semantic-loss`) or pix2pix model of `config`, its weights
    drawn from the current torch RNG."""
    if config.mode == "cyclegan":
        return CycleGAN(config, runtime, rank=rank, semantic=semantic)
    return Pix2Pix(config, runtime, rank=rank)


def runtime_for(config: TrainConfig, ctx: DistContext) -> Runtime:
    """How to run on the chosen device: on CUDA channels-last and cuDNN autotuning; bf16 with --amp."""
    cuda = ctx.device.type == "cuda"
    if config.amp and not cuda:
        raise UsageError(f"--amp (bf16 autocast) needs a CUDA device; this run is on {ctx.device}")
    if cuda:
        torch.backends.cudnn.benchmark = True
    return Runtime(device=ctx.device, amp=config.amp, channels_last=cuda, compile=config.compile,
                   distributed=ctx.distributed)


class LossWindow:
    """Sums of the losses since the last log line (kept on the device: one sync per log, not per step)."""

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.steps = 0
        self.started = time.perf_counter()

    def add(self, losses: dict[str, torch.Tensor]) -> None:
        for name, value in losses.items():
            self.sums[name] = self.sums[name] + value if name in self.sums else value.clone()
        self.steps += 1

    def close(self) -> tuple[dict[str, float], float]:
        """The mean losses and the seconds since the window opened; opens the next window."""
        means = {name: float(total.item()) / self.steps for name, total in self.sums.items()}
        now = time.perf_counter()
        seconds = now - self.started
        self.sums, self.steps, self.started = {}, 0, now
        return means, seconds


def _stream_seed(*words: int) -> int:
    return int(np.random.SeedSequence(list(words)).generate_state(1)[0])


class Trainer:
    """One process's part of a run (every rank trains; rank 0 alone logs and writes)."""

    def __init__(self, config: TrainConfig, run: RunDir, ctx: DistContext, *, progress: bool = True) -> None:
        self.config, self.run, self.ctx, self.show_progress = config, run, ctx, progress
        self.runtime = runtime_for(config, ctx)
        self.step = self.epoch = self.samples_in_epoch = 0
        self.skipped: set[str] = set()
        self.losses: dict[str, float] = {}
        self.saved_at: tuple[int, int] | None = None
        self.training_size: tuple[int, int] = (0, 0)
        self.segmenter: SourceSegmenter | None = None

    def run_training(self, *, resume: bool, overwrite: bool, restart: bool = False) -> TrainResult:
        config, ctx, run = self.config, self.ctx, self.run
        if restart and not resume:
            raise UsageError("--restart starts an existing run again: give its folder with --resume")
        on_main(ctx, lambda: check_destination(run.path, config.name, register=config.register, overwrite=overwrite))
        point = find_resume_point(run.checkpoints) if resume and not restart else None
        if resume and not restart:
            on_main(ctx, lambda: (run.remove_partial_files(), run.write_config(config)))
        else:
            on_main(ctx, lambda: (run.prepare_new(overwrite=overwrite or restart), run.write_config(config)))
        try:
            if config.optim.semantic_loss > 0:
                self.segmenter = open_source_segmenter(Path(config.optim.semantic_segmenter))
            data = build_data(config, frames_dir=run.frames, ctx=ctx,
                              label_spec=self.segmenter.spec if self.segmenter is not None else None)
            semantic = None if self.segmenter is None else self.segmenter.loss(
                training_size=data.training_size, device=ctx.device, compile=config.compile)
        except VidtransError:
            if not resume and ctx.is_main:  # a run that could not start leaves nothing behind
                shutil.rmtree(run.path, ignore_errors=True)
            raise
        self.training_size = data.training_size
        torch.manual_seed(config.seed)
        model = build_model(config, self.runtime, rank=ctx.rank, semantic=semantic)
        torch.manual_seed(_stream_seed(config.seed, 2, ctx.rank))
        if point is not None:
            self._restore(point, model)
        self._announce(data, f"resuming at step {self.step}, epoch {self.epoch} from {point.path.name}" if point
                       else "restarted from step 0" if restart
                       else "no checkpoint yet: starting at step 0" if resume else "new run")
        self._loop(model, data)
        result_model = None
        if ctx.is_main:
            result_model = export_run(run.path, register=config.register, overwrite=overwrite)
            console.info(f"{config.name}: finished at step {self.step} (epoch {self.epoch}); model "
                         f"{result_model.name!r} written to {result_model.path}")
            if self.skipped:
                console.warn(f"{len(self.skipped)} unreadable image(s) were skipped")
        return TrainResult(run.path, self.step, self.epoch, dict(self.losses), len(self.skipped), result_model)

    # state -------------------------------------------------------------------------------------------

    def _restore(self, point: ResumePoint, model: GanModel) -> None:
        if self.ctx.is_main:
            for reason in point.skipped:
                console.warn(f"skipping {reason}")
        state = point.state
        resume_config(state["config"], flat_settings(self.config), where=str(point.path))
        if self.segmenter is not None:
            check_same_segmenter(state.get("semantic_segmenter"), self.segmenter, where=point.path)
        model.load_state_dict(state["model"])
        self.step, self.epoch = int(state["step"]), int(state["epoch"])
        self.samples_in_epoch = int(state["samples_in_epoch"])
        self.skipped = set(state["skipped"])
        ranks = state["ranks"]
        if len(ranks) != self.ctx.world_size and self.ctx.is_main:
            console.warn(f"{point.path} was written by {len(ranks)} process(es), this run has "
                         f"{self.ctx.world_size}: image pools and random streams of the others start afresh")
        if self.ctx.rank < len(ranks):
            model.load_rank_state(ranks[self.ctx.rank])
            set_rng_state(ranks[self.ctx.rank]["rng"], self.ctx.device)

    def _save(self, model: GanModel) -> None:
        if self.saved_at == (self.step, self.epoch):
            return
        ranks = gather(self.ctx, {"rng": rng_state(self.ctx.device), **model.rank_state()})
        self.saved_at = (self.step, self.epoch)
        if not self.ctx.is_main:
            return
        save_checkpoint(self.run.latest, {
            "config": config_to_dict(self.config), "step": self.step, "epoch": self.epoch,
            "samples_in_epoch": self.samples_in_epoch, "model": model.state_dict(), "ranks": ranks,
            "skipped": sorted(self.skipped), "training_size": list(self.training_size),
            **({"semantic_segmenter": self.segmenter.to_json()} if self.segmenter is not None else {}),
        })
        if self.samples_in_epoch == 0 and self.epoch > 0 and (
                self.epoch % self.config.save_every == 0 or self.epoch == self.config.optim.total_epochs):
            keep_copy(self.run.latest, self.run.checkpoints / epoch_name(self.epoch))

    # the loop ----------------------------------------------------------------------------------------

    def _finished(self) -> bool:
        max_steps = self.config.max_steps
        return self.epoch >= self.config.optim.total_epochs or (max_steps is not None and self.step >= max_steps)

    def _remaining_steps(self, data: TrainingData) -> int:
        per_epoch = data.sampler.batches_per_epoch
        done = self.epoch * per_epoch + math.ceil(self.samples_in_epoch / self._global_batch)
        total = self.config.optim.total_epochs * per_epoch
        if self.config.max_steps is not None:
            return max(0, min(total - done, self.config.max_steps - self.step))
        return max(0, total - done)

    @property
    def _global_batch(self) -> int:
        return self.config.data.batch_size * self.ctx.world_size

    def _announce(self, data: TrainingData, where: str) -> None:
        if not self.ctx.is_main:
            return
        c = self.config
        console.info(f"{c.name}: {c.mode} on {self.ctx.device}"
                     + (f" x{self.ctx.world_size} processes" if self.ctx.distributed else "")
                     + f", {where}; A: {data.counts[0]} images ({data.roots[0]}), B: {data.counts[1]} images "
                     f"({data.roots[1]}); {data.sampler.batches_per_epoch} steps per epoch, "
                     f"{c.optim.total_epochs} epochs" + (f", at most {c.max_steps} steps" if c.max_steps else ""))

    def _loop(self, model: GanModel, data: TrainingData) -> None:
        config, ctx = self.config, self.ctx
        log = None
        if ctx.is_main:
            from vidtrans.training.logs import RunLog  # imports TensorBoard: only where it is used

            log = RunLog(self.run.path, resume_step=self.step or None)
        progress = console.Progress(self._remaining_steps(data) * self._global_batch, unit="img",
                                    description=config.name, enabled=self.show_progress and ctx.is_main,
                                    interval=math.inf)  # without a bar, `_log` writes a line every log_every steps
        window = LossWindow()
        model.train()
        try:
            while not self._finished():
                data.sampler.set_epoch(self.epoch, math.ceil(self.samples_in_epoch / self._global_batch))
                for batch in _batches(data.loader):
                    if self._finished():  # checked here so that a run ending with an epoch also closes it
                        break
                    self._note_skipped(batch["bad"])
                    labels = {f"labels_{d.lower()}": batch[f"labels_{d}"].to(ctx.device, non_blocking=True)
                              for d in "AB" if f"labels_{d}" in batch}
                    losses = model.train_step(model.to_device(batch["A"]), model.to_device(batch["B"]), **labels)
                    self.step += 1
                    self.samples_in_epoch += len(batch["A"]) * ctx.world_size
                    window.add(losses)
                    progress.update(len(batch["A"]) * ctx.world_size, step=self.step, epoch=self.epoch)
                    if self.step % config.log_every == 0:
                        self._log(log, progress, model, window)
                    if log is not None and self.step % config.sample_every == 0:
                        log.images(self.step, model.visual_rows())
                    if config.save_every_steps and self.step % config.save_every_steps == 0:
                        self._save(model)
                else:
                    model.step_schedulers()
                    self.epoch += 1
                    self.samples_in_epoch = 0
                    self._save(model)
            if window.steps:
                self._log(log, progress, model, window)
            self._save(model)
        finally:
            progress.close()
            if log is not None:
                log.close()

    def _log(self, log: RunLog | None, progress: console.Progress, model: GanModel, window: LossWindow) -> None:
        steps = window.steps
        values, seconds = window.close()
        bad = [f"{name} = {value}" for name, value in values.items() if not math.isfinite(value)]
        if bad:
            raise TrainingDiverged(f"training diverged at step {self.step}: {', '.join(bad)} (lower --lr, or resume "
                                   f"from {self.run.latest} with other settings)")
        self.losses = values
        rate = steps * self._global_batch / max(seconds, 1e-9)
        if log is not None:
            log.scalars(self.step, {**{f"loss/{k}": v for k, v in values.items()},
                                    "lr": model.learning_rate, "images_per_s": rate, "epoch": self.epoch})
        progress.fields.update({k: f"{v:.3f}" for k, v in values.items()})
        if self.ctx.is_main and self.show_progress and not progress.drawing:
            console.info(f"{self.config.name}: step {self.step}, epoch {self.epoch}, {rate:.1f} images/s, "
                         + ", ".join(f"{k} {v:.3f}" for k, v in values.items()))

    def _note_skipped(self, problems: list[str]) -> None:
        for text in problems:
            for line in text.splitlines():
                if line not in self.skipped:
                    self.skipped.add(line)
                    if self.ctx.is_main:
                        console.warn(f"skipping an unreadable image: {line}")


def _batches(loader: DataLoader) -> Iterator[dict[str, Any]]:
    """The loader's batches; an error raised in a worker process comes out as its own one-line message."""
    iterator = iter(loader)
    while True:
        try:
            batch = next(iterator)
        except StopIteration:
            return
        except VidtransError as error:
            text = str(error).strip()
            if text.startswith("Caught "):  # re-raised from a worker, with the worker's traceback
                raise type(error)(text.splitlines()[-1].split(": ", 1)[-1]) from None
            raise
        yield batch


def train(config: TrainConfig, run_dir: Path, *, resume: bool = False, restart: bool = False,
          overwrite: bool = False, progress: bool = True) -> TrainResult:
    """Train a new run at `run_dir`, or with `resume` continue it from its newest usable checkpoint.

    A resumed run never starts over silently: newer checkpoints that are missing or damaged are skipped
    with a warning, and when none can be used the run stops with an error, unless `restart` (with
    `resume`) asks to start it again from step 0 with its saved settings, replacing its checkpoints.
    In a job launched by torchrun every process calls this; rank 0 logs, checkpoints and writes the model.
    """
    ctx = setup(config.device)
    try:
        result = Trainer(config, RunDir(Path(run_dir)), ctx, progress=progress).run_training(
            resume=resume, overwrite=overwrite, restart=restart)
    except BaseException:
        shutdown(ctx, synchronize=False)
        raise
    shutdown(ctx)
    return result
