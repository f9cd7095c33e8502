"""Training learns: a known colour transform between unpaired domains is recovered by a small CycleGAN."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from vidtrans.cli import main
from vidtrans.images import write_image
from vidtrans.registry import resolve_model

SIZE = 32


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny networks: one thread is fastest


def _scenes(count: int, seed: int) -> np.ndarray:
    """Smooth random RGB images whose channels live in different ranges (red high, blue low): (N, H, W, 3)."""
    rng = np.random.default_rng(seed)
    images = np.empty((count, SIZE, SIZE, 3), np.float32)
    for n in range(count):
        for channel, (low, high) in enumerate(((0.55, 0.95), (0.2, 0.6), (0.0, 0.35))):
            smooth = cv2.resize(rng.random((4, 4)).astype(np.float32), (SIZE, SIZE), interpolation=cv2.INTER_CUBIC)
            images[n, :, :, channel] = np.clip(low + (high - low) * smooth, 0, 1)
    return images


def _transform(images: np.ndarray) -> np.ndarray:
    """The known A -> B mapping: swap the red and blue channels."""
    return images[..., ::-1]


def _psnr(x: np.ndarray, y: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((x - y) ** 2)))


def _write(folder: Path, images: np.ndarray) -> None:
    folder.mkdir()
    for i, image in enumerate(images):
        write_image(folder / f"{i:03d}.png", (image * 255).round().astype(np.uint8))


def test_cyclegan_learns_a_colour_transform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIDTRANS_HOME", str(tmp_path / "home"))
    _write(tmp_path / "a", _scenes(64, seed=1))
    _write(tmp_path / "b", _transform(_scenes(64, seed=2)))  # unpaired: B comes from other scenes
    held_out = (_scenes(16, seed=3) * 255).round() / 255
    truth = _transform(held_out)

    assert main(["train", str(tmp_path / "a"), str(tmp_path / "b"), "--name", "swap", "--runs-dir",
                 str(tmp_path / "runs"), "--ngf", "8", "--n-blocks", "2", "--ndf", "16", "--load-size", str(SIZE),
                 "--crop-size", str(SIZE), "--batch-size", "4", "--max-steps", "150", "--num-workers", "0",
                 "--device", "cpu", "--log-every", "50"]) == 0

    generator = resolve_model("swap").load_generator()
    with torch.no_grad():
        inputs = torch.from_numpy(np.ascontiguousarray(held_out)).permute(0, 3, 1, 2) * 2 - 1
        translated = ((generator(inputs) + 1) / 2).clamp(0, 1).permute(0, 2, 3, 1).numpy()
    before, after = _psnr(held_out, truth), _psnr(translated, truth)
    assert after > before + 6, f"PSNR to the true B images: untranslated {before:.2f} dB, translated {after:.2f} dB"
    print(f"PSNR to the true B images: untranslated {before:.2f} dB, translated {after:.2f} dB")
