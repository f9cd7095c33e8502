"""What each encoder preset costs: encode frames/s, bitrate and PSNR against the frames given to the encoder.

One generated clip (procedural driving scenes in the real style, what a game -> real translation looks like)
is encoded once per (encoder, preset) at the same constant quality, through `VideoWriter`, the code `convert`
uses (RGB -> YUV 4:2:0 conversion on several threads included). The encoded file is decoded again and each
frame compared with its input (PSNR in dB, RGB, 8 bits; the 4:2:0 chroma subsampling alone already costs
some dB, equally for every preset). NVENC presets are measured where NVENC really encodes (L4, L40S, A10, RTX
cards; not H100 or A100). Prints a Markdown table and, with --json, writes the results.

Speed figures are only meaningful on a quiet machine:

    python benchmarks/encode_presets.py                                    # 1920x1080, 120 frames, crf 18
    python benchmarks/encode_presets.py --size 1024x512 --json presets-1024.json
    python benchmarks/encode_presets.py --size 320x180 --frames 10 --presets ultrafast medium   # a quick check
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium")
NVENC_PRESETS = ("p1", "p4", "p7")


def clip_frames(size: tuple[int, int], frames: int, seed: int) -> list[np.ndarray]:
    """`frames` consecutive real-style frames of procedural scene `seed` (the camera drives forward)."""
    from vidtrans.scenes import render_clip

    width, height = size
    return [frame.real for frame in render_clip(seed, frames=frames, width=width, height=height, fps=30.0,
                                                styles=("real",))]  # type: ignore[misc]


def measure(frames: list[np.ndarray], encoder: str, preset: str, crf: int, folder: Path) -> dict[str, object]:
    """Encode `frames` at 30 frames/s with `encoder` at `preset`; speed, size and quality of the result."""
    from vidtrans.metrics import psnr
    from vidtrans.video import EncodeOptions, VideoReader, VideoWriter

    height, width = frames[0].shape[:2]
    path = folder / f"{encoder}-{preset}.mp4"
    started = time.perf_counter()
    with VideoWriter(path, width=width, height=height, time_base=Fraction(1, 30), frame_rate=Fraction(30),
                     options=EncodeOptions(encoder=encoder, crf=crf, preset=preset)) as writer:
        writer.write_many([(frame, i, 1) for i, frame in enumerate(frames)])
    seconds = time.perf_counter() - started
    decoded = [frame.pixels for frame in VideoReader(path)]
    if len(decoded) != len(frames):
        raise RuntimeError(f"{path}: {len(decoded)} frames decode, {len(frames)} were encoded")
    quality = [psnr(original, again) for original, again in zip(frames, decoded)]
    return {"encoder": encoder, "preset": preset, "crf": crf, "frames": len(frames), "seconds": seconds,
            "fps": len(frames) / seconds, "bitrate_mbps": path.stat().st_size * 8 / (len(frames) / 30) / 1e6,
            "psnr_db": float(np.mean(quality)), "psnr_min_db": float(np.min(quality))}


def table(results: list[dict[str, object]], size: tuple[int, int]) -> str:
    lines = [f"{size[0]}x{size[1]}, {results[0]['frames']} frames at 30 frames/s, crf/cq {results[0]['crf']}, "
             f"{os.cpu_count()} CPUs", "",
             "| encoder | preset | encode frames/s | bitrate (Mbit/s) | PSNR mean (dB) | PSNR min (dB) |",
             "|---|---|---:|---:|---:|---:|"]
    lines += [f"| {r['encoder']} | {r['preset']} | {r['fps']:.1f} | {r['bitrate_mbps']:.2f} | {r['psnr_db']:.2f} | "
              f"{r['psnr_min_db']:.2f} |" for r in results]
    return "\n".join(lines)


def main() -> int:
    from vidtrans.resize import parse_size
    from vidtrans.video.encoders import nvenc_problem

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1920x1080", help="WIDTHxHEIGHT of the generated clip")
    parser.add_argument("--frames", type=int, default=120, help="frames of the generated clip")
    parser.add_argument("--crf", type=int, default=18, help="constant quality (crf for x264, cq for NVENC)")
    parser.add_argument("--presets", nargs="+", default=list(X264_PRESETS), help="libx264 presets to measure")
    parser.add_argument("--seed", type=int, default=2026, help="which procedural scene")
    parser.add_argument("--json", type=Path, default=None, metavar="OUT", help="also write the results as JSON")
    args = parser.parse_args()
    size = parse_size(args.size)
    print(f"rendering {args.frames} frames at {size[0]}x{size[1]}", file=sys.stderr, flush=True)
    frames = clip_frames(size, args.frames, args.seed)
    runs = [("libx264", preset) for preset in args.presets]
    problem = nvenc_problem("h264_nvenc")
    if problem is None:
        runs += [("h264_nvenc", preset) for preset in NVENC_PRESETS]
    else:
        print(f"NVENC not measured: {problem}", file=sys.stderr)
    results = []
    with tempfile.TemporaryDirectory(prefix="vidtrans-presets-") as folder:
        measure(frames[:5], *runs[0], args.crf, Path(folder))  # warm-up: thread pools, encoder libraries
        for encoder, preset in runs:
            results.append(measure(frames, encoder, preset, args.crf, Path(folder)))
            print(f"{encoder} {preset}: {results[-1]['fps']:.1f} frames/s", file=sys.stderr, flush=True)
    print(table(results, size))
    if args.json is not None:
        from vidtrans.fsutil import atomic_write_text

        atomic_write_text(args.json, json.dumps({"size": list(size), "cpu_count": os.cpu_count(),
                                                 "nvenc": problem or "works", "results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
