"""Training the segmentation network and scoring it with per-class IoU and mIoU.

Scores come from a confusion matrix over the evaluation set (rows: true class, columns: predicted class;
pixels labelled IGNORE are left out). A class's IoU is TP / (TP + FP + FN). The mean counts the classes
that occur in the evaluation labels: a class with no true pixel has no IoU (None) and is not in the mean,
even if the network predicts it somewhere (those false positives still lower the IoU of the true classes
of the pixels concerned, as their false negatives).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from vidtrans.downstream.data import SegmentationData, sample_batch, to_input
from vidtrans.downstream.segnet import SegNet, SegNetConfig, build_segnet
from vidtrans.scenes import IGNORE


@dataclass(frozen=True)
class TrainSettings:
    """How a segmentation network is trained: Adam, cosine-decayed learning rate, `steps` batches."""

    steps: int = 400
    batch_size: int = 8
    lr: float = 1e-2
    weight_decay: float = 1e-4
    seed: int = 0
    flip: bool = True
    crop: tuple[int, int] | None = None  # (width, height) of random crops; None trains on whole images

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"steps must be at least 1, got {self.steps}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")
        if not self.lr > 0 or self.weight_decay < 0:
            raise ValueError(f"lr must be > 0 and weight_decay >= 0; got {self.lr}, {self.weight_decay}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")


@dataclass(frozen=True)
class TrainResult:
    """A trained network (eval mode) with its loss after every step and the training time."""

    net: SegNet
    losses: tuple[float, ...]
    seconds: float

    @property
    def final_loss(self) -> float:
        """The mean loss of the last tenth of the steps (less noisy than the last step alone)."""
        tail = self.losses[-max(1, len(self.losses) // 10):]
        return float(sum(tail) / len(tail))


def train_segnet(data: SegmentationData, settings: TrainSettings = TrainSettings(), *,
                 config: SegNetConfig = SegNetConfig(), device: str | torch.device = "cpu",
                 on_step: Callable[[int, float], None] | None = None,
                 transform: Callable[[torch.Tensor], torch.Tensor] | None = None) -> TrainResult:
    """Train a fresh network on `data` with cross-entropy (IGNORE pixels left out).

    The weights and every batch are drawn from `settings.seed`, so the same data and settings give the
    same network on the CPU. `on_step(step, loss)` is called after each step (for progress display);
    `transform` changes each batch's images before augmentation (see `sample_batch`).
    """
    device = torch.device(device)
    multiple = config.size_multiple
    width, height = settings.crop or data.size
    if width % multiple or height % multiple:
        raise ValueError(f"training size {width}x{height} must be a multiple of {multiple} on both sides")
    net = build_segnet(config, seed=settings.seed).to(device).train()
    optimizer = torch.optim.Adam(net.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 0.5 * (1.0 + math.cos(math.pi * step / settings.steps)))
    generator = torch.Generator().manual_seed(settings.seed)
    losses = []
    started = time.perf_counter()
    for step in range(settings.steps):
        images, labels = sample_batch(data, settings.batch_size, generator, flip=settings.flip, crop=settings.crop,
                                      transform=transform)
        logits = net(images.to(device))
        loss = F.cross_entropy(logits, labels.to(device), ignore_index=IGNORE)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(float(loss.detach()))
        if on_step is not None:
            on_step(step, losses[-1])
    return TrainResult(net=net.eval(), losses=tuple(losses), seconds=time.perf_counter() - started)


def confusion_matrix(predicted: torch.Tensor, target: torch.Tensor, num_classes: int, *,
                     ignore: int = IGNORE) -> np.ndarray:
    """(num_classes, num_classes) int64 counts: [true class, predicted class]; `ignore` pixels left out.

    A true label that is neither `ignore` nor a class index is an error.
    """
    if predicted.shape != target.shape:
        raise ValueError(f"predicted {tuple(predicted.shape)} and target {tuple(target.shape)} differ in shape")
    target = target.reshape(-1).long()
    predicted = predicted.reshape(-1).long()
    keep = target != ignore
    target, predicted = target[keep], predicted[keep]
    if target.numel() and (int(target.min()) < 0 or int(target.max()) >= num_classes):
        raise ValueError(f"labels must be class indices below {num_classes} or {ignore} (ignore); "
                         f"found {int(target.max())}")
    if predicted.numel() and (int(predicted.min()) < 0 or int(predicted.max()) >= num_classes):
        raise ValueError(f"predictions must be class indices below {num_classes}")
    counts = torch.bincount(target * num_classes + predicted, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes).cpu().numpy().astype(np.int64)


@dataclass(frozen=True)
class SegmentationScores:
    """Per-class IoU and accuracy (None for classes absent from the evaluation labels), their means, and
    pixel accuracy. A class's accuracy is the share of its true pixels predicted as it (its recall)."""

    confusion: np.ndarray
    iou: tuple[float | None, ...]
    miou: float
    pixel_accuracy: float
    class_accuracy: tuple[float | None, ...]
    mean_class_accuracy: float

    @property
    def classes(self) -> tuple[int, ...]:
        """The class indices that count in the mean (those present in the evaluation labels)."""
        return tuple(i for i, value in enumerate(self.iou) if value is not None)


def scores_from_confusion(confusion: np.ndarray) -> SegmentationScores:
    """IoU and accuracy per class, their means over the classes with true pixels, and pixel accuracy (see the
    module docstring).

    With no labelled pixel at all, the means and pixel accuracy are NaN.
    """
    confusion = np.asarray(confusion, dtype=np.int64)
    if confusion.ndim != 2 or confusion.shape[0] != confusion.shape[1]:
        raise ValueError(f"a confusion matrix must be square; got shape {confusion.shape}")
    true_pixels = confusion.sum(axis=1)
    hits = np.diag(confusion)
    union = true_pixels + confusion.sum(axis=0) - hits
    iou = tuple(float(hits[c] / union[c]) if true_pixels[c] > 0 else None for c in range(len(confusion)))
    accuracy = tuple(float(hits[c] / true_pixels[c]) if true_pixels[c] > 0 else None for c in range(len(confusion)))
    total = int(true_pixels.sum())
    return SegmentationScores(
        confusion=confusion, iou=iou, miou=_mean(iou), pixel_accuracy=float(hits.sum() / total) if total else math.nan,
        class_accuracy=accuracy, mean_class_accuracy=_mean(accuracy))


def _mean(values: tuple[float | None, ...]) -> float:
    present = [value for value in values if value is not None]
    return float(np.mean(present)) if present else math.nan


@torch.inference_mode()
def predict(net: SegNet, images: torch.Tensor, *, device: str | torch.device = "cpu") -> torch.Tensor:
    """uint8 (N, H, W, 3) images -> int64 (N, H, W) predicted classes (on the CPU)."""
    return net.eval()(to_input(images).to(device)).argmax(dim=1).cpu()


def evaluate(net: SegNet, data: SegmentationData, *, batch_size: int = 16,
             device: str | torch.device = "cpu") -> SegmentationScores:
    """Score `net` on every image of `data` (whole images, no augmentation)."""
    num_classes = net.config.num_classes
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    for start in range(0, len(data), batch_size):
        predicted = predict(net, data.images[start:start + batch_size], device=device)
        confusion += confusion_matrix(predicted, data.labels[start:start + batch_size], num_classes)
    return scores_from_confusion(confusion)
