"""Training speed: images a second of full CycleGAN (or pix2pix) steps on synthetic 256x256 batches.

Each configuration builds the paper's networks (ResNet-9 generators, ngf 64; 70x70 PatchGANs, ndf 64;
LSGAN, 50-image pools, Adam), runs warm-up steps (cuDNN autotuning, torch.compile), then times steps with
the device synchronised. Data loading is excluded: batches are made once on the device. Prints one line
per configuration and, with --json, the results as JSON on stdout.

    python benchmarks/train_speed.py --device cuda                        # batch 1 and 8, fp32 and --amp
    python benchmarks/train_speed.py --device cuda --compile              # the same with torch.compile
    python benchmarks/train_speed.py --device cpu --ngf 16 --blocks 6 --batch-sizes 1 --steps 5
"""

from __future__ import annotations

import argparse
import json
import sys
import time


def measure(args: argparse.Namespace, batch_size: int, amp: bool, compile_: bool) -> dict[str, object]:
    import torch

    from vidtrans.training.config import load_config
    from vidtrans.training.loop import Runtime, build_model

    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    config = load_config(None, {
        "name": "bench", "mode": args.mode, "ngf": args.ngf, "ndf": args.ndf, "batch_size": batch_size,
        **({"n_blocks": args.blocks} if args.mode == "cyclegan" else {}),
        "load_size": args.size, "crop_size": args.size})
    runtime = Runtime(device=device, amp=amp, channels_last=device.type == "cuda" and not args.no_channels_last,
                      compile=compile_)
    torch.manual_seed(0)
    model = build_model(config, runtime)
    model.train()
    real_a = model.to_device(torch.rand(batch_size, 3, args.size, args.size) * 2 - 1)
    real_b = model.to_device(torch.rand(batch_size, 3, args.size, args.size) * 2 - 1)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    started = time.perf_counter()
    for _ in range(args.warmup):
        model.train_step(real_a, real_b)
    sync()
    warmup_s = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(args.steps):
        losses = model.train_step(real_a, real_b)
    sync()
    seconds = time.perf_counter() - started
    finite = all(torch.isfinite(v).item() for v in losses.values())
    return {
        "mode": args.mode, "batch_size": batch_size, "precision": "bf16-autocast" if amp else "fp32",
        "compile": compile_, "channels_last": runtime.channels_last, "size": args.size,
        "steps_per_s": args.steps / seconds, "images_per_s": args.steps * batch_size / seconds,
        "ms_per_step": 1000 * seconds / args.steps, "warmup_s": warmup_s, "losses_finite": finite,
        "peak_memory_gib": torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu")
    parser.add_argument("--mode", default="cyclegan", choices=["cyclegan", "pix2pix"])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--precisions", nargs="+", default=["fp32", "amp"], choices=["fp32", "amp"])
    parser.add_argument("--compile", action="store_true", help="torch.compile the networks")
    parser.add_argument("--no-channels-last", action="store_true", help="keep NCHW on CUDA")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--ngf", type=int, default=64)
    parser.add_argument("--ndf", type=int, default=64)
    parser.add_argument("--blocks", type=int, default=9)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    args = parser.parse_args()
    if "amp" in args.precisions and not args.device.startswith("cuda"):
        print("note: --amp is CUDA-only; measuring fp32 alone", file=sys.stderr)
        args.precisions = ["fp32"]
    results = []
    for batch_size in args.batch_sizes:
        for precision in args.precisions:
            result = measure(args, batch_size, precision == "amp", args.compile)
            results.append(result)
            print(f"{result['mode']} {result['size']}px batch {batch_size:>2} {result['precision']:<13} "
                  f"compile={result['compile']!s:<5} channels_last={result['channels_last']!s:<5} "
                  f"{result['images_per_s']:8.1f} images/s  {result['steps_per_s']:6.2f} steps/s  "
                  f"{result['ms_per_step']:7.1f} ms/step  (warm-up {result['warmup_s']:.1f} s"
                  + (f", peak {result['peak_memory_gib']:.1f} GiB" if result["peak_memory_gib"] else "") + ")",
                  file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
