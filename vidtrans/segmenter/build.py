"""`vidtrans segmenter train`: a segmenter trained on labelled folders, written as a vidtrans segmenter directory.

The network is vidtrans' mini U-Net (`vidtrans.downstream.SegNet`), trained with `vidtrans.downstream.train_segnet`
on GTA5-layout (images/ + labels/) or Cityscapes-layout (leftImg8bit/ + gtFine/) folders, resized to one size
(all folders together make the training set). The directory holds:

    segmenter.safetensors   the weights (for torch: `load_segmenter`, `frozen_segmenter`)
    segmenter.onnx          the same network for ONNX Runtime (input float32 NCHW RGB in [-1, 1], output logits),
                            checked and verified against torch before it is written
    segmenter.json          the sidecar (`vidtrans.segmenter.spec`) with the architecture, hashes and training record

With `ego_vehicle` the network learns one more class, "ego vehicle": the ignore-labelled regions that touch the
bottom edge of a frame (the hood of the recording car, which Cityscapes and vidtrans' real-content scenes label
255). Other ignore pixels stay ignored. With `augment` every training image gets a random look
(`vidtrans.downstream.augment`), for a source-domain segmenter that must label translated images.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

import vidtrans
from vidtrans.console import Progress
from vidtrans.downstream.augment import PhotometricJitter
from vidtrans.downstream.data import SegmentationData, load_dataset
from vidtrans.downstream.segnet import SegNetConfig
from vidtrans.downstream.train import SegmentationScores, TrainSettings, evaluate, train_segnet
from vidtrans.errors import OutputError, UsageError
from vidtrans.deploy.onnx_export import DEFAULT_OPSET, INPUT_NAME, OUTPUT_NAME, export_fp32
from vidtrans.deploy.verify import FP32_TOLERANCE, SizeCheck, check_onnx_file, compare_with_torch
from vidtrans.fsutil import atomic_path, sha256_file
from vidtrans.modeldir import save_weights
from vidtrans.scenes import CLASS_NAMES, IGNORE
from vidtrans.segmenter.runners import ONNX_FILE, SPEC_FILE, TORCH_MEAN_STD, WEIGHTS_FILE
from vidtrans.segmenter.spec import EGO_VEHICLE, SegmenterSpec

FORMAT = "vidtrans-segmenter"
FORMAT_VERSION = 1
_DEFAULTS = TrainSettings()


@dataclass(frozen=True)
class SegmenterTrainOptions:
    """How the segmenter is trained: images resized to `size` (width, height), optionally random `crop`s of it."""

    size: tuple[int, int] = (256, 128)
    crop: tuple[int, int] | None = None
    steps: int = _DEFAULTS.steps
    batch_size: int = _DEFAULTS.batch_size
    lr: float = _DEFAULTS.lr
    seed: int = _DEFAULTS.seed
    widths: tuple[int, ...] = SegNetConfig().widths
    ego_vehicle: bool = False
    augment: bool = False
    split: str | None = None
    validation: Path | None = None
    device: str = "auto"
    overwrite: bool = False
    progress: bool = True

    def __post_init__(self) -> None:
        try:
            self.train_settings()
            multiple = SegNetConfig(widths=self.widths).size_multiple
        except ValueError as error:
            raise UsageError(str(error)) from None
        for name, value in (("size", self.size), ("crop", self.crop)):
            if value is not None and (value[0] % multiple or value[1] % multiple or min(value) < multiple):
                raise UsageError(f"--{name} must be a positive multiple of {multiple} on both sides; "
                                 f"got {value[0]}x{value[1]}")
        if self.crop is not None and (self.crop[0] > self.size[0] or self.crop[1] > self.size[1]):
            raise UsageError(f"--crop {self.crop[0]}x{self.crop[1]} does not fit in --size "
                             f"{self.size[0]}x{self.size[1]}")

    def train_settings(self) -> TrainSettings:
        return TrainSettings(steps=self.steps, batch_size=self.batch_size, lr=self.lr, seed=self.seed, crop=self.crop)


@dataclass(frozen=True)
class SegmenterSummary:
    """What `train_segmenter` wrote and measured."""

    path: Path
    images: int
    class_names: tuple[str, ...]
    final_loss: float
    seconds: float
    onnx_checks: tuple[SizeCheck, ...]
    validation: SegmentationScores | None

    def lines(self) -> list[str]:
        lines = [f"trained on {self.images} images ({len(self.class_names)} classes) in {self.seconds:.0f}s, "
                 f"final loss {self.final_loss:.3f}",
                 f"wrote {self.path}: {WEIGHTS_FILE}, {ONNX_FILE} (verified with ONNX Runtime, max |diff| "
                 f"{max(c.max_abs_diff for c in self.onnx_checks):.1e}), {SPEC_FILE}"]
        if self.validation is not None:
            lines.append(f"validation: mIoU {100 * self.validation.miou:.1f}, pixel accuracy "
                         f"{100 * self.validation.pixel_accuracy:.1f}, class accuracy "
                         f"{100 * self.validation.mean_class_accuracy:.1f}")
        return lines


def mark_ego_vehicle(labels: np.ndarray, ego_class: int, *, ignore: int = IGNORE) -> np.ndarray:
    """A copy of an (H, W) label map whose `ignore` regions touching the bottom edge are `ego_class`."""
    mask = (labels == ignore).astype(np.uint8)
    _, components = cv2.connectedComponents(mask, connectivity=8)
    touching = np.unique(components[-1][mask[-1] > 0])
    marked = labels.copy()
    marked[np.isin(components, touching) & (mask > 0)] = ego_class
    return marked


def _with_ego_vehicle(data: SegmentationData, ego_class: int) -> SegmentationData:
    labels = [mark_ego_vehicle(label, ego_class) for label in data.labels.numpy()]
    return SegmentationData(data.images, torch.from_numpy(np.stack(labels)), data.names)


def _load(roots: Sequence[Path], options: SegmenterTrainOptions, split: str | None,
          ego_class: int | None) -> SegmentationData:
    parts = [load_dataset(root, size=options.size, split=split) for root in roots]
    data = SegmentationData(torch.cat([p.images for p in parts]), torch.cat([p.labels for p in parts]),
                            tuple(name for p in parts for name in p.names))
    return _with_ego_vehicle(data, ego_class) if ego_class is not None else data


def _spec_document(spec: SegmenterSpec, options: SegmenterTrainOptions, data: Sequence[Path], images: int,
                   weights_sha256: str, onnx_sha256: str, checks: tuple[SizeCheck, ...], final_loss: float,
                   seconds: float, device: torch.device, validation: SegmentationScores | None) -> dict[str, Any]:
    doc = {
        "format": FORMAT, "format_version": FORMAT_VERSION, **spec.to_json(),
        "torch": {"file": WEIGHTS_FILE, "sha256": weights_sha256,
                  "architecture": {"type": "vidtrans.downstream.SegNet", "widths": list(options.widths)},
                  "input": "float NCHW RGB in [-1, 1], sides multiples of 16", "output": "logits (N, C, H, W)"},
        "onnx": {"file": ONNX_FILE, "sha256": onnx_sha256, "opset": DEFAULT_OPSET, "input": INPUT_NAME,
                 "output": OUTPUT_NAME, "verification": {"tolerance": FP32_TOLERANCE,
                                                         "checks": [c.to_json() for c in checks]}},
        "training": {"data": [str(root) for root in data], "split": options.split, "images": images,
                     "size": list(options.size),
                     "crop": list(options.crop) if options.crop else None, "steps": options.steps,
                     "batch_size": options.batch_size, "lr": options.lr, "seed": options.seed,
                     "ego_vehicle": options.ego_vehicle, "augment": options.augment, "final_loss": final_loss,
                     "seconds": round(seconds, 1),
                     "device": str(device), "threads": torch.get_num_threads(), "torch": torch.__version__,
                     "vidtrans": vidtrans.__version__},
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    if validation is not None:
        doc["validation"] = {"data": str(options.validation), "miou": validation.miou,
                             "pixel_accuracy": validation.pixel_accuracy,
                             "mean_class_accuracy": validation.mean_class_accuracy,
                             "iou": {spec.class_names[c]: v for c, v in enumerate(validation.iou) if v is not None}}
    return doc


def train_segmenter(data: Path | Sequence[Path], out_dir: Path,
                    options: SegmenterTrainOptions = SegmenterTrainOptions()) -> SegmenterSummary:
    """Train a segmenter on the labelled folder(s) `data` and write its directory at `out_dir` (see the module doc).

    `out_dir` appears only once complete; an existing one is replaced only with `options.overwrite`.
    """
    from vidtrans.devices import resolve_device

    roots = [Path(data)] if isinstance(data, (str, Path)) else [Path(root) for root in data]
    if not roots:
        raise UsageError("give at least one labelled folder to train on")
    out_dir = Path(out_dir)
    if out_dir.exists() and not options.overwrite:
        raise OutputError(f"{out_dir}: already exists (pass --overwrite to replace it)")
    device = resolve_device(options.device)
    class_names = CLASS_NAMES + ((EGO_VEHICLE,) if options.ego_vehicle else ())
    ego_class = len(CLASS_NAMES) if options.ego_vehicle else None
    train_data = _load(roots, options, options.split, ego_class)
    config = SegNetConfig(num_classes=len(class_names), widths=options.widths)
    settings = options.train_settings()
    with Progress(settings.steps, unit="steps", description="training the segmenter", enabled=options.progress) as bar:
        result = train_segnet(train_data, settings, config=config, device=device,
                              on_step=lambda _, loss: bar.update(1, loss=f"{loss:.3f}"),
                              transform=PhotometricJitter(options.seed) if options.augment else None)
    validation = None
    if options.validation is not None:
        validation = evaluate(result.net, _load([options.validation], options, None, ego_class), device=device)
    net = result.net.cpu()
    spec = SegmenterSpec(input_size=options.size, mean=TORCH_MEAN_STD, std=TORCH_MEAN_STD, class_names=class_names,
                         ignore_index=IGNORE)

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_dir) as staging:
        staging.mkdir()
        weights, onnx_file = staging / WEIGHTS_FILE, staging / ONNX_FILE
        save_weights(net, weights)
        export_fp32(net, onnx_file, opset=DEFAULT_OPSET, multiple=config.size_multiple, in_channels=3)
        check_onnx_file(onnx_file, label=out_dir / ONNX_FILE)
        width, height = options.size
        checks = compare_with_torch(onnx_file, net, shapes=((1, height, width), (2, 32, 48)), tolerance=FP32_TOLERANCE,
                                    label=out_dir / ONNX_FILE)
        doc = _spec_document(spec, options, roots, len(train_data), sha256_file(weights), sha256_file(onnx_file),
                             checks, result.final_loss, result.seconds, device, validation)
        (staging / SPEC_FILE).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return SegmenterSummary(path=out_dir, images=len(train_data), class_names=class_names,
                            final_loss=result.final_loss, seconds=result.seconds, onnx_checks=checks,
                            validation=validation)
