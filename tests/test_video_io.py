"""Tests for vidtrans.video: probing, decoding, encoding, colour, rotation and carrying audio/subtitles."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from vidtrans.errors import InputError, OutputError, UsageError
from vidtrans.frames import Frame, FrameBatch
from vidtrans.video import (
    Colour,
    EncodeOptions,
    VideoReader,
    VideoWriter,
    check_container_codec,
    probe,
    read_frames,
)

ClipMaker = Callable[..., Path]
Pattern = Callable[[int, int, int], np.ndarray]
VFR_PTS = [0, 1001, 2002, 5005, 6006, 9009, 10010, 11011, 12012, 20020]


def _stream_times(path: Path) -> list[float]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return sorted(float(frame.pts * stream.time_base) for frame in container.decode(stream))


def _mean_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


# --- frames ------------------------------------------------------------------------------------------


def test_frame_batch_checks_and_round_trips(frame_pattern: Pattern) -> None:
    frames = [Frame(pixels=frame_pattern(i, 8, 6), index=i, pts=i * 2, time_base=Fraction(1, 60),
                    duration=2, payload=f"p{i}") for i in range(3)]
    batch = FrameBatch.stack(frames)
    assert batch.pixels.shape == (3, 6, 8, 3) and batch.size == (8, 6) and len(batch) == 3
    assert batch.pts == (0, 2, 4) and batch.payloads == ("p0", "p1", "p2")
    back = batch.frames(batch.pixels[:, :, ::-1].copy())
    assert [f.index for f in back] == [0, 1, 2] and np.array_equal(back[1].pixels, frames[1].pixels[:, ::-1])
    with pytest.raises(ValueError, match="uint8"):
        FrameBatch(pixels=np.zeros((1, 4, 4, 3), np.float32), indices=(0,), pts=(None,), time_base=None,
                   durations=(None,), payloads=(None,))
    with pytest.raises(ValueError, match="entries"):
        FrameBatch(pixels=np.zeros((2, 4, 4, 3), np.uint8), indices=(0,), pts=(None, None), time_base=None,
                   durations=(None, None), payloads=(None, None))
    with pytest.raises(ValueError, match="C-contiguous"):
        FrameBatch(pixels=np.zeros((1, 4, 8, 3), np.uint8)[:, :, ::2], indices=(0,), pts=(None,),
                   time_base=None, durations=(None,), payloads=(None,))
    with pytest.raises(ValueError, match="differ"):
        FrameBatch.stack([frames[0], Frame(pixels=frame_pattern(0, 4, 4), index=9)])


# --- probe and decode --------------------------------------------------------------------------------


def test_probe_describes_the_clip(make_clip: ClipMaker) -> None:
    clip = make_clip("a.mp4", size=(642, 358), frames=12, rate=Fraction(30000, 1001), audio="aac")
    info = probe(clip)
    assert (info.width, info.height, info.frames) == (642, 358, 12)
    assert info.average_rate == Fraction(30000, 1001)
    assert info.duration == pytest.approx(12 * 1001 / 30000, abs=1e-4)
    assert info.codec == "h264" and info.pix_fmt == "yuv420p" and info.rotation == 0
    assert info.has_audio and info.audio_codecs == ("aac",) and info.decodable
    assert info.colour == Colour.resolve(height=358) and not info.colour_tagged


def test_probe_refuses_what_is_not_a_video(tmp_path: Path, make_clip: ClipMaker) -> None:
    with pytest.raises(InputError, match="no such file"):
        probe(tmp_path / "missing.mp4")
    (tmp_path / "notes.mp4").write_text("this is not a video")
    with pytest.raises(InputError, match=r"notes\.mp4: not a readable video"):
        probe(tmp_path / "notes.mp4")
    with pytest.raises(InputError, match="is a folder"):
        probe(tmp_path)
    with av.open(str(tmp_path / "sound.m4a"), "w") as container:
        stream = container.add_stream("aac", rate=48000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 48000, 0
        container.mux(stream.encode(frame))
        container.mux(stream.encode())
    with pytest.raises(InputError, match=r"sound\.m4a: no video stream \(it holds: audio\)"):
        probe(tmp_path / "sound.m4a")


def test_read_frames_every_and_max(make_clip: ClipMaker, frame_pattern: Pattern) -> None:
    clip = make_clip("b.mp4", frames=10)
    frames = list(read_frames(clip))
    assert [i for i, _ in frames] == list(range(10))
    assert all(_mean_error(f, frame_pattern(i, 64, 48)) < 3 for i, f in frames)
    assert [i for i, _ in read_frames(clip, every=3)] == [0, 3, 6, 9]
    assert [i for i, _ in read_frames(clip, every=2, max_frames=2)] == [0, 2]
    assert list(read_frames(clip, max_frames=0)) == []


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_reader_keeps_variable_frame_rate_timestamps(make_clip: ClipMaker, suffix: str) -> None:
    clip = make_clip("vfr" + suffix, pts=VFR_PTS, rate=Fraction(30000, 1001), time_base=Fraction(1, 30000))
    frames = list(VideoReader(clip))
    seconds = [float(f.pts * f.time_base) for f in frames]
    assert seconds == pytest.approx([p / 30000 for p in VFR_PTS], abs=1e-3)
    durations = [float(f.duration * f.time_base) for f in frames]
    assert durations[:-1] == pytest.approx(np.diff(VFR_PTS) / 30000, abs=2e-3)
    assert durations[-1] == pytest.approx(1001 / 30000, abs=2e-3)


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
@pytest.mark.parametrize("damage", ["truncate", "overwrite"])
def test_reader_counts_frames_lost_to_damage(make_clip: ClipMaker, suffix: str, damage: str) -> None:
    clip = make_clip("long" + suffix, frames=30, size=(96, 64), faststart=suffix == ".mp4")
    data = bytearray(clip.read_bytes())
    if damage == "truncate":
        del data[int(len(data) * 0.6):]
    else:
        noise = np.random.default_rng(1).integers(0, 256, 400, dtype=np.uint8).tobytes()
        for start in (int(len(data) * 0.4), int(len(data) * 0.7)):
            data[start:start + 400] = noise
    clip.write_bytes(bytes(data))
    reader = VideoReader(clip)
    decoded = list(reader)
    assert 0 < len(decoded) < 30
    # MP4 records its frame count; Matroska its duration, from which the shortfall is estimated
    assert reader.stats.bad_frames == 30 - len(decoded)


# --- encode ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".mov"])
def test_writer_round_trips_vfr_timestamps_and_duration(tmp_path: Path, suffix: str,
                                                        frame_pattern: Pattern) -> None:
    path = tmp_path / f"out{suffix}"
    time_base = Fraction(1, 30000)
    with VideoWriter(path, width=64, height=48, time_base=time_base, frame_rate=Fraction(30000, 1001),
                     options=EncodeOptions(crf=10)) as writer:
        for i, pts in enumerate(VFR_PTS):
            duration = VFR_PTS[i + 1] - pts if i + 1 < len(VFR_PTS) else 1001
            writer.write(frame_pattern(i, 64, 48), pts=pts, duration=duration)
    exact = 1e-6 if suffix != ".mkv" else 1e-3  # Matroska keeps milliseconds
    assert _stream_times(path) == pytest.approx([p / 30000 for p in VFR_PTS], abs=exact)
    assert probe(path).duration == pytest.approx(21021 / 30000, abs=exact)
    frames = list(VideoReader(path))
    assert all(_mean_error(f.pixels, frame_pattern(i, 64, 48)) < 3 for i, f in enumerate(frames))


def test_writer_pads_odd_sizes_by_repeating_the_edge(tmp_path: Path, frame_pattern: Pattern) -> None:
    path = tmp_path / "odd.mp4"
    picture = frame_pattern(3, 641, 359)
    with VideoWriter(path, width=641, height=359, time_base=Fraction(1, 25)) as writer:
        writer.write(picture, pts=0, duration=1)
    info = probe(path)
    assert (info.width, info.height) == (642, 360)
    decoded = next(iter(VideoReader(path))).pixels
    assert _mean_error(decoded[:359, :641], picture) < 3
    assert _mean_error(decoded[:359, 641], picture[:, 640]) < 4
    assert _mean_error(decoded[359, :641], picture[358]) < 4
    with pytest.raises(ValueError, match="641x359"):
        with VideoWriter(tmp_path / "bad.mp4", width=641, height=359, time_base=Fraction(1, 25)) as writer:
            writer.write(frame_pattern(0, 640, 360), pts=0)


@pytest.mark.parametrize("colour", [(1, 1), (1, 2), (6, 1), (9, 1)])
def test_colour_is_decoded_with_the_input_tags_and_written_back(tmp_path: Path, make_clip: ClipMaker,
                                                                colour: tuple[int, int],
                                                                frame_pattern: Pattern) -> None:
    clip = make_clip("c.mp4", colour=colour, frames=2)
    info = probe(clip)
    assert (info.colour.colorspace, info.colour.color_range) == colour and info.colour_tagged
    decoded = [f.pixels for f in VideoReader(clip)]
    assert _mean_error(decoded[0], frame_pattern(0, 64, 48)) < 2.5  # wrong matrix or range would be far off
    out = tmp_path / "c2.mp4"
    with VideoWriter(out, width=64, height=48, time_base=Fraction(1, 30), colour=info.colour) as writer:
        for i, picture in enumerate(decoded):
            writer.write(picture, pts=i, duration=1)
    written = probe(out)
    assert written.colour == info.colour
    assert _mean_error(next(iter(VideoReader(out))).pixels, decoded[0]) < 2.5


def test_untagged_colour_follows_the_hd_rule() -> None:
    assert Colour.resolve(height=1080).describe() == "bt709/tv"
    assert Colour.resolve(height=480).describe() == "smpte170m/tv"
    assert Colour.resolve(height=480, pix_fmt="yuvj420p").describe() == "smpte170m/pc"


def test_rotation_is_read_and_written(tmp_path: Path, make_clip: ClipMaker, frame_pattern: Pattern) -> None:
    clip = make_clip("r.mp4", rotation=90, frames=2)
    assert probe(clip).rotation == 90
    out = tmp_path / "r2.mkv"
    with VideoWriter(out, width=64, height=48, time_base=Fraction(1, 30), rotation=270) as writer:
        writer.write(frame_pattern(0, 64, 48), pts=0, duration=1)
    assert probe(out).rotation == 270


# --- audio and subtitles -----------------------------------------------------------------------------


def _audio(path: Path) -> tuple[str, float]:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
        return stream.codec_context.name, samples / stream.codec_context.sample_rate


def _copy_video(source: Path, target: Path) -> object:
    reader = VideoReader(source)
    with VideoWriter(target, width=reader.info.width, height=reader.info.height, time_base=reader.info.time_base,
                     frame_rate=reader.info.average_rate, colour=reader.info.colour, companion=source) as writer:
        for frame in reader:
            writer.write(frame.pixels, pts=frame.pts, duration=frame.duration)
        return writer


def test_audio_and_subtitles_are_copied_when_the_container_takes_them(tmp_path: Path,
                                                                      make_clip: ClipMaker) -> None:
    clip = make_clip("s.mkv", audio="aac", subtitles=True, frames=15)
    out = tmp_path / "s2.mkv"
    _copy_video(clip, out)
    info = probe(out)
    assert info.audio_codecs == ("aac",) and info.subtitle_codecs == ("srt",)
    codec, seconds = _audio(out)
    assert codec == "aac" and seconds == pytest.approx(_audio(clip)[1], abs=0.03)


def test_audio_is_reencoded_and_subtitles_left_out_when_the_container_refuses(
        tmp_path: Path, make_clip: ClipMaker, capsys: pytest.CaptureFixture[str]) -> None:
    clip = make_clip("m.mov", audio="pcm_mulaw", frames=15)
    out = tmp_path / "m.mp4"
    _copy_video(clip, out)
    assert "cannot hold pcm_mulaw; re-encoding it to aac" in capsys.readouterr().err
    codec, seconds = _audio(out)
    assert codec == "aac" and seconds == pytest.approx(15 / 30, abs=0.05)

    subtitled = make_clip("t.mkv", audio="aac", subtitles=True, frames=5)
    _copy_video(subtitled, tmp_path / "t.mp4")
    assert "cannot hold srt subtitles; leaving them out" in capsys.readouterr().err
    assert probe(tmp_path / "t.mp4").subtitle_codecs == ()


# --- options -----------------------------------------------------------------------------------------


def test_encode_options_are_checked_up_front(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such video encoder"):
        EncodeOptions(encoder="not-a-codec")
    with pytest.raises(UsageError, match="aac: is a audio encoder"):
        EncodeOptions(encoder="aac")
    with pytest.raises(UsageError, match="--crf"):
        EncodeOptions(crf=99)
    with pytest.raises(UsageError, match="--preset is not supported"):
        EncodeOptions(encoder="mpeg4", preset="fast")
    assert EncodeOptions().encoder_for(".webm") == "libvpx-vp9"
    assert EncodeOptions(encoder="libx264", preset="veryfast").encoder_options("libx264") == {"crf": "18",
                                                                                     "preset": "veryfast"}
    with pytest.raises(OutputError, match=r"x\.webm: the webm container cannot hold libx264"):
        check_container_codec(tmp_path / "x.webm", EncodeOptions(encoder="libx264"))
    with pytest.raises(UsageError, match=r"\.avi"):
        check_container_codec(tmp_path / "x.avi", EncodeOptions())
    check_container_codec(tmp_path / "x.webm", EncodeOptions())
