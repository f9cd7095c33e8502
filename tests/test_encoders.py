"""The encoder choice: `--encoder auto` (NVENC where it opens, else libx264 at a fast preset), explicit encoders,
and the old `--codec` option."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from vidtrans.cli import main
from vidtrans.errors import UsageError
from vidtrans.modeldir import ModelDirectory
from vidtrans.video import EncodeOptions, VideoWriter, probe
from vidtrans.video.encoders import nvenc_problem

NVENC = nvenc_problem("h264_nvenc") is None
needs_no_nvenc = pytest.mark.skipif(NVENC, reason="checks the fallback on a machine where NVENC cannot encode")


def _x264_settings(path: Path) -> str:
    """The settings string x264 writes into its first packet (`... subme=1 ... me=dia ...`)."""
    with av.open(str(path)) as container:
        packet = next(container.demux(video=0))
        text = bytes(packet).decode("latin-1")
    return text[text.index("x264 - core"):].split("\x00")[0]


def _write(path: Path, options: EncodeOptions, frames: int = 4) -> Path:
    with VideoWriter(path, width=64, height=48, time_base=Fraction(1, 30), options=options) as writer:
        for i in range(frames):
            writer.write(np.full((48, 64, 3), 40 * i, np.uint8), pts=i, duration=1)
    return path


@needs_no_nvenc
def test_auto_falls_back_to_libx264_at_a_fast_preset(tmp_path: Path) -> None:
    problem = nvenc_problem("h264_nvenc")
    assert problem  # FFmpeg's own reason, e.g. "Cannot load libcuda.so.1"
    options = EncodeOptions()
    assert options.encoder_for(".mp4") == "libx264" and options.encoder_for(".webm") == "libvpx-vp9"
    assert options.encoder_options("libx264") == {"crf": "18", "preset": "veryfast"}
    assert options.describe(".mp4") == "libx264 crf 18 preset veryfast"
    written = _write(tmp_path / "auto.mp4", options)
    assert probe(written).codec == "h264" and probe(written).frames == 4
    settings = _x264_settings(written)  # veryfast: subpixel refinement 2, a 10-frame lookahead
    assert " subme=2 " in settings and " rc_lookahead=10 " in settings
    medium = _x264_settings(_write(tmp_path / "medium.mp4", EncodeOptions(encoder="libx264")))
    assert " subme=7 " in medium and " rc_lookahead=40 " in medium  # a named libx264 keeps x264's own default


def test_presets_belong_to_a_named_encoder() -> None:
    with pytest.raises(UsageError, match="--preset slow needs an explicit --encoder"):
        EncodeOptions(preset="slow")
    named = EncodeOptions(encoder="libx264", preset="slow")
    assert named.encoder_for(".mp4") == "libx264" and named.encoder_options("libx264")["preset"] == "slow"
    assert nvenc_problem("no_such_nvenc") == f"this FFmpeg build (PyAV {av.__version__}) has no no_such_nvenc"


@needs_no_nvenc
def test_an_explicit_nvenc_request_without_nvenc_is_a_one_line_error(
        tmp_path: Path, make_clip: Callable[..., Path], tiny_model: ModelDirectory,
        capsys: pytest.CaptureFixture[str]) -> None:
    clip = make_clip("drive.mp4", frames=2)
    for encoder in ("h264_nvenc", "hevc_nvenc"):
        code = main(["convert", str(clip), "-o", str(tmp_path / "out.mp4"), "--model", str(tiny_model.path),
                     "--device", "cpu", "--encoder", encoder])
        lines = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(lines) == 1, lines
        assert lines[0] == (f"vidtrans: error: --encoder {encoder}: NVENC cannot encode here "
                            f"({nvenc_problem(encoder)}); use --encoder auto or libx264")
    assert not (tmp_path / "out.mp4").exists()


def test_the_old_codec_option_names_its_new_name(tmp_path: Path, make_clip: Callable[..., Path],
                                                 tiny_model: ModelDirectory,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    clip = make_clip("drive.mp4", frames=2)
    code = main(["convert", str(clip), "-o", str(tmp_path / "out.mp4"), "--model", str(tiny_model.path),
                 "--codec", "libx264"])
    assert code == 2 and capsys.readouterr().err.strip() == (
        "vidtrans: error: --codec is now --encoder: use --encoder libx264")
    code = main(["convert", str(clip), "-o", str(tmp_path / "out.mp4"), "--model", str(tiny_model.path),
                 "--device", "cpu", "--encoder", "libx264", "--preset", "ultrafast", "--quiet"])
    assert code == 0 and probe(tmp_path / "out.mp4").frames == 2
    assert " cabac=0 " in _x264_settings(tmp_path / "out.mp4")  # ultrafast turns CABAC off


@pytest.mark.gpu
@pytest.mark.skipif(not NVENC, reason="needs an NVIDIA GPU with NVENC (L4, L40S, A10, RTX; not H100 or A100)")
def test_auto_takes_nvenc_where_it_works(tmp_path: Path) -> None:
    options = EncodeOptions()
    assert options.encoder_for(".mp4") == "h264_nvenc"
    written = _write(tmp_path / "nvenc.mp4", options, frames=30)
    assert probe(written).codec == "h264" and probe(written).frames == 30
