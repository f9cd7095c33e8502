"""Outputs are claimed, complete and named right: two converts to one output (real processes), a file that
appears during a run, long and unicode names, stale partial files of dead processes, SIGTERM and SIGHUP,
write errors that name the output, and --overwrite onto a folder vidtrans did not write."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from media import write_clip
from vidtrans.cli import main
from vidtrans.fsutil import lock_sibling, temporary_sibling
from vidtrans.modeldir import ModelDirectory
from vidtrans.video import probe


def _leftovers(folder: Path) -> list[str]:
    """Hidden files vidtrans writes beside an output: partial files and folders, claims."""
    return sorted(p.name for p in folder.iterdir() if ".partial-" in p.name or p.name.endswith(".lock"))


def _convert(model: ModelDirectory, source: Path, output: Path, *extra: str,
             preexec: Callable[[], None] | None = None) -> subprocess.Popen[bytes]:
    """A real `vidtrans convert` process, one frame a batch so that it runs for a while."""
    return subprocess.Popen(
        [sys.executable, "-m", "vidtrans", "convert", str(source), "-o", str(output), "--model", str(model.path),
         "--backend", "torch", "--device", "cpu", "--batch-size", "1", "-q", *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=preexec,
        env={**os.environ, "OMP_NUM_THREADS": "1"})


def _wait_for(condition: Callable[[], bool], process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 60
    while not condition():
        assert process.poll() is None, f"the run ended before {what}: {process.stderr.read().decode()}"  # type: ignore[union-attr]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _paused_while_writing(process: subprocess.Popen[bytes], folder: Path) -> None:
    """Wait until the run writes its partial file in `folder`, then stop it there (SIGSTOP; it keeps its
    claim and files) so the test acts while the run is certainly in the middle."""
    _wait_for(lambda: any(".partial-" in p.name for p in folder.iterdir()), process, "the run wrote")
    process.send_signal(signal.SIGSTOP)


@pytest.fixture
def long_clip(tmp_path: Path) -> Path:
    """Enough frames that a one-frame-a-batch convert runs for a while."""
    return write_clip(tmp_path / "long.mp4", size=(96, 64), frames=100)


def _act_mid_run(model: ModelDirectory, source: Path, out: Path,
                 act: Callable[[subprocess.Popen[bytes]], None]) -> tuple[int, str]:
    """Run a convert, pause it once it writes, `act`, let it go on: its exit code and stderr."""
    process = _convert(model, source, out)
    try:
        _paused_while_writing(process, out.parent)
        act(process)
        process.send_signal(signal.SIGCONT)
        _, err = process.communicate(timeout=120)
    finally:
        process.kill()
    return process.returncode, err.decode().strip()


def test_a_second_convert_to_the_same_output_fails_at_once(tmp_path: Path, long_clip: Path,
                                                           tiny_model: ModelDirectory) -> None:
    out = tmp_path / "out.mp4"

    def second_run(first: subprocess.Popen[bytes]) -> None:
        second = _convert(tiny_model, long_clip, out, "--overwrite")
        _, err = second.communicate(timeout=60)
        assert (second.returncode, err.decode().strip()) == (1, (
            f"vidtrans: error: {out}: another vidtrans process (PID {first.pid}) is writing this output; wait for "
            "it to finish, or choose another output"))

    code, err = _act_mid_run(tiny_model, long_clip, out, second_run)
    assert code == 0, err
    assert probe(out).frames == 100 and _leftovers(tmp_path) == []


def test_a_file_that_appears_during_the_run_is_not_replaced(tmp_path: Path, long_clip: Path,
                                                            tiny_model: ModelDirectory) -> None:
    out = tmp_path / "out.mp4"
    code, err = _act_mid_run(tiny_model, long_clip, out, lambda _: out.write_bytes(b"someone else's file"))
    assert (code, err) == (1, f"vidtrans: error: {out}: appeared while vidtrans was writing it; not replacing it "
                              "(pass --overwrite to replace it)")
    assert out.read_bytes() == b"someone else's file" and _leftovers(tmp_path) == []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_clean_up_like_ctrl_c(tmp_path: Path, long_clip: Path, tiny_model: ModelDirectory,
                                                 signum: int) -> None:
    out = tmp_path / "out.mp4"
    code, err = _act_mid_run(tiny_model, long_clip, out, lambda process: process.send_signal(signum))
    assert (code, err) == (128 + signum, f"vidtrans: interrupted by {signal.Signals(signum).name}")
    assert not out.exists() and _leftovers(tmp_path) == []


def test_sigterm_mid_synth_then_the_same_command_completes(tmp_path: Path, tiny_model: ModelDirectory) -> None:
    data = tmp_path / "data"
    data.mkdir()
    rng = np.random.default_rng(0)
    for i in range(60):
        cv2.imwrite(str(data / f"{i:03d}.png"), rng.integers(0, 256, (64, 96, 3), dtype=np.uint8))
    out = tmp_path / "out"
    command = [sys.executable, "-m", "vidtrans", "synth", str(data), str(out), "--model", str(tiny_model.path),
               "--backend", "torch", "--device", "cpu", "-q", "--batch-size", "1", "--workers", "1"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               env={**os.environ, "OMP_NUM_THREADS": "1"})
    part = out / "manifest.parts" / "part-0-of-1.jsonl"
    try:
        _wait_for(lambda: part.exists() and part.read_bytes().count(b"\n") >= 3, process, "items were written")
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 143 and err.decode().strip() == "vidtrans: interrupted by SIGTERM"
    assert not [p for p in out.rglob("*") if ".partial-" in p.name]
    assert main(["synth", str(data), str(out), "--model", str(tiny_model.path), "--backend", "torch", "--device", "cpu", "-q"]) == 0
    assert len(list(out.glob("*.png"))) == 60


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.mark.parametrize("name", ["out.mp4", "frames"])
def test_stale_partials_of_dead_processes_are_removed(tmp_path: Path, tiny_model: ModelDirectory, name: str) -> None:
    clip = write_clip(tmp_path / "clip.mp4", frames=3)
    out = tmp_path / name
    suffix = out.suffix
    stale = tmp_path / f".{out.stem}.partial-{_dead_pid()}-0123abcd{suffix}"
    live = tmp_path / f".{out.stem}.partial-{os.getpid()}-0123abcd{suffix}"  # this test's own: still running
    other = tmp_path / f".other.partial-{_dead_pid()}-0123abcd{suffix}"  # another output's: not ours to judge
    for path in (stale, live, other):
        if suffix:
            path.write_bytes(b"half a video")
        else:
            path.mkdir()
            (path / "frame_000000.png").write_bytes(b"half a frame")
    assert main(["convert", str(clip), "-o", str(out), "--model", str(tiny_model.path), "--backend", "torch", "--device", "cpu", "-q"]) == 0
    assert not stale.exists() and live.exists() and other.exists()


@pytest.mark.parametrize("name", ["x" * 241 + ".mp4", "é" * 122 + ".mp4", "y" * 250, "z" * 236 + ".tiny.png"])
def test_output_names_up_to_the_file_system_limit_work(tmp_path: Path, tiny_model: ModelDirectory, name: str) -> None:
    assert len(name.encode()) <= 255 and len(temporary_sibling(tmp_path / name).name.encode()) <= 255
    assert len(lock_sibling(tmp_path / name).name.encode()) <= 255
    if name.endswith(".png"):
        source = tmp_path / "in.png"
        cv2.imwrite(str(source), np.zeros((16, 24, 3), np.uint8))
    else:
        source = write_clip(tmp_path / "clip.mp4", frames=2)
    out = tmp_path / name
    assert main(["convert", str(source), "-o", str(out), "--model", str(tiny_model.path), "--backend", "torch", "--device", "cpu", "-q"]) == 0
    assert out.exists() and _leftovers(tmp_path) == []


def _file_size_limit(limit: int) -> Callable[[], None]:
    """A child's file-size limit: writes past it fail with EFBIG, like a full disk, instead of killing it."""
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


@pytest.mark.parametrize("name", ["out.mp4", "frames"])
def test_a_failed_write_names_the_output_not_the_temporary_file(tmp_path: Path, tiny_model: ModelDirectory,
                                                                name: str) -> None:
    clip = write_clip(tmp_path / "clip.mp4", size=(256, 128), frames=20)
    out = tmp_path / name
    process = _convert(tiny_model, clip, out, preexec=_file_size_limit(60_000))
    _, err = process.communicate(timeout=120)
    lines = err.decode().strip().splitlines()
    assert process.returncode == 1 and len(lines) == 1, lines
    assert lines[0].startswith(f"vidtrans: error: {out}") and ".partial-" not in lines[0], lines
    assert "File too large" in lines[0]
    assert not out.exists() and _leftovers(tmp_path) == []


def test_overwrite_never_replaces_a_folder_vidtrans_did_not_write(tmp_path: Path, tiny_model: ModelDirectory,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    clip = write_clip(tmp_path / "clip.mp4", frames=2)
    photos = tmp_path / "photos"
    photos.mkdir()
    cv2.imwrite(str(photos / "holiday.jpg"), np.full((8, 8, 3), 128, np.uint8))
    before = (photos / "holiday.jpg").read_bytes()
    args = ["convert", str(clip), "-o", str(photos), "--model", str(tiny_model.path), "--backend", "torch", "--device", "cpu", "-q"]
    assert main([*args, "--overwrite"]) == 1
    assert "not replacing this folder: vidtrans did not write it" in capsys.readouterr().err
    assert sorted(p.name for p in photos.iterdir()) == ["holiday.jpg"] and (photos / "holiday.jpg").read_bytes() == before
    frames = tmp_path / "frames"
    assert main([*args[:3], str(frames), *args[4:]]) == 0  # vidtrans' own folder is replaced with --overwrite
    assert main([*args[:3], str(frames), *args[4:], "--overwrite"]) == 0
    assert sorted(p.name for p in frames.iterdir()) == [".vidtrans-output", "frame_000000.png", "frame_000001.png"]
