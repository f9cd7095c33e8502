"""Frame identity comes from timestamps: a frame that does not decode, or is missing from the file, never
shifts the frames after it, in the reader, in `synth` (all frames, `--every`, `--fps`) and in `convert` to a
folder of frames. Every check is by content: each clip frame shows its own index (`index_picture`)."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from media import damage_packet, drop_packet, index_picture, picture_index, write_clip
from vidtrans.cli import main
from vidtrans.conversion import ConvertOptions, convert
from vidtrans.images import read_image
from vidtrans.modeldir import ModelDirectory
from vidtrans.runtime import RuntimeOptions
from vidtrans.translator import Translator
from vidtrans.video import FrameTimeline, VideoReader, read_frames, read_timeline
from vidtrans.video.timeline import grid_step

FRAMES, LOST = 30, 10
SIZE = (64, 32)


def _clip(path: Path, *, lost: str) -> Path:
    """A 30-frame clip of index pictures whose frame 10 is damaged in place or dropped when remuxing."""
    if lost == "damaged":
        clip = write_clip(path, size=SIZE, frames=FRAMES, picture=index_picture, keyframes_only=True)
        damage_packet(clip, LOST)
        return clip
    whole = write_clip(path.with_name("whole" + path.suffix), size=SIZE, frames=FRAMES, picture=index_picture,
                       keyframes_only=True)
    return drop_packet(whole, path, LOST)


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
@pytest.mark.parametrize("lost", ["damaged", "dropped"])
def test_reader_places_frames_by_timestamp_after_a_lost_frame(tmp_path: Path, suffix: str, lost: str) -> None:
    clip = _clip(tmp_path / f"clip{suffix}", lost=lost)
    reader = VideoReader(clip)
    frames = list(reader)
    assert [f.index for f in frames] == [i for i in range(FRAMES) if i != LOST]
    assert [picture_index(f.pixels) for f in frames] == [f.index for f in frames]
    assert reader.timeline.frame_count == FRAMES
    if lost == "damaged":
        assert reader.stats.bad_frames == 1
    assert [i for i, _ in read_frames(clip, every=4)] == [0, 4, 8, 12, 16, 20, 24, 28]


def test_a_variable_frame_rate_without_a_grid_is_numbered_in_presentation_order(tmp_path: Path) -> None:
    stamps = [0, 1000, 2500, 2600, 4100, 7000]  # no common frame rate
    clip = write_clip(tmp_path / "vfr.mkv", size=SIZE, pts=stamps, time_base=Fraction(1, 10000),
                      picture=index_picture, keyframes_only=True)
    timeline = read_timeline(clip)
    assert timeline.step is None and timeline.frame_count == len(stamps)
    frames = list(VideoReader(clip))
    assert [f.index for f in frames] == [picture_index(f.pixels) for f in frames] == list(range(len(stamps)))


def _translations(model: ModelDirectory) -> np.ndarray:
    translator = Translator.from_model(model, RuntimeOptions(backend="torch", device="cpu"))
    try:
        return translator.translate(np.stack([index_picture(i, *SIZE) for i in range(FRAMES)]))
    finally:
        translator.close()


def _source_of(saved: np.ndarray, translations: np.ndarray) -> int:
    """Which source frame's translation a saved picture is (the nearest, by a wide margin)."""
    errors = np.abs(translations.astype(np.int16) - saved.astype(np.int16)).mean(axis=(1, 2, 3))
    best, second = np.sort(errors)[:2]
    assert best < 2 and second > best + 4, errors
    return int(np.argmin(errors))


@pytest.mark.parametrize(("sampling", "planned"), [
    ([], list(range(FRAMES))),
    (["--every", "5"], list(range(0, FRAMES, 5))),
    (["--fps", "6"], list(range(0, FRAMES, 5))),
])
def test_synth_saves_every_frame_under_its_own_index(tmp_path: Path, tiny_model: ModelDirectory,
                                                     one_torch_thread: None, sampling: list[str],
                                                     planned: list[int]) -> None:
    clip = _clip(tmp_path / "drive.mp4", lost="damaged")
    out = tmp_path / "out"
    code = main(["synth", str(clip), str(out), "--model", str(tiny_model.path), "--backend", "torch", "--device", "cpu", "-q",
                 "--batch-size", "4", *sampling])
    assert code == 3
    translations = _translations(tiny_model)
    saved = sorted((out / "drive").glob("*.png"))
    assert [int(p.stem) for p in saved] == [i for i in planned if i != LOST]
    for path in saved:
        assert _source_of(read_image(path), translations) == int(path.stem), path
    records = {r["frame"]: r for r in map(json.loads, (out / "manifest.jsonl").read_text().splitlines()[:-1])}
    assert sorted(records) == planned
    assert records[LOST]["status"] == "failed" and records[LOST]["output"] is None
    assert f"frame {LOST} (at 0.333s) could not be decoded" in records[LOST]["error"]
    assert all(r["status"] == "ok" for frame, r in records.items() if frame != LOST)


def test_convert_to_a_folder_names_frames_by_timestamp(tmp_path: Path, tiny_model: ModelDirectory,
                                                       one_torch_thread: None) -> None:
    clip = _clip(tmp_path / "drive.mkv", lost="dropped")
    out = tmp_path / "frames"
    summary = convert(clip, out, model=tiny_model, options=ConvertOptions(runtime=RuntimeOptions(backend="torch", device="cpu"), progress=False))
    translations = _translations(tiny_model)
    saved = sorted(out.glob("*.png"))
    assert [p.name for p in saved] == [f"frame_{i:06d}.png" for i in range(FRAMES) if i != LOST]
    for path in saved:
        assert _source_of(read_image(path), translations) == int(path.stem.removeprefix("frame_")), path
    assert summary.frames == FRAMES - 1


def test_the_grid_is_the_frame_rate_of_the_timestamps() -> None:
    clean = [i * 3003 for i in range(10)]
    assert grid_step(clean, [Fraction(90000)], Fraction(1, 90000)) is None  # a tick a frame would be 30000 slots
    assert grid_step(clean, [Fraction(90000), Fraction(30000, 1001)], Fraction(1, 90000)) == 3003
    dropped = clean[:4] + clean[5:]  # one frame missing: still the grid, with a hole
    timeline = FrameTimeline(Fraction(1, 90000), len(dropped), tuple(dropped),
                             grid_step(dropped, [Fraction(30000, 1001)], Fraction(1, 90000)))
    assert timeline.frame_count == 10 and timeline.index_of(5 * 3003) == 5 and timeline.index_of(4 * 3003 + 900) is None
    drifting = [i * 3200 for i in range(8)]  # a phone at 28.1 fps that says 29.97: off the grid after a few
    assert grid_step(drifting, [Fraction(30000, 1001)], Fraction(1, 90000)) is None
