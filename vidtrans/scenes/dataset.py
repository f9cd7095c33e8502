"""Writing rendered scenes to disk: game style in the GTA5 layout, real style in a Cityscapes-like layout.

Images (one frame per seed):
    game/images/00000.png, game/labels/00000.png                       (labels: uint8 train IDs)
    real/leftImg8bit/train/synth/synth_000000_000000_leftImg8bit.png
    real/gtFine/train/synth/synth_000000_000000_gtFine_labelTrainIds.png
Paired images (layout="paired", for `vidtrans eval --pairs` and pix2pix: same file names in each folder):
    game/00000.png, real/00000.png, labels/00000.png
Clips (video=True, one clip per seed):
    game/videos/clip_00000.mp4, real/videos/clip_00000.mp4             (H.264, yuv420p)
    labels/clip_00000/000000.png                                       (one per frame)
and scenes.json, written last, recording the parameters.

Both looks of a seed show the same scene: its `content`, "game" (the default) or "real" (Cityscapes-like, with
an ego-vehicle hood labelled 255; see `vidtrans.scenes.content`). Paired images never show the hood, so that a
translation can be compared with its ideal. Unpaired content-shifted collections are two datasets: one written
with content "game", the other with content "real" (and other seeds).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..errors import OutputError
from ..fsutil import atomic_path
from ..images import write_image
from .content import ContentName, content_named
from .render import check_size, render_clip, render_frame
from .video import open_clip

FORMAT_VERSION = 1
MANIFEST = "scenes.json"
Layout = Literal["driving", "paired"]
LAYOUTS = ("driving", "paired")


@dataclass(frozen=True)
class SceneDatasetSummary:
    """What write_scene_dataset wrote."""

    out_dir: Path
    video: bool
    count: int  # images, or clips when video
    frames: int  # frames rendered (per style)
    seeds: tuple[int, ...]
    files: int  # files written, scenes.json included
    manifest: Path


def game_image_path(out_dir: Path, index: int) -> Path:
    """GTA5-style image path of image `index`."""
    return out_dir / "game" / "images" / f"{index:05d}.png"


def game_label_path(out_dir: Path, index: int) -> Path:
    """GTA5-style label path of image `index` (same file name as the image)."""
    return out_dir / "game" / "labels" / f"{index:05d}.png"


def real_image_path(out_dir: Path, index: int) -> Path:
    """Cityscapes-style image path of image `index`."""
    return out_dir / "real" / "leftImg8bit" / "train" / "synth" / f"synth_{index:06d}_000000_leftImg8bit.png"


def real_label_path(out_dir: Path, index: int) -> Path:
    """Cityscapes-style train-ID label path of image `index`."""
    return out_dir / "real" / "gtFine" / "train" / "synth" / f"synth_{index:06d}_000000_gtFine_labelTrainIds.png"


def clip_paths(out_dir: Path, index: int) -> tuple[Path, Path, Path]:
    """Game video, real video and label folder of clip `index`."""
    name = f"clip_{index:05d}"
    return out_dir / "game" / "videos" / f"{name}.mp4", out_dir / "real" / "videos" / f"{name}.mp4", out_dir / "labels" / name


def _prepare(out_dir: Path, overwrite: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"output folder {out_dir} is a file")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not overwrite:
        raise OutputError(f"output folder {out_dir} is not empty; pass overwrite to write into it anyway")


def _mkdirs(*folders: Path) -> None:
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)


def _write_images(out_dir: Path, seeds: list[int], width: int, height: int, content: ContentName, hood: bool) -> int:
    _mkdirs(*(p(out_dir, 0).parent for p in (game_image_path, game_label_path, real_image_path, real_label_path)))
    for index, seed in enumerate(seeds):
        frame = render_frame(seed, width=width, height=height, content=content, hood=hood)
        write_image(game_image_path(out_dir, index), frame.game)
        write_image(game_label_path(out_dir, index), frame.labels)
        write_image(real_image_path(out_dir, index), frame.real)
        write_image(real_label_path(out_dir, index), frame.labels)
    return 4 * len(seeds)


def _write_pairs(out_dir: Path, seeds: list[int], width: int, height: int, content: ContentName) -> int:
    _mkdirs(*(out_dir / name for name in ("game", "real", "labels")))
    for index, seed in enumerate(seeds):
        frame = render_frame(seed, width=width, height=height, content=content, hood=False)
        for name, pixels in (("game", frame.game), ("real", frame.real), ("labels", frame.labels)):
            write_image(out_dir / name / f"{index:05d}.png", pixels)
    return 3 * len(seeds)


def _write_clips(out_dir: Path, seeds: list[int], width: int, height: int, frames: int, fps: float,
                 content: ContentName, hood: bool) -> int:
    files = 0
    for index, seed in enumerate(seeds):
        game_path, real_path, label_dir = clip_paths(out_dir, index)
        _mkdirs(game_path.parent, real_path.parent, label_dir)
        with open_clip(game_path, width=width, height=height, fps=fps) as game, \
                open_clip(real_path, width=width, height=height, fps=fps) as real:
            clip = render_clip(seed, frames=frames, width=width, height=height, fps=fps, content=content, hood=hood)
            for number, frame in enumerate(clip):
                game.write(frame.game)
                real.write(frame.real)
                write_image(label_dir / f"{number:06d}.png", frame.labels)
        files += 2 + frames
    return files


def write_scene_dataset(out_dir: Path, *, count: int, width: int, height: int, first_seed: int = 0,
                        video: bool = False, frames_per_clip: int = 30, fps: float = 10.0,
                        layout: Layout = "driving", content: ContentName = "game", hood: bool = True,
                        overwrite: bool = False) -> SceneDatasetSummary:
    """Render `count` scenes (seeds first_seed, first_seed + 1, ...) in both styles and write them under `out_dir`.

    `layout` "driving" writes the GTA5 / Cityscapes-like layouts, "paired" three folders with equal names.
    `content` "game" or "real" is what the scenes hold, in both styles. The real content's ego-vehicle hood is
    drawn in the driving layout and in clips unless `hood` is False; the paired layout never has it.

    Raises ValueError for bad arguments and OutputError when `out_dir` cannot be written, or is
    not empty and `overwrite` is False.
    """
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}; got {layout!r}")
    content_named(content)
    if video and layout != "driving":
        raise ValueError("clips are written in the driving layout only")
    if first_seed < 0:
        raise ValueError(f"first_seed must be >= 0, got {first_seed}")
    check_size(width, height)
    if video and (width % 2 or height % 2):
        raise ValueError(f"video needs an even frame size (H.264 yuv420p), got {width}x{height}")
    if video and frames_per_clip < 1:
        raise ValueError(f"frames_per_clip must be >= 1, got {frames_per_clip}")
    if not fps > 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    out_dir = Path(out_dir)
    _prepare(out_dir, overwrite)
    seeds = list(range(first_seed, first_seed + count))
    manifest = out_dir / MANIFEST
    record = {
        "format_version": FORMAT_VERSION, "generator": "vidtrans.scenes", "count": count, "width": width,
        "height": height, "first_seed": first_seed, "seeds": seeds, "video": video, "layout": layout,
        "content": content, "hood": content_named(content).hood and hood and layout != "paired",
        "frames_per_clip": frames_per_clip if video else 1, "fps": fps, "label_format": "cityscapes_train_ids",
    }
    try:
        if video:
            files = _write_clips(out_dir, seeds, width, height, frames_per_clip, fps, content, hood)
        elif layout == "paired":
            files = _write_pairs(out_dir, seeds, width, height, content)
        else:
            files = _write_images(out_dir, seeds, width, height, content, hood)
        with atomic_path(manifest) as temporary:
            temporary.write_text(json.dumps(record, indent=2) + "\n")
    except OSError as e:
        raise OutputError(f"cannot write the scene dataset under {out_dir}: {e.strerror or e}") from e
    frames = count * frames_per_clip if video else count
    return SceneDatasetSummary(out_dir=out_dir, video=video, count=count, frames=frames, seeds=tuple(seeds),
                               files=files + 1, manifest=manifest)
