"""Which files are videos, and finding them in folders."""

from __future__ import annotations

from pathlib import Path

from vidtrans.fsutil import find_files

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".ts")
"""Suffixes of the video files vidtrans looks for in folders (any file FFmpeg reads can be given directly)."""


def is_video_file(path: Path) -> bool:
    """Whether `path` has one of the video suffixes."""
    return path.suffix.lower() in VIDEO_EXTENSIONS


def list_videos(folder: Path) -> list[Path]:
    """Video files under `folder`, sorted by path; hidden files and folders are skipped."""
    return find_files(Path(folder), is_video_file)
