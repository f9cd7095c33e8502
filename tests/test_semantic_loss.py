"""CyCADA's semantic-consistency loss (`vidtrans train --semantic-loss`): the loss itself, a run that needs it
to keep classes right, and the errors for bad segmenters and labels (resume and DDP: test_training_run.py).

Everything uses one real segmenter (`colour_segmenter`, see `colour_classes`): warm patches are class 0,
cool ones class 1.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from colour_classes import COOL, GAME, REAL, SIZE, WARM, scene, write_gta5

from vidtrans.training.data import to_tensor
from vidtrans.training.semantic import SemanticConsistency, open_source_segmenter

CPU = torch.device("cpu")

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny networks: one thread is fastest


def _batch(seed: int, count: int = 4, colours: dict = GAME) -> tuple[torch.Tensor, torch.Tensor]:
    """`count` warm-background scenes: images (N, 3, SIZE, SIZE) in [-1, 1] and labels (N, SIZE, SIZE)."""
    rng = np.random.default_rng(seed)
    scenes = [scene(rng, WARM, colours) for _ in range(count)]
    return (torch.stack([to_tensor(image) for image, _ in scenes]),
            torch.from_numpy(np.stack([labels for _, labels in scenes])))


def _paint(images: torch.Tensor, where: torch.Tensor, colour: tuple[float, float, float]) -> torch.Tensor:
    """`images` with the pixels `where` (N, H, W) painted `colour` (RGB 0-255)."""
    painted = images.clone()
    value = torch.tensor(colour, dtype=torch.float32).view(3, 1) / 127.5 - 1
    for n in range(len(images)):
        painted[n][:, where[n]] = value.expand(3, int(where[n].sum()))
    return painted


def _loss(segmenter, training_size: tuple[int, int] = (SIZE, SIZE)) -> SemanticConsistency:
    return open_source_segmenter(segmenter).loss(training_size=training_size, device=CPU)


def test_loss_is_near_zero_when_classes_are_kept_and_grows_with_every_flipped_region(colour_segmenter) -> None:
    loss = _loss(colour_segmenter)
    images, labels = _batch(seed=5)
    kept = float(loss(images, labels))
    restyled = float(loss(_paint(_paint(images, labels == WARM, REAL[WARM]), labels == COOL, REAL[COOL]), labels))
    flipped = [float(loss(_paint(images, (labels == COOL) & (torch.arange(4) < n).view(4, 1, 1), GAME[WARM]), labels))
               for n in (1, 2, 4)]  # the cool rectangle of the first n images painted warm
    print(f"kept {kept:.4f}, restyled {restyled:.4f}, flipped in 1, 2, 4 images: {flipped}")
    assert kept < 0.02 and restyled < 0.05  # a translation that keeps the classes costs (almost) nothing
    assert 0.1 < flipped[0] < flipped[1] < flipped[2]
    rectangle_share = float((labels == COOL).float().mean())
    assert flipped[2] > 2 * rectangle_share  # over 2 nats per flipped pixel: the segmenter is sure they changed


def test_loss_reaches_the_translation_and_leaves_ignored_pixels_out(colour_segmenter) -> None:
    loss = _loss(colour_segmenter)
    images, labels = _batch(seed=6)
    translated = _paint(images, labels == COOL, GAME[WARM]).requires_grad_(True)
    loss(translated, labels).backward()
    gradient = translated.grad.abs().sum(dim=1)
    assert gradient[labels == COOL].mean() > 5 * gradient[labels == WARM].mean()  # the flipped pixels are blamed
    assert all(p.grad is None and not p.requires_grad for p in loss.net.parameters())  # the segmenter stays frozen

    # F(b) against the segmenter's own prediction on b, with b's ignored pixels (a hood) left out
    real_b, labels_b = _batch(seed=7, colours=REAL)
    hood = labels_b == COOL
    predicted = loss.predict(real_b, labels_b.masked_fill(hood, 255))
    assert torch.equal(predicted == 255, hood) and (predicted[~hood] == WARM).float().mean() > 0.98
    assert float(loss(real_b, predicted)) < 0.02
    assert float(loss(_paint(real_b, hood, GAME[WARM]), predicted)) == pytest.approx(float(loss(real_b, predicted)),
                                                                                  abs=0.02)


@pytest.mark.parametrize("size, training_size", [(64, (64, 64)), (28, (SIZE, SIZE))],
                         ids=["twice-the-segmenter-scale", "crops-padded-to-its-multiple"])
def test_loss_sees_images_at_the_segmenter_scale(colour_segmenter, size: int, training_size: tuple[int, int]) -> None:
    """A run at another scale than the segmenter's: 64x64 frames are shown at 32x32; 28x28 crops are padded."""
    images, labels = _batch(seed=8)
    images = torch.nn.functional.interpolate(images, size=(size, size), mode="nearest") if size > SIZE \
        else images[..., :size, :size]
    labels = torch.from_numpy(np.stack([cv2.resize(l.numpy(), (size, size), interpolation=cv2.INTER_NEAREST)
                                        for l in labels])) if size > SIZE else labels[..., :size, :size]
    loss = _loss(colour_segmenter, training_size)
    assert loss.logits(images).shape == (4, 19, size, size)
    flipped = _paint(images, labels == COOL, GAME[WARM])
    assert float(loss(images, labels)) < 0.05 < 0.1 < float(loss(flipped, labels))


def _classes_and_look(model_name: str, scenes: list[tuple[np.ndarray, np.ndarray]]) -> tuple[float, np.ndarray]:
    """The share of the regions of G(a) (each scene's background and rectangle, 2 pixels in from their edges)
    whose mean colour has a's class (warm: red above blue), and the mean colour G paints each class."""
    from vidtrans.registry import resolve_model

    images = np.stack([image for image, _ in scenes])
    with torch.no_grad():
        translated = resolve_model(model_name).load_generator()(torch.stack([to_tensor(i) for i in images]))
    translated = ((translated + 1) * 127.5).clamp(0, 255).permute(0, 2, 3, 1).numpy()
    kept, painted = [], {WARM: [], COOL: []}
    for image, (_, labels) in zip(translated, scenes):
        for value in (WARM, COOL):
            inside = cv2.erode((labels == value).astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
            red, _, blue = colour = image[inside].mean(axis=0)
            kept.append((red > blue) == (value == WARM))
            painted[value].append(colour)
    return float(np.mean(kept)), np.stack([np.mean(painted[value], axis=0) for value in (WARM, COOL)])


def test_semantic_loss_keeps_the_classes_that_plain_cyclegan_swaps(tmp_path, colour_segmenter, monkeypatch) -> None:
    """Game: saturated, mostly warm; real: muted, mostly cool. Swapping warm and cool matches the real domain's
    content exactly, so plain CycleGAN learns the swap; with the loss, G must mute the colours and keep them."""
    from vidtrans.cli import main

    monkeypatch.setenv("VIDTRANS_HOME", str(tmp_path / "home"))
    rng = np.random.default_rng(1)
    game = write_gta5(tmp_path / "game", [scene(rng, WARM, GAME) for _ in range(32)])
    real = write_gta5(tmp_path / "real", [scene(rng, COOL, REAL) for _ in range(32)], labels=False)
    held_out = [scene(rng, WARM, GAME) for _ in range(16)]
    common = ["--runs-dir", str(tmp_path / "runs"), "--ngf", "8", "--n-blocks", "2", "--ndf", "8", "--load-size",
              str(SIZE), "--crop-size", str(SIZE), "--batch-size", "4", "--max-steps", "100", "--num-workers", "0",
              "--device", "cpu", "--log-every", "50"]
    assert main(["train", str(game), str(real), "--name", "plain", *common]) == 0
    assert main(["train", str(game), str(real), "--name", "semantic", *common, "--semantic-loss", "10",
                 "--semantic-segmenter", str(colour_segmenter)]) == 0

    plain_kept, _ = _classes_and_look("plain", held_out)
    kept, colours = _classes_and_look("semantic", held_out)
    print(f"classes kept: plain {plain_kept:.3f}, semantic {kept:.3f}; colours painted {colours.round()}")
    assert plain_kept < 0.5  # without the loss the classes swap
    assert kept == 1
    for value, painted in zip((WARM, COOL), colours):  # and G did translate: nearer the real look than the game's
        assert np.abs(painted - REAL[value]).mean() < 0.5 * np.abs(painted - GAME[value]).mean()


def _copy_segmenter(source, target):
    import shutil

    shutil.copytree(source, target)
    return target


def test_bad_segmenters_and_labels_are_one_line_errors(tmp_path, colour_segmenter, capsys) -> None:
    import json

    from vidtrans.cli import main

    rng = np.random.default_rng(2)
    game = write_gta5(tmp_path / "game", [scene(rng, WARM, GAME) for _ in range(4)])
    real = write_gta5(tmp_path / "real", [scene(rng, COOL, REAL) for _ in range(4)], labels=False)
    runs = tmp_path / "runs"

    def fails(*extra: str, started: bool = False) -> tuple[int, str]:
        code = main(["train", str(game), str(real), "--name", "bad", "--runs-dir", str(runs), "--ngf", "8",
                     "--n-blocks", "2", "--ndf", "8", "--load-size", str(SIZE), "--crop-size", str(SIZE),
                     "--num-workers", "0", "--device", "cpu", "--max-steps", "1", "--no-register", *extra])
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 + started and "Traceback" not in "".join(lines), lines  # started: the run's first line
        if started:
            assert not (runs / "bad" / "model").exists() and not (runs / "bad" / "checkpoints" / "latest.pt").exists()
        else:
            assert not (runs / "bad").exists()  # a run that cannot start leaves nothing behind
        return code, lines[-1]

    assert fails("--semantic-loss", "1") == (2, "vidtrans: error: options: semantic_loss needs a segmenter of the "
                                                "source domain: pass --semantic-segmenter DIR (train one with "
                                                "`vidtrans segmenter train`)")
    code, error = fails("--semantic-loss", "1", "--semantic-segmenter", str(tmp_path / "nowhere"))
    assert code == 1 and f"{tmp_path / 'nowhere'}: no such segmenter directory" in error

    damaged = _copy_segmenter(colour_segmenter, tmp_path / "damaged")
    weights = damaged / "segmenter.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    code, error = fails("--semantic-loss", "1", "--semantic-segmenter", str(damaged))
    assert code == 1 and error.endswith(f"{weights}: sha256 differs from the one in segmenter.json (a damaged or "
                                        "replaced file)")

    more_classes = _copy_segmenter(colour_segmenter, tmp_path / "more-classes")
    sidecar = json.loads((more_classes / "segmenter.json").read_text())
    sidecar["class_names"].append("ego vehicle")
    (more_classes / "segmenter.json").write_text(json.dumps(sidecar))
    code, error = fails("--semantic-loss", "1", "--semantic-segmenter", str(more_classes))
    assert code == 1 and error.endswith(f"{more_classes / 'segmenter.safetensors'}: the network labels 19 classes, "
                                        "but segmenter.json names 20")

    code, error = fails("--mode", "pix2pix", "--semantic-loss", "1", "--semantic-segmenter", str(colour_segmenter))
    assert code == 2 and "semantic_loss applies to cyclegan (unpaired) training, not pix2pix" in error

    label = game / "labels" / "002.png"
    labels = cv2.imread(str(label), cv2.IMREAD_UNCHANGED)
    labels[:4, :4] = 30  # not a class of the segmenter's 19, nor its ignore index
    cv2.imwrite(str(label), labels)
    code, error = fails("--semantic-loss", "1", "--semantic-segmenter", str(colour_segmenter), "--batch-size", "4",
                        started=True)
    assert code == 1 and error.endswith(f"{label}: label value 30 is not one of the segmenter's 19 classes (0-18) "
                                        "nor its ignore index 255")
    assert main(["train", str(game), str(real), "--name", "plain", "--runs-dir", str(runs), "--ngf", "8",
                 "--n-blocks", "2", "--ndf", "8", "--load-size", str(SIZE), "--crop-size", str(SIZE),
                 "--num-workers", "0", "--device", "cpu", "--max-steps", "2", "--no-register"]) == 0  # labels unread

