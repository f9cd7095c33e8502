"""Video files in a synth input: finding them and counting their frames (without decoding them)."""

from __future__ import annotations

import os
from pathlib import Path

import av

from vidtrans.errors import InputError
from vidtrans.video.probe import open_input, video_stream

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".ts")


def is_video_file(path: Path) -> bool:
    """Whether `path` has one of the video extensions synth samples frames from."""
    return path.suffix.lower() in VIDEO_EXTENSIONS


def list_videos(folder: Path) -> list[Path]:
    """Video files under `folder`, sorted by path; hidden files and folders are skipped."""
    found: list[Path] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(root) / f for f in files if not f.startswith(".") and is_video_file(Path(f))]
    return sorted(found)


def probe_frames(path: Path) -> tuple[int, float]:
    """(frame count, average frames per second) of a video's video stream; InputError if unreadable.

    Frames are counted from the demuxed packets, which is exact for the usual codecs and needs no decoding.
    """
    with open_input(path) as container:
        stream = video_stream(container, path)
        rate = float(stream.average_rate or stream.guessed_rate or 0) or 25.0
        try:
            count = sum(1 for packet in container.demux(stream) if packet.size)
        except av.FFmpegError as error:
            raise InputError(f"{path}: not a readable video ({error})") from None
    return count, rate
