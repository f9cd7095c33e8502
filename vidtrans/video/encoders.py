"""Choosing the video encoder, so that encoding never caps a GPU conversion.

`auto` (the default) takes NVIDIA's hardware encoder when it works here, else libx264 at a preset fast enough
to keep up with the GPU: x264's default preset (medium) encodes 1080p about 4.5 times slower than ultrafast,
well below the model's speed on a GPU. PyAV's FFmpeg has the NVENC encoders compiled in even where there is
no NVIDIA driver, or no NVENC hardware (H100 and A100 have none; L4, L40S, A10 and RTX cards do), so whether
NVENC works is found out by really opening it. WebM outputs take VP9 (the container holds no H.264).
`docs/performance.md` has the speed, bitrate and quality of each preset (`benchmarks/encode_presets.py`).
"""

from __future__ import annotations

import functools
from fractions import Fraction

import av
import av.logging

ENCODER_CHOICES = ("auto", "libx264", "libx265", "h264_nvenc", "hevc_nvenc", "av1_nvenc")
"""What `--encoder` lists; any other FFmpeg video encoder name (libvpx-vp9, libsvtav1, ...) is taken too."""
NVENC_ENCODERS = ("h264_nvenc", "hevc_nvenc", "av1_nvenc")
AUTO_NVENC = "h264_nvenc"
AUTO_FALLBACK = "libx264"
AUTO_FALLBACK_PRESET = "veryfast"
"""libx264's preset under `auto`: several times medium's speed at a similar bitrate for the same quality;
superfast and ultrafast are faster still but turn off x264's macroblock tree and need about three times the
bitrate (docs/performance.md, `benchmarks/encode_presets.py`)."""
WEBM_ENCODER = "libvpx-vp9"


@functools.lru_cache(maxsize=None)
def nvenc_problem(name: str) -> str | None:
    """Why the NVENC encoder `name` cannot encode on this machine, or None when it can.

    Opens the encoder and encodes one small frame, keeping FFmpeg's own error message ("Cannot load
    libcuda.so.1", "OpenEncodeSessionEx failed: unsupported device", ...). The answer is cached.
    """
    if name not in av.codecs_available:
        return f"this FFmpeg build (PyAV {av.__version__}) has no {name}"
    previous = av.logging.get_level()
    try:
        with av.logging.Capture(local=True) as logs:
            av.logging.set_level(av.logging.ERROR)
            context = av.CodecContext.create(name, "w")
            context.width, context.height, context.pix_fmt = 256, 256, "yuv420p"
            context.time_base = Fraction(1, 30)
            context.open()
            frame = av.VideoFrame(256, 256, "yuv420p")
            frame.pts = 0
            context.encode(frame)
            context.encode(None)
        return None
    except (av.FFmpegError, ValueError, OSError) as error:
        messages = [text.strip() for _, _, text in logs if text.strip()]
        return messages[-1] if messages else str(error)
    finally:
        av.logging.set_level(previous)


def encoder_for(requested: str, suffix: str) -> str:
    """The encoder `requested` ("auto" or a name) means for an output ending in `suffix`."""
    if requested != "auto":
        return requested
    if suffix.lower() == ".webm":
        return WEBM_ENCODER
    return AUTO_NVENC if nvenc_problem(AUTO_NVENC) is None else AUTO_FALLBACK
