"""CPU video translation against the reference per-frame loop, on a quiet machine and beside a busy process.

    python benchmarks/cpu_convert.py [--repeats 3] [--json out.json]

The clip is the `vidtrans demo` clip (40 game-style frames at 512x256, seed 2026) and the model the bundled
`demo`. Two ways to translate it, each timed end to end as a fresh process (model loading included):

- reference: the CycleGAN repository's way: ffmpeg to PNG frames, a batch-1 fp32 PyTorch loop that reads
  each PNG with PIL and writes a PNG (as its test.py does), then ffmpeg back to an H.264 MP4;
- vidtrans: `vidtrans convert game.mp4 --model demo` with the default settings (the ONNX export is made
  once before timing, as a user's second run finds it in the cache).

Each runs on the quiet machine, then again while a busy process keeps one core at 100%. Reported (medians of
--repeats): frames/s of the translation itself (vidtrans: its summary's rate; the reference: the frames over
the time of its ffmpeg steps and its loop), the whole command's seconds (interpreter start, imports and model
loading included, about 2.7 s for vidtrans), vidtrans' speed-up over the reference on both, and each one's
slowdown when the machine is shared. The ffmpeg steps use the ffmpeg program when it is installed, else PyAV
(the same FFmpeg libraries).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from busy import one_busy_core

FRAMES = 40  # the `vidtrans demo` clip
REFERENCE_LOOP = r'''
import sys, glob, os, time
import numpy as np, torch
from PIL import Image
from vidtrans.registry import resolve_model
frames, out = sys.argv[1], sys.argv[2]
model = resolve_model("demo")
net = model.load_generator().eval()
started = time.perf_counter()
for path in sorted(glob.glob(os.path.join(frames, "*.png"))):
    image = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32)
    x = torch.from_numpy(image).permute(2, 0, 1)[None] / 127.5 - 1
    with torch.no_grad():
        y = net(x)
    pixels = ((y[0].permute(1, 2, 0).clamp(-1, 1) + 1) * 127.5).round().byte().numpy()
    Image.fromarray(pixels).save(os.path.join(out, os.path.basename(path)))
print(time.perf_counter() - started)
'''


def make_clip(path: Path) -> None:
    from vidtrans.scenes import render_clip
    from vidtrans.scenes.video import open_clip

    with open_clip(path, width=512, height=256, fps=10.0) as clip:
        for frame in render_clip(2026, frames=FRAMES, width=512, height=256, fps=10.0, styles=("game",)):
            clip.write(frame.game)


def to_frames(clip: Path, folder: Path) -> None:
    folder.mkdir()
    if shutil.which("ffmpeg"):
        subprocess.run(["ffmpeg", "-v", "error", "-i", str(clip), str(folder / "%06d.png")], check=True)
        return
    import av

    with av.open(str(clip)) as container:
        for i, frame in enumerate(container.decode(video=0), start=1):
            frame.to_image().save(folder / f"{i:06d}.png")


def to_video(folder: Path, clip: Path) -> None:
    if shutil.which("ffmpeg"):
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-framerate", "10", "-i", str(folder / "%06d.png"),
                        "-c:v", "libx264", "-pix_fmt", "yuv420p", str(clip)], check=True)
        return
    import av
    from PIL import Image

    with av.open(str(clip), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.pix_fmt = "yuv420p"
        for i, path in enumerate(sorted(folder.glob("*.png"))):
            image = Image.open(path).convert("RGB")
            if i == 0:
                stream.width, stream.height = image.size
            container.mux(stream.encode(av.VideoFrame.from_image(image)))
        container.mux(stream.encode())


def reference(clip: Path, work: Path) -> tuple[float, float]:
    """(seconds of the whole command, seconds translating: the ffmpeg steps and the loop)."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    started = time.perf_counter()
    to_frames(clip, work / "in")
    decoded = time.perf_counter()
    (work / "out").mkdir()
    loop = subprocess.run([sys.executable, "-c", REFERENCE_LOOP, str(work / "in"), str(work / "out")], check=True,
                          capture_output=True, text=True)
    encoding = time.perf_counter()
    to_video(work / "out", work / "reference.mp4")
    ended = time.perf_counter()
    return ended - started, (decoded - started) + float(loop.stdout) + (ended - encoding)


def vidtrans_convert(clip: Path, work: Path, extra: list[str]) -> tuple[float, float]:
    """(seconds of the whole command, seconds translating: the summary's wall time)."""
    work.mkdir(exist_ok=True)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "vidtrans", "convert", str(clip), "-o", str(work / "vidtrans.mp4"),
                           "--model", "demo", "--overwrite", "--json", *extra], check=True, capture_output=True,
                          text=True)
    return time.perf_counter() - started, json.loads(done.stdout)["wall_s"]


def measure(clip: Path, work: Path, repeats: int, extra: list[str], *, busy: bool) -> dict[str, float]:
    with one_busy_core(busy):
        ref = [reference(clip, work / "ref") for _ in range(repeats)]
        ours = [vidtrans_convert(clip, work / "ours", extra) for _ in range(repeats)]
    ref_wall, ref_translate = (statistics.median(run[i] for run in ref) for i in (0, 1))
    our_wall, our_translate = (statistics.median(run[i] for run in ours) for i in (0, 1))
    return {"reference_fps": round(FRAMES / ref_translate, 2), "vidtrans_fps": round(FRAMES / our_translate, 2),
            "speedup": round(ref_translate / our_translate, 2), "reference_wall_s": round(ref_wall, 2),
            "vidtrans_wall_s": round(our_wall, 2), "speedup_wall": round(ref_wall / our_wall, 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--convert-args", default="", help="extra `vidtrans convert` options, e.g. '--backend torch'")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vidtrans-cpu-bench-") as folder:
        work = Path(folder)
        clip = work / "game.mp4"
        make_clip(clip)
        extra = args.convert_args.split()
        vidtrans_convert(clip, work / "warm", extra)  # the ONNX export lands in the cache, as on a second run
        quiet = measure(clip, work, args.repeats, extra, busy=False)
        busy = measure(clip, work, args.repeats, extra, busy=True)
    doc = {"convert_args": args.convert_args, "frames": FRAMES, "size": "512x256",
           "ffmpeg": shutil.which("ffmpeg") or "PyAV", "quiet": quiet, "busy": busy,
           "vidtrans_busy_slowdown": round(quiet["vidtrans_fps"] / busy["vidtrans_fps"], 2),
           "reference_busy_slowdown": round(quiet["reference_fps"] / busy["reference_fps"], 2)}
    print(json.dumps(doc, indent=2))
    if args.json:
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
