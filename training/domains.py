"""Training domains: what DOMAIN_A / DOMAIN_B point at, turned into sorted lists of image files.

A domain is a folder of images (searched recursively), a video file, a folder of videos, or a list file
(one image or video path per line, relative to the list file; `#` starts a comment). Known dataset layouts
work by pointing at their root: GTA5 (`images/` beside `labels/`) and Cityscapes (`leftImg8bit/<split>/`).
Video frames (every `frame_step`-th) are extracted once to PNG files in the run's frame cache.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from vidtrans.downstream.data import find_pairs
from vidtrans.errors import InputError, UsageError
from vidtrans.fsutil import atomic_write_text
from vidtrans.images import IMAGE_EXTENSIONS, is_image_file, list_images, write_image
from vidtrans.video.files import VIDEO_EXTENSIONS, is_video_file, list_videos

LIST_EXTENSIONS = (".txt", ".lst", ".list")


@dataclass(frozen=True)
class Item:
    """One training image: its file and its key (relative name without suffix; pix2pix pairs by key)."""

    path: Path
    key: str


@dataclass(frozen=True)
class Source:
    """An image or video a domain names, before video frames are extracted."""

    path: Path
    key: str
    video: bool


def layout_root(folder: Path, *, split: str) -> Path:
    """The image folder of a known dataset layout at `folder`, or `folder` itself."""
    if (folder / "leftImg8bit").is_dir():
        folder = folder / "leftImg8bit"
    if folder.name == "leftImg8bit":
        chosen = folder / split
        if not chosen.is_dir():
            found = ", ".join(sorted(p.name for p in folder.iterdir() if p.is_dir())) or "none"
            raise InputError(f"{folder}: a Cityscapes leftImg8bit folder without the split {split!r} "
                             f"(found: {found}; choose one with --split)")
        return chosen
    if (folder / "images").is_dir() and (folder / "labels").is_dir():
        return folder / "images"
    return folder


def labelled_root(spec: str, *, split: str) -> tuple[Path, str | None] | None:
    """The dataset root (and the Cityscapes split) when `spec` names a labelled layout, GTA5 (`images/` +
    `labels/`) or Cityscapes (`leftImg8bit/` + `gtFine/`); None for folders, videos and lists without labels."""
    path = Path(spec).expanduser()
    if not path.is_dir():
        return None
    root = layout_root(path, split=split)
    if root.name == "images" and (root.parent / "labels").is_dir():
        return root.parent, None
    if root.parent.name == "leftImg8bit" and (root.parent.parent / "gtFine").is_dir():
        return root.parent.parent, split
    return None


def find_label_maps(spec: str, items: list[Item], *, split: str) -> list[Path] | None:
    """The label map of every item of a labelled dataset root (`labelled_root`), in order; None for a domain
    without labels. An image of a labelled dataset without its label map is an InputError."""
    found = labelled_root(spec, split=split)
    if found is None:
        return None
    root, dataset_split = found
    labels = dict(find_pairs(root, split=dataset_split))
    unlabelled = [item.path for item in items if item.path not in labels]
    if unlabelled:
        raise InputError(f"{unlabelled[0]}: no label map in {root} (a labelled dataset's images all need one)")
    return [labels[item.path] for item in items]


def _key(path: Path, root: Path) -> str:
    return path.relative_to(root).with_suffix("").as_posix()


def _read_list(path: Path) -> list[Source]:
    sources: list[Source] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: cannot read the list file ({error})") from None
    for number, line in enumerate(lines, 1):
        entry = line.split("#", 1)[0].strip()
        if not entry:
            continue
        target = Path(entry).expanduser()
        target = target if target.is_absolute() else path.parent / target
        if not target.is_file():
            raise InputError(f"{path}, line {number}: {entry}: no such file")
        if not (is_image_file(target) or is_video_file(target)):
            raise InputError(f"{path}, line {number}: {entry}: neither an image nor a video")
        sources.append(Source(target, Path(entry).with_suffix("").as_posix(), is_video_file(target)))
    return sources


def find_sources(spec: str, *, split: str = "train") -> tuple[Path, list[Source]]:
    """The images and videos a domain spec names, and the folder or file it resolved to."""
    path = Path(spec).expanduser()
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    if path.is_file():
        if is_video_file(path):
            return path, [Source(path, "", True)]
        if path.suffix.lower() in LIST_EXTENSIONS:
            return path, _read_list(path)
        if is_image_file(path):
            return path, [Source(path, path.stem, False)]
        raise InputError(f"{path}: not an image folder, video ({', '.join(VIDEO_EXTENSIONS)}) or list file "
                         f"({', '.join(LIST_EXTENSIONS)})")
    root = layout_root(path, split=split)
    sources = [Source(p, _key(p, root), False) for p in list_images(root)]
    sources += [Source(p, _key(p, root), True) for p in list_videos(root)]
    return root, sorted(sources, key=lambda s: s.path)


def _cache_folder(video: Path, frames_dir: Path, frame_step: int) -> Path:
    stat = video.stat()
    identity = f"{video.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{frame_step}"
    digest = hashlib.sha256(identity.encode()).hexdigest()[:12]
    return frames_dir / f"{video.stem}-{digest}"


def extract_frames(video: Path, frames_dir: Path, *, frame_step: int, limit: int | None = None) -> list[Path]:
    """Every `frame_step`-th frame of `video` as PNG files in the cache (extracted once; reused after)."""
    folder = _cache_folder(video, frames_dir, frame_step)
    marker = folder / "frames.json"
    if marker.is_file():
        done = json.loads(marker.read_text(encoding="utf-8"))
        if done["complete"] or (limit is not None and len(done["frames"]) >= limit):
            return [folder / name for name in done["frames"]]
    from vidtrans.video import read_frames

    folder.mkdir(parents=True, exist_ok=True)
    names: list[str] = []
    complete = True
    try:
        for index, rgb in read_frames(video, every=frame_step):
            if limit is not None and len(names) >= limit:
                complete = False
                break
            name = f"{index:07d}.png"
            write_image(folder / name, rgb)
            names.append(name)
    except InputError:
        raise
    except Exception as error:  # noqa: BLE001 - a broken file must not end in a traceback
        raise InputError(f"{video}: cannot decode the video ({type(error).__name__}: {error})") from None
    atomic_write_text(marker, json.dumps({"video": str(video), "frame_step": frame_step, "complete": complete,
                                          "frames": names}))
    return [folder / name for name in names]


def resolve_items(sources: list[Source], *, frames_dir: Path, frame_step: int,
                  max_items: int | None = None) -> list[Item]:
    """Images as they are and videos as extracted frames, in order, cut to `max_items`."""
    items: list[Item] = []
    for source in sources:
        if max_items is not None and len(items) >= max_items:
            break
        if not source.video:
            items.append(Item(source.path, source.key))
            continue
        remaining = None if max_items is None else max_items - len(items)
        for frame in extract_frames(source.path, frames_dir, frame_step=frame_step, limit=remaining):
            key = f"{source.key}/{frame.stem}" if source.key else frame.stem
            items.append(Item(frame, key))
    return items[:max_items] if max_items is not None else items


def describe_empty(root: Path) -> str:
    """The error for a domain without any image or video."""
    return (f"{root}: no images ({', '.join(e[1:] for e in IMAGE_EXTENSIONS)}) or videos "
            f"({', '.join(e[1:] for e in VIDEO_EXTENSIONS)}) found")


def pair_items(a: list[Item], b: list[Item], *, root_a: Path, root_b: Path) -> list[tuple[Item, Item]]:
    """Match paired domains by key (relative name without suffix); anything unmatched is a UsageError."""
    by_key = {item.key: item for item in b}
    matched = [(item, by_key[item.key]) for item in a if item.key in by_key]
    if not matched or len(matched) != len(a) or len(matched) != len(b):
        keys_a = {item.key for item in a}
        example = next((item.key for item in a if item.key not in by_key), None)
        example = example or next((item.key for item in b if item.key not in keys_a), None)
        raise UsageError(
            f"pix2pix needs paired domains whose files match by name: {root_a} has {len(a)} images, {root_b} "
            f"has {len(b)}, and {len(matched)} names match" + (f" (e.g. {example!r} has no partner)" if example
                                                               else "") +
            "; use --mode cyclegan for unpaired data")
    return matched
