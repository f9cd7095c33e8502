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
from vidtrans.video.files import VIDEO_EXTENSIONS, is_video_file, list_videos
from vidtrans.video.probe import VideoInfo, probe
from vidtrans.video.remux import RemuxReport
from vidtrans.video.timeline import FrameTimeline, read_timeline

__all__ = [
    "VIDEO_EXTENSIONS", "VIDEO_SUFFIXES", "Colour", "DecodeStats", "EncodeOptions", "FrameTimeline", "RemuxReport",
    "VideoInfo", "VideoReader", "VideoWriter", "WriterReport", "check_container_codec", "is_video_file", "list_videos",
    "probe", "read_frames", "read_timeline",
]
