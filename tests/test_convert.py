"""Tests for `convert` and `vidtrans convert`: faithful videos, images and folders, options and bad input."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from media import with_extra_video, without_frames

from vidtrans.cli import main
from vidtrans.conversion import ConvertOptions, convert
from vidtrans.errors import OutputError, UsageError
from vidtrans.images import read_image, write_image
from vidtrans.modeldir import ModelDirectory
from vidtrans.resize import ResizeSpec
from vidtrans.runtime import RuntimeOptions
from vidtrans.translator import Translator
from vidtrans.video import EncodeOptions, VideoReader, probe

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ClipMaker = Callable[..., Path]
CPU_TORCH = RuntimeOptions(backend="torch", device="cpu")
CPU = ConvertOptions(runtime=CPU_TORCH, batch_size=4, progress=False, encode=EncodeOptions(crf=10))


@pytest.fixture(scope="module")
def translator(tiny_model: ModelDirectory) -> Translator:
    return Translator.from_model(tiny_model, CPU_TORCH)


def _options(**changes: object) -> ConvertOptions:
    return ConvertOptions(**{**CPU.__dict__, **changes})  # type: ignore[arg-type]


def _frames(path: Path) -> list[np.ndarray]:
    return [frame.pixels for frame in VideoReader(path)]


def _times(path: Path) -> list[float]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return sorted(float(f.pts * stream.time_base) for f in container.decode(stream))


def _audio_seconds(path: Path) -> tuple[str, float]:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
        return stream.codec_context.name, samples / stream.codec_context.sample_rate


def _error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def _luma_error(a: np.ndarray, b: np.ndarray) -> float:
    """Mean difference of brightness (BT.601 luma), which yuv420p keeps at full resolution.

    A random generator's output has per-pixel colour detail that 4:2:0 chroma cannot hold, so colour
    is compared in the tests that write images and brightness in those that write video.
    """
    weights = np.array([0.299, 0.587, 0.114])
    return float(np.abs(a.astype(np.float64) @ weights - b.astype(np.float64) @ weights).mean())


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".partial-" in p.name)


# --- faithful video ----------------------------------------------------------------------------------


def test_video_keeps_frames_timing_size_audio_and_translates_every_frame(
        tmp_path: Path, make_clip: ClipMaker, tiny_model: ModelDirectory, translator: Translator) -> None:
    clip = make_clip("drive.mp4", size=(642, 358), frames=8, rate=Fraction(30000, 1001), audio="aac",
                     bframes=True)
    out = tmp_path / "out.mp4"
    summary = convert(clip, out, model=tiny_model, options=CPU)
    assert (summary.frames, summary.bad_frames, summary.output_size) == (8, 0, (642, 358))
    assert "audio stream #1 (aac) copied" in summary.notes
    before, after = probe(clip), probe(out)
    assert (after.width, after.height, after.frames) == (642, 358, 8)
    assert after.average_rate == Fraction(30000, 1001)
    assert after.duration == pytest.approx(before.duration, abs=1e-4)
    assert _times(out) == pytest.approx(_times(clip), abs=1e-6)
    assert after.has_audio and _audio_seconds(out) == pytest.approx(_audio_seconds(clip), abs=1e-3)
    decoded_in, decoded_out = _frames(clip), _frames(out)
    expected = translator.translate(np.stack(decoded_in))
    errors = [_luma_error(o, e) for o, e in zip(decoded_out, expected)]
    assert max(errors) < 3, errors  # codec error only
    assert min(_luma_error(o, e) for o, e in zip(decoded_out[1:], expected)) > 5  # each frame in its place
    assert min(_luma_error(o, i) for o, i in zip(decoded_out, decoded_in)) > 10  # and translated


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_variable_frame_rate_is_preserved(tmp_path: Path, make_clip: ClipMaker, tiny_model: ModelDirectory,
                                          suffix: str) -> None:
    pts = [0, 1001, 2002, 5005, 6006, 9009, 10010, 11011, 12012, 20020]
    clip = make_clip("vfr.mp4", pts=pts, rate=Fraction(30000, 1001), time_base=Fraction(1, 30000))
    out = tmp_path / f"vfr-out{suffix}"
    convert(clip, out, model=tiny_model, options=CPU)
    exact = 1e-6 if suffix == ".mp4" else 1e-3  # Matroska stores milliseconds
    assert _times(out) == pytest.approx([p / 30000 for p in pts], abs=exact)
    assert probe(out).duration == pytest.approx(21021 / 30000, abs=exact)


def test_odd_sizes_are_translated_and_padded_by_one_pixel(tmp_path: Path, make_clip: ClipMaker,
                                                          tiny_model: ModelDirectory, translator: Translator) -> None:
    clip = make_clip("odd.mkv", size=(641, 359), frames=3, pix_fmt="yuv444p")
    assert probe(clip).size == (641, 359)
    out = tmp_path / "odd.mp4"
    summary = convert(clip, out, model=tiny_model, options=CPU)
    assert summary.output_size == (642, 360) and summary.input_size == (641, 359)
    expected = translator.translate(np.stack(_frames(clip)))
    for got, want in zip(_frames(out), expected):
        assert _luma_error(got[:359, :641], want) < 3


def test_rotation_is_kept_and_frames_are_translated_upright(tmp_path: Path, make_clip: ClipMaker,
                                                            tiny_model: ModelDirectory,
                                                            translator: Translator) -> None:
    clip = make_clip("phone.mp4", size=(64, 48), frames=3, rotation=90)
    out = tmp_path / "phone-out.mp4"
    convert(clip, out, model=tiny_model, options=CPU)
    info = probe(out)
    assert info.rotation == 90 and info.size == (64, 48)
    upright = np.stack([np.rot90(f, 1) for f in _frames(clip)])
    expected = [np.rot90(f, -1) for f in translator.translate(np.ascontiguousarray(upright))]
    assert max(_luma_error(got, want) for got, want in zip(_frames(out), expected)) < 3


def test_audio_the_container_refuses_is_reencoded(tmp_path: Path, make_clip: ClipMaker,
                                                  tiny_model: ModelDirectory,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    clip = make_clip("cam.mov", frames=6, audio="pcm_mulaw")
    summary = convert(clip, tmp_path / "cam.mp4", model=tiny_model, options=CPU)
    assert "audio stream #1 (pcm_mulaw) re-encoded" in summary.notes
    assert "re-encoding it to aac" in capsys.readouterr().err
    assert _audio_seconds(tmp_path / "cam.mp4")[0] == "aac"


def test_extra_video_streams_and_cover_pictures_are_left_out_with_a_warning(
        tmp_path: Path, make_clip: ClipMaker, tiny_model: ModelDirectory, capsys: pytest.CaptureFixture[str]) -> None:
    source = with_extra_video(make_clip("one.mp4", frames=4), tmp_path / "angles.mp4")
    summary = convert(source, tmp_path / "out.mp4", model=tiny_model, options=CPU)
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["vidtrans: warning: video stream #1 (h264): left out (vidtrans translates one video stream, "
                   "the first)",
                   "vidtrans: warning: cover picture stream #2 (png): left out (vidtrans translates one video "
                   "stream, the first)"]
    assert {"video stream #1 (h264) left out", "cover picture stream #2 (png) left out"} <= set(summary.notes)
    with av.open(str(tmp_path / "out.mp4")) as written:
        assert [s.type for s in written.streams] == ["video"] and written.streams.video[0].frames == 4


# --- images and folders ------------------------------------------------------------------------------


def test_image_to_image(tmp_path: Path, tiny_model: ModelDirectory, translator: Translator,
                        frame_pattern: Callable[[int, int, int], np.ndarray]) -> None:
    picture = frame_pattern(1, 37, 29)
    write_image(tmp_path / "shot.png", picture)
    summary = convert(tmp_path / "shot.png", model=tiny_model, options=CPU)
    assert summary.output == tmp_path / "shot.tiny.png" and summary.output_size == (37, 29)
    got = read_image(tmp_path / "shot.tiny.png")
    assert np.abs(got.astype(int) - translator.translate(picture[None])[0]).max() <= 1


def test_folder_to_folder_keeps_names_skips_unreadable_images(tmp_path: Path, tiny_model: ModelDirectory,
                                                              translator: Translator,
                                                              frame_pattern: Callable[..., np.ndarray],
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "shots"
    pictures = {"a.png": frame_pattern(0, 20, 12), "b.png": frame_pattern(1, 20, 12),
                "sub/c.png": frame_pattern(2, 33, 17), "sub/d.jpg": frame_pattern(3, 20, 12)}
    for name, picture in pictures.items():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        write_image(source / name, picture)
    (source / "broken.png").write_bytes(b"not a png")
    summary = convert(source, model=tiny_model, options=_options(frame_format=None))
    target = tmp_path / "shots.tiny"
    assert summary.output == target and summary.frames == 4 and summary.bad_frames == 1
    assert "broken.png" in capsys.readouterr().err
    assert sorted(p.relative_to(target).as_posix() for p in target.rglob("*.*")) == sorted([*pictures, ".vidtrans-output"])
    assert np.abs(read_image(target / "sub/c.png").astype(int)
                  - translator.translate(pictures["sub/c.png"][None])[0]).max() <= 1
    assert _leftovers(tmp_path) == []


def test_folder_to_video_and_video_to_folder(tmp_path: Path, make_clip: ClipMaker, tiny_model: ModelDirectory,
                                             translator: Translator,
                                             frame_pattern: Callable[..., np.ndarray]) -> None:
    source = tmp_path / "seq"
    source.mkdir()
    for i in range(5):
        write_image(source / f"{i:03d}.png", frame_pattern(i, 32, 24))
    convert(source, tmp_path / "seq.mp4", model=tiny_model, options=_options(fps=10.0))
    info = probe(tmp_path / "seq.mp4")
    assert (info.frames, info.size, info.duration) == (5, (32, 24), pytest.approx(0.5, abs=1e-3))

    clip = make_clip("walk.mp4", frames=4)
    summary = convert(clip, tmp_path / "walk-frames", model=tiny_model, options=_options(frame_format="png"))
    written = sorted((tmp_path / "walk-frames").glob("*.png"))
    assert [p.name for p in written] == [f"frame_{i:06d}.png" for i in range(4)] and summary.frames == 4
    expected = translator.translate(np.stack(_frames(clip)))
    assert all(np.abs(read_image(p).astype(int) - e).max() <= 1 for p, e in zip(written, expected))


def test_folder_of_mixed_sizes_cannot_become_one_video(tmp_path: Path, tiny_model: ModelDirectory,
                                                       frame_pattern: Callable[..., np.ndarray]) -> None:
    source = tmp_path / "mixed"
    source.mkdir()
    write_image(source / "1.png", frame_pattern(0, 32, 24))
    write_image(source / "2.png", frame_pattern(1, 40, 24))
    with pytest.raises(Exception, match=r"2\.png: is 40x24 but the video is 32x24"):
        convert(source, tmp_path / "mixed.mp4", model=tiny_model, options=CPU)
    assert not (tmp_path / "mixed.mp4").exists() and _leftovers(tmp_path) == []


# --- resizing and side by side -----------------------------------------------------------------------


def test_resize_keep_size_and_side_by_side(tmp_path: Path, make_clip: ClipMaker, tiny_model: ModelDirectory) -> None:
    clip = make_clip("big.mp4", size=(96, 64), frames=2)
    small = convert(clip, tmp_path / "small.mp4", model=tiny_model,
                    options=_options(resize=ResizeSpec(size=(48, 32))))
    assert small.output_size == (48, 32)
    half = convert(clip, tmp_path / "half.mkv", model=tiny_model, options=_options(resize=ResizeSpec(scale=0.5)))
    assert half.output_size == (48, 32)
    kept = convert(clip, tmp_path / "kept.mp4", model=tiny_model,
                   options=_options(resize=ResizeSpec(short_side=32), keep_size=True, side_by_side=True))
    assert kept.output_size == (192, 64)
    left = _frames(tmp_path / "kept.mp4")[0][:, :96]
    assert _error(left, _frames(clip)[0]) < 3  # the input, at its own size, on the left
    with pytest.raises(UsageError, match="--keep-size needs"):
        ConvertOptions(keep_size=True)
    with pytest.raises(UsageError, match="at most one"):
        ResizeSpec(size=(4, 4), scale=2.0)


# --- outputs -----------------------------------------------------------------------------------------


def test_default_output_name_and_overwrite(make_clip: ClipMaker, tiny_model: ModelDirectory) -> None:
    clip = make_clip("clip.mkv", frames=2)
    summary = convert(clip, model=tiny_model, options=CPU)
    assert summary.output == clip.with_name("clip.tiny.mkv") and summary.output.is_file()
    with pytest.raises(OutputError, match="already exists"):
        convert(clip, model=tiny_model, options=CPU)
    convert(clip, model=tiny_model, options=_options(overwrite=True))
    frames = clip.with_name("frames")
    convert(clip, frames, model=tiny_model, options=CPU)
    (frames / "stale.png").write_bytes(b"old")
    convert(clip, frames, model=tiny_model, options=_options(overwrite=True))
    assert sorted(p.name for p in frames.iterdir()) == [".vidtrans-output", "frame_000000.png", "frame_000001.png"]
    (frames / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="not replacing this folder"):
        convert(clip, frames, model=tiny_model, options=_options(overwrite=True))
    with pytest.raises(UsageError, match="cannot convert video"):
        convert(clip, clip.with_name("x.png"), model=tiny_model, options=CPU)
    with pytest.raises(UsageError, match="unknown output type"):
        convert(clip, clip.with_name("x.avi"), model=tiny_model, options=CPU)


def test_a_crash_mid_stream_leaves_no_output(tmp_path: Path, make_clip: ClipMaker, tiny_model: ModelDirectory) -> None:
    class Crashing(Translator):
        batches = 0

        def submit(self, pixels: np.ndarray):  # type: ignore[no-untyped-def]
            self.batches += 1
            if self.batches == 3:
                raise RuntimeError("the GPU fell off the bus")
            return super().submit(pixels)

    clip = make_clip("long.mp4", frames=20)
    crashing = Crashing(Translator.from_model(tiny_model, CPU_TORCH).backend)
    for target in (tmp_path / "long-out.mp4", tmp_path / "long-frames"):
        with pytest.raises(RuntimeError, match="fell off"):
            convert(clip, target, model=tiny_model, options=_options(batch_size=2), translator=crashing)
        crashing.batches = 0
        assert not target.exists()
    assert _leftovers(tmp_path) == []


# --- the command line and bad input ------------------------------------------------------------------


def _cli(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    code = main(["convert", *map(str, args), "--device", "cpu", "--batch-size", "4"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_json_summary_and_quiet(tmp_path: Path, make_clip: ClipMaker, tiny_model: ModelDirectory,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    clip = make_clip("c.mp4", frames=3)
    code, out, err = _cli(capsys, clip, "-o", tmp_path / "c.json.mp4", "--model", tiny_model.path, "--json")
    doc = json.loads(out)
    assert code == 0 and doc["frames"] == 3 and doc["output"] == str(tmp_path / "c.json.mp4")
    assert {"decode_s", "inference_s", "encode_s", "fps", "wall_s"} <= set(doc)
    code, out, err = _cli(capsys, clip, "-o", tmp_path / "c.q.mp4", "--model", tiny_model.path, "--quiet")
    assert (code, out, err) == (0, "", "")
    code, out, err = _cli(capsys, clip, "-o", tmp_path / "c.s.mp4", "--model", tiny_model.path)
    chosen, summary = err.splitlines()
    assert chosen == "backend onnxruntime on cpu, precision fp32"  # what --backend auto (the default) picked
    assert code == 0 and summary.startswith("translated 3 frames in ") and "decode" in summary and "-> " in summary


def test_cli_bad_inputs_get_one_line_errors(tmp_path: Path, make_clip: ClipMaker, tiny_model: ModelDirectory,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    model = tiny_model.path
    (tmp_path / "notes.mp4").write_text("hello")
    zero = without_frames(tmp_path / "zero.mkv")
    clip = make_clip("ok.mp4", frames=2)
    cases = [
        ((tmp_path / "missing.mp4",), 1, "missing.mp4: no such file"),
        ((tmp_path / "notes.mp4",), 1, "notes.mp4: not a readable video"),
        ((zero,), 1, "zero.mkv: no video frames decode"),
        ((clip, "-o", tmp_path / "nowhere" / "x.mp4"), 1, "does not exist"),
        ((clip, "-o", tmp_path / "x.webm", "--encoder", "libx264"), 1, "x.webm: the webm container cannot hold"),
        ((clip, "-o", tmp_path / "x.mp4", "--crf", "99"), 2, "--crf"),
    ]
    for args, expected_code, message in cases:
        code, out, err = _cli(capsys, *args, "--model", model)
        lines = err.strip().splitlines()
        assert (code, len(lines)) == (expected_code, 1), (args, err)
        assert lines[0].startswith("vidtrans: error: ") and message in lines[0], lines[0]
    code, _, err = _cli(capsys, clip, "--model", "no-such-model")
    assert code == 1 and "unknown model 'no-such-model'" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.mp4", "ok.mp4", "zero.mkv"]


def test_cli_truncated_video_translates_what_decodes_and_exits_3(tmp_path: Path, make_clip: ClipMaker,
                                                                 tiny_model: ModelDirectory,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    clip = make_clip("cut.mp4", frames=30, size=(96, 64), faststart=True)
    clip.write_bytes(clip.read_bytes()[: int(clip.stat().st_size * 0.6)])
    code, _, err = _cli(capsys, clip, "-o", tmp_path / "cut-out.mp4", "--model", tiny_model.path, "-q")
    decoded = probe(tmp_path / "cut-out.mp4").frames
    assert code == 3 and 0 < decoded < 30  # type: ignore[operator]
    assert f"{30 - decoded} frame(s) could not be read" in err  # type: ignore[operator]
    assert err.strip().splitlines()[-1].startswith("vidtrans: error: ") and "cut.mp4" in err


def test_ctrl_c_leaves_no_file_behind(tmp_path: Path, make_clip: ClipMaker, tiny_model: ModelDirectory) -> None:
    clip = make_clip("slow.mp4", frames=600, size=(160, 120))  # seconds of work at batch size 1
    out = tmp_path / "slow-out.mp4"
    process = subprocess.Popen(
        [sys.executable, "-m", "vidtrans", "convert", str(clip), "-o", str(out), "--model", str(tiny_model.path),
         "--device", "cpu", "--batch-size", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        # a shell may start background jobs with SIGINT ignored; give the child Python's usual handler
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 60
        while not _leftovers(tmp_path) and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert process.poll() is None and _leftovers(tmp_path), process.communicate()
        process.send_signal(signal.SIGINT)  # the output is open and frames are being written
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, err  # typer turns KeyboardInterrupt into exit code 130
    assert not out.exists() and _leftovers(tmp_path) == []


def test_review_writes_the_side_by_side_video_from_the_same_pass(tmp_path: Path, make_clip: ClipMaker,
                                                                   tiny_model: ModelDirectory) -> None:
    clip = make_clip("drive.mp4", size=(64, 48), frames=5, audio="aac")
    out, review = tmp_path / "out.mp4", tmp_path / "review.mp4"
    summary = convert(clip, out, model=tiny_model, options=_options(review=review))
    assert summary.review == review and summary.to_dict()["review"] == str(review)
    source = [f.pixels.astype(int) for f in VideoReader(clip)]
    translated = [f.pixels.astype(int) for f in VideoReader(out)]
    side = [f.pixels.astype(int) for f in VideoReader(review)]
    assert len(side) == len(translated) == 5 and side[0].shape == (48, 128, 3)
    assert probe(review).audio_codecs == probe(out).audio_codecs == ("aac",)
    for i, left_right in enumerate(side):  # frame i beside its own translation, not another frame's
        left = [float(np.abs(left_right[:, :64] - a).mean()) for a in source]
        right = [float(np.abs(left_right[:, 64:] - b).mean()) for b in translated]
        assert min(left) == left[i] < 4 and min(right) == right[i] < 4, (i, left, right)
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize(("output", "changes", "message"), [
    ("out.mp4", {"side_by_side": True}, "--review writes the side-by-side video"),
    ("frames", {}, "--review writes a side-by-side video beside a video output"),
    ("out.mp4", {"review": "out.mp4"}, "another file than the input and the output"),
])
def test_review_refusals(tmp_path: Path, make_clip: ClipMaker, tiny_model: ModelDirectory, output: str,
                         changes: dict, message: str) -> None:
    clip = make_clip("drive.mp4", frames=2)
    with pytest.raises(UsageError, match=message):
        review = tmp_path / changes.pop("review", "review.mp4")
        convert(clip, tmp_path / output, model=tiny_model, options=_options(review=review, **changes))


def test_workers_without_the_ray_engine_is_a_usage_error(tmp_path: Path, make_clip: ClipMaker,
                                                         tiny_model: ModelDirectory,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    clip = make_clip("drive.mp4", frames=2)
    code, _, err = _cli(capsys, clip, "-o", tmp_path / "out.mp4", "--model", tiny_model.path, "--workers", "2")
    assert code == 2 and err == "vidtrans: error: --workers goes with --engine ray\n"
