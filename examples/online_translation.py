"""Train a segmentation network on game frames translated on the fly: no translated copy goes to disk.

    python examples/online_translation.py GAME_ROOT REAL_TEST_ROOT [--model demo] [--steps 400] [--device cpu]

GAME_ROOT is a labelled game dataset (GTA5 layout: images/ + labels/) and REAL_TEST_ROOT a labelled real one
to score on (Cityscapes or GTA5 layout); `vidtrans demo scenes DIR` writes both kinds. Each training batch
is translated game -> real by the vidtrans model inside the training loop (`transform=model`), the way a
data-loader transform would do it, and the network is scored on the real images. It trains the same
network as `vidtrans synth` followed by training on the translated copy, without writing that copy.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import vidtrans
from vidtrans.downstream.data import SegmentationData, load_dataset
from vidtrans.downstream.segnet import SegNet
from vidtrans.downstream.train import TrainSettings, evaluate, train_segnet


def train_online(model: vidtrans.TranslationModel, game: SegmentationData, settings: TrainSettings, *,
                 device: str = "cpu") -> SegNet:
    """A segmentation network trained on `game` images translated by `model` batch by batch."""
    return train_segnet(game, settings, device=device, transform=model).net


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("game_root", type=Path)
    parser.add_argument("real_test_root", type=Path)
    parser.add_argument("--model", default="demo", help="vidtrans model name or directory (game -> real)")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)

    game, test = load_dataset(args.game_root), load_dataset(args.real_test_root)
    settings = TrainSettings(steps=args.steps, batch_size=args.batch_size)
    with vidtrans.load(args.model, device=args.device) as model:
        net = train_online(model, game, settings, device=args.device)
    scores = evaluate(net, test, device=args.device)
    print(f"mIoU {100 * scores.miou:.1f}, pixel accuracy {100 * scores.pixel_accuracy:.1f} on {len(test)} real images")
    return 0


if __name__ == "__main__":
    sys.exit(main())
