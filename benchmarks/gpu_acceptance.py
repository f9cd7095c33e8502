"""One-run GPU acceptance: everything that proves vidtrans' GPU path, in at most 8 minutes on an H100/H200.

    python benchmarks/gpu_acceptance.py --out acceptance             # on the GPU machine, from the checkout
    python benchmarks/gpu_acceptance.py --dry-run --out /tmp/accept  # anywhere: the parts that need no CUDA

Parts, each in its own process with its own time limit (a part that cannot run says why, and the rest go on):

    doctor            `vidtrans doctor`: the environment, which heads the report
    gpu-tests         `pytest -m gpu` (the dry run collects and lists them)
    eager-fp32-b1     model-only frames/s at 1024x512, ResNet-9 ngf 64, fp32 eager, batch 1
    eager-fp16        the same, fp16 eager (channels-last), batch 16
    onnxruntime-fp16  the same, ONNX Runtime's CUDA provider on the fp16 graph with IO binding, batch 8
    clip-1080p        a generated 1080p H.264 clip with AAC audio (needs no CUDA)
    convert-1080p     `convert` of that clip at the default settings, against model-only at 1080p
    train-amp         --amp (bf16) training images/s at 256x256, batch 8 (benchmarks/train_speed.py)
    tensorrt-fp16     model-only at 1024x512, a TensorRT fp16 engine, batch 8, with the engine's build time
    compiled-fp16     model-only at 1024x512, torch.compile fp16 (max-autotune, one static shape), batch 8; one
                      graph per shape asserted (a shorter tail batch included)

It writes OUT/acceptance.json and OUT/acceptance.md (a table headed with the environment found) and installs
nothing: what is missing is reported with the pip command that adds it. vidtrans itself must be importable
(from the checkout: pip install --no-deps --no-build-isolation -e .). Goals (one H100/H200): compiled fp16 >= 386
frames/s, TensorRT fp16 >= 600, ONNX Runtime CUDA fp16 >= 151, 1080p convert >= 80% of model-only at 1080p,
--amp training >= 3 x 15.8 = 47.4 images/s.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import platform
import subprocess
import sys
import tempfile
import time
import traceback
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
MODEL_SIZE = (1024, 512)
CLIP_SIZE = (1920, 1080)
PIP_NAMES = {"av": "av", "cv2": "opencv-python-headless", "yaml": "pyyaml", "onnxruntime": "onnxruntime-gpu",
             "tensorrt": "tensorrt", "vidtrans": "--no-deps --no-build-isolation -e ."}
"""The pip argument that provides a missing import (vidtrans itself: the checkout, without its dependencies)."""

Result = dict[str, Any]


@dataclass(frozen=True)
class Part:
    """One measurement: whether it needs CUDA, its time budget, its goal, and the function that runs it."""

    name: str
    title: str
    cuda: bool
    budget_s: int
    run: Callable[[argparse.Namespace], Result]
    goal: tuple[str, float] | None = None
    """(metric, least acceptable value), judged on the part's metrics."""


# --- helpers run inside a part's process ------------------------------------------------------------------


def _model(args: argparse.Namespace):  # -> ModelDirectory
    """The random ResNet-9 (ngf 64) model directory, made once in the work folder and shared by the parts."""
    import torch

    from vidtrans.modeldir import open_model
    from vidtrans.reference import random_model

    path = Path(args.work) / f"random-resnet_9blocks-ngf{args.ngf}"
    if (path / "model.json").is_file():
        return open_model(path)
    torch.manual_seed(0)  # the same weights in every part, so ONNX exports are shared
    return random_model("resnet_9blocks", args.ngf, Path(args.work))


def _model_fps(translator, *, batch: int, size: tuple[int, int], min_seconds: float) -> Result:
    """Frames/s of the backend alone on a device-resident, prepared batch (doubling the runs until timed long
    enough); the first run's time (compilation, autotuning) is reported apart."""
    import numpy as np
    import torch

    width, height = size
    backend = translator.backend
    host = np.random.default_rng(0).integers(0, 256, (batch, height, width, 3), dtype=np.uint8)
    with torch.inference_mode(), translator.stream.active():
        prepared = translator.prepare(translator.upload(host))
        started = time.perf_counter()
        backend.run(prepared)
        translator.synchronize()
        first_s = time.perf_counter() - started
        for _ in range(3):
            backend.run(prepared)
        iterations = 2
        while True:
            translator.synchronize()
            started = time.perf_counter()
            for _ in range(iterations):
                backend.run(prepared)
            translator.synchronize()
            seconds = time.perf_counter() - started
            if seconds >= min_seconds:
                break
            iterations *= 2
    return {"frames_per_s": iterations * batch / seconds, "batch": batch, "size": f"{width}x{height}",
            "backend": backend.name, "precision": backend.precision, "first_run_s": round(first_s, 2),
            "timed_frames": iterations * batch}


def _translator(args: argparse.Namespace, **options: Any):  # -> Translator
    from vidtrans.runtime import RuntimeOptions
    from vidtrans.translator import Translator

    return Translator.from_model(_model(args), RuntimeOptions(device=args.device, **options))


def eager(precision: str, batch: int) -> Callable[[argparse.Namespace], Result]:
    def run(args: argparse.Namespace) -> Result:
        translator = _translator(args, backend="torch", precision=precision)
        return _model_fps(translator, batch=batch, size=MODEL_SIZE, min_seconds=args.seconds)
    return run


def compiled_fp16(args: argparse.Namespace) -> Result:
    """Compiled fp16, then a tail batch (3 frames shorter) through the same backend: still one graph."""
    import numpy as np
    import torch
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    translator = _translator(args, backend="torch", precision="fp16", compile=True, compile_mode=args.compile_mode)
    result = _model_fps(translator, batch=8, size=MODEL_SIZE, min_seconds=args.seconds)
    tail = np.random.default_rng(1).integers(0, 256, (5, MODEL_SIZE[1], MODEL_SIZE[0], 3), dtype=np.uint8)
    translator.translate(tail)
    graphs = int(counters["stats"]["unique_graphs"])
    result.update(graphs=graphs, compile_mode=args.compile_mode)
    if graphs != 1:
        return {"status": "failed", "reason": f"{graphs} compiled graphs for one shape (tail batch included)",
                "metrics": result}
    return result


def onnxruntime_fp16(args: argparse.Namespace) -> Result:
    translator = _translator(args, backend="onnxruntime", precision="fp16")
    return _model_fps(translator, batch=8, size=MODEL_SIZE, min_seconds=args.seconds)


def tensorrt_fp16(args: argparse.Namespace) -> Result:
    import torch

    from vidtrans.backends.tensorrt_backend import TensorRTBackend
    from vidtrans.deploy.engine_cache import BatchRange, profiles_for
    from vidtrans.deploy.tensorrt_build import ensure_engine
    from vidtrans.translator import Translator

    model, device = _model(args), torch.device(args.device)
    profiles = profiles_for([MODEL_SIZE], BatchRange(1, 8, 8), multiple=model.info.generator.size_multiple)
    engine = ensure_engine(model, device=device, precision="fp16", profiles=profiles)
    backend = TensorRTBackend.from_model(model, device=device, precision="fp16", build=False)
    result = _model_fps(Translator(backend), batch=8, size=MODEL_SIZE, min_seconds=args.seconds)
    result.update(engine_build_s=round(engine.seconds, 1), engine_cached=not engine.built)
    return result


def clip_path(args: argparse.Namespace) -> Path:
    return Path(args.work) / "clip-1080p.mp4"


def make_clip(args: argparse.Namespace) -> Result:
    """A 1080p H.264 clip (30 frames/s, a scrolling textured scene with moving boxes) with a stereo AAC tone."""
    from fractions import Fraction

    import av
    import numpy as np

    width, height = CLIP_SIZE
    rng = np.random.default_rng(0)
    world = rng.integers(40, 200, (height // 8, width // 4, 3), dtype=np.uint8).repeat(8, 0).repeat(8, 1)
    path = clip_path(args)
    temporary = path.with_name(path.name + ".partial.mp4")
    started = time.perf_counter()
    with av.open(str(temporary), "w") as container:
        video = container.add_stream("libx264", rate=30, options={"crf": "18", "preset": "veryfast"})
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        audio = container.add_stream("aac", rate=48000, layout="stereo")
        for i in range(args.clip_frames):
            frame = np.ascontiguousarray(np.roll(world, -12 * i, axis=1)[:, :width])
            left = (40 * i) % (width - 200)
            frame[height // 2:height // 2 + 120, left:left + 200] = (220, 60, 40)
            picture = av.VideoFrame.from_ndarray(frame, format="rgb24").reformat(format="yuv420p")
            picture.pts = i
            container.mux(video.encode(picture))
        container.mux(video.encode())
        samples = args.clip_frames * 48000 // 30
        tone = (0.2 * np.sin(np.arange(samples) * 2 * np.pi * 440 / 48000)).astype(np.float32)
        chunk = audio.codec_context.frame_size or 1024
        for start in range(0, samples, chunk):
            block = av.AudioFrame.from_ndarray(np.repeat(tone[None, start:start + chunk], 2, axis=0), format="fltp",
                                               layout="stereo")
            block.sample_rate, block.pts, block.time_base = 48000, start, Fraction(1, 48000)
            container.mux(audio.encode(block))
        container.mux(audio.encode())
    temporary.replace(path)
    from vidtrans.video import probe

    info = probe(path)
    return {"path": str(path), "frames": info.frames, "size": f"{info.width}x{info.height}", "codec": info.codec,
            "audio": ",".join(info.audio_codecs), "seconds": round(time.perf_counter() - started, 1)}


def convert_1080p(args: argparse.Namespace) -> Result:
    """`convert` at its default settings (--backend auto, fp16 on CUDA, batch 8, --encoder auto) on the 1080p clip, with a
    warmed-up translator, against the same translator's model-only rate at 1080p."""
    from vidtrans.conversion import ConvertOptions, convert
    from vidtrans.video import probe

    if not clip_path(args).is_file():
        make_clip(args)
    from vidtrans.runtime import RuntimeOptions
    from vidtrans.translator import Translator

    options = ConvertOptions(runtime=RuntimeOptions(device=args.device), progress=False, overwrite=True)
    translator = Translator.from_model(_model(args), options.runtime)
    model_only = _model_fps(translator, batch=options.batch_size, size=CLIP_SIZE, min_seconds=args.seconds)
    output = Path(args.work) / "clip-1080p.vidtrans.mp4"
    summary = convert(clip_path(args), output, model=_model(args), options=options, translator=translator)
    return {"convert_fps": summary.fps, "model_only_fps": model_only["frames_per_s"],
            "ratio": summary.fps / model_only["frames_per_s"], "frames": summary.frames,
            "encoder": options.encode.describe(".mp4"), "summary": summary.line(),
            "output_audio": ",".join(probe(output).audio_codecs)}


def train_amp(args: argparse.Namespace) -> Result:
    import av  # noqa: F401 - training reads video domains through PyAV

    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "train_speed.py"), "--device", args.device,
                           "--batch-sizes", "8", "--precisions", "amp", "--warmup", "10", "--steps", "40", "--json"],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(_last_line(done.stderr) or f"train_speed.py exited {done.returncode}")
    result = json.loads(done.stdout)[0]
    return {"images_per_s": result["images_per_s"], "batch": result["batch_size"], "precision": result["precision"],
            "size": result["size"], "losses_finite": result["losses_finite"]}


def gpu_tests(args: argparse.Namespace) -> Result:
    """`pytest -m gpu`; in a dry run only collected (the list of what the GPU run executes)."""
    import av  # noqa: F401 - the tests' fixtures write clips with PyAV: without it no test collects
    import pytest  # noqa: F401

    report = Path(args.work) / "gpu-tests.xml"
    command = [sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider"]
    command += ["--collect-only"] if args.dry_run else [f"--junitxml={report}"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, check=False)
    if args.dry_run:
        tests = [line for line in done.stdout.splitlines() if "::" in line]
        if done.returncode != 0 or not tests:
            raise RuntimeError(f"pytest could not collect the GPU tests: {_last_line(done.stdout + done.stderr)}")
        return {"collected": len(tests), "tests": tests}
    if not report.is_file():
        raise RuntimeError(f"pytest did not run: {_last_line(done.stdout + done.stderr)}")
    root = ElementTree.parse(report).getroot()
    suite = root.find("testsuite") if root.tag == "testsuites" else root
    assert suite is not None, report
    counts = {key: int(suite.get(key, 0)) for key in ("tests", "failures", "errors", "skipped")}
    failed = [f"{case.get('classname')}::{case.get('name')}" for case in suite.iter("testcase")
              if case.find("failure") is not None or case.find("error") is not None]
    result: Result = {**counts, "passed": counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"],
                      "failed_tests": failed}
    if failed:
        return {"status": "failed", "reason": f"{len(failed)} GPU test(s) failed: {', '.join(failed[:5])}",
                "metrics": result}
    return result


def doctor(args: argparse.Namespace) -> Result:
    from vidtrans.doctor import diagnose

    return {"doctor": diagnose().to_json()}


PARTS = (
    Part("doctor", "vidtrans doctor", False, 90, doctor),
    Part("gpu-tests", "pytest -m gpu", True, 150, gpu_tests),
    Part("eager-fp32-b1", "1024x512 fp32 eager, batch 1", True, 60, eager("fp32", 1)),
    Part("eager-fp16", "1024x512 fp16 eager (channels-last), batch 16", True, 60, eager("fp16", 16)),
    Part("onnxruntime-fp16", "1024x512 ONNX Runtime CUDA fp16 (IO binding), batch 8", True, 150, onnxruntime_fp16,
         ("frames_per_s", 151)),
    Part("clip-1080p", "1080p H.264 clip with audio", False, 90, make_clip),
    Part("convert-1080p", "1080p convert (default settings) / model-only at 1080p", True, 120, convert_1080p,
         ("ratio", 0.8)),
    Part("train-amp", "--amp training 256x256, batch 8", True, 150, train_amp, ("images_per_s", 3 * 15.8)),
    Part("tensorrt-fp16", "1024x512 TensorRT fp16, batch 8", True, 240, tensorrt_fp16, ("frames_per_s", 600)),
    Part("compiled-fp16", "1024x512 torch.compile fp16, batch 8", True, 300, compiled_fp16, ("frames_per_s", 386)),
)
"""In order, the two that take minutes (engine build, max-autotune compilation) last; no part starts once
--time-limit is spent, and each gets at most its budget of what is left."""


# --- the part's own process ---------------------------------------------------------------------------------


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def _first_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[0].strip() if lines else ""


def run_part_here(part: Part, args: argparse.Namespace) -> Result:
    """Run `part` in this process; what it cannot do becomes a status and a reason, never a traceback."""
    started = time.perf_counter()
    try:
        outcome = part.run(args)
    except ModuleNotFoundError as error:
        module = (error.name or "").split(".")[0]
        outcome = {"status": "skipped", "reason": f"{module or error} is not installed: "
                                                  f"pip install {PIP_NAMES.get(module, module)}"}
    except Exception as error:  # noqa: BLE001 - a part reports its failure and the run goes on
        from vidtrans.errors import MissingExtraError

        status = "skipped" if isinstance(error, MissingExtraError) else "failed"
        outcome = {"status": status, "reason": f"{type(error).__name__}: {_first_line(str(error))}",
                   "detail": traceback.format_exc(limit=6)}
    if "status" not in outcome:
        outcome = {"status": "ok", "metrics": outcome}
    outcome["seconds"] = round(time.perf_counter() - started, 1)
    return outcome


# --- the whole run ------------------------------------------------------------------------------------------


def judge(part: Part, outcome: Result) -> str:
    """`met`, `missed` or `-` (no goal, or nothing measured)."""
    if part.goal is None or outcome.get("status") != "ok":
        return "-"
    metric, least = part.goal
    return "met" if outcome["metrics"].get(metric, 0) >= least else "missed"


def run_part(part: Part, args: argparse.Namespace, limit_s: float) -> Result:
    """Run `part` in a fresh Python process (isolated crashes, a hard time limit)."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        result_file = Path(handle.name)
    command = [sys.executable, str(Path(__file__).resolve()), "--part", part.name, "--result", str(result_file),
               *_forwarded(args)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=limit_s, cwd=REPO, check=False)
    except subprocess.TimeoutExpired:
        return {"status": "timeout", "reason": f"stopped after {limit_s:.0f} s", "seconds": round(limit_s, 1)}
    try:
        return json.loads(result_file.read_text() or "{}") or {
            "status": "failed", "reason": f"exited {done.returncode}: {_last_line(done.stderr)}"}
    finally:
        result_file.unlink(missing_ok=True)


def _forwarded(args: argparse.Namespace) -> list[str]:
    forwarded = ["--work", str(args.work), "--device", args.device, "--ngf", str(args.ngf), "--seconds",
                 str(args.seconds), "--compile-mode", args.compile_mode, "--clip-frames", str(args.clip_frames)]
    return forwarded + (["--dry-run"] if args.dry_run else [])


def cuda_present() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def _scalars(metrics: Result) -> str:
    """`frames_per_s 412, batch 8, ...`: a part's plain metrics, for the table and the progress lines."""
    shown = {k: v for k, v in metrics.items() if isinstance(v, (int, float, str)) and k != "summary"}
    return ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in shown.items())


def markdown(doc: Result) -> str:
    """The report: the environment (doctor's lines), then one row per part."""
    lines = [f"# GPU acceptance, {doc['started']}" + (" (dry run)" if doc["dry_run"] else ""), "",
             f"Host {doc['host']}, `{doc['command']}`, {doc['seconds']:.0f} s in all.", ""]
    checks = (doc.get("environment") or {}).get("checks", [])
    lines += [f"- {c['name']}: {c['status']}, {c['summary']}" for c in checks] or ["- (doctor did not run)"]
    lines += ["", "| part | result | goal | verdict | seconds | note |", "|---|---|---|---|---:|---|"]
    for row in doc["parts"]:
        result = _scalars(row.get("metrics") or {})
        goal = f"{row['goal'][0]} >= {row['goal'][1]:g}" if row.get("goal") else ""
        note = row.get("reason", "") if row["status"] != "ok" else ""
        lines.append(f"| {row['name']}: {row['title']} | {row['status']}{': ' + result if result else ''} | {goal} | "
                     f"{row['verdict']} | {row.get('seconds', 0):.0f} | {note} |")
    if doc["pip"]:
        lines += ["", "To run what was skipped for a missing package:", "", *[f"    {c}" for c in doc["pip"]]]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("acceptance"), help="folder for acceptance.json and .md")
    parser.add_argument("--dry-run", action="store_true", help="run only what needs no CUDA; list the rest")
    parser.add_argument("--time-limit", type=float, default=480, help="seconds for the whole run (8 minutes)")
    parser.add_argument("--parts", nargs="+", default=None, help="run only these parts")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--ngf", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=3.0, help="least timed seconds per measurement")
    parser.add_argument("--compile-mode", default="max-autotune")
    parser.add_argument("--clip-frames", type=int, default=300, help="frames of the 1080p clip (30 per second)")
    parser.add_argument("--work", type=Path, default=None, help="folder for models, engines and clips (OUT/work)")
    parser.add_argument("--part", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.work = (args.work or args.out / "work").resolve()
    by_name = {part.name: part for part in PARTS}
    if args.part is not None:  # inside one part's process
        args.result.write_text(json.dumps(run_part_here(by_name[args.part], args), default=str))
        return 0

    try:
        import vidtrans  # noqa: F401
    except ImportError:
        print(f"vidtrans is not importable; from the checkout: pip install {PIP_NAMES['vidtrans']}", file=sys.stderr)
        return 2
    unknown = sorted(set(args.parts or ()) - set(by_name))
    if unknown:
        parser.error(f"unknown part(s) {', '.join(unknown)}; parts: {', '.join(by_name)}")
    args.out.mkdir(parents=True, exist_ok=True)
    args.work.mkdir(parents=True, exist_ok=True)
    cuda = cuda_present()
    started, wall = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), time.perf_counter()
    rows: list[Result] = []
    for part in PARTS:
        if args.parts and part.name not in args.parts:
            continue
        row: Result = {"name": part.name, "title": part.title, "goal": list(part.goal) if part.goal else None}
        left = args.time_limit - (time.perf_counter() - wall)
        needs_cuda = part.cuda and not (args.dry_run and part.name == "gpu-tests")
        if needs_cuda and args.dry_run:
            row.update(status="not run", reason="dry run: needs CUDA")
        elif needs_cuda and not cuda:
            row.update(status="skipped", reason="no CUDA GPU visible to torch (vidtrans doctor says why)")
        elif left < 10:
            row.update(status="skipped", reason=f"the {args.time_limit:.0f} s time limit is spent")
        else:
            row.update(run_part(part, args, min(part.budget_s, left)))
        row["verdict"] = judge(part, row)
        rows.append(row)
        said = row.get("reason") or _scalars(row.get("metrics") or {})
        print(f"{part.name:<17} {row['status']:<8} {said}", file=sys.stderr, flush=True)
    environment = next((r["metrics"]["doctor"] for r in rows if r["name"] == "doctor" and r["status"] == "ok"), None)
    pip = sorted({r["reason"].split(": ", 1)[1] for r in rows
                  if r["status"] == "skipped" and " is not installed: pip install" in r.get("reason", "")})
    doc = {"started": started, "dry_run": args.dry_run, "host": platform.node(),
           "seconds": time.perf_counter() - wall, "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
           "environment": environment, "pip": pip, "parts": rows}
    (args.out / "acceptance.json").write_text(json.dumps(doc, indent=2, default=str) + "\n")
    (args.out / "acceptance.md").write_text(markdown(doc))
    print(markdown(doc))
    return 0 if all(r["status"] in ("ok", "not run") and r["verdict"] != "missed" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
