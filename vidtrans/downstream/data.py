"""Labelled images for segmentation: finding (image, label) pairs, loading them, sampling augmented batches.

Two layouts are recognised by the folders at the top of a dataset root (the ones `vidtrans.scenes` writes
and `vidtrans synth` keeps):

- GTA5: `images/<sub>/<stem>.<ext>` with its label `labels/<sub>/<stem>.png`;
- Cityscapes: `leftImg8bit/<split>/<city>/<prefix>_leftImg8bit.<ext>` with its label
  `gtFine/<split>/<city>/<prefix>_gtFine_labelTrainIds.png`.

Labels are single-channel uint8 PNGs of Cityscapes train IDs (255 = ignore).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from vidtrans.errors import InputError
from vidtrans.fsutil import folder_listing
from vidtrans.images import list_images, read_image

CITYSCAPES_IMAGE_SUFFIX = "_leftImg8bit"
CITYSCAPES_LABEL_SUFFIX = "_gtFine_labelTrainIds.png"


@dataclass(frozen=True)
class SegmentationData:
    """Same-sized labelled images held in memory: `images` (N, H, W, 3) and `labels` (N, H, W), both uint8."""

    images: torch.Tensor
    labels: torch.Tensor
    names: tuple[str, ...]

    def __post_init__(self) -> None:
        images, labels = self.images, self.labels
        if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[-1] != 3 or len(images) < 1:
            raise ValueError(f"images must be a non-empty uint8 (N, H, W, 3) tensor; got {images.dtype} "
                             f"{tuple(images.shape)}")
        if labels.dtype != torch.uint8 or tuple(labels.shape) != tuple(images.shape[:3]):
            raise ValueError(f"labels must be uint8 {tuple(images.shape[:3])}; got {labels.dtype} "
                             f"{tuple(labels.shape)}")
        if len(self.names) != len(images):
            raise ValueError(f"{len(self.names)} names for {len(images)} images")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of every image."""
        return int(self.images.shape[2]), int(self.images.shape[1])

    @classmethod
    def from_arrays(cls, images: Sequence[np.ndarray], labels: Sequence[np.ndarray],
                    names: Sequence[str]) -> SegmentationData:
        """Stack RGB uint8 (H, W, 3) images and uint8 (H, W) label maps of one size."""
        return cls(torch.from_numpy(np.stack(images)), torch.from_numpy(np.stack(labels)), tuple(names))


def _gta5_pairs(root: Path) -> list[tuple[Path, Path]]:
    pairs = []
    for image in list_images(root / "images"):
        relative = image.relative_to(root / "images")
        pairs.append((image, (root / "labels" / relative).with_suffix(".png")))
    return pairs


def _cityscapes_pairs(root: Path, split: str | None) -> list[tuple[Path, Path]]:
    pairs = []
    images = root / "leftImg8bit"
    if split is not None:
        if not (images / split).is_dir():
            raise InputError(f"{images}: no split {split!r} (it holds: {folder_listing(images)})")
        images = images / split
    for image in list_images(images):
        if not image.stem.endswith(CITYSCAPES_IMAGE_SUFFIX):
            continue
        relative = image.relative_to(root / "leftImg8bit")
        prefix = image.stem[: -len(CITYSCAPES_IMAGE_SUFFIX)]
        pairs.append((image, root / "gtFine" / relative.parent / f"{prefix}{CITYSCAPES_LABEL_SUFFIX}"))
    return pairs


def find_pairs(root: Path, *, split: str | None = None) -> list[tuple[Path, Path]]:
    """(image, label) paths under a GTA5- or Cityscapes-layout `root`, sorted by image path.

    `split` (Cityscapes only) keeps the images under `leftImg8bit/<split>/`; None keeps every split.
    Raises InputError when `root` has neither layout, holds no images, or an image has no label file.
    """
    root = Path(root)
    if (root / "images").is_dir() and (root / "labels").is_dir():
        if split is not None:
            raise InputError(f"{root}: a GTA5-layout dataset (images/, labels/) has no splits; got split {split!r}")
        pairs = _gta5_pairs(root)
    elif (root / "leftImg8bit").is_dir() and (root / "gtFine").is_dir():
        pairs = _cityscapes_pairs(root, split)
    else:
        raise InputError(f"{root}: not a labelled dataset (expected images/ + labels/, or leftImg8bit/ + gtFine/)")
    if not pairs:
        raise InputError(f"{root}: no labelled images found")
    missing = [(image, label) for image, label in pairs if not label.is_file()]
    if missing:
        more = f" (and {len(missing) - 1} more images without labels)" if len(missing) > 1 else ""
        raise InputError(f"{missing[0][0]}: no label file {missing[0][1]}{more}")
    return pairs


def read_label(path: Path) -> np.ndarray:
    """Read a single-channel uint8 label PNG as an (H, W) uint8 array."""
    path = Path(path)
    data = np.fromfile(path, dtype=np.uint8) if path.is_file() else np.empty(0, np.uint8)
    labels = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if labels is None:
        raise InputError(f"{path}: not a readable label image")
    if labels.ndim != 2 or labels.dtype != np.uint8:
        raise InputError(f"{path}: a label map must be single-channel 8-bit (train IDs); got "
                         f"{labels.dtype} with shape {labels.shape}")
    return labels


def load_pairs(pairs: Sequence[tuple[Path, Path]], *, size: tuple[int, int] | None = None) -> SegmentationData:
    """Read (image, label) files into memory; with `size` (width, height) each is resized to it.

    Images are resized with area averaging and labels with nearest neighbours. Without `size` all images
    must have the size of the first; an image and its label must always have the same size.
    """
    if not pairs:
        raise ValueError("no (image, label) pairs to load")
    images, labels = [], []
    for image_path, label_path in pairs:
        image, label = read_image(image_path), read_label(label_path)
        if image.shape[:2] != label.shape:
            raise InputError(f"{label_path}: label size {label.shape[1]}x{label.shape[0]} differs from its image "
                             f"{image_path} ({image.shape[1]}x{image.shape[0]})")
        if size is not None and (image.shape[1], image.shape[0]) != tuple(size):
            image = cv2.resize(image, tuple(size), interpolation=cv2.INTER_AREA)
            label = cv2.resize(label, tuple(size), interpolation=cv2.INTER_NEAREST)
        if images and image.shape != images[0].shape:
            raise InputError(f"{image_path}: size {image.shape[1]}x{image.shape[0]} differs from "
                             f"{pairs[0][0]} ({images[0].shape[1]}x{images[0].shape[0]}); pass a size to resize")
        images.append(image)
        labels.append(label)
    return SegmentationData.from_arrays(images, labels, [image.name for image, _ in pairs])


def load_dataset(root: Path, *, size: tuple[int, int] | None = None, split: str | None = None) -> SegmentationData:
    """`load_pairs(find_pairs(root, split=split), size=size)`."""
    return load_pairs(find_pairs(root, split=split), size=size)


def to_input(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> float (N, 3, H, W) in [-1, 1], the segmentation network's input."""
    return images.permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def sample_batch(data: SegmentationData, batch_size: int, generator: torch.Generator, *, flip: bool = True,
                 crop: tuple[int, int] | None = None,
                 transform: Callable[[torch.Tensor], torch.Tensor] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """A random batch (with replacement): network input (B, 3, h, w) and int64 labels (B, h, w).

    With `flip` each sample is mirrored left-right with probability 1/2; with `crop` (width, height) each
    is a random window of that size. `transform` maps the chosen whole images (uint8 (B, H, W, 3)) to new
    ones of the same shape before cropping and flipping, e.g. a vidtrans model translating them on the fly.
    Everything random comes from `generator`, so a seed repeats a run.
    """
    width, height = data.size
    crop_w, crop_h = crop if crop is not None else (width, height)
    if not (0 < crop_w <= width and 0 < crop_h <= height):
        raise ValueError(f"crop {crop_w}x{crop_h} does not fit in {width}x{height} images")
    index = torch.randint(len(data), (batch_size,), generator=generator)
    left = torch.randint(width - crop_w + 1, (batch_size,), generator=generator)
    top = torch.randint(height - crop_h + 1, (batch_size,), generator=generator)
    mirror = torch.rand(batch_size, generator=generator) < 0.5
    chosen = data.images[index] if transform is None else transform(data.images[index])
    images, labels = [], []
    for j, (i, x, y, m) in enumerate(zip(index.tolist(), left.tolist(), top.tolist(), mirror.tolist())):
        image = chosen[j, y:y + crop_h, x:x + crop_w]
        label = data.labels[i, y:y + crop_h, x:x + crop_w]
        if flip and m:
            image, label = image.flip(1), label.flip(1)
        images.append(image)
        labels.append(label)
    return to_input(torch.stack(images)), torch.stack(labels).long()
