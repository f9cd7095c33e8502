"""How the CPU threads are best used: the model alone, three ways, on a quiet machine and beside a busy process.

    python benchmarks/cpu_threads.py [--model demo] [--size 512x256] [--batch-size 8] [--json out.json]

- ONNX Runtime with vidtrans' default: each batch split into one part per usable core, run at once, one thread
  each, spinning off (`vidtrans.threads`);
- ONNX Runtime as one run on all cores (spinning off too: `OrtOptions(intra_op_threads=...)`);
- PyTorch on all cores.

Each is timed on a quiet machine, then while one extra process keeps a core at 100%. Frames/s of
`backend.run` on a batch of random frames, after a warm-up run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from busy import one_busy_core


def _rate(backend: object, batch: object, repeats: int) -> float:
    backend.run(batch)  # type: ignore[attr-defined]
    started = time.perf_counter()
    for _ in range(repeats):
        backend.run(batch)  # type: ignore[attr-defined]
    return repeats * len(batch) / (time.perf_counter() - started)  # type: ignore[arg-type]


def measure(args: argparse.Namespace) -> dict[str, float]:
    import torch

    from vidtrans.backends.factory import create_backend
    from vidtrans.registry import resolve_model
    from vidtrans.resize import parse_size
    from vidtrans.runtime import OrtOptions, RuntimeOptions
    from vidtrans.threads import usable_cpus

    model = resolve_model(args.model)
    width, height = parse_size(args.size)
    batch = torch.rand(args.batch_size, 3, height, width) * 2 - 1
    ways = {
        "onnxruntime, batch split over the cores (default)": RuntimeOptions(backend="onnxruntime", device="cpu"),
        "onnxruntime, one run on all cores": RuntimeOptions(
            backend="onnxruntime", device="cpu", ort=OrtOptions(intra_op_threads=usable_cpus())),
        "torch, all cores": RuntimeOptions(backend="torch", device="cpu"),
    }
    rates = {}
    for name, options in ways.items():
        backend = create_backend(model, options, announce=False)
        rates[name] = round(_rate(backend, batch, args.repeats), 2)
        backend.close()
    return rates


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="demo")
    parser.add_argument("--size", default="512x256")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    quiet = measure(args)
    with one_busy_core():
        busy = measure(args)
    doc = {"model": args.model, "size": args.size, "batch_size": args.batch_size,
           "frames_per_second": {name: {"quiet": quiet[name], "busy": busy[name]} for name in quiet}}
    print(json.dumps(doc, indent=2))
    if args.json:
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
