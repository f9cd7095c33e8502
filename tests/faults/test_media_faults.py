"""Hostile cases for convert, synth and video/image IO: bad media, paths, signals, a full disk, concurrency,
and the cases that already held. Each row runs the real CLI through the fault harness (`faults.harness`),
which checks the exit code, the one line, and that nothing was lost or half-written."""

from __future__ import annotations

import json
import os
import signal
import struct
import threading
import zlib
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest
from faults.harness import (
    FaultCase,
    Result,
    Workspace,
    manifest_lines,
    mount_tmpfs,
    nothing_written,
    run_case,
    run_cli,
    says,
    second_run,
    send,
    warns,
    write_file,
)
from media import (
    UPRIGHT,
    damage_packet,
    index_picture,
    jpeg_with_orientation,
    with_extra_video,
    without_frames,
    write_clip,
)

from vidtrans.images import is_image_file
from vidtrans.video import VideoReader, probe

Setup = Callable[[Workspace], None]
MODEL = ("--model", "{model}", "--backend", "torch", "--device", "cpu", "-q")
LONG = {"size": (96, 64), "frames": 100}
"""A clip long enough that a one-frame-a-batch run is still at work when a case acts."""


def convert(*args: str) -> tuple[str, ...]:
    return ("convert", *args, *MODEL)


def synth(*args: str) -> tuple[str, ...]:
    return ("synth", *args, *MODEL)


CLIP = convert("{in}/clip.mp4", "-o", "{out}/clip.mp4")
SLOW_CLIP = (*CLIP, "--batch-size", "1")
SYNTH = synth("{in}", "{out}")
SLOW_SYNTH = (*SYNTH, "--batch-size", "1", "--workers", "1")


# --- setups ---------------------------------------------------------------------------------------------


def steps(*setups: Setup) -> Setup:
    def run(workspace: Workspace) -> None:
        for setup in setups:
            setup(workspace)
    return run


def clip(name: str = "clip.mp4", **options: object) -> Setup:
    """A clip in `in` (64x32, 4 frames unless told)."""
    return lambda ws: write_clip(ws.inputs / name, **{"size": (64, 32), "frames": 4, **options})  # type: ignore[arg-type]


def raw(name: str, data: bytes | Callable[[], bytes]) -> Setup:
    """A file of these bytes (a path under the workspace: `in/x`, `out/y`)."""
    def setup(ws: Workspace) -> None:
        path = ws.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data() if callable(data) else data)
    return setup


def image(name: str, size: tuple[int, int] = (24, 16), seed: int = 0) -> Setup:
    """A random PNG or JPEG (by suffix) under the workspace."""
    def setup(ws: Workspace) -> None:
        path = ws.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        picture = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        assert cv2.imwrite(str(path), picture)
    return setup


def images(folder: str, count: int, **special: Setup) -> Setup:
    """`count` images `000.png`... in `folder`; `special` replaces some by name (e.g. `_002=raw(...)`)."""
    def setup(ws: Workspace) -> None:
        for i in range(count):
            name = f"{folder}/{i:03d}.png"
            special.get(f"_{i:03d}", image(name, seed=i))(ws)
    return setup


def truncated(name: str, keep: float) -> Setup:
    def setup(ws: Workspace) -> None:
        path = ws.inputs / name
        path.write_bytes(path.read_bytes()[: int(path.stat().st_size * keep)])
    return setup


def damaged(name: str, packet: int) -> Setup:
    return lambda ws: damage_packet(ws.inputs / name, packet)


def huge_png() -> bytes:
    """A PNG whose header says 100000 x 100000 pixels (40 GB of RGB), with a few bytes of data."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + \
        chunk(b"IEND", b"")


def symlink(name: str, target: str) -> Setup:
    return lambda ws: (ws.root / name).symlink_to(ws.root / target)


def fifo_fed_with(name: str, source: str) -> Setup:
    """A named pipe `name` that a writer fills with the bytes of `source` once the run opens it."""
    def setup(ws: Workspace) -> None:
        data = (ws.root / source).read_bytes()
        os.mkfifo(ws.root / name)
        threading.Thread(target=lambda: (ws.root / name).write_bytes(data), daemon=True).start()
    return setup


def exif_jpeg(ws: Workspace) -> None:
    picture = np.zeros((24, 40, 3), np.uint8)
    picture[:12, :20] = (230, 30, 30)
    (ws.inputs / "phone.jpg").write_bytes(jpeg_with_orientation(picture, 6))


def full_disk(size: str = "48k") -> Setup:
    return lambda ws: mount_tmpfs(ws, ws.root / "small", size=size)


def read_only_folder(ws: Workspace) -> None:
    folder = ws.root / "locked"
    if os.geteuid() == 0:  # root writes through permissions: only a read-only file system stops it
        mount_tmpfs(ws, folder, size="16k", read_only=True)
    else:
        folder.mkdir()
        folder.chmod(0o555)
        ws.cleanups.append(lambda: folder.chmod(0o755))


def synthesised(ws: Workspace) -> None:
    """OUTPUT already holds a finished synth job (PNG frames of the same input)."""
    result = run_cli(ws, SYNTH)
    assert result.code == 0, result.stderr


def extra_video(ws: Workspace) -> None:
    write_clip(ws.root / "one.mp4", size=(64, 32), frames=4)
    with_extra_video(ws.root / "one.mp4", ws.inputs / "clip.mp4")
    (ws.root / "one.mp4").unlink()


# --- checks ---------------------------------------------------------------------------------------------


def frames(path: str, count: int | Callable[[int], bool]) -> Callable[[Workspace, Result], None]:
    """The video at `path` has `count` frames (or a count `count` accepts)."""
    def check(ws: Workspace, result: Result) -> None:
        found = probe(Path(ws.fill(path))).frames or 0
        assert count(found) if callable(count) else found == count, f"{path}: {found} frames"
    return check


def files_in(folder: str, names: list[str]) -> Callable[[Workspace, Result], None]:
    """The images under `folder` are exactly these (relative paths)."""
    def check(ws: Workspace, result: Result) -> None:
        root = Path(ws.fill(folder))
        found = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if is_image_file(p))
        assert found == sorted(names), found
    return check


def same_timestamps(source: str, output: str) -> Callable[[Workspace, Result], None]:
    def check(ws: Workspace, result: Result) -> None:
        ours = [float(f.pts * f.time_base) for f in VideoReader(Path(ws.fill(output)))]
        theirs = [float(f.pts * f.time_base) for f in VideoReader(Path(ws.fill(source)))]
        assert ours == pytest.approx(theirs, abs=2e-3)
    return check


def upright_output(ws: Workspace, result: Result) -> None:
    stored = cv2.imdecode(np.fromfile(ws.outputs / "phone.png", np.uint8), cv2.IMREAD_UNCHANGED)
    assert stored.shape[:2] == UPRIGHT[6](np.zeros((24, 40, 3))).shape[:2]  # portrait in the file itself


def synth_failures(count: int, fragment: str) -> Callable[[Workspace, Result], None]:
    def check(ws: Workspace, result: Result) -> None:
        lines = [json.loads(line) for line in (ws.outputs / "manifest.jsonl").read_text().splitlines()[:-1]]
        failed = [r["error"] for r in lines if r["status"] == "failed"]
        assert len(failed) == count and all(fragment in f for f in failed), failed
    return check


def synth_complete(count: int) -> Callable[[Workspace, Result], None]:
    def check(ws: Workspace, result: Result) -> None:
        summary = json.loads((ws.outputs / "manifest.jsonl").read_text().splitlines()[-1])
        assert (summary["items"], summary["ok"], summary["complete"]) == (count, count, True), summary
    return check


# --- the table ------------------------------------------------------------------------------------------

CASES = [
    # bad media
    FaultCase("convert: a clean clip (baseline)", CLIP, 0, line="", setup=clip(), checks=(frames("{out}/clip.mp4", 4),)),
    FaultCase("convert: truncated video", CLIP, 3, "frame(s) could not be read",
              setup=steps(clip(size=(96, 64), frames=30, faststart=True), truncated("clip.mp4", 0.6)),
              checks=(frames("{out}/clip.mp4", lambda n: 0 < n < 30),)),
    FaultCase("convert: zero-byte video", CLIP, 1, "{in}/clip.mp4: not a readable video", setup=raw("in/clip.mp4", b"")),
    FaultCase("convert: text named .mp4", CLIP, 1, "{in}/clip.mp4: not a readable video",
              setup=raw("in/clip.mp4", b"hello, I am not a video\n" * 40)),
    FaultCase("convert: a video named .png", convert("{in}/photo.png", "-o", "{out}/photo.png"), 1,
              "{in}/photo.png: not a readable image", setup=steps(clip("clip.mp4"), lambda ws: os.replace(
                  ws.inputs / "clip.mp4", ws.inputs / "photo.png"))),
    FaultCase("convert: an undecodable packet", CLIP, 3, "1 frame(s) could not be read",
              setup=steps(clip(frames=8, keyframes_only=True), damaged("clip.mp4", 2)),
              checks=(frames("{out}/clip.mp4", 7),)),
    FaultCase("convert: audio only", CLIP, 1, "{in}/clip.mp4: no video stream (it holds: audio)", setup=lambda ws: without_frames(ws.inputs / "clip.mp4", video_track=False)),
    FaultCase("convert: a video track without frames", convert("{in}/clip.mkv", "-o", "{out}/clip.mkv"), 1,
              "{in}/clip.mkv: no video frames decode", setup=lambda ws: without_frames(ws.inputs / "clip.mkv")),
    FaultCase("convert: an encoder FFmpeg lacks", (*CLIP, "--encoder", "no-such-codec"), 2,
              "--encoder no-such-codec: no such video encoder", setup=clip(), line="vidtrans: error: "),
    FaultCase("convert: the old --codec option", (*CLIP, "--codec", "libx264"), 2,
              "--codec is now --encoder: use --encoder libx264", setup=clip()),
    FaultCase("convert: a codec the container cannot hold", (*convert("{in}/clip.mp4", "-o", "{out}/clip.webm"),
                                                              "--encoder", "libx264"), 1,
              "{out}/clip.webm: the webm container cannot hold libx264 video", setup=clip()),
    FaultCase("convert: a PNG header claiming 100000x100000", convert("{in}/huge.png", "-o", "{out}/huge.png"), 1,
              "{in}/huge.png: not a readable image", setup=raw("in/huge.png", huge_png)),
    FaultCase("convert: a broken JPEG", convert("{in}/photo.jpg", "-o", "{out}/photo.jpg"), 1,
              "{in}/photo.jpg: not a readable image", setup=raw("in/photo.jpg", b"\xff\xd8\xff\xe0 broken")),
    FaultCase("convert: a 3x3 image", convert("{in}/dot.png", "-o", "{out}/dot.png"), 1,
              "{in}/dot.png: 3x3 is too small for this model (it needs at least 5 pixels", setup=image("in/dot.png", (3, 3))),
    FaultCase("convert: a 4x4 video", CLIP, 1, "{in}/clip.mp4: 4x4 is too small", setup=clip(size=(4, 4))),
    FaultCase("convert: a folder with a tiny and a broken image", convert("{in}/shots", "-o", "{out}/shots"), 3,
              "{in}/shots: 2 frame(s) could not be read",
              setup=images("in/shots", 5, _001=image("in/shots/001.png", (2, 2)), _003=raw("in/shots/003.png", b"x")),
              checks=(files_in("{out}/shots", ["000.png", "002.png", "004.png"]),)),
    FaultCase("convert: a sideways phone JPEG is written upright", convert("{in}/phone.jpg", "-o", "{out}/phone.png"),
              0, line="", setup=exif_jpeg, checks=(upright_output,)),
    FaultCase("convert: variable frame rate", convert("{in}/clip.mkv", "-o", "{out}/clip.mkv"), 0, line="",
              setup=clip("clip.mkv", pts=[0, 1001, 3003, 3500, 9009], time_base=Fraction(1, 30000),
                         rate=Fraction(30000, 1001)),
              checks=(same_timestamps("{in}/clip.mkv", "{out}/clip.mkv"),)),
    FaultCase("convert: rotated phone video", CLIP, 0, line="", setup=clip(rotation=90), checks=(frames("{out}/clip.mp4", 4),)),
    FaultCase("convert: odd size 63x31", CLIP, 0, line="", setup=clip(size=(63, 31), pix_fmt="yuv444p")),
    FaultCase("convert: audio the container refuses is re-encoded", convert("{in}/clip.mov", "-o", "{out}/clip.mp4"),
              0, line="", setup=clip("clip.mov", audio="pcm_mulaw")),
    FaultCase("convert: extra video streams and cover art are left out, with warnings", CLIP, 0, line="",
              setup=extra_video, checks=(warns("video stream #1 (h264): left out",
                                               "cover picture stream #2 (png): left out"),)),

    # paths
    FaultCase("convert: missing input", convert("{in}/missing.mp4", "-o", "{out}/x.mp4"), 1,
              "{in}/missing.mp4: no such file"),
    FaultCase("convert: a folder without images", convert("{in}/empty", "-o", "{out}/empty"), 1,
              "{in}/empty: no images in this folder", setup=lambda ws: (ws.inputs / "empty").mkdir()),
    FaultCase("convert: the output folder is missing", convert("{in}/clip.mp4", "-o", "{out}/nowhere/x.mp4"), 1,
              "the folder {out}/nowhere does not exist", setup=clip()),
    FaultCase("convert: the output folder is not writable", convert("{in}/clip.mp4", "-o", "{root}/locked/x.mp4"), 1,
              "{root}/locked/x.mp4: the folder {root}/locked is not writable", setup=steps(clip(), read_only_folder)),
    FaultCase("convert: the output is the input", convert("{in}/clip.mp4", "-o", "{in}/clip.mp4"), 2,
              "{in}/clip.mp4: the output would replace the input", setup=clip()),
    FaultCase("convert: the output exists", CLIP, 1, "{out}/clip.mp4: already exists (pass --overwrite",
              setup=steps(clip(), raw("out/clip.mp4", b"my precious video"))),
    FaultCase("convert: the output is a dangling link", CLIP, 1, "{out}/clip.mp4: already exists",
              setup=steps(clip(), symlink("out/clip.mp4", "out/elsewhere.mp4"))),
    FaultCase("convert: the input is a link", convert("{in}/link.mp4", "-o", "{out}/clip.mp4"), 0, line="",
              setup=steps(clip(), symlink("in/link.mp4", "in/clip.mp4")), checks=(frames("{out}/clip.mp4", 4),)),
    FaultCase("convert: a 245-character output name", convert("{in}/clip.mp4", "-o", "{out}/" + "n" * 241 + ".mp4"),
              0, line="", setup=clip(), checks=(frames("{out}/" + "n" * 241 + ".mp4", 4),)),
    FaultCase("convert: unicode and spaces in names", convert("{in}/mon clip ünï 🚗.mp4", "-o", "{out}/sortie ✓ 1.mp4"),
              0, line="", setup=clip("mon clip ünï 🚗.mp4"), checks=(frames("{out}/sortie ✓ 1.mp4", 4),)),
    FaultCase("convert: an unknown output type", convert("{in}/clip.mp4", "-o", "{out}/clip.avi"), 2,
              "{out}/clip.avi: unknown output type '.avi'", setup=clip()),
    FaultCase("convert: --overwrite onto someone's photo folder", (*convert("{in}/clip.mp4", "-o", "{out}/photos"),
                                                                   "--overwrite"), 1,
              "{out}/photos: not replacing this folder: vidtrans did not write it",
              setup=steps(clip(), image("out/photos/holiday.png"), image("out/photos/beach.jpg", seed=1))),
    FaultCase("convert: --overwrite replaces vidtrans' own frames", (*convert("{in}/clip.mp4", "-o", "{out}/frames"),
                                                                     "--overwrite"), 0, line="",
              setup=steps(clip(frames=2), lambda ws: run_cli(ws, convert("{in}/clip.mp4", "-o", "{out}/frames")),
                          clip(frames=3)),
              may_change=("{out}/frames",),
              checks=(files_in("{out}/frames", [f"frame_{i:06d}.png" for i in range(3)]),)),
    FaultCase("convert: a video on standard input", convert("-", "-o", "{out}/clip.mp4"), 0, line="",
              setup=clip("clip.mkv", audio="aac"), stdin="{in}/clip.mkv", checks=(frames("{out}/clip.mp4", 4),)),
    FaultCase("convert: garbage on standard input", convert("-", "-o", "{out}/clip.mp4"), 1,
              "<stdin>: not a readable video", setup=raw("in/noise", b"\x00\x01 not media" * 100), stdin="{in}/noise"),
    FaultCase("convert: standard input without an output", convert("-"), 2,
              "reading standard input (-) needs an output (-o)", setup=clip(), stdin="{in}/clip.mp4"),
    FaultCase("convert: a named pipe is read once", convert("{in}/feed.mp4", "-o", "{out}/clip.mp4"), 0, line="",
              setup=steps(clip(), fifo_fed_with("in/feed.mp4", "in/clip.mp4")), checks=(frames("{out}/clip.mp4", 4),)),
    FaultCase("synth: a named pipe is refused", synth("{in}/feed.mp4", "{out}/data"), 1,
              "{in}/feed.mp4: is a pipe; synth reads its input more than once",
              setup=lambda ws: os.mkfifo(ws.inputs / "feed.mp4")),

    # synth
    FaultCase("synth: a broken image among good ones", SYNTH, 3, "{out}: 1 of 6 items failed",
              setup=images("in", 6, _004=raw("in/004.png", b"\x89PNG\r\n\x1a\n cut")),
              checks=(synth_failures(1, "not a readable image"),)),
    FaultCase("synth: a tiny image is one failed item", SYNTH, 3, "{out}: 1 of 6 items failed",
              setup=images("in", 6, _002=image("in/002.png", (4, 40))), checks=(synth_failures(1, "4x40 is too small"),)),
    FaultCase("synth: an undecodable packet fails its frame only", synth("{in}/clip.mp4", "{out}"), 3,
              "frame 2 (at 0.067s) could not be decoded",
              setup=steps(clip(frames=6, keyframes_only=True, picture=index_picture), damaged("clip.mp4", 2)),
              checks=(files_in("{out}", [f"clip/{i:06d}.png" for i in (0, 1, 3, 4, 5)]),)),
    FaultCase("synth: --every 2 over an undecodable packet", (*synth("{in}/clip.mp4", "{out}"), "--every", "2"), 3,
              "frame 4 (at 0.133s) could not be decoded",
              setup=steps(clip(frames=8, keyframes_only=True, picture=index_picture), damaged("clip.mp4", 4)),
              checks=(files_in("{out}", [f"clip/{i:06d}.png" for i in (0, 2, 6)]),)),
    FaultCase("synth: OUTPUT inside INPUT", synth("{in}", "{in}/out"), 2, "{in}/out: OUTPUT must not be inside INPUT",
              setup=images("in", 2)),
    FaultCase("synth: OUTPUT is INPUT", synth("{in}", "{in}"), 2, "OUTPUT must not be INPUT", setup=images("in", 2)),
    FaultCase("synth: OUTPUT is a file", synth("{in}", "{out}/file"), 1, "{out}/file: exists and is not a folder",
              setup=steps(images("in", 2), raw("out/file", b"mine"))),
    FaultCase("synth: OUTPUT holds someone's files", SYNTH, 1, "{out}: exists and is not a synth output folder",
              setup=steps(images("in", 2), raw("out/notes.txt", b"mine"))),
    FaultCase("synth: a rerun with other settings", (*SYNTH, "--format", "jpg"), 1, "holds a synth job with other settings",
              setup=steps(images("in", 2), synthesised)),
    FaultCase("synth: nothing to translate", SYNTH, 1, "{in}: nothing to translate"),

    # signals
    FaultCase("convert: Ctrl-C mid-run", SLOW_CLIP, 130, line="", setup=clip(**LONG), during=send(signal.SIGINT),
              checks=(nothing_written,)),
    FaultCase("convert: SIGTERM mid-run", SLOW_CLIP, 143, line="vidtrans: interrupted by SIGTERM", setup=clip(**LONG),
              during=send(signal.SIGTERM), checks=(nothing_written,)),
    FaultCase("convert: SIGHUP mid-run", SLOW_CLIP, 129, line="vidtrans: interrupted by SIGHUP", setup=clip(**LONG),
              during=send(signal.SIGHUP), checks=(nothing_written,)),
    FaultCase("convert: kill -9 mid-run, then the same command", SLOW_CLIP, -9, line="", setup=clip(**LONG),
              during=send(signal.SIGKILL), rerun=True, checks=(frames("{out}/clip.mp4", 100),)),
    FaultCase("synth: SIGTERM mid-run, then the same command", SLOW_SYNTH, 143, line="vidtrans: interrupted by SIGTERM",
              setup=images("in", 30), during=send(signal.SIGTERM), when=manifest_lines(2), rerun=True,
              checks=(synth_complete(30),)),
    FaultCase("synth: kill -9 mid-run, then the same command", SLOW_SYNTH, -9, line="", setup=images("in", 30),
              during=send(signal.SIGKILL), when=manifest_lines(2), rerun=True, checks=(synth_complete(30),)),

    # a full disk (a small tmpfs) and a file-size limit
    FaultCase("convert: the disk fills up (video)", convert("{in}/clip.mp4", "-o", "{root}/small/clip.mp4"), 1,
              "{root}/small/clip.mp4: cannot write (No space left on device)",
              setup=steps(clip(**LONG), full_disk("32k"))),
    FaultCase("convert: the disk fills up (frames)", convert("{in}/clip.mp4", "-o", "{root}/small/frames"), 1,
              "{root}/small/frames/frame_", setup=steps(clip(**LONG), full_disk("32k")),
              checks=(says("cannot write (No space left on device)"),)),
    FaultCase("synth: the disk fills up", synth("{in}", "{root}/small/out"), 1, "{root}/small/out/",
              setup=steps(images("in", 30), full_disk("64k")), checks=(says("cannot write (No space left on device)"),)),
    FaultCase("convert: no room to copy standard input", convert("-", "-o", "{out}/clip.mp4"), 1,
              "<stdin>: cannot copy it into {tmp} to read it (No space left on device",
              setup=steps(clip(**LONG), lambda ws: mount_tmpfs(ws, ws.tmp, size="16k")), stdin="{in}/clip.mp4"),
    FaultCase("convert: a file-size limit (EFBIG) names the output", CLIP, 1,
              "{out}/clip.mp4: cannot write (File too large)", setup=clip(**LONG), file_size_limit=20_000),

    # concurrency
    FaultCase("convert: two runs onto one output", SLOW_CLIP, 0, line="", setup=clip(**LONG),
              during=second_run(CLIP, 1, "another vidtrans process"), checks=(frames("{out}/clip.mp4", 100),)),
    FaultCase("synth: two runs onto one output", SLOW_SYNTH, 0, line="", setup=images("in", 30),
              when=manifest_lines(1), during=second_run(SYNTH, 1, "another vidtrans synth is writing this shard"),
              checks=(synth_complete(30),)),
    FaultCase("convert: a file appears at the output during the run", SLOW_CLIP, 1,
              "{out}/clip.mp4: appeared while vidtrans was writing it; not replacing it", setup=clip(**LONG),
              during=write_file("{out}/clip.mp4", b"someone else's result")),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_fault(case: FaultCase, workspace: Workspace) -> None:
    run_case(case, workspace)
