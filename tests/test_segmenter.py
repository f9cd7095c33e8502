"""`vidtrans segmenter train`, vidtrans' own segmenter directories (torch and ONNX), the frozen module for training
losses, and the bundled real-domain segmenter."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from vidtrans.cli import main
from vidtrans.downstream import find_pairs
from vidtrans.errors import InputError, ModelError, OutputError, UsageError
from vidtrans.fsutil import sha256_file
from vidtrans.images import read_image
from vidtrans.scenes import CLASS_NAMES, IGNORE, render_frame, write_scene_dataset
from vidtrans.segmenter import (
    BUNDLED_SEGMENTERS,
    EGO_VEHICLE,
    OnnxSegmenter,
    TorchSegmenter,
    frozen_segmenter,
    load_segmenter,
)
from vidtrans.segmenter.build import SegmenterTrainOptions, mark_ego_vehicle, train_segmenter

@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three real-content scenes at 64x32 (with the hood, labelled 255)."""
    root = tmp_path_factory.mktemp("scenes")
    write_scene_dataset(root / "d", count=3, width=64, height=32, content="real")
    return root / "d"


@pytest.fixture(scope="module")
def trained(scenes: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A tiny segmenter trained with `vidtrans segmenter train` on both looks, with the ego-vehicle class; and
    what the command printed."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("segmenters") / "seg"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(["segmenter", "train", str(scenes / "real"), str(scenes / "game"), "-o", str(out),
                     "--size", "64x32", "--crop", "32x32", "--steps", "3", "--batch-size", "2", "--ego-vehicle", "--augment", "--val",
                     str(scenes / "real"), "--device", "cpu", "--quiet"])
    torch.set_num_threads(before)
    assert code == 0
    yield out, printed.getvalue()


def test_mark_ego_vehicle_takes_only_ignore_regions_touching_the_bottom() -> None:
    labels = np.zeros((6, 8), np.uint8)
    labels[1, 2:4] = IGNORE  # a blob in the middle: stays ignored
    labels[4, 3:6] = IGNORE  # the hood: connected to the bottom row
    labels[5, 1:7] = IGNORE
    marked = mark_ego_vehicle(labels, 19)
    assert (marked[1, 2:4] == IGNORE).all()
    assert (marked[4, 3:6] == 19).all() and (marked[5, 1:7] == 19).all()
    assert (marked[labels != IGNORE] == 0).all() and (labels[4, 3:6] == IGNORE).all()  # a copy


def test_the_segmenter_directory(trained: tuple[Path, str], scenes: Path) -> None:
    trained, printed = trained
    assert "trained on 6 images (20 classes)" in printed and "verified with ONNX Runtime" in printed
    assert "validation: mIoU" in printed
    assert sorted(p.name for p in trained.iterdir()) == ["segmenter.json", "segmenter.onnx", "segmenter.safetensors"]
    doc = json.loads((trained / "segmenter.json").read_text())
    assert doc["class_names"] == [*CLASS_NAMES, EGO_VEHICLE] and doc["ignore_index"] == 255
    assert doc["input_size"] == [64, 32] and doc["mean"] == doc["std"] == [0.5, 0.5, 0.5]
    assert doc["torch"]["sha256"] == sha256_file(trained / "segmenter.safetensors")
    assert doc["torch"]["architecture"]["widths"] == [16, 32, 48, 64]
    assert doc["onnx"]["sha256"] == sha256_file(trained / "segmenter.onnx")
    assert doc["training"]["images"] == 6 and doc["training"]["ego_vehicle"] is True and doc["training"]["steps"] == 3
    assert doc["training"]["crop"] == [32, 32] and doc["training"]["augment"] is True
    assert doc["training"]["data"] == [str(scenes / "real"), str(scenes / "game")]
    assert 0 <= doc["validation"]["miou"] <= 1 and "ego vehicle" in doc["validation"]["iou"]
    # torch and ONNX Runtime label the same images the same way, at the images' own size
    images = np.stack([read_image(image) for image, _ in find_pairs(scenes / "real")])
    by_torch, by_onnx = load_segmenter(trained), load_segmenter(trained / "segmenter.onnx")
    assert isinstance(by_torch, TorchSegmenter) and isinstance(by_onnx, OnnxSegmenter)
    predicted = by_torch.predict(images)
    assert predicted.shape == (3, 32, 64) and predicted.dtype == np.uint8 and predicted.max() < 20
    np.testing.assert_array_equal(by_onnx.predict(images), predicted)
    bigger = np.repeat(np.repeat(images, 2, axis=1), 2, axis=2)  # resized to 64x32 and back
    assert by_torch.predict(bigger).shape == (3, 64, 128)


def test_the_frozen_module_for_training_losses(trained: tuple[Path, str]) -> None:
    trained = trained[0]
    net = frozen_segmenter(trained)
    assert not net.training and not any(p.requires_grad for p in net.parameters())
    frame = render_frame(1, width=64, height=32, styles=("real",), content="real").real
    x = (torch.from_numpy(frame).permute(2, 0, 1)[None].float() / 127.5 - 1).requires_grad_(True)
    logits = net(x)
    assert logits.shape == (1, 20, 32, 64)
    expected = load_segmenter(trained).predict(frame[None])[0]
    np.testing.assert_array_equal(logits.argmax(1)[0].numpy(), expected)  # [-1, 1] input, as documented
    logits[:, 0].mean().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0  # gradients reach the input...
    assert all(p.grad is None for p in net.parameters())  # ...never the weights


def test_damaged_directories_are_refused(trained: tuple[Path, str], tmp_path: Path) -> None:
    trained = trained[0]
    copy = tmp_path / "seg"
    copy.mkdir()
    for file in trained.iterdir():
        (copy / file.name).write_bytes(file.read_bytes())
    weights = copy / "segmenter.safetensors"
    weights.write_bytes(weights.read_bytes()[:-4] + b"abcd")
    with pytest.raises(ModelError, match="segmenter.safetensors: sha256 differs"):
        frozen_segmenter(copy)
    weights.unlink()
    with pytest.raises(ModelError, match="missing segmenter.safetensors"):
        frozen_segmenter(copy)
    assert isinstance(load_segmenter(copy), OnnxSegmenter)  # the ONNX file alone still runs


def test_train_refuses_bad_options_and_existing_output(scenes: Path, trained: tuple[Path, str], tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(UsageError, match="--size must be a positive multiple of 4"):
        SegmenterTrainOptions(size=(66, 32), widths=(4, 8))
    with pytest.raises(UsageError, match="--crop 128x32 does not fit"):
        SegmenterTrainOptions(size=(64, 32), crop=(128, 32))
    with pytest.raises(OutputError, match="already exists"):
        train_segmenter(scenes / "real", trained[0], SegmenterTrainOptions(size=(64, 32), device="cpu"))
    assert main(["segmenter", "train", str(scenes / "real"), "-o", str(tmp_path / "s"), "--size", "100x50"]) == 2
    assert "--size must be a positive multiple of 16" in capsys.readouterr().err
    assert main(["segmenter", "train", str(tmp_path), "-o", str(tmp_path / "s"), "--device", "cpu"]) == 1
    assert "not a labelled dataset" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def test_cityscapes_splits(scenes: Path) -> None:
    assert len(find_pairs(scenes / "real", split="train")) == 3
    with pytest.raises(InputError, match="no split 'val'"):
        find_pairs(scenes / "real", split="val")
    with pytest.raises(InputError, match="has no splits"):
        find_pairs(scenes / "game", split="train")


def test_the_bundled_segmenter_finds_the_hood() -> None:
    folder = BUNDLED_SEGMENTERS / "scenes-real"
    assert sum(p.stat().st_size for p in folder.iterdir()) < 2_000_000
    segmenter = load_segmenter()  # the default
    assert segmenter.path == folder and segmenter.spec.ego_vehicle_class == 19
    hooded = render_frame(310_100, content="real", styles=("real",))
    bare = render_frame(310_100, content="real", styles=("real",), hood=False)
    with_hood, without = segmenter.predict(np.stack([hooded.real, bare.real]))
    hood = hooded.labels == IGNORE
    assert (with_hood[hood] == 19).mean() > 0.9
    assert (without[hood] == 19).mean() < 0.05 and (without[hood] == bare.labels[hood]).mean() > 0.8
    labelled = ~hood
    assert (with_hood[labelled] == hooded.labels[labelled]).mean() > 0.85
