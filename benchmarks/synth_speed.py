"""How many items a second `vidtrans synth` translates, end to end (decode, translate, encode, manifest).

Makes a GTA5-style tree (images/ + labels/) of random PNGs in a temporary folder, a ResNet generator of the
given size with random weights (or uses --model), runs `synth` on it and prints its JSON summary, whose
`items_per_second` is the figure (model loading and planning excluded; labels copied, manifest written).
With --model-only it also times the bare Translator on the same batches (no decode, encode or files), so
the two figures show what the pipeline around the model costs.

    python benchmarks/synth_speed.py                                    # CPU: 64 items, 256x128, ngf 16
    python benchmarks/synth_speed.py --items 2000 --size 1024x512 --ngf 64 --blocks 9 \\
        --device cuda --batch-size 16 --workers 8                       # GPU, the design note's setting
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np


def make_tree(root: Path, items: int, size: tuple[int, int]) -> None:
    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    width, height = size
    for i in range(items):
        cv2.imwrite(str(root / "images" / f"{i:05d}.png"), rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
        cv2.imwrite(str(root / "labels" / f"{i:05d}.png"), rng.integers(0, 34, (height, width), dtype=np.uint8))


def job_arguments(parser: argparse.ArgumentParser, *, items: int) -> None:
    """The options that say what to synthesise and how (shared with `ray_overhead.py`)."""
    from vidtrans.synthesis import DEFAULT_WORKERS

    parser.add_argument("--items", type=int, default=items)
    parser.add_argument("--size", default="256x128", help="WIDTHxHEIGHT of the images")
    parser.add_argument("--model", help="a model name or directory (default: a random ResNet of --ngf/--blocks)")
    parser.add_argument("--ngf", type=int, default=16)
    parser.add_argument("--blocks", type=int, default=6)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--backend", default="torch")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS, help="the local engine's threads")


def prepare_job(root: Path, args: argparse.Namespace) -> tuple[Path, str | Path]:
    """The tree (`root/data`, --items of --size) and the model: --model, or a ResNet of --ngf and --blocks with
    random weights saved under `root`."""
    from vidtrans.modeldir import ModelInfo, save_model
    from vidtrans.networks import ResnetGeneratorConfig, build_generator, init_weights
    from vidtrans.resize import parse_size

    make_tree(root / "data", args.items, parse_size(args.size))
    if args.model is not None:
        return root / "data", args.model
    config = ResnetGeneratorConfig(ngf=args.ngf, n_blocks=args.blocks)
    save_model(root / "model", ModelInfo(name="bench", generator=config), init_weights(build_generator(config)))
    return root / "data", root / "model"


def describe_model(args: argparse.Namespace) -> str:
    return args.model or f"resnet ngf {args.ngf}, {args.blocks} blocks"


def runtime_options(args: argparse.Namespace):  # -> RuntimeOptions
    """How the model runs, from --backend, --device and --precision."""
    from vidtrans.runtime import RuntimeOptions

    return RuntimeOptions(backend=args.backend, device=args.device, precision=args.precision)


def model_only(model: str | Path, args: argparse.Namespace) -> float:
    """Items a second of `Translator.translate` alone, on batches of --batch-size random frames."""
    from vidtrans.resize import parse_size
    from vidtrans.translator import Translator

    width, height = parse_size(args.size)
    translator = Translator.from_model(model, runtime_options(args))
    batch = np.random.default_rng(1).integers(0, 256, (args.batch_size, height, width, 3), dtype=np.uint8)
    translator.translate(batch)  # warm-up
    started = time.perf_counter()
    done = 0
    while done < args.items:
        translator.translate(batch)
        done += args.batch_size
    translator.synchronize()
    seconds = time.perf_counter() - started
    translator.close()
    return done / seconds


def main() -> int:
    from vidtrans.synthesis import SynthOptions, synth

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    job_arguments(parser, items=64)
    parser.add_argument("--format", default="auto", help="auto (PNG here), png, jpg or webp")
    parser.add_argument("--model-only", action="store_true", help="also time the bare Translator")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="vidtrans-synth-bench-") as folder:
        data, model = prepare_job(Path(folder), args)
        options = SynthOptions(runtime=runtime_options(args), batch_size=args.batch_size, workers=args.workers,
                               format=args.format, progress=False)
        summary = synth(data, Path(folder) / "out", model=model, options=options)
        bare = model_only(model, args) if args.model_only else None
    doc = summary.to_dict()
    if bare is not None:
        doc["model_only_items_per_second"] = round(bare, 3)
    doc.update(items=args.items, size=args.size, model=describe_model(args))
    print(json.dumps(doc, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
