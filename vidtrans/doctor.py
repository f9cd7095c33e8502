"""`vidtrans doctor`: the environment as vidtrans sees it, one line per part, and what to install for what is missing.

Parts: Python, torch (CUDA build, GPUs, cuDNN), ONNX Runtime (which package, which providers), TensorRT, PyAV
and its FFmpeg (NVENC encoders that really open, NVDEC decoders compiled in), the backend and encoder `auto`
picks, and a real run of the CPU path (the bundled demo model translates a frame, libx264 encodes it). Every
part is looked at even when another is broken, and nothing here is imported before its part runs, so a
missing PyAV or ONNX Runtime is reported rather than fatal. The CPU path's result is `DoctorReport.ok`.
"""

from __future__ import annotations

import platform
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import torch

import vidtrans
from vidtrans.errors import first_line

Status = Literal["ok", "warning", "missing", "error"]


@dataclass(frozen=True)
class Check:
    """One part of the environment: its status, a one-line summary, what to do about it, and the facts."""

    name: str
    status: Status
    summary: str
    fix: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        return f"{self.name:<12} {self.status:<8} {self.summary}"


@dataclass(frozen=True)
class DoctorReport:
    """Every check; `ok` is whether the CPU path works (the `doctor` command's exit status)."""

    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return all(c.status != "error" for c in self.checks if c.name == "cpu path")

    def lines(self) -> list[str]:
        """One line per check, then one line per thing to install or fix."""
        lines = [check.line() for check in self.checks]
        fixes = [f"  {check.name}: {check.fix}" for check in self.checks if check.fix]
        return lines + (["to enable what is missing:", *fixes] if fixes else [])

    def to_json(self) -> dict[str, Any]:
        return {"vidtrans": vidtrans.__version__, "ok": self.ok, "checks": [asdict(c) for c in self.checks]}


def diagnose() -> DoctorReport:
    """Look at every part of the environment (about a second; the CPU path check runs a tiny translation)."""
    parts: list[Callable[[], Check]] = [_python, _torch, _onnxruntime, _tensorrt, _pyav, _backend, _encoder,
                                        _cpu_path]
    return DoctorReport(tuple(_guarded(part) for part in parts))


def _guarded(part: Callable[[], Check]) -> Check:
    """Run one check; a check that fails unexpectedly becomes an `error` line, and the others still run."""
    try:
        return part()
    except Exception as error:  # noqa: BLE001 - doctor reports whatever goes wrong, it never stops
        name = part.__name__.strip("_").replace("_", " ")
        return Check(name, "error", f"{type(error).__name__}: {first_line(error)}")


def _python() -> Check:
    return Check("python", "ok", f"Python {platform.python_version()} ({sys.executable}), vidtrans "
                                 f"{vidtrans.__version__}, {platform.platform()}",
                 details={"python": platform.python_version(), "executable": sys.executable,
                          "vidtrans": vidtrans.__version__, "platform": platform.platform()})


def _gpus() -> list[dict[str, Any]]:
    gpus = []
    for index in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(index)
        gpus.append({"index": index, "name": props.name, "compute_capability": f"{props.major}.{props.minor}",
                     "memory_gib": round(props.total_memory / 2**30, 1)})
    return gpus


def _torch() -> Check:
    cuda = torch.version.cuda
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    gpus = _gpus() if cuda and torch.cuda.is_available() else []
    details = {"torch": torch.__version__, "cuda": cuda, "cudnn": cudnn, "gpus": gpus}
    if not cuda:
        return Check("torch", "warning", f"torch {torch.__version__}, a CPU-only build: no GPU use",
                     "for NVIDIA GPUs install a CUDA build of torch (PyPI's Linux wheels are CUDA builds: "
                     "pip install torch)", details)
    if not gpus:
        return Check("torch", "warning", f"torch {torch.__version__} (CUDA {cuda}), but no CUDA GPU is visible",
                     "check the NVIDIA driver (nvidia-smi) and CUDA_VISIBLE_DEVICES", details)
    described = "; ".join(f"cuda:{g['index']} {g['name']} (compute capability {g['compute_capability']}, "
                          f"{g['memory_gib']} GiB)" for g in gpus)
    return Check("torch", "ok", f"torch {torch.__version__} (CUDA {cuda}, cuDNN {cudnn}): {described}",
                 details=details)


def _onnxruntime() -> Check:
    from vidtrans.ortpackages import (
        INSTALL_HINT,
        build_info,
        cuda_major_mismatch,
        cuda_provider_fix,
        installed_packages,
    )

    packages = installed_packages()
    names = ", ".join(str(p) for p in packages)
    try:
        import onnxruntime
    except ImportError as error:
        summary = f"not importable ({first_line(error)})" + (f"; pip lists {names}" if packages else "")
        return Check("onnxruntime", "missing", summary, f"optional (--backend onnxruntime, export verification): "
                     f"{INSTALL_HINT}", {"packages": [asdict(p) for p in packages]})
    providers = list(onnxruntime.get_available_providers())
    info = build_info()
    details = {"packages": [asdict(p) for p in packages], "files_from": info.get("package_name"),
               "version": onnxruntime.__version__, "cuda": info.get("cuda_version"), "providers": providers}
    summary = (f"{info.get('package_name', 'onnxruntime')} {onnxruntime.__version__}"
               + (f" (CUDA {info['cuda_version']})" if info.get("cuda_version") else "")
               + f", providers: {', '.join(providers)}")
    gpu = bool(torch.version.cuda) and torch.cuda.is_available()
    if len(packages) > 1 or (gpu and "CUDAExecutionProvider" not in providers):
        return Check("onnxruntime", "warning", f"{summary} (pip lists {names})", cuda_provider_fix(packages, providers),
                     details)
    mismatch = cuda_major_mismatch(info.get("cuda_version"), torch.version.cuda)
    if mismatch:
        return Check("onnxruntime", "warning", summary, mismatch, details)
    return Check("onnxruntime", "ok", summary, details=details)


def _tensorrt() -> Check:
    from vidtrans.deploy.tensorrt_build import INSTALL_HINT

    try:
        import tensorrt
    except (ImportError, OSError) as error:
        return Check("tensorrt", "missing", f"not importable ({first_line(error)})",
                     f"optional (--backend tensorrt): {INSTALL_HINT}; NVIDIA's wheels must be reachable")
    gpu = torch.cuda.is_available()
    summary = f"TensorRT {tensorrt.__version__}" + ("" if gpu else ", but no CUDA GPU to run it on")
    return Check("tensorrt", "ok" if gpu else "warning", summary, details={"version": tensorrt.__version__})


def _pyav() -> Check:
    try:
        import av
    except ImportError as error:
        return Check("pyav", "missing", f"not importable ({first_line(error)}): no video input or output",
                     "pip install av")
    from vidtrans.video.encoders import NVENC_ENCODERS, nvenc_problem

    ffmpeg = ".".join(map(str, av.library_versions["libavcodec"]))
    nvenc = {name: nvenc_problem(name) for name in NVENC_ENCODERS if name in av.codecs_available}
    nvdec = sorted(name for name in av.codecs_available if name.endswith("_cuvid"))
    working = [name for name, problem in nvenc.items() if problem is None]
    if working:
        encoders = f"NVENC works: {', '.join(working)}"
    elif nvenc:
        encoders = f"NVENC compiled in ({', '.join(nvenc)}) but cannot encode here ({next(iter(nvenc.values()))})"
    else:
        encoders = "no NVENC in this FFmpeg build"
    summary = (f"PyAV {av.__version__}, libavcodec {ffmpeg}; {encoders}; NVDEC decoders compiled in: "
               f"{', '.join(nvdec) or 'none'} (vidtrans decodes on the CPU)")
    return Check("pyav", "ok", summary, details={"pyav": av.__version__, "libavcodec": ffmpeg, "nvenc": nvenc,
                                                 "nvdec": nvdec})


def _backend() -> Check:
    from vidtrans.backends.selection import select_backend
    from vidtrans.runtime import RuntimeOptions

    choice = select_backend(RuntimeOptions())
    return Check("backend", "ok", f"--backend auto picks {choice.describe()}",
                 details={"backend": choice.backend, "device": str(choice.device), "precision": choice.precision,
                          "compile": choice.compile})


def _encoder() -> Check:
    from vidtrans.video import EncodeOptions

    described = EncodeOptions().describe(".mp4")
    return Check("encoder", "ok", f"--encoder auto picks {described} for .mp4", details={"auto": described})


def _cpu_path() -> Check:
    """Translate a frame with the bundled demo model on the CPU and encode two frames with libx264."""
    import numpy as np

    from vidtrans.registry import resolve_model
    from vidtrans.runtime import RuntimeOptions
    from vidtrans.translator import Translator
    from vidtrans.video import EncodeOptions, VideoWriter, probe

    translator = Translator.from_model("demo", RuntimeOptions(backend="torch", device="cpu"))
    try:
        frame = np.linspace(0, 255, 48 * 64 * 3).astype(np.uint8).reshape(1, 48, 64, 3)
        translated = translator.translate(frame)[0]
    finally:
        translator.close()
    with tempfile.TemporaryDirectory(prefix="vidtrans-doctor-") as folder:
        path = Path(folder) / "check.mp4"
        with VideoWriter(path, width=64, height=48, time_base=Fraction(1, 30),
                         options=EncodeOptions(encoder="libx264")) as writer:
            writer.write(translated, pts=0, duration=1)
            writer.write(frame[0], pts=1, duration=1)
        frames = probe(path).frames
    if frames != 2:
        return Check("cpu path", "error", f"libx264 wrote {frames} frame(s) of 2")
    model = resolve_model("demo")
    return Check("cpu path", "ok", f"the bundled {model.name!r} model translated a 64x48 frame on the CPU and "
                                   f"libx264 encoded it", details={"model": str(model.path)})
