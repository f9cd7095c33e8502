"""Pipes as inputs: a named pipe never hangs convert (it is read once), `cat clip | vidtrans convert - -o out`
works with the audio carried over, and synth refuses a pipe with one line."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from media import write_clip
from vidtrans.cli import main
from vidtrans.modeldir import ModelDirectory
from vidtrans.video import VideoReader, probe


def _run(args: list[str], *, stdin: bytes | None = None, tmpdir: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", **({"TMPDIR": str(tmpdir)} if tmpdir else {})}
    return subprocess.run([sys.executable, "-m", "vidtrans", *args], input=stdin, capture_output=True, timeout=120,
                          env=env)


def test_a_named_pipe_is_read_once_and_converted(tmp_path: Path, tiny_model: ModelDirectory) -> None:
    clip = write_clip(tmp_path / "clip.mp4", frames=6)
    fifo = tmp_path / "feed.mp4"
    os.mkfifo(fifo)
    feeder = threading.Thread(target=lambda: fifo.write_bytes(clip.read_bytes()), daemon=True)
    feeder.start()  # one writer, one pass: a second open of the pipe would wait for ever
    out = tmp_path / "out.mp4"
    done = _run(["convert", str(fifo), "-o", str(out), "--model", str(tiny_model.path), "--backend", "torch", "--device", "cpu", "-q"])
    assert done.returncode == 0, done.stderr.decode()
    assert probe(out).frames == 6 and [f.pts for f in VideoReader(out)] == [f.pts for f in VideoReader(clip)]


def test_standard_input_is_converted_with_its_audio(tmp_path: Path, tiny_model: ModelDirectory) -> None:
    clip = write_clip(tmp_path / "clip.mkv", frames=5, audio="aac")
    out = tmp_path / "out.mp4"
    spool = tmp_path / "spool"
    spool.mkdir()
    done = _run(["convert", "-", "-o", str(out), "--model", str(tiny_model.path), "--backend", "torch", "--device", "cpu", "-q"],
                stdin=clip.read_bytes(), tmpdir=spool)
    assert done.returncode == 0, done.stderr.decode()
    info = probe(out)
    assert info.frames == 5 and info.audio_codecs == ("aac",)
    assert list(spool.iterdir()) == []  # the copy of standard input is gone


@pytest.mark.parametrize(("stdin", "args", "code", "message"), [
    (b"", ["-", "-o", "{out}"], 1, "vidtrans: error: <stdin>: not a readable video"),
    (b"not a video at all", ["-", "-o", "{out}"], 1, "vidtrans: error: <stdin>: not a readable video"),
    (b"", ["-"], 2, "vidtrans: error: reading standard input (-) needs an output (-o)"),
])
def test_bad_standard_input_is_one_line(tmp_path: Path, tiny_model: ModelDirectory, stdin: bytes, args: list[str],
                                        code: int, message: str) -> None:
    out = tmp_path / "out.mp4"
    done = _run(["convert", *[a.format(out=out) for a in args], "--model", str(tiny_model.path), "-q"], stdin=stdin)
    lines = done.stderr.decode().strip().splitlines()
    assert done.returncode == code and len(lines) == 1 and lines[0].startswith(message), lines
    assert list(tmp_path.iterdir()) == []


def test_synth_refuses_a_pipe(tmp_path: Path, tiny_model: ModelDirectory, capsys: pytest.CaptureFixture[str]) -> None:
    fifo = tmp_path / "feed.mp4"
    os.mkfifo(fifo)
    assert main(["synth", str(fifo), str(tmp_path / "out"), "--model", str(tiny_model.path), "-q"]) == 1
    err = capsys.readouterr().err
    assert err == (f"vidtrans: error: {fifo}: is a pipe; synth reads its input more than once (and again on every "
                   "rerun), so save it to a file first\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["feed.mp4"]
