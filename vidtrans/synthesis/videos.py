"""Counting the frames of a synth input's videos without decoding them."""

from __future__ import annotations

from pathlib import Path

import av

from vidtrans.errors import InputError
from vidtrans.video.probe import open_input, video_stream


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
