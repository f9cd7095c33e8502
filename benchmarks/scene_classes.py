"""Class frequencies of the procedural scenes' two contents (game: GTA5-like, real: Cityscapes-like).

    python benchmarks/scene_classes.py                     # 1000 scenes per content at 512x256, about 3 minutes
    python benchmarks/scene_classes.py --count 100 --size 256x128

Prints a Markdown table: for each label, its mean share of the pixels in percent and, in brackets, the
scene-to-scene standard deviation (the spread a mean over a few scenes has to allow for); `docs/scenes.md`
holds the table this printed.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from vidtrans.errors import UsageError
from vidtrans.resize import parse_size
from vidtrans.scenes import CLASS_NAMES, CONTENTS, IGNORE
from vidtrans.scenes.stats import label_shares


def format_table(shares: dict[str, np.ndarray]) -> str:
    """The Markdown table of mean shares (and standard deviations) per label, labels that occur only."""
    names = {**dict(enumerate(CLASS_NAMES)), IGNORE: "ignore (255)"}
    lines = ["| label | " + " | ".join(f"{c} content, % (std)" for c in shares) + " |",
             "|---|" + "---|" * len(shares)]
    for label, name in names.items():
        if not any(s[:, label].any() for s in shares.values()):
            continue
        cells = (f"{100 * s[:, label].mean():.2f} ({100 * s[:, label].std():.2f})" for s in shares.values())
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1000, help="scenes per content")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--size", default="512x256", metavar="WxH")
    args = parser.parse_args(argv)
    try:
        if args.count < 1:
            raise UsageError(f"--count must be at least 1; got {args.count}")
        width, height = parse_size(args.size)
        seeds = range(args.first_seed, args.first_seed + args.count)
        shares = {c: label_shares(seeds, content=c, width=width, height=height) for c in CONTENTS}  # type: ignore[arg-type]
    except (UsageError, ValueError) as error:
        print(f"scene_classes: error: {error}", file=sys.stderr)
        return 2
    print(f"{args.count} scenes per content (seeds {seeds.start}-{seeds.stop - 1}), {width}x{height}, driving layout")
    print(format_table(shares))
    return 0


if __name__ == "__main__":
    sys.exit(main())
