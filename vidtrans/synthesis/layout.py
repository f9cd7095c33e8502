"""Finding the items of a synth job in an input tree: images with their label files, or sampled video frames.

Three image layouts are recognised, by the folders at the top of INPUT:

- GTA5: `images/` and `labels/`; `labels/<sub>/<stem>.*` are the label files of `images/<sub>/<stem>.<ext>`.
- Cityscapes: `leftImg8bit/<split>/<city>/` and `gtFine/` (and `gtCoarse/`); the label files of
  `leftImg8bit/<split>/<city>/<prefix>_leftImg8bit.png` are `gt*/<split>/<city>/<prefix>_*`
  (`_gtFine_labelIds.png`, `_gtFine_labelTrainIds.png`, `_gtFine_color.png`, `_gtFine_instanceIds.png`,
  `_gtFine_polygons.json`, ...).
- Any other folder: every image under it (no labels), and every video, whose frames are sampled.

Only the images are translated and the label files copied; other files in INPUT are left alone.
Paths inside an item are relative POSIX paths, the same under INPUT and OUTPUT, so nothing is ever written
outside OUTPUT.
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from vidtrans.errors import InputError, UsageError
from vidtrans.images import IMAGE_EXTENSIONS, list_images
from vidtrans.video.files import VIDEO_EXTENSIONS, is_video_file, list_videos
from vidtrans.video.timeline import read_timeline

LayoutKind = Literal["gta5", "cityscapes", "folder", "video"]
OutputFormat = Literal["auto", "png", "jpg", "webp"]
OUTPUT_FORMATS = ("auto", "png", "jpg", "webp")
CITYSCAPES_LABEL_ROOTS = ("gtFine", "gtCoarse")
CITYSCAPES_IMAGE_SUFFIX = "_leftImg8bit"


@dataclass(frozen=True)
class Sampling:
    """Which frames of a video become items: every `every`-th frame, or `fps` frames a second."""

    every: int | None = None
    fps: float | None = None

    def __post_init__(self) -> None:
        if self.every is not None and self.fps is not None:
            raise UsageError("--every and --fps cannot be used together")
        if self.every is not None and self.every < 1:
            raise UsageError(f"--every must be 1 or more; got {self.every}")
        if self.fps is not None and not self.fps > 0:
            raise UsageError(f"--fps must be above 0; got {self.fps}")

    def frame_indices(self, frame_count: int, rate: float) -> list[int]:
        """The sampled frame indices of a video of `frame_count` frames at `rate` frames a second.

        Indices are places on the video's timeline (`vidtrans.video.timeline`). `--fps F` takes the frame
        nearest to each multiple of 1/F seconds at `rate` (the timeline's frame rate, or its average rate
        for variable-rate videos, which are therefore sampled approximately).
        """
        if self.fps is None or self.fps >= rate:
            return list(range(0, frame_count, self.every or 1))
        step = rate / self.fps
        picked: list[int] = []
        k = 0
        while (index := int(k * step + 0.5)) < frame_count:
            if not picked or index != picked[-1]:
                picked.append(index)
            k += 1
        return picked

    def describe(self) -> str:
        return f"{self.fps:g} fps" if self.fps is not None else f"every {self.every or 1} frame(s)"


@dataclass(frozen=True)
class Item:
    """One image to translate: a still image, or one frame of a video.

    `key` identifies the item in the manifest: the source's relative path, plus `#<frame>` (6 digits) for
    a video frame. `source`, `output` and `labels` are relative POSIX paths (under INPUT, OUTPUT, and both).
    """

    key: str
    source: str
    output: str | None
    frame: int | None = None
    labels: tuple[str, ...] = ()
    problem: str | None = None
    """Why the item already failed while planning (a video that cannot be opened); its key is the video's."""

    @property
    def shard_unit(self) -> str:
        """What sharding hashes: the image, or a run of 32 consecutive sampled frames of a video.

        Keeping frames of a video together in runs lets each shard translate long stretches of it.
        """
        return self.source if self.frame is None else f"{self.source}#run{self.frame // 32}"


@dataclass(frozen=True)
class Dataset:
    """The items found in INPUT, sorted by key, and what else is there."""

    root: Path
    kind: LayoutKind
    items: tuple[Item, ...]
    unlabelled: int = 0
    """Images that have no label file in a labelled layout."""


def output_suffix(source: str, output_format: OutputFormat, *, video: bool) -> str:
    """The output file suffix: the source's own for `auto` (PNG for video frames), else the format's."""
    if output_format == "auto":
        return ".png" if video else PurePosixPath(source).suffix
    return f".{output_format}"


def detect_layout(root: Path) -> LayoutKind:
    """Which layout INPUT has (see the module docstring)."""
    if root.is_file():
        return "video"
    if (root / "images").is_dir() and (root / "labels").is_dir():
        return "gta5"
    if (root / "leftImg8bit").is_dir() and any((root / name).is_dir() for name in CITYSCAPES_LABEL_ROOTS):
        return "cityscapes"
    return "folder"


def _relative(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


class _LabelIndex:
    """The files of label folders, listed once each, looked up by name prefix."""

    def __init__(self) -> None:
        self._listings: dict[Path, list[str]] = {}

    def matching(self, folder: Path, stem: str, *, prefix_only: bool) -> list[Path]:
        """Files in `folder` named `<stem>.<ext>` or, with `prefix_only`, `<stem>_*` ."""
        names = self._listings.get(folder)
        if names is None:
            names = sorted(e.name for e in os.scandir(folder) if e.is_file() and not e.name.startswith(".")) \
                if folder.is_dir() else []
            self._listings[folder] = names
        head = stem + ("_" if prefix_only else ".")
        start = bisect.bisect_left(names, head)
        found = []
        for name in names[start:]:
            if not name.startswith(head):
                break
            if prefix_only or PurePosixPath(name).stem == stem:
                found.append(folder / name)
        return found


def _image_items(root: Path, images: Sequence[Path], output_format: OutputFormat,
                 labels_for: Callable[[Path], list[Path]] | None = None) -> tuple[list[Item], int]:
    items: list[Item] = []
    unlabelled = 0
    for image in images:
        source = _relative(image, root)
        labels = tuple(_relative(p, root) for p in labels_for(image)) if labels_for else ()
        unlabelled += labels_for is not None and not labels
        output = str(PurePosixPath(source).with_suffix(output_suffix(source, output_format, video=False)))
        items.append(Item(key=source, source=source, output=output, labels=labels))
    return items, unlabelled


def _gta5_items(root: Path, output_format: OutputFormat) -> tuple[list[Item], int]:
    index = _LabelIndex()
    image_root, label_root = root / "images", root / "labels"

    def labels_for(image: Path) -> list[Path]:
        folder = label_root / image.parent.relative_to(image_root)
        return index.matching(folder, image.stem, prefix_only=False)

    return _image_items(root, list_images(image_root), output_format, labels_for)


def _cityscapes_items(root: Path, output_format: OutputFormat) -> tuple[list[Item], int]:
    index = _LabelIndex()
    image_root = root / "leftImg8bit"
    label_roots = [root / name for name in CITYSCAPES_LABEL_ROOTS if (root / name).is_dir()]

    def labels_for(image: Path) -> list[Path]:
        stem = image.stem.removesuffix(CITYSCAPES_IMAGE_SUFFIX)
        sub = image.parent.relative_to(image_root)
        return [p for label_root in label_roots for p in index.matching(label_root / sub, stem, prefix_only=True)]

    return _image_items(root, list_images(image_root), output_format, labels_for)


def _video_items(root: Path, video: Path, output_format: OutputFormat, sampling: Sampling) -> list[Item]:
    """The sampled frames of `video`; an unreadable video inside a folder is one failed item."""
    source = _relative(video, root) if video != root else video.name
    try:
        timeline = read_timeline(video)
    except InputError as error:
        if video == root:
            raise
        return [Item(key=source, source=source, output=None, problem=str(error))]
    frames = sampling.frame_indices(timeline.frame_count, timeline.rate or 25.0)
    folder = PurePosixPath(source).with_suffix("")
    suffix = output_suffix(source, output_format, video=True)
    return [Item(key=f"{source}#{index:06d}", source=source, output=str(folder / f"{index:06d}{suffix}"),
                 frame=index) for index in frames]


def find_items(root: Path, *, output_format: OutputFormat = "auto", sampling: Sampling = Sampling()) -> Dataset:
    """Every item of INPUT (an image tree, a folder of images and videos, or one video), sorted by key.

    Raises InputError when INPUT is missing or holds nothing to translate, or when two inputs would be
    written to the same output file.
    """
    root = Path(root)
    if output_format not in OUTPUT_FORMATS:
        raise UsageError(f"--format must be one of {', '.join(OUTPUT_FORMATS)}; got {output_format!r}")
    if not root.exists():
        raise InputError(f"{root}: no such file or folder")
    kind = detect_layout(root)
    unlabelled = 0
    if kind == "video":
        if not is_video_file(root):
            raise InputError(f"{root}: not a folder nor a video file ({', '.join(VIDEO_EXTENSIONS)})")
        items = _video_items(root, root, output_format, sampling)
    elif kind == "gta5":
        items, unlabelled = _gta5_items(root, output_format)
    elif kind == "cityscapes":
        items, unlabelled = _cityscapes_items(root, output_format)
    else:
        items, _ = _image_items(root, list_images(root), output_format)
        for video in list_videos(root):
            items += _video_items(root, video, output_format, sampling)
    if kind == "video" and not items:
        raise InputError(f"{root}: the video has no frames to sample")
    if not items:
        raise InputError(f"{root}: nothing to translate (no images {'/'.join(IMAGE_EXTENSIONS)} "
                         f"nor videos {'/'.join(VIDEO_EXTENSIONS)} found)")
    items.sort(key=lambda i: i.key)
    _check_unique_outputs(root, items)
    return Dataset(root=root, kind=kind, items=tuple(items), unlabelled=unlabelled)


def _check_unique_outputs(root: Path, items: Sequence[Item]) -> None:
    writers: dict[str, str] = {}
    for item in items:
        for path in ((item.output,) if item.output else ()) + item.labels:
            other = writers.setdefault(path, item.key)
            if other != item.key:
                raise InputError(f"{root}: {other} and {item.key} would both be written to {path} "
                                 "(use --format auto, or rename one of them)")
