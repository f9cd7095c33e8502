"""What `--engine ray` costs on one machine: `vidtrans synth` items/s on the local engine against Ray, same data.

Makes a GTA5-style tree of random PNGs (as `synth_speed.py` does) and a ResNet generator with random weights
(or uses --model), runs `synth` on it with the local engine, then starts Ray on this machine (timed on its
own: `ray_startup_s`) and runs the same job with `--engine ray` into a second folder. Both runs are timed
from the call to `synth` to its return, so both include planning and loading the model (Ray's: starting its
actors); Ray's start-up is not in them. Prints one JSON document:

    local / ray        each run's items/s (call to return) and synth's own summary figures
    ratio              local items/s divided by Ray's: Ray's overhead on one machine (goal: at most 1.3)
    agree              labels byte-identical and images within one 8-bit level between the two runs

    python benchmarks/ray_overhead.py                                  # CPU: 256 items, 256x128, ngf 16
    python benchmarks/ray_overhead.py --items 4000 --size 1024x512 --ngf 64 --blocks 9 \\
        --device cuda --batch-size 16                                  # one GPU, the design note's setting
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from synth_speed import describe_model, job_arguments, prepare_job, runtime_options


def timed_synth(data: Path, out: Path, model: str | Path, options) -> dict:  # options: SynthOptions
    """Run synth; its summary with `call_s` (call to return) and `call_items_per_second` added."""
    from vidtrans.synthesis import synth

    started = time.perf_counter()
    summary = synth(data, out, model=model, options=options)
    seconds = time.perf_counter() - started
    doc = summary.to_dict()
    doc.update(call_s=round(seconds, 3), call_items_per_second=round(summary.processed / seconds, 3))
    return doc


def agree(first: Path, second: Path) -> bool:
    """Labels byte-identical, images within one level, the same manifest items."""
    from vidtrans.images import read_image

    lines = [[json.loads(line) for line in (folder / "manifest.jsonl").read_text().splitlines()[:-1]]
             for folder in (first, second)]
    if lines[0] != lines[1]:
        return False
    for record in lines[0]:
        if any((first / label).read_bytes() != (second / label).read_bytes() for label in record["labels"]):
            return False
        a, b = (read_image(folder / record["output"]).astype(int) for folder in (first, second))
        if a.shape != b.shape or np.abs(a - b).max() > 1:
            return False
    return True


def main() -> int:
    import ray

    from vidtrans.engines import RayOptions
    from vidtrans.scale.cluster import TEMP_DIR
    from vidtrans.threads import usable_cpus
    from vidtrans.synthesis import SynthOptions

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    job_arguments(parser, items=256)
    parser.add_argument("--ray-workers", type=int, help="Ray's translating actors (default: one per GPU, or one)")
    parser.add_argument("--num-cpus", type=int, default=usable_cpus(), help="CPUs of the local Ray")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="vidtrans-ray-bench-") as folder:
        root = Path(folder)
        data, model = prepare_job(root, args)
        base = SynthOptions(runtime=runtime_options(args), batch_size=args.batch_size, workers=args.workers,
                            progress=False)
        local = timed_synth(data, root / "local", model, base)
        started = time.perf_counter()
        ray.init(address="local", num_cpus=args.num_cpus, include_dashboard=False, logging_level=logging.ERROR,
                 _temp_dir=TEMP_DIR)
        startup = time.perf_counter() - started
        try:
            on_ray = timed_synth(data, root / "ray", model,
                                 dataclasses.replace(base, ray=RayOptions(workers=args.ray_workers)))
        finally:
            ray.shutdown()
        same = agree(root / "local", root / "ray")
    print(json.dumps({
        "items": args.items, "size": args.size, "model": describe_model(args), "batch_size": args.batch_size,
        "ray_startup_s": round(startup, 3),
        "ratio": round(local["call_items_per_second"] / on_ray["call_items_per_second"], 3),
        "agree": same, "local": local, "ray": on_ray,
    }, indent=2))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
