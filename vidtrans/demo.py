"""`vidtrans demo`: the whole job offline in under a minute, with a generated clip and the bundled model.

It renders a short game-style driving clip (`vidtrans.scenes`), translates it once with the bundled `demo`
model (game -> real) through the same pipeline as `vidtrans convert`, and writes from that one pass the
translated clip and a side-by-side review clip (`convert --review`). Everything goes into one folder that the
demo owns: a rerun replaces the files the previous run wrote (listed in its `demo.json`), and a folder without
that file is never written into.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from vidtrans.console import info
from vidtrans.conversion import ConvertOptions, ConvertSummary, convert
from vidtrans.errors import OutputError, UsageError
from vidtrans.fsutil import atomic_write_text
from vidtrans.registry import resolve_model
from vidtrans.runtime import RuntimeOptions
from vidtrans.scenes.video import open_clip
from vidtrans.scenes import render_clip

DEMO_MODEL = "demo"
MARKER = "demo.json"
GAME_CLIP = "game.mp4"
TRANSLATED_CLIP = "translated.mp4"
SIDE_BY_SIDE_CLIP = "side_by_side.mp4"


@dataclass(frozen=True)
class DemoOptions:
    """What the demo renders and how it runs."""

    output_dir: Path = Path("vidtrans-demo")
    model: str = DEMO_MODEL
    width: int = 512
    height: int = 256
    frames: int = 40
    fps: float = 10.0
    seed: int = 2026
    runtime: RuntimeOptions = RuntimeOptions()
    progress: bool = True

    def __post_init__(self) -> None:
        if self.width % 2 or self.height % 2 or self.width < 64 or self.height < 32:
            raise UsageError(f"--size must be even and at least 64x32; got {self.width}x{self.height}")
        if not 1 <= self.frames <= 10_000:
            raise UsageError(f"--frames must be from 1 to 10000; got {self.frames}")


@dataclass(frozen=True)
class DemoSummary:
    """The files the demo wrote and how long it took."""

    game_clip: Path
    translated: ConvertSummary
    side_by_side: Path
    render_s: float
    wall_s: float


def _claim_folder(folder: Path) -> None:
    """Create the demo folder, or accept it if an earlier demo made it; refuse anyone else's folder."""
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{folder}: exists and is not a folder")
    if folder.is_dir() and any(folder.iterdir()) and not (folder / MARKER).is_file():
        raise OutputError(f"{folder}: exists and was not made by `vidtrans demo`; choose another --output-dir")
    folder.mkdir(parents=True, exist_ok=True)


def run_demo(options: DemoOptions = DemoOptions()) -> DemoSummary:
    """Render a game-style clip, translate it with the demo model, and write a side-by-side review clip."""
    started = time.perf_counter()
    folder = Path(options.output_dir)
    model = resolve_model(options.model)
    _claim_folder(folder)
    game_clip = folder / GAME_CLIP
    info(f"rendering a {options.frames}-frame {options.width}x{options.height} game-style driving clip "
         f"(seed {options.seed}) -> {game_clip}")
    with open_clip(game_clip, width=options.width, height=options.height, fps=options.fps) as clip:
        for frame in render_clip(options.seed, frames=options.frames, width=options.width, height=options.height,
                                 fps=options.fps, styles=("game",)):
            clip.write(frame.game)
    render_s = time.perf_counter() - started

    info(f"translating with model {model.name!r} ({model.info.source_domain} -> {model.info.target_domain})")
    translated = convert(game_clip, folder / TRANSLATED_CLIP, model=model, options=ConvertOptions(
        runtime=options.runtime, review=folder / SIDE_BY_SIDE_CLIP, overwrite=True, progress=options.progress))
    info(translated.line())
    record = {"model": model.name, "weights_sha256": model.sha256["generator"], "seed": options.seed,
              "size": [options.width, options.height], "frames": options.frames, "fps": options.fps,
              "files": [GAME_CLIP, TRANSLATED_CLIP, SIDE_BY_SIDE_CLIP]}
    atomic_write_text(folder / MARKER, json.dumps(record, indent=2) + "\n")
    return DemoSummary(game_clip=game_clip, translated=translated, side_by_side=folder / SIDE_BY_SIDE_CLIP,
                       render_s=render_s, wall_s=time.perf_counter() - started)
