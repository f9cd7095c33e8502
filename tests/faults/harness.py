"""The fault-suite harness: run the real CLI on a hostile case and check that nothing was lost or half-written.

A `FaultCase` is one row of a table: how to set up its workspace, the command, the exit code and the words
of the one line that says what went wrong, and extra checks. `run_case` runs it in a process of its own and
checks, for every case:

- the exit code;
- stderr: no traceback and no "internal error"; for a failure exactly one line that starts with the
  expected prefix (`vidtrans: error: ` unless said otherwise) and holds the expected words; any other line
  is a `vidtrans: warning: `;
- nothing lost: every file the workspace held before the run (inputs, and outputs that were already there)
  is the same file (same inode), unchanged byte for byte, unless the case says it may be replaced;
- nothing half-written: no `.partial-` files or folders and no `.lock` files anywhere in the workspace, the
  temporary folder ($TMPDIR) is empty again, and every file the run wrote is complete (videos decode without
  a bad frame, images decode, JSON parses).

Each case runs `vidtrans.cli.main` in a new process forked from a server that imported vidtrans and torch
once (multiprocessing's forkserver), so a case costs a fork rather than a two-second interpreter start. The
process' $TMPDIR is the workspace's `tmp` and $VIDTRANS_HOME is `{root}/home` (registered models land there).
Cases can act while the run is in the middle (`during`: the process is paused with SIGSTOP once it writes,
the hook runs, then it continues), rerun the command afterwards (`rerun`), feed standard input, or cap the
size of files the process may write. Checks a row can add: `says` (words in stderr), `warns` (exactly these
warnings) and `nothing_written`.

To add cases for another area, write `tests/faults/test_<area>_faults.py` with a list of `FaultCase` rows and
a test that calls `run_case(case, workspace)` for each (see `test_media_faults.py`); the `workspace` fixture
(tests/faults/conftest.py) gives every case its own folders and the shared tiny model as `{model}`. Files
that are costly to make are made once in a module fixture and copied in by the test (see
`test_model_faults.py`).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import multiprocessing
import os
import resource
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

ERROR = "vidtrans: error: "
WARNING = "vidtrans: warning: "
TIMEOUT_S = 120
Identity = tuple[int, str]
"""A file's inode and the sha256 of its bytes: the same file, unchanged."""

PRELOAD = ("torch", "torch._dynamo", "vidtrans.cli", "vidtrans.conversion", "vidtrans.synthesis",
           "vidtrans.importer", "vidtrans.training.loop")
"""What the fork server imports once for every case: the commands the cases run, and torch._dynamo, which
every torch optimizer imports and which makes torch's cache folder in $TMPDIR on import (here once, in the
server's $TMPDIR, not in each case's)."""

os.environ.setdefault("OPENCV_LOG_LEVEL", "SILENT")  # as the CLI sets it, before the server imports OpenCV
if missing := [name for name in PRELOAD if importlib.util.find_spec(name) is None]:
    raise ImportError(f"fault harness: no module {missing}")  # the fork server would skip them without a word
_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(list(PRELOAD))


@dataclass
class Workspace:
    """A case's own folders: `in` (inputs), `out` (outputs), `tmp` (the run's $TMPDIR), and the model."""

    root: Path
    model: Path
    cleanups: list[Callable[[], None]] = field(default_factory=list)
    runs: int = 0
    before: dict[Path, Identity] = field(default_factory=dict)
    """The files the workspace held when the case's run started (see `snapshot`)."""
    kept: dict[Path, Identity] = field(default_factory=dict)
    """Files another program wrote during a run (see `write_file`): they must stay."""

    def __post_init__(self) -> None:
        for folder in (self.inputs, self.outputs, self.tmp):
            folder.mkdir(parents=True, exist_ok=True)

    @property
    def inputs(self) -> Path:
        return self.root / "in"

    @property
    def outputs(self) -> Path:
        return self.root / "out"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    def fill(self, text: str) -> str:
        """`text` with `{in}`, `{out}`, `{tmp}`, `{root}` and `{model}` replaced by this workspace's paths."""
        return text.format(**{"in": self.inputs, "out": self.outputs, "tmp": self.tmp, "root": self.root,
                              "model": self.model})

    def close(self) -> None:
        for cleanup in reversed(self.cleanups):
            cleanup()


@dataclass(frozen=True)
class Result:
    """How a run ended: exit code (negative: killed by that signal), stdout and stderr."""

    code: int
    stdout: str
    stderr: str

    @property
    def lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


Hook = Callable[[Workspace, "Running"], None]
Check = Callable[[Workspace, Result], None]


def _nothing(workspace: Workspace) -> None:
    """No setup."""


@dataclass(frozen=True)
class FaultCase:
    """One hostile case (see the module docstring). Paths in `command`, `message`, `stdin` and `may_change`
    are filled in with `Workspace.fill`."""

    name: str
    command: tuple[str, ...]
    code: int = 1
    message: str = ""
    """Words the one line must hold."""
    setup: Callable[[Workspace], None] = _nothing
    checks: tuple[Check, ...] = ()
    line: str = ERROR
    """The start of the one line that says what went wrong; "" when the run may print none (success, SIGKILL)."""
    during: Hook | None = None
    when: Callable[[Workspace], bool] | None = None
    """When to pause the run for `during` (default: once a partial file exists under `out`)."""
    rerun: bool = False
    """Run the same command again afterwards; it must succeed, and the checks apply after it."""
    stdin: str | None = None
    file_size_limit: int | None = None
    may_change: tuple[str, ...] = ()
    """Files or folders present before the run that it may replace (`--overwrite`)."""

    def __str__(self) -> str:
        return self.name


# --- running the CLI -----------------------------------------------------------------------------------


def _cli_process(args: list[str], cwd: str, env: dict[str, str], stdin: str, stdout: str, stderr: str,
                 file_size_limit: int | None) -> None:
    """The body of a case's process: its folder, environment, standard streams and limits, then the CLI."""
    os.chdir(cwd)
    os.environ.update(env)
    tempfile.tempdir = None  # follow the case's TMPDIR
    for fd, path, flags in ((0, stdin, os.O_RDONLY), (1, stdout, os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
                            (2, stderr, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)):
        opened = os.open(path, flags, 0o644)
        os.dup2(opened, fd)
        os.close(opened)
    sys.stdin = open(0, closefd=False)  # noqa: SIM115 - the process' standard input for its whole life
    if file_size_limit is not None:  # writes past it fail with EFBIG, as on a full disk
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))
    from vidtrans.cli import main

    sys.exit(main(args))


class Running:
    """A started CLI process of a workspace."""

    def __init__(self, workspace: Workspace, args: list[str], *, stdin: str | None = None,
                 file_size_limit: int | None = None) -> None:
        self.workspace = workspace
        number = workspace.runs = workspace.runs + 1
        self._stdout = workspace.root / f".run-{number}.out"
        self._stderr = workspace.root / f".run-{number}.err"
        env = {"TMPDIR": str(workspace.tmp), "OMP_NUM_THREADS": "1", "VIDTRANS_HOME": str(workspace.root / "home")}
        self.process = _CONTEXT.Process(target=_cli_process, daemon=True, args=(
            [workspace.fill(a) for a in args], str(workspace.root), env,
            workspace.fill(stdin) if stdin else os.devnull, str(self._stdout), str(self._stderr), file_size_limit))
        self.process.start()

    @property
    def pid(self) -> int:
        return self.process.pid  # type: ignore[return-value]

    def alive(self) -> bool:
        return self.process.is_alive()

    def signal(self, signum: int) -> None:
        os.kill(self.pid, signum)

    def wait(self, timeout: float = TIMEOUT_S) -> Result:
        self.process.join(timeout)
        if self.process.exitcode is None:
            self.process.kill()
            self.process.join()
            raise AssertionError(f"the run did not end within {timeout}s")
        return Result(self.process.exitcode, self._stdout.read_text(errors="replace"),
                      self._stderr.read_text(errors="replace"))


def run_cli(workspace: Workspace, args: list[str] | tuple[str, ...], **options: object) -> Result:
    """Run the CLI once in `workspace` and wait for it."""
    return Running(workspace, list(args), **options).wait()  # type: ignore[arg-type]


# --- what every case checks ----------------------------------------------------------------------------


def _files(root: Path) -> Iterator[Path]:
    """Every regular file under `root` (pipes and other special files are never opened)."""
    for folder, _, names in os.walk(root):
        for name in names:
            path = Path(folder, name)
            if stat.S_ISREG(path.lstat().st_mode):
                yield path


def _identity(path: Path) -> Identity:
    return path.stat().st_ino, hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(workspace: Workspace) -> dict[Path, Identity]:
    """The identity of every file the workspace holds, except the harness' own (`.run-*`)."""
    return {path: _identity(path) for path in _files(workspace.root) if not path.name.startswith(".run-")}


def _unchangeable(workspace: Workspace, may_change: tuple[str, ...]) -> dict[Path, Identity]:
    """The files the workspace held before the run, besides those under `may_change`, and those kept."""
    changeable = [Path(workspace.fill(p)) for p in may_change]
    return {**{path: identity for path, identity in workspace.before.items()
               if not any(c == path or c in path.parents for c in changeable)}, **workspace.kept}


def leftovers(workspace: Workspace) -> list[str]:
    """Partial files and folders and claims anywhere in the workspace, and anything left in its $TMPDIR."""
    found = [str(p.relative_to(workspace.root)) for p in workspace.root.rglob("*")
             if ".partial-" in p.name or p.name.endswith(".lock")]
    return found + [str(p.relative_to(workspace.root)) for p in workspace.tmp.iterdir()]


def check_complete(path: Path) -> None:
    """A file vidtrans wrote is whole: a video decodes without a bad frame, an image decodes, JSON parses."""
    from vidtrans.images import is_image_file, read_image
    from vidtrans.video import VIDEO_SUFFIXES, VideoReader

    suffix = path.suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        reader = VideoReader(path)
        frames = sum(1 for _ in reader)
        assert frames > 0 and reader.stats.bad_frames == 0, f"{path}: {frames} frames, {reader.stats}"
    elif is_image_file(path):
        read_image(path)
    elif suffix == ".json":
        json.loads(path.read_text(encoding="utf-8"))
    elif suffix == ".jsonl":
        for line in path.read_text(encoding="utf-8").splitlines():
            json.loads(line)


def check_lines(case: FaultCase, workspace: Workspace, result: Result) -> None:
    """The exit code and stderr rules of the module docstring."""
    assert result.code == case.code, f"exit code {result.code}, expected {case.code}: {result.stderr}"
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr
    told = [line for line in result.lines if not line.startswith(WARNING)]
    if case.line:
        assert len(told) == 1 and told[0].startswith(case.line), f"expected one {case.line!r} line: {result.lines}"
        assert workspace.fill(case.message) in told[0], f"{workspace.fill(case.message)!r} not in {told[0]!r}"
    else:
        assert not [line for line in told if line.startswith(ERROR)], result.lines


def run_case(case: FaultCase, workspace: Workspace) -> Result:
    """Set up, run and check one case; returns the result of its (last) run for further checks."""
    case.setup(workspace)
    workspace.before = snapshot(workspace)
    running = Running(workspace, list(case.command), stdin=case.stdin, file_size_limit=case.file_size_limit)
    if case.during is not None:
        when = case.when or partial_under(workspace.outputs)
        deadline = time.monotonic() + TIMEOUT_S
        while not when(workspace):
            assert running.alive(), f"the run ended before {case.name} could act: {running.wait().stderr}"
            assert time.monotonic() < deadline, "the run never reached the point to act at"
            time.sleep(0.01)
        running.signal(signal.SIGSTOP)
        try:
            case.during(workspace, running)
        finally:
            with _gone_is_fine():
                running.signal(signal.SIGCONT)
    result = running.wait()
    check_lines(case, workspace, result)
    if case.rerun:
        result = run_cli(workspace, case.command, stdin=case.stdin)
        assert result.code == 0, f"the rerun failed: {result.stderr}"
    before = _unchangeable(workspace, case.may_change)
    after = snapshot(workspace)
    lost = sorted(str(p.relative_to(workspace.root)) for p, identity in before.items() if after.get(p) != identity)
    assert not lost, f"changed, replaced or lost: {lost}"
    assert not leftovers(workspace), f"left behind: {leftovers(workspace)}"
    for path in after.keys() - before.keys():
        check_complete(path)
    for check in case.checks:
        check(workspace, result)
    return result


class _gone_is_fine:
    """Ignore ProcessLookupError (the process already ended)."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, *rest: object) -> bool:
        return kind is ProcessLookupError


# --- checks for `FaultCase.checks` ---------------------------------------------------------------------


def says(*fragments: str) -> Check:
    """Stderr holds each of these words (paths filled in), each within one line."""
    def check(workspace: Workspace, result: Result) -> None:
        for fragment in map(workspace.fill, fragments):
            assert any(fragment in line for line in result.lines), f"{fragment!r} not in {result.lines}"
    return check


def warns(*fragments: str) -> Check:
    """Stderr holds exactly one warning line for each of these words (paths filled in), in this order;
    `warns()`: no warning at all."""
    def check(workspace: Workspace, result: Result) -> None:
        warnings = [line for line in result.lines if line.startswith(WARNING)]
        expected = [workspace.fill(fragment) for fragment in fragments]
        assert len(warnings) == len(expected) and all(f in w for f, w in zip(expected, warnings)), \
            f"expected warnings holding {expected}: {warnings}"
    return check


def nothing_written(workspace: Workspace, result: Result) -> None:
    """The run wrote no file: the workspace holds only what it held before (and what another program wrote)."""
    written = sorted(str(p.relative_to(workspace.root)) for p in _files(workspace.root)
                     if p not in workspace.before and p not in workspace.kept and not p.name.startswith(".run-"))
    assert not written, f"written: {written}"


# --- hooks and triggers for `during` -------------------------------------------------------------------


def partial_under(folder: Path) -> Callable[[Workspace], bool]:
    """True once a partial file or folder exists under `folder`."""
    return lambda workspace: any(".partial-" in p.name for p in folder.rglob("*"))


def manifest_lines(count: int) -> Callable[[Workspace], bool]:
    """True once synth's single-shard manifest part in `out` holds `count` lines."""
    def written(workspace: Workspace) -> bool:
        part = workspace.outputs / "manifest.parts" / "part-0-of-1.jsonl"
        return part.exists() and part.read_bytes().count(b"\n") >= count
    return written


def send(signum: int) -> Hook:
    """Send `signum` to the paused run (it acts on it as soon as it continues)."""
    return lambda workspace, running: running.signal(signum)


def second_run(args: tuple[str, ...], code: int, message: str) -> Hook:
    """Run another command while the first is paused mid-write; it must end with `code` and one line holding
    `message`."""
    def hook(workspace: Workspace, running: Running) -> None:
        result = run_cli(workspace, args)
        check_lines(FaultCase("second run", args, code=code, message=message), workspace, result)
    return hook


def write_file(path: str, data: bytes) -> Hook:
    """Another program writes `path` while the run is paused; the file must survive the run unchanged."""
    def hook(workspace: Workspace, running: Running) -> None:
        target = Path(workspace.fill(path))
        target.write_bytes(data)
        workspace.kept[target] = _identity(target)
    return hook


# --- workspace helpers ----------------------------------------------------------------------------------


def mount_tmpfs(workspace: Workspace, folder: Path, *, size: str, read_only: bool = False) -> None:
    """Mount a small tmpfs at `folder` (unmounted when the case ends); skips the case where mounting is not
    allowed (not root, or no CAP_SYS_ADMIN in a container)."""
    import pytest

    folder.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if read_only else "")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True,
                          text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or 'mount failed'}); needs root")
    workspace.cleanups.append(lambda: subprocess.run(["umount", "-l", str(folder)], check=False))
