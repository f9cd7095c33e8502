"""Training building blocks: LR schedule, image pool, GAN losses, sampler, preprocessing, domains."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from vidtrans.errors import InputError, UsageError
from vidtrans.images import write_image
from vidtrans.training.config import DataConfig, OptimConfig
from vidtrans.training.data import (
    EpochBatches,
    PairedDataset,
    UnpairedDataset,
    apply_transform,
    collate,
    draw_transform,
    scaled_size,
)
from vidtrans.training.domains import find_sources, pair_items, resolve_items
from vidtrans.training.losses import GANLoss, gradient_penalty
from vidtrans.training.pool import ImagePool
from vidtrans.training.schedule import lr_factor, make_scheduler


def _images(folder: Path, names: list[str], *, size: tuple[int, int] = (40, 32), seed: int = 0) -> list[Path]:
    rng = np.random.default_rng(seed)
    paths = []
    for name in names:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        write_image(path, rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
        paths.append(path)
    return paths


# learning-rate schedule --------------------------------------------------------------------------------


def test_linear_schedule_is_the_papers() -> None:
    """2e-4 for 100 epochs, then linear decay to zero over the next 100 (the reference's per-epoch steps)."""
    optim = OptimConfig()
    optimizer = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=optim.lr, betas=(0.5, 0.999))
    scheduler = make_scheduler(optimizer, optim)
    seen = {}
    for epoch in range(optim.total_epochs + 1):
        seen[epoch] = optimizer.param_groups[0]["lr"]
        optimizer.step()
        scheduler.step()
    for epoch in (0, 1, 50, 99):
        assert seen[epoch] == pytest.approx(2e-4, rel=1e-12)
    for epoch in (100, 125, 150, 199):
        assert seen[epoch] == pytest.approx(2e-4 * (1 - (epoch - 99) / 101), rel=1e-9)
    assert seen[200] == pytest.approx(0.0, abs=1e-15)
    assert all(seen[e + 1] < seen[e] for e in range(99, 200))


def test_step_and_cosine_policies() -> None:
    step = OptimConfig(lr_policy="step", lr_step_epochs=10, lr_step_gamma=0.5)
    assert [lr_factor(step, e) for e in (0, 9, 10, 25)] == [1.0, 1.0, 0.5, 0.25]
    cosine = OptimConfig(lr_policy="cosine", epochs=5, epochs_decay=5)
    assert lr_factor(cosine, 0) == 1.0
    assert lr_factor(cosine, 5) == pytest.approx(0.5)
    assert lr_factor(cosine, 10) == pytest.approx(0.0, abs=1e-12)


# image pool ---------------------------------------------------------------------------------------------


def test_pool_of_size_zero_passes_images_through() -> None:
    images = torch.randn(3, 3, 4, 4)
    assert torch.equal(ImagePool(0, seed=0).query(images), images)


def test_pool_fills_then_swaps_half_the_time() -> None:
    pool = ImagePool(50, seed=1)
    first = torch.arange(50, dtype=torch.float32).view(50, 1, 1, 1).expand(50, 3, 2, 2)
    assert torch.equal(pool.query(first), first)  # filling: returned as they are, and kept
    assert len(pool.images) == 50
    from_history = 0
    for i in range(400):
        new = torch.full((1, 3, 2, 2), 1000.0 + i)
        before = {float(im[0, 0, 0]) for im in pool.images}
        out = pool.query(new)
        value = float(out[0, 0, 0, 0])
        if value != 1000.0 + i:
            assert value in before  # an older image, swapped out for the new one
            assert any(float(im[0, 0, 0]) == 1000.0 + i for im in pool.images)
            from_history += 1
        assert len(pool.images) == 50
    assert 0.4 < from_history / 400 < 0.6


def test_pool_state_round_trip_continues_identically() -> None:
    pool = ImagePool(5, seed=3)
    for _ in range(8):
        pool.query(torch.randn(2, 3, 4, 4))
    copy = ImagePool(5, seed=99)
    copy.load_state_dict(pool.state_dict())
    batch = torch.randn(4, 3, 4, 4)
    assert torch.equal(pool.query(batch), copy.query(batch))
    assert all(torch.equal(a, b) for a, b in zip(pool.images, copy.images))


# losses -------------------------------------------------------------------------------------------------


def test_gan_losses() -> None:
    ones, zeros = torch.ones(2, 1, 3, 3), torch.zeros(2, 1, 3, 3)
    lsgan = GANLoss("lsgan")
    assert lsgan(ones, True).item() == 0 and lsgan(zeros, False).item() == 0
    assert lsgan(zeros, True).item() == pytest.approx(1.0)
    logits = torch.randn(2, 1, 3, 3)
    expected = torch.nn.functional.binary_cross_entropy(torch.sigmoid(logits), torch.ones_like(logits))
    assert GANLoss("vanilla")(logits, True).item() == pytest.approx(expected.item(), rel=1e-5)
    assert GANLoss("wgangp")(logits, True).item() == pytest.approx(-logits.mean().item())
    with pytest.raises(ValueError, match="lsgan, vanilla, wgangp"):
        GANLoss("hinge")  # type: ignore[arg-type]


def test_gradient_penalty_is_zero_for_a_unit_gradient() -> None:
    linear = torch.nn.Conv2d(3, 1, 2, bias=False)
    with torch.no_grad():
        linear.weight.fill_(0)
        linear.weight[0, 0, 0, 0] = 1.0  # one output pixel -> gradient norm 1 w.r.t. the input
    real, fake = torch.randn(4, 3, 2, 2), torch.randn(4, 3, 2, 2)
    assert gradient_penalty(linear, real, fake).item() == pytest.approx(0.0, abs=1e-10)
    with torch.no_grad():
        linear.weight[0, 0, 0, 0] = 3.0
    assert gradient_penalty(linear, real, fake).item() == pytest.approx(4.0)


# sampler ------------------------------------------------------------------------------------------------


def test_sampler_shards_cover_every_position_once() -> None:
    shards = [EpochBatches(11, batch_size=2, seed=5, world_size=3, rank=r) for r in range(3)]
    positions: list[int] = []
    for shard in shards:
        shard.set_epoch(4)
        batches = list(shard)
        assert len(batches) == shard.batches_per_epoch == 2
        positions += [key[1] for batch in batches for key in batch]
    assert sorted(positions) == list(range(12))  # 11 padded to 12
    indices = {key[2] for shard in shards for batch in shard for key in batch}
    assert indices == set(range(11))


def test_sampler_resumes_mid_epoch_and_reshuffles_each_epoch() -> None:
    sampler = EpochBatches(10, batch_size=3, seed=0)
    sampler.set_epoch(2)
    full = list(sampler)
    sampler.set_epoch(2, start_batch=2)
    assert list(sampler) == full[2:]
    sampler.set_epoch(3)
    assert [k[2] for b in sampler for k in b] != [k[2] for b in full for k in b]


# preprocessing ------------------------------------------------------------------------------------------


def test_preprocess_sizes() -> None:
    rng = np.random.default_rng(0)
    image = np.zeros((512, 1024, 3), np.uint8)
    cases = {
        DataConfig(): (286, 286),
        DataConfig(preprocess="scale_width_and_crop", load_size=1024, crop_size=360): (1024, 512),
        DataConfig(preprocess="scale_width", load_size=510): (512, 256),
        DataConfig(preprocess="none"): (1024, 512),
        DataConfig(preprocess="crop", crop_size=600): (1200, 600),
    }
    for data, size in cases.items():
        assert scaled_size(1024, 512, data, 4) == size, data.preprocess
        out = apply_transform(image, draw_transform(1024, 512, data, 4, rng), data.crop_size)
        expected = (data.crop_size, data.crop_size) if data.preprocess.endswith("crop") else size[::-1]
        assert out.shape[:2] == expected, data.preprocess


def test_flip_and_crop_follow_the_draw() -> None:
    data = DataConfig(load_size=8, crop_size=4)
    image = np.arange(8 * 8 * 3, dtype=np.uint8).reshape(8, 8, 3)
    flips = set()
    for seed in range(20):
        transform = draw_transform(8, 8, data, 4, np.random.default_rng(seed))
        x, y = transform.offset  # type: ignore[misc]
        window = image[y:y + 4, x:x + 4]
        out = apply_transform(image, transform, 4)
        assert np.array_equal(out, window[:, ::-1] if transform.flip else window)
        flips.add(transform.flip)
    assert flips == {True, False}
    no_flip = DataConfig(load_size=8, crop_size=4, flip=False)
    assert not any(draw_transform(8, 8, no_flip, 4, np.random.default_rng(s)).flip for s in range(20))


# datasets -----------------------------------------------------------------------------------------------


def test_unpaired_samples_are_deterministic_and_worker_independent(tmp_path: Path) -> None:
    a = _images(tmp_path / "a", [f"{i}.png" for i in range(5)])
    b = _images(tmp_path / "b", [f"{i}.png" for i in range(3)], seed=1)
    data = DataConfig(load_size=36, crop_size=32)
    dataset = UnpairedDataset(a, b, data, seed=7, multiple=4)
    assert len(dataset) == 5
    first = dataset[(1, 3, 2)]
    assert first["A"].shape == (3, 32, 32) and first["A"].min() >= -1 and first["A"].max() <= 1
    assert torch.equal(first["B"], dataset[(1, 3, 2)]["B"])
    sampler = EpochBatches(len(dataset), batch_size=2, seed=7)
    runs = []
    for workers in (0, 2):
        loader = DataLoader(dataset, batch_sampler=sampler, num_workers=workers, collate_fn=collate)
        sampler.set_epoch(1)
        runs.append([torch.cat([batch["A"], batch["B"]]) for batch in loader])
    assert all(torch.equal(x, y) for x, y in zip(*runs))


def test_unreadable_images_are_replaced_and_reported(tmp_path: Path) -> None:
    a = _images(tmp_path / "a", ["0.png", "1.png", "2.png"])
    a[1].write_bytes(b"not an image")
    dataset = PairedDataset(list(zip(a, a)), DataConfig(load_size=32, crop_size=32, flip=False), seed=0, multiple=4)
    sample = dataset[(0, 0, 1)]
    assert "1.png" in sample["bad"]
    assert torch.equal(sample["A"], dataset[(0, 0, 2)]["A"])  # the next readable pair stands in


# domains ------------------------------------------------------------------------------------------------


def test_known_layouts_and_folders(tmp_path: Path) -> None:
    gta = tmp_path / "gta5"
    _images(gta, ["images/00001.png", "images/00002.png", "labels/00001.png", "labels/00002.png"])
    root, sources = find_sources(str(gta))
    assert root == gta / "images" and [s.key for s in sources] == ["00001", "00002"]

    cityscapes = tmp_path / "cityscapes"
    _images(cityscapes, ["leftImg8bit/train/aachen/a_leftImg8bit.png", "leftImg8bit/val/lindau/l_leftImg8bit.png",
                         "gtFine/train/aachen/a_gtFine_labelIds.png"])
    root, sources = find_sources(str(cityscapes))
    assert root == cityscapes / "leftImg8bit" / "train" and [s.key for s in sources] == ["aachen/a_leftImg8bit"]
    assert len(find_sources(str(cityscapes), split="val")[1]) == 1
    with pytest.raises(InputError, match="found: train, val"):
        find_sources(str(cityscapes), split="test")

    plain = tmp_path / "plain"
    _images(plain, ["x/1.jpg", "2.webp", "3.bmp"])
    (plain / "notes.txt").write_text("not an image")
    assert [s.key for s in find_sources(str(plain))[1]] == ["2", "3", "x/1"]


def test_list_files_and_errors(tmp_path: Path) -> None:
    _images(tmp_path / "imgs", ["a.png", "b.png"])
    listing = tmp_path / "train.txt"
    listing.write_text("# frames\nimgs/b.png\n\nimgs/a.png  # first\n")
    _, sources = find_sources(str(listing))
    assert [s.path.name for s in sources] == ["b.png", "a.png"]
    items = resolve_items(sources, frames_dir=tmp_path / "frames", frame_step=1, max_items=1)
    assert [i.path.name for i in items] == ["b.png"]
    listing.write_text("imgs/a.png\nimgs/missing.png\n")
    with pytest.raises(InputError, match=r"line 2: imgs/missing.png: no such file"):
        find_sources(str(listing))
    with pytest.raises(InputError, match="no such file or folder"):
        find_sources(str(tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    assert find_sources(str(tmp_path / "empty"))[1] == []


def _items(folder: Path, names: list[str]) -> list:
    _images(folder, names)
    return resolve_items(find_sources(str(folder))[1], frames_dir=folder / "frames", frame_step=1)


def test_pairing_by_name(tmp_path: Path) -> None:
    a = _items(tmp_path / "a", ["s/1.png", "2.png"])
    b = _items(tmp_path / "b", ["2.jpg", "s/1.jpg"])
    pairs = pair_items(a, b, root_a=tmp_path / "a", root_b=tmp_path / "b")
    assert [(x.path.name, y.path.name) for x, y in pairs] == [("2.png", "2.jpg"), ("1.png", "1.jpg")]
    c = _items(tmp_path / "c", ["2.png", "3.png"])
    with pytest.raises(UsageError, match=r"has 2 images, .* has 2, and 1 names match"):
        pair_items(a, c, root_a=tmp_path / "a", root_b=tmp_path / "c")
