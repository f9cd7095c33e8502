"""Video files: probing, decoding to RGB frames, encoding, and carrying audio and subtitles across (PyAV)."""

from vidtrans.video.colour import Colour
from vidtrans.video.decode import DecodeStats, VideoReader, read_frames
from vidtrans.video.encode import (
    VIDEO_SUFFIXES,
    EncodeOptions,
    VideoWriter,
    WriterReport,
    check_container_codec,
)
from vidtrans.video.probe import VideoInfo, probe
from vidtrans.video.remux import RemuxReport

__all__ = [
    "VIDEO_SUFFIXES", "Colour", "DecodeStats", "EncodeOptions", "RemuxReport", "VideoInfo", "VideoReader",
    "VideoWriter", "WriterReport", "check_container_codec", "probe", "read_frames",
]
