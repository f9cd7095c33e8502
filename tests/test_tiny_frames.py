"""Frames too small for the generator: the smallest size comes from the architecture, and a frame below it is
one failed item (named, with the reason) while the job goes on, in synth and in a folder convert."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from media import write_clip
from vidtrans.cli import main
from vidtrans.modeldir import ModelDirectory
from vidtrans.networks import ResnetGeneratorConfig, UnetGeneratorConfig, build_generator

CPU = ["--backend", "torch", "--device", "cpu", "-q"]


def _runs(config: ResnetGeneratorConfig | UnetGeneratorConfig, side: int) -> bool:
    """Whether the generator runs on a side x side frame padded to its size multiple, as the translator pads."""
    padded = -(-side // config.size_multiple) * config.size_multiple
    try:
        with torch.no_grad():
            build_generator(config).eval()(torch.zeros(1, 3, padded, padded))
    except (ValueError, RuntimeError):
        return False
    return True


@pytest.mark.parametrize("config", [
    ResnetGeneratorConfig(ngf=4, n_blocks=1),
    ResnetGeneratorConfig(ngf=4, n_blocks=1, norm="batch"),
    ResnetGeneratorConfig(ngf=4, n_blocks=1, norm="batch", padding="zero"),
    ResnetGeneratorConfig(ngf=4, n_blocks=1, norm="instance", padding="zero"),
    UnetGeneratorConfig(ngf=4, num_downs=5, norm="instance"),
], ids=["resnet", "resnet-batch", "resnet-batch-zero", "resnet-instance-zero", "unet-instance"])
def test_min_size_is_the_smallest_side_the_generator_runs_on(config: ResnetGeneratorConfig | UnetGeneratorConfig,
                                                             one_torch_thread: None) -> None:
    assert _runs(config, config.min_size)
    assert config.min_size == 1 or not _runs(config, config.min_size - 1)
    assert ResnetGeneratorConfig().min_size == 5  # the CycleGAN default: padded to 8, a 2x2 bottleneck


def _images(folder: Path, count: int, tiny: dict[int, tuple[int, int]]) -> list[Path]:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    paths = []
    for i in range(count):
        width, height = tiny.get(i, (24, 16))
        paths.append(folder / f"{i:03d}.png")
        cv2.imwrite(str(paths[-1]), rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
    return paths


def test_synth_records_a_tiny_image_as_failed_and_goes_on(tmp_path: Path, tiny_model: ModelDirectory,
                                                          one_torch_thread: None,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    _images(tmp_path / "data" / "images", 40, {16: (3, 3), 30: (40, 4)})
    (tmp_path / "data" / "labels").mkdir()
    out = tmp_path / "out"
    for _ in range(2):  # a rerun retries the two and goes on just the same
        assert main(["synth", str(tmp_path / "data"), str(out), "--model", str(tiny_model.path), *CPU]) == 3
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "2 of 40 items failed" in err
    records = {r["key"]: r for r in map(json.loads, (out / "manifest.jsonl").read_text().splitlines()[:-1])}
    failed = {key: r["error"] for key, r in records.items() if r["status"] != "ok"}
    assert sorted(failed) == ["images/016.png", "images/030.png"]
    assert failed["images/016.png"].endswith("images/016.png: 3x3 is too small for this model (it needs at least "
                                             "5 pixels on each side)")
    assert "040.png" not in failed and "40x4 is too small" in failed["images/030.png"]
    assert len(list((out / "images").glob("*.png"))) == 38


def test_synth_resized_to_tiny_and_tiny_video_frames_fail_as_items(tmp_path: Path, tiny_model: ModelDirectory,
                                                                   one_torch_thread: None) -> None:
    write_clip(tmp_path / "clip.mp4", size=(4, 4), frames=3)
    out = tmp_path / "out"
    assert main(["synth", str(tmp_path / "clip.mp4"), str(out), "--model", str(tiny_model.path), *CPU]) == 3
    records = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()[:-1]]
    assert [r["status"] for r in records] == ["failed"] * 3
    assert records[1]["error"].endswith("clip.mp4 frame 1: 4x4 is too small for this model (it needs at least 5 "
                                        "pixels on each side)")


def test_folder_convert_skips_a_tiny_image_and_writes_the_rest(tmp_path: Path, tiny_model: ModelDirectory,
                                                               one_torch_thread: None,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    paths = _images(tmp_path / "shots", 5, {2: (2, 2)})
    out = tmp_path / "shots-out"
    code = main(["convert", str(tmp_path / "shots"), "-o", str(out), "--model", str(tiny_model.path), *CPU])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 3
    assert f"vidtrans: warning: skipping {paths[2]}: 2x2 is too small for this model" in err[0]
    assert err[-1].startswith("vidtrans: error: ") and all(line.startswith("vidtrans: warning: ") for line in err[:-1])
    assert sorted(p.name for p in out.glob("*.png")) == ["000.png", "001.png", "003.png", "004.png"]
    # --size makes every image big enough
    assert main(["convert", str(tmp_path / "shots"), "-o", str(tmp_path / "resized"), "--size", "8x8",
                 "--model", str(tiny_model.path), *CPU]) == 0


@pytest.mark.parametrize("name", ["dot.png", "dot.mp4"])
def test_a_tiny_single_input_is_one_line_error(tmp_path: Path, tiny_model: ModelDirectory, name: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / name
    if name.endswith(".png"):
        cv2.imwrite(str(source), np.zeros((3, 3, 3), np.uint8))
    else:
        write_clip(source, size=(4, 4), frames=2)
    code = main(["convert", str(source), "-o", str(tmp_path / f"out-{name}"), "--model", str(tiny_model.path), *CPU])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1
    assert err.startswith(f"vidtrans: error: {source}: ") and "is too small for this model" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]
