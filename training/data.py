"""Training data: preprocessing as in the reference implementation, the datasets, and a resumable sampler.

Every random choice for a sample (its partner image in the other domain, crop offsets, flips) comes from a
generator seeded with (seed, epoch, position), and each epoch's order from one seeded with (seed, epoch).
So the data a run sees depends on nothing but the seed and the step it is at: a resumed run, any number of
loader workers and each rank of a distributed run all see exactly what an uninterrupted run would.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from vidtrans.downstream.data import read_label
from vidtrans.errors import InputError
from vidtrans.images import read_image
from vidtrans.training.config import DataConfig

SampleKey = tuple[int, int, int]  # (epoch, position in the epoch, index into domain A / the pairs)
_ORDER_STREAM = 1  # keeps the epoch-order generator apart from the per-sample ones


@dataclass(frozen=True)
class Transform:
    """The geometry of one sample: resize to `size` (w, h), then crop at `offset` (or not), then flip."""

    size: tuple[int, int]
    offset: tuple[int, int] | None
    flip: bool


def scaled_size(width: int, height: int, data: DataConfig, multiple: int) -> tuple[int, int]:
    """The (w, h) an image is resized to before cropping."""
    crop = data.crop_size
    if data.preprocess == "resize_and_crop":
        return data.load_size, data.load_size
    if data.preprocess == "scale_width_and_crop":
        return data.load_size, max(int(data.load_size * height / width), crop)
    if data.preprocess == "crop":
        if width >= crop and height >= crop:
            return width, height
        scale = crop / min(width, height)
        return max(crop, math.ceil(width * scale)), max(crop, math.ceil(height * scale))
    if data.preprocess == "scale_width":
        width, height = data.load_size, data.load_size * height / width
    return (max(multiple, int(round(width / multiple)) * multiple),
            max(multiple, int(round(height / multiple)) * multiple))


def draw_transform(width: int, height: int, data: DataConfig, multiple: int,
                   rng: np.random.Generator) -> Transform:
    """Random crop offsets and flip for an image of `width` x `height`."""
    size = scaled_size(width, height, data, multiple)
    offset = None
    if data.preprocess.endswith("crop"):
        offset = (int(rng.integers(0, size[0] - data.crop_size + 1)),
                  int(rng.integers(0, size[1] - data.crop_size + 1)))
    flip = bool(data.flip and rng.random() > 0.5)
    return Transform(size, offset, flip)


def apply_transform(image: np.ndarray, transform: Transform, crop_size: int, *, labels: bool = False) -> np.ndarray:
    """Resize (area filter when shrinking, bicubic when enlarging; nearest neighbour for `labels`), crop and flip
    an RGB uint8 image or an (H, W) label map."""
    height, width = image.shape[:2]
    if (width, height) != transform.size:
        shrinking = transform.size[0] * transform.size[1] < width * height
        interpolation = cv2.INTER_NEAREST if labels else cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
        image = cv2.resize(image, transform.size, interpolation=interpolation)
    if transform.offset is not None:
        x, y = transform.offset
        image = image[y:y + crop_size, x:x + crop_size]
    if transform.flip:
        image = image[:, ::-1]
    return image


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """RGB uint8 (H, W, 3) -> float (3, H, W) in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float().div_(127.5).sub_(1.0)


def to_image(tensor: torch.Tensor) -> np.ndarray:
    """float (3, H, W) in [-1, 1] -> RGB uint8 (H, W, 3)."""
    return ((tensor.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()


Reader = Callable[[Path], np.ndarray]


def read_substituting(columns: Sequence[Sequence[Path]], index: int,
                      readers: Sequence[Reader] | None = None) -> tuple[list[np.ndarray], list[str]]:
    """Read row `index` of parallel path lists (one list, A and B of pairs, or images and their label maps); a
    row with an unreadable file is replaced by the next readable one, deterministically.

    Each column is read with its reader (default: `read_image`). Returns the arrays and the problems met on
    the way (one line each), so the caller can warn and count.
    """
    problems: list[str] = []
    size = len(columns[0])
    readers = readers or [read_image] * len(columns)
    for step in range(size):
        row = (index + step) % size
        try:
            return [read(paths[row]) for read, paths in zip(readers, columns)], problems
        except InputError as error:
            problems.append(str(error))
    raise InputError(f"none of the {size} images of a domain is readable (first: {problems[0]})")


@dataclass(frozen=True)
class LabelMaps:
    """The label maps of a domain's images (`files[i]` labels image i): single-channel PNGs whose values are
    class indices below `classes`, or `ignore`."""

    files: tuple[Path, ...]
    classes: int
    ignore: int

    def check(self, labels: np.ndarray, image: np.ndarray, path: Path) -> None:
        """Refuse a label map that does not fit its image, or holds a value that is neither a class nor ignored."""
        if labels.shape != image.shape[:2]:
            raise InputError(f"{path}: label size {labels.shape[1]}x{labels.shape[0]} differs from its image's "
                             f"({image.shape[1]}x{image.shape[0]})")
        values = np.unique(labels)
        wrong = values[(values >= self.classes) & (values != self.ignore)]
        if wrong.size:
            raise InputError(f"{path}: label value {int(wrong[0])} is not one of the segmenter's {self.classes} "
                             f"classes (0-{self.classes - 1}) nor its ignore index {self.ignore}")


class UnpairedDataset(Dataset):
    """CycleGAN's data: the epoch runs over max(|A|, |B|) positions; A in order, B drawn at random.

    With `labels_a` / `labels_b` each sample also holds the label maps of its images ("labels_A",
    "labels_B": uint8 (H, W)), cropped and flipped as the images are. Reading them draws nothing random,
    so the images a run sees do not depend on whether labels are read.
    """

    def __init__(self, a: Sequence[Path], b: Sequence[Path], data: DataConfig, *, seed: int, multiple: int,
                 labels_a: LabelMaps | None = None, labels_b: LabelMaps | None = None) -> None:
        self.a, self.b, self.data, self.seed, self.multiple = list(a), list(b), data, seed, multiple
        self.labels = {"A": labels_a, "B": labels_b}

    def __len__(self) -> int:
        return max(len(self.a), len(self.b))

    def __getitem__(self, key: SampleKey) -> dict[str, Any]:
        epoch, position, index = key
        rng = np.random.default_rng([self.seed, epoch, position])
        a, bad_a = self._read("A", self.a, index % len(self.a))
        b, bad_b = self._read("B", self.b, int(rng.integers(0, len(self.b))))
        sample: dict[str, Any] = {"bad": "\n".join(bad_a + bad_b)}
        for domain, (image, labels) in (("A", a), ("B", b)):
            transform = draw_transform(image.shape[1], image.shape[0], self.data, self.multiple, rng)
            sample[domain] = to_tensor(apply_transform(image, transform, self.data.crop_size))
            if labels is not None:
                sample[f"labels_{domain}"] = torch.from_numpy(np.ascontiguousarray(
                    apply_transform(labels, transform, self.data.crop_size, labels=True)))
        return sample

    def _read(self, domain: str, paths: list[Path], index: int,
              ) -> tuple[tuple[np.ndarray, np.ndarray | None], list[str]]:
        """Image `index` of a domain (or the next readable one) and its label map, if the domain has them."""
        maps = self.labels[domain]
        if maps is None:
            (image,), bad = read_substituting([paths], index)
            return (image, None), bad
        (image, labels), bad = read_substituting([paths, maps.files], index, [read_image, read_label])
        maps.check(labels, image, maps.files[(index + len(bad)) % len(paths)])  # one problem per row passed over
        return (image, labels), bad


class PairedDataset(Dataset):
    """pix2pix's data: aligned (A, B) pairs, both cropped and flipped the same way (B resized to A's size)."""

    def __init__(self, pairs: Sequence[tuple[Path, Path]], data: DataConfig, *, seed: int, multiple: int) -> None:
        self.a = [pair[0] for pair in pairs]
        self.b = [pair[1] for pair in pairs]
        self.data, self.seed, self.multiple = data, seed, multiple

    def __len__(self) -> int:
        return len(self.a)

    def __getitem__(self, key: SampleKey) -> dict[str, Any]:
        epoch, position, index = key
        rng = np.random.default_rng([self.seed, epoch, position])
        (image_a, image_b), bad = read_substituting([self.a, self.b], index)
        height, width = image_a.shape[:2]
        if image_b.shape[:2] != (height, width):
            image_b = cv2.resize(image_b, (width, height), interpolation=cv2.INTER_CUBIC)
        transform = draw_transform(width, height, self.data, self.multiple, rng)
        crop = self.data.crop_size
        return {"A": to_tensor(apply_transform(image_a, transform, crop)),
                "B": to_tensor(apply_transform(image_b, transform, crop)), "bad": "\n".join(bad)}


class EpochBatches(Sampler[list[SampleKey]]):
    """Batches of sample keys: a seeded permutation per epoch, split between ranks, resumable mid-epoch.

    The permutation is padded (by wrapping) to a multiple of the world size; global batch k holds positions
    [k * batch * world, (k + 1) * batch * world) and each rank takes its equal share of it.
    """

    def __init__(self, size: int, *, batch_size: int, seed: int, world_size: int = 1, rank: int = 0) -> None:
        self.size, self.batch_size, self.seed = size, batch_size, seed
        self.world_size, self.rank = world_size, rank
        self.epoch, self.start = 0, 0

    @property
    def padded_size(self) -> int:
        return math.ceil(self.size / self.world_size) * self.world_size

    @property
    def batches_per_epoch(self) -> int:
        return math.ceil(self.padded_size / (self.batch_size * self.world_size))

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        """Iterate over `epoch`, beginning at its global batch `start_batch`."""
        self.epoch, self.start = epoch, start_batch

    def __len__(self) -> int:
        return max(0, self.batches_per_epoch - self.start)

    def __iter__(self) -> Iterator[list[SampleKey]]:
        order = np.random.default_rng([self.seed, _ORDER_STREAM, self.epoch]).permutation(self.size)
        order = np.resize(order, self.padded_size)
        step = self.batch_size * self.world_size
        for batch in range(self.start, self.batches_per_epoch):
            first = batch * step
            share = (min(first + step, self.padded_size) - first) // self.world_size
            begin = first + self.rank * share
            yield [(self.epoch, position, int(order[position])) for position in range(begin, begin + share)]


def collate(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack a batch; images of different sizes (possible with --preprocess none or scale_width) are refused."""
    shapes = sorted({tuple(s[domain].shape) for s in samples for domain in "AB"})
    if len(shapes) > 1:
        sizes = ", ".join(f"{shape[2]}x{shape[1]}" for shape in shapes)
        raise InputError(f"images of different sizes in one batch ({sizes}): use a crop preprocess or "
                         "--batch-size 1")
    batch = {key: torch.stack([s[key] for s in samples]) for key in ("A", "B", "labels_A", "labels_B")
             if key in samples[0]}
    return {**batch, "bad": [s["bad"] for s in samples if s["bad"]]}
