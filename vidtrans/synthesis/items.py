"""One synth item read and written: the per-item steps that both engines (local threads, Ray tasks) share.

    read    an image, or the wanted frames of one video decoded in sequence; upright, resized as the job
            says; an unreadable input comes back as a `Failed` item, never as an exception
    write   place the label files, encode the translation (back at the source size with `keep_size`) and
            rename it into place; returns the item's manifest record ("ok", or "failed" with the reason)

`ItemReader` and `ItemWriter` hold only paths and settings, so they can be shipped to other processes.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vidtrans.errors import InputError, OutputError
from vidtrans.frames import check_min_size
from vidtrans.fsutil import atomic_path
from vidtrans.images import encode_image, read_image
from vidtrans.resize import ResizeSpec, resize_rgb
from vidtrans.sources import upright
from vidtrans.synthesis.labels import place_label
from vidtrans.synthesis.layout import Item
from vidtrans.synthesis.manifest import Record
from vidtrans.video import VideoReader


@dataclass(frozen=True)
class Decoded:
    """An item's pixels, at the size they are translated at, and (width, height) as read."""

    item: Item
    pixels: np.ndarray
    source_size: tuple[int, int]


@dataclass(frozen=True)
class Failed:
    """An item that could not be read, and why (one line naming the file)."""

    item: Item
    error: str


@dataclass(frozen=True)
class ItemReader:
    """Reads items of the dataset rooted at `root` (a folder, or one video file), resized by `resize`; a frame
    smaller than `min_size` (the generator's, see `GeneratorConfig.min_size`) is a failed item."""

    root: Path
    resize: ResizeSpec = ResizeSpec()
    min_size: int = 1

    def decoded(self, item: Item, pixels: np.ndarray, name: object) -> Decoded:
        """The item with its upright pixels resized for translation; an InputError naming `name` when too small."""
        height, width = pixels.shape[:2]
        if self.resize.active:
            pixels = resize_rgb(pixels, self.resize.target(width, height))
        check_min_size(name, (pixels.shape[1], pixels.shape[0]), self.min_size)
        return Decoded(item, np.ascontiguousarray(pixels), (width, height))

    def image(self, item: Item) -> Decoded | Failed:
        """Read one still image (or report the problem found while planning)."""
        if item.problem is not None:
            return Failed(item, item.problem)
        path = self.root / item.source
        try:
            return self.decoded(item, read_image(path), path)
        except InputError as error:
            return Failed(item, str(error))

    def video(self, source: str, items: list[Item]) -> Iterator[Decoded | Failed]:
        """The wanted frames of one video, decoded in sequence and identified by their timestamps (a frame that
        does not decode never shifts the others); frames that never come are failures, last."""
        path = self.root if self.root.is_file() else self.root / source
        wanted = {item.frame: item for item in items}
        last = max(wanted)  # type: ignore[type-var]
        reader: VideoReader | None = None
        problem: str | None = None
        try:
            reader = VideoReader(path)
            frames = reader.frames(every=math.gcd(*wanted) or 1)  # type: ignore[arg-type]
            try:
                for decoded in frames:
                    item = wanted.pop(decoded.index, None)
                    if item is not None:
                        try:
                            yield self.decoded(item, upright(decoded.pixels, reader.info.rotation),
                                               f"{path} frame {decoded.index}")
                        except InputError as error:
                            yield Failed(item, str(error))
                    if not wanted or decoded.index >= last:
                        break
            finally:
                frames.close()
        except InputError as error:
            problem = str(error)
        for index, item in wanted.items():
            yield Failed(item, problem or _missing_frame(path, index, reader))

    def all(self, items: Iterable[Item]) -> Iterator[Decoded | Failed]:
        """Every item, in order: images one by one, consecutive frames of a video in one pass."""
        for (source, is_frame), group in itertools.groupby(items, key=video_of):
            if is_frame:
                yield from self.video(source, list(group))
            else:
                yield from (self.image(item) for item in group)


def _missing_frame(path: Path, index: int, reader: VideoReader | None) -> str:
    """Why frame `index` of a video never came."""
    timeline = reader.timeline if reader is not None else None
    if timeline is None or not timeline.exact or index >= timeline.frame_count:
        return f"{path}: frame {index} could not be read (the video is damaged or shorter than planned)"
    return (f"{path}: frame {index} (at {timeline.seconds(index):.3f}s) could not be decoded (its data is damaged "
            "or missing from the file)")


def video_of(item: Item) -> tuple[str, bool]:
    """Groups consecutive items by source, telling video frames from images."""
    return item.source, item.frame is not None


@dataclass(frozen=True)
class ItemWriter:
    """Writes translated items into `output` and makes their manifest records (`base` holds the job's fields)."""

    root: Path
    output: Path
    base: Record
    keep_size: bool = False
    quality: int = 95
    link_labels: bool = False

    def record(self, item: Item, *, error: str | None = None, size: tuple[int, int] | None = None,
               source_size: tuple[int, int] | None = None) -> Record:
        """The item's manifest line: "ok" unless `error`."""
        ok = error is None
        return {
            "type": "item", "key": item.key, "status": "ok" if ok else "failed", "source": item.source,
            "frame": item.frame, "output": item.output if ok else None, "labels": list(item.labels) if ok else [],
            "size": list(size) if size else None, "source_size": list(source_size) if source_size else None,
            **self.base, "error": error,
        }

    def write(self, item: Item, pixels: np.ndarray, source_size: tuple[int, int]) -> Record:
        """Place the labels, encode and write the translation, and return the item's record.

        An unreadable label file or an image that cannot be encoded makes a "failed" record; a file that
        cannot be written raises OutputError (the disk, not the item, is at fault).
        """
        if self.keep_size:
            pixels = resize_rgb(pixels, source_size)
        target = self.output / item.output  # type: ignore[operator]
        try:
            for label in item.labels:
                place_label(self.root / label, self.output / label, link=self.link_labels)
            data = encode_image(pixels, target.suffix, quality=self.quality)
        except (InputError, ValueError) as error:
            return self.record(item, error=str(error))
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(target) as temporary:
                temporary.write_bytes(data)
        except OSError as error:
            raise OutputError(f"{target}: cannot write ({error.strerror or error})") from None
        return self.record(item, size=(pixels.shape[1], pixels.shape[0]), source_size=source_size)


def item_to_json(item: Item) -> dict[str, Any]:
    """An item as plain JSON values (to cross process boundaries)."""
    return dataclasses.asdict(item)


def item_from_json(doc: dict[str, Any]) -> Item:
    """The inverse of `item_to_json`."""
    return Item(**{**doc, "labels": tuple(doc["labels"])})
