"""The downstream benchmark: segmentation mIoU on real scenes after training on game, translated and real renders.

    python benchmarks/downstream.py                          # the bundled `demo` model, a few minutes on a CPU
    python benchmarks/downstream.py --model path/to/model --json downstream.json
    python benchmarks/downstream.py --content-shift --model plain --model semantic   # game vs real content
    python benchmarks/downstream.py --translation identity   # sanity check: (b) == (a)
    python benchmarks/downstream.py --translation real       # sanity check: (b) == (c)

Prints the table to stdout (progress goes to stderr); see `vidtrans.downstream.experiment` for the design.

Measured on the 2-core CPU machine, defaults, the demo model of 2026-11-25 (ResNet-6, ngf 16; generator sha256
91c29439...): mIoU (a) game 19.5, (b) translated 49.0, (c) real 59.6, gap closed 73.6%, 2:10 wall (render 13 s,
translate 19 s, about 32 s per segmenter). Seeds 1 and 2 give gaps of 75.4% and 72.1%; (a) varies most
(14.9-19.5). The identity and real sanity runs give b == a and b == c exactly.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

from vidtrans.downstream.experiment import TRANSLATIONS, DownstreamSettings, run_downstream
from vidtrans.errors import UsageError, VidtransError
from vidtrans.fsutil import check_writable_target

DEFAULTS = DownstreamSettings()


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 256x128; got {text!r}") from None
    return width, height


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--model", action="append", dest="models", metavar="MODEL",
                        help="translation model: a registered name or a directory; repeat it to compare several "
                             f"(default: {', '.join(DEFAULTS.models)})")
    parser.add_argument("--content-shift", action="store_true",
                        help="the real domain holds real content (hood, denser city, less sky), as Cityscapes "
                             "differs from GTA5: the oracle and the held-out scenes are real-content scenes")
    parser.add_argument("--translation", choices=TRANSLATIONS, default=DEFAULTS.translation,
                        help="'model' translates with --model; 'identity' and 'real' are the sanity checks")
    parser.add_argument("--train-count", type=int, default=DEFAULTS.train_count, help="training scenes")
    parser.add_argument("--test-count", type=int, default=DEFAULTS.test_count, help="held-out evaluation scenes")
    parser.add_argument("--size", type=_size, default=DEFAULTS.size, metavar="WxH",
                        help="segmentation image size (both sides multiples of 16)")
    parser.add_argument("--render-size", type=_size, default=DEFAULTS.render_size, metavar="WxH",
                        help="render and translate at this size (the translation model's training size)")
    parser.add_argument("--steps", type=int, default=DEFAULTS.steps, help="training steps per network")
    parser.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size)
    parser.add_argument("--lr", type=float, default=DEFAULTS.lr, help="Adam learning rate (cosine-decayed)")
    parser.add_argument("--seed", type=int, default=DEFAULTS.seed, help="weights and batch sampling seed")
    parser.add_argument("--device", default=DEFAULTS.device, help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's choice; 1 can be faster on a busy machine)")
    parser.add_argument("--work-dir", type=Path, default=None,
                        help="keep the rendered and translated images here (default: a temporary folder)")
    parser.add_argument("--json", type=Path, default=None, metavar="OUT", help="also write the report as JSON")
    parser.add_argument("--overwrite", action="store_true", help="replace --json OUT and reuse a non-empty --work-dir")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.threads is not None:
            if args.threads < 1:
                raise UsageError(f"--threads must be at least 1; got {args.threads}")
            torch.set_num_threads(args.threads)
        if args.json is not None:
            check_writable_target(args.json, overwrite=args.overwrite)
        options = dict(models=args.models or DEFAULTS.models, translation=args.translation,
                       content_shift=args.content_shift, train_count=args.train_count, test_count=args.test_count,
                       size=args.size, render_size=args.render_size, steps=args.steps, batch_size=args.batch_size,
                       lr=args.lr, seed=args.seed, device=args.device, overwrite=args.overwrite,
                       progress=not args.quiet)
        if args.work_dir is None:
            with tempfile.TemporaryDirectory(prefix="vidtrans-downstream-") as work_dir:
                report = run_downstream(Path(work_dir), **options)
        else:
            report = run_downstream(args.work_dir, **options)
        print(report.format_table())
        if args.json is not None:
            report.write_json(args.json)
    except (VidtransError, ValueError) as error:
        print(f"downstream: error: {error}", file=sys.stderr)
        return error.exit_code if isinstance(error, VidtransError) else UsageError.exit_code
    except KeyboardInterrupt:
        print("downstream: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
