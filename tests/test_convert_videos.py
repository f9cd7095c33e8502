"""`convert FOLDER_OF_VIDEOS` on the local engine: each video converted as one, failures listed, exit 3."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from vidtrans.cli import main
from vidtrans.conversion import ConvertOptions, convert
from vidtrans.engines import RayOptions
from vidtrans.errors import OutputError, UsageError
from vidtrans.images import write_image
from vidtrans.modeldir import ModelDirectory
from vidtrans.runtime import RuntimeOptions
from vidtrans.translator import Translator
from vidtrans.video import EncodeOptions, VideoReader, probe

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ClipMaker = Callable[..., Path]

CPU_TORCH = RuntimeOptions(backend="torch", device="cpu")
CPU = ConvertOptions(runtime=CPU_TORCH, batch_size=4, progress=False, encode=EncodeOptions(crf=10))


def luma(pixels: np.ndarray) -> np.ndarray:
    return pixels.astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def assert_translation_of(output: Path, source: Path, translator: Translator) -> None:
    """`output` holds, frame by frame, the translation of `source`'s frames (4:2:0 keeps brightness)."""
    wanted = translator.translate(np.stack([frame.pixels for frame in VideoReader(source)]))
    got = [frame.pixels for frame in VideoReader(output)]
    assert len(got) == len(wanted)
    for a, b in zip(got, wanted):
        assert np.abs(luma(a) - luma(b)).mean() < 2.0


def videos(folder: Path, make_clip: ClipMaker) -> dict[str, Path]:
    """Two clips of different lengths and sizes (one in a subfolder, one Matroska) and a broken file."""
    (folder / "sub").mkdir(parents=True)
    clips = {"a.mp4": make_clip(f"{folder.name}/a.mp4", frames=6),
             "sub/b.mkv": make_clip(f"{folder.name}/sub/b.mkv", frames=4, size=(48, 32))}
    (folder / "broken.mp4").write_bytes(b"not a video")
    return clips


def test_folder_of_videos_converts_each_and_lists_the_failed_one(
        tmp_path: Path, make_clip: ClipMaker, tiny_model: ModelDirectory,
        capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "clips"
    clips = videos(folder, make_clip)
    out = tmp_path / "out"
    stale = out / ".a.partial-123-0badcafe.mp4"  # a killed run's half-written file
    stale.parent.mkdir()
    stale.write_bytes(b"half")
    code = main(["convert", str(folder), "-o", str(out), "--model", str(tiny_model.path), "--backend", "torch",
                 "--device", "cpu", "--encoder", "libx264", "--preset", "medium", "--crf", "10", "--json", "-q"])
    captured = capsys.readouterr()
    assert code == 3 and "1 of 3 videos not fully converted" in captured.err and "broken.mp4" in captured.err
    summary = json.loads(captured.out)
    assert (summary["videos"], summary["failed"], summary["engine"]) == (3, 1, "local")
    assert [(Path(r["input"]).name, r["ok"]) for r in summary["results"]] == [
        ("a.mp4", True), ("broken.mp4", False), ("b.mkv", True)]
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == ["a.mp4", "sub", "sub/b.mkv"]
    translator = Translator.from_model(tiny_model, CPU_TORCH)
    for name, source in clips.items():
        assert_translation_of(out / name, source, translator)
    assert probe(out / "sub/b.mkv").size == (48, 32)


def test_folder_of_videos_default_output_overwrite_and_refusals(
        tmp_path: Path, make_clip: ClipMaker, tiny_model: ModelDirectory) -> None:
    folder = tmp_path / "clips"
    folder.mkdir()
    make_clip("clips/a.mp4", frames=2)
    summary = convert(folder, model=tiny_model, options=CPU)
    assert summary.output == tmp_path / "clips.tiny" and (tmp_path / "clips.tiny" / "a.mp4").is_file()
    assert summary.problems() == "" and len(summary.results) == 1
    with pytest.raises(OutputError, match=r"a\.mp4: already exists \(1 of the 1 outputs"):
        convert(folder, model=tiny_model, options=CPU)
    convert(folder, model=tiny_model, options=ConvertOptions(runtime=CPU_TORCH, progress=False, overwrite=True))
    with pytest.raises(UsageError, match="must not be the input folder or inside it"):
        convert(folder, folder / "out", model=tiny_model, options=CPU)
    with pytest.raises(UsageError, match="give a folder"):
        convert(folder, tmp_path / "one.mp4", model=tiny_model, options=CPU)
    with pytest.raises(UsageError, match=r"--engine ray converts folders of videos"):
        convert(folder / "a.mp4", model=tiny_model, options=ConvertOptions(runtime=CPU_TORCH, ray=RayOptions()))
    write_image(folder / "still.png", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(UsageError, match=r"holds both images \(1\) and videos \(1\)"):
        convert(folder, tmp_path / "mixed", model=tiny_model, options=CPU)
