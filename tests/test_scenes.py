"""Tests for the procedural driving-scene renderer (vidtrans.scenes)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from vidtrans.errors import OutputError
from vidtrans.scenes import (
    CLASS_NAMES,
    IGNORE,
    NUM_CLASSES,
    RealStyle,
    colorize_labels,
    render_clip,
    render_frame,
    write_scene_dataset,
)
from vidtrans.scenes.stats import label_shares

W, H = 256, 128
VALID_IDS = set(range(NUM_CLASSES)) | {255}
ROAD, SKY = 0, 10
REPO = Path(__file__).resolve().parents[1]


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / mse))


def _colour_keys(image: np.ndarray) -> np.ndarray:
    flat = image.reshape(-1, 3).astype(np.int64)
    return (flat[:, 0] << 16) | (flat[:, 1] << 8) | flat[:, 2]


def test_same_seed_is_bit_identical() -> None:
    a = render_frame(3, width=W, height=H, frame_index=2)
    render_frame(4, width=W, height=H)  # caches must not leak between seeds
    b = render_frame(3, width=W, height=H, frame_index=2)
    for name in ("game", "real", "labels"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_shapes_and_dtypes() -> None:
    f = render_frame(1, width=W, height=H)
    assert f.game.shape == f.real.shape == (H, W, 3)
    assert f.labels.shape == (H, W)
    assert f.game.dtype == f.real.dtype == f.labels.dtype == np.uint8


def test_different_seeds_differ() -> None:
    a, b = render_frame(0, width=W, height=H), render_frame(1, width=W, height=H)
    assert not np.array_equal(a.labels, b.labels)
    assert np.abs(a.game.astype(int) - b.game).mean() > 10


def test_game_only_render_matches_full_render() -> None:
    full = render_frame(5, width=W, height=H)
    game = render_frame(5, width=W, height=H, styles=("game",))
    assert game.real is None
    np.testing.assert_array_equal(game.game, full.game)
    np.testing.assert_array_equal(game.labels, full.labels)
    assert render_frame(5, width=W, height=H, styles=("real",)).game is None


@pytest.mark.parametrize("seed", [0, 7, 11])
def test_labels_are_valid_and_plausibly_placed(seed: int) -> None:
    labels = render_frame(seed, width=W, height=H, styles=("game",)).labels
    present = set(np.unique(labels).tolist())
    assert present <= VALID_IDS
    assert len(present) >= 6, present
    bottom_middle = labels[int(H * 0.85):, W // 3: 2 * W // 3]
    assert (bottom_middle == ROAD).mean() > 0.5
    assert (labels[: H // 4] == SKY).mean() > 0.05
    assert not (labels[H // 2:] == SKY).any()  # no sky below the horizon


def test_game_colours_determine_labels() -> None:
    """Image and labels come from the same drawing: each game colour belongs to (almost) one label."""
    for seed in (2, 6):
        f = render_frame(seed, width=W, height=H, styles=("game",))
        keys, labels = _colour_keys(f.game), f.labels.reshape(-1).astype(np.int64)
        pairs, counts = np.unique(keys * 256 + labels, return_counts=True)
        best: dict[int, int] = {}
        for pair, count in zip((pairs >> 8).tolist(), counts.tolist()):
            best[pair] = max(best.get(pair, 0), count)
        assert sum(best.values()) / keys.size > 0.99


def test_label_edges_are_image_edges() -> None:
    f = render_frame(8, width=W, height=H, styles=("game",))
    label_edge = f.labels[:, 1:] != f.labels[:, :-1]
    colour_edge = (f.game[:, 1:] != f.game[:, :-1]).any(axis=2)
    assert colour_edge[label_edge].mean() > 0.97


def test_real_colour_differs_between_labels() -> None:
    f = render_frame(9, width=W, height=H)
    means = {c: f.real[f.labels == c].mean(axis=0) for c in np.unique(f.labels) if (f.labels == c).sum() > 200}
    assert ROAD in means and SKY in means
    assert np.abs(means[ROAD] - means[SKY]).max() > 30
    keys = sorted(means)
    gaps = [np.abs(means[a] - means[b]).max() for i, a in enumerate(keys) for b in keys[i + 1:]]
    assert np.median(gaps) > 10


def test_real_style_has_noise_texture_and_grade() -> None:
    f = render_frame(4, width=W, height=H)
    game, real = f.game.astype(np.float32), f.real.astype(np.float32)
    # Flat game regions have no high frequencies; the real image does (noise, texture).
    flat = (np.abs(cv2.Laplacian(game, cv2.CV_32F)).max(axis=2) == 0)
    assert flat.mean() > 0.5
    assert np.abs(cv2.Laplacian(real, cv2.CV_32F)).max(axis=2)[flat].mean() > 2.0
    assert np.unique(_colour_keys(f.game)).size < 400
    assert np.unique(_colour_keys(f.real)).size > 5000
    # Graded: less saturated than the game palette, with lifted blacks.
    def saturation(img: np.ndarray) -> float:
        return float(cv2.cvtColor(img, cv2.COLOR_RGB2HSV)[..., 1].mean())
    assert saturation(f.real) < 0.8 * saturation(f.game)
    assert np.percentile(real, 1) > np.percentile(game, 1)
    # Vignetting: corners are darker than the centre relative to the game image.
    def corner_ratio(img: np.ndarray) -> float:
        c = img[: H // 8, : W // 8].mean() + img[: H // 8, -W // 8:].mean()
        return c / img[H // 2 - H // 8: H // 2, W // 2 - W // 16: W // 2 + W // 16].mean()
    assert corner_ratio(real) < corner_ratio(game)


def test_noise_is_modest_and_seeded_by_frame() -> None:
    noisy = render_frame(2, width=W, height=H, frame_index=1).real.astype(np.float32)
    clean = render_frame(2, width=W, height=H, frame_index=1, real_config=RealStyle(noise_sigma=0)).real
    residual = noisy - clean
    assert 1.5 < residual.std() < 5.0
    other = render_frame(2, width=W, height=H, frame_index=2).real.astype(np.float32)
    assert not np.array_equal(noisy, other)


def test_game_to_real_gap_is_mostly_predictable() -> None:
    """The unpredictable parts (noise, textures) cost far less than the game->real change itself."""
    baseline, oracle = [], []
    for seed in (20, 21, 22):
        f = render_frame(seed, width=W, height=H)
        predictable = render_frame(seed, width=W, height=H, styles=("real",),
                                   real_config=RealStyle(noise_sigma=0, texture_strength=0)).real
        baseline.append(_psnr(f.game, f.real))
        oracle.append(_psnr(predictable, f.real))
    assert np.mean(baseline) < 20
    assert np.mean(oracle) > np.mean(baseline) + 10


def test_clip_is_temporally_coherent() -> None:
    frames = list(render_clip(12, frames=4, width=W, height=H))
    assert len(frames) == 4
    step = np.mean([np.abs(a.real.astype(int) - b.real).mean() for a, b in zip(frames, frames[1:])])
    across = np.mean([np.abs(frames[0].real.astype(int) - render_frame(s, width=W, height=H).real).mean()
                      for s in (13, 14)])
    assert step < 0.5 * across
    assert min((a.labels == b.labels).mean() for a, b in zip(frames, frames[1:])) > 0.75
    assert not np.array_equal(frames[0].game, frames[1].game)  # the camera moves
    again = render_frame(12, width=W, height=H, frame_index=3)
    np.testing.assert_array_equal(again.real, frames[3].real)
    np.testing.assert_array_equal(again.labels, frames[3].labels)


def test_sizes() -> None:
    assert render_frame(0, width=64, height=32).real.shape == (32, 64, 3)
    assert render_frame(0, width=1024, height=512, styles=("game",)).game.shape == (512, 1024, 3)
    assert render_frame(0, width=101, height=77).labels.shape == (77, 101)


@pytest.mark.parametrize("kwargs, message", [
    ({"width": 63, "height": 32}, "at least 64x32"),
    ({"width": 64, "height": 31}, "at least 64x32"),
    ({"styles": ("game", "photo")}, "allowed styles: game, real"),
    ({"styles": "game"}, "allowed styles"),
    ({"fps": 0.0}, "fps"),
    ({"frame_index": -1}, "frame_index"),
])
def test_bad_render_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        render_frame(0, **kwargs)


def test_bad_clip_and_seed_arguments() -> None:
    with pytest.raises(ValueError, match="frames"):
        render_clip(0, frames=0)
    with pytest.raises(ValueError, match="seed"):
        render_frame(-1)


def test_colorize_labels() -> None:
    labels = np.array([[0, 10], [13, 255]], np.uint8)
    rgb = colorize_labels(labels)
    assert rgb.shape == (2, 2, 3) and rgb.dtype == np.uint8
    assert tuple(rgb[0, 0]) == (128, 64, 128) and tuple(rgb[1, 1]) == (0, 0, 0)
    with pytest.raises(ValueError):
        colorize_labels(labels.astype(np.int32))


def _read_png(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert image is not None, path
    return image


def test_write_image_dataset_layout(tmp_path: Path) -> None:
    out = tmp_path / "scenes"
    summary = write_scene_dataset(out, count=2, width=64, height=32, first_seed=5)
    assert summary.count == 2 and summary.frames == 2 and summary.seeds == (5, 6) and not summary.video
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == [
        "game/images/00000.png", "game/images/00001.png", "game/labels/00000.png", "game/labels/00001.png",
        "real/gtFine/train/synth/synth_000000_000000_gtFine_labelTrainIds.png",
        "real/gtFine/train/synth/synth_000001_000000_gtFine_labelTrainIds.png",
        "real/leftImg8bit/train/synth/synth_000000_000000_leftImg8bit.png",
        "real/leftImg8bit/train/synth/synth_000001_000000_leftImg8bit.png",
        "scenes.json",
    ]
    assert summary.files == len(files)
    expected = render_frame(6, width=64, height=32)
    game = _read_png(out / "game/images/00001.png")
    np.testing.assert_array_equal(game[..., ::-1], expected.game)
    label = _read_png(out / "game/labels/00001.png")
    assert label.ndim == 2 and label.dtype == np.uint8
    np.testing.assert_array_equal(label, expected.labels)
    real = _read_png(out / "real/leftImg8bit/train/synth/synth_000001_000000_leftImg8bit.png")
    np.testing.assert_array_equal(real[..., ::-1], expected.real)
    manifest = json.loads((out / "scenes.json").read_text())
    assert manifest["count"] == 2 and manifest["seeds"] == [5, 6] and manifest["video"] is False
    assert manifest["width"] == 64 and manifest["height"] == 32 and manifest["format_version"] == 1


def test_write_paired_layout(tmp_path: Path) -> None:
    out = tmp_path / "pairs"
    write_scene_dataset(out, count=2, width=64, height=32, first_seed=9, layout="paired")
    for folder in ("game", "real", "labels"):
        assert sorted(p.name for p in (out / folder).iterdir()) == ["00000.png", "00001.png"]
    expected = render_frame(10, width=64, height=32)
    np.testing.assert_array_equal(_read_png(out / "real/00001.png")[..., ::-1], expected.real)
    np.testing.assert_array_equal(_read_png(out / "labels/00001.png"), expected.labels)
    with pytest.raises(ValueError, match="layout must be one of driving, paired"):
        write_scene_dataset(tmp_path / "x", count=1, width=64, height=32, layout="flat")


def test_write_video_dataset_layout(tmp_path: Path) -> None:
    out = tmp_path / "clips"
    summary = write_scene_dataset(out, count=2, width=64, height=32, video=True, frames_per_clip=5, fps=12.0)
    assert summary.video and summary.count == 2 and summary.frames == 10
    for index in range(2):
        for style in ("game", "real"):
            with av.open(str(out / style / "videos" / f"clip_{index:05d}.mp4")) as container:
                stream = container.streams.video[0]
                assert stream.codec_context.name == "h264"
                decoded = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
            assert len(decoded) == 5
            assert decoded[0].shape == (32, 64, 3)
        labels = sorted((out / "labels" / f"clip_{index:05d}").glob("*.png"))
        assert [p.name for p in labels] == [f"{i:06d}.png" for i in range(5)]
    manifest = json.loads((out / "scenes.json").read_text())
    assert manifest["video"] is True and manifest["frames_per_clip"] == 5 and manifest["fps"] == 12.0
    assert not list(out.rglob(".*partial*"))


def test_video_needs_even_size(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="even"):
        write_scene_dataset(tmp_path / "v", count=1, width=65, height=32, video=True, frames_per_clip=2)
    assert not (tmp_path / "v").exists()


def test_write_refuses_to_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    write_scene_dataset(out, count=1, width=64, height=32)
    with pytest.raises(OutputError, match="not empty"):
        write_scene_dataset(out, count=1, width=64, height=32)
    write_scene_dataset(out, count=1, width=64, height=32, overwrite=True)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="is a file"):
        write_scene_dataset(blocker, count=1, width=64, height=32)


def test_bad_dataset_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="count"):
        write_scene_dataset(tmp_path / "a", count=0, width=64, height=32)
    with pytest.raises(ValueError, match="at least 64x32"):
        write_scene_dataset(tmp_path / "b", count=1, width=32, height=32)


# --- contents ---------------------------------------------------------------------------------------------


def _documented_shares() -> dict[str, dict[int, float]]:
    """The class-frequency table of docs/scenes.md: content -> label value -> mean share in percent."""
    label_of = {**{name: i for i, name in enumerate(CLASS_NAMES)}, "ignore (255)": IGNORE}
    table: dict[str, dict[int, float]] = {"game": {}, "real": {}}
    for line in (REPO / "docs" / "scenes.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0] in label_of:
            for content, cell in zip(("game", "real"), cells[1:]):
                table[content][label_of[cells[0]]] = float(cell.split()[0])
    assert len(table["game"]) == len(table["real"]) >= 12
    return table


def test_content_shift_changes_class_frequencies_as_documented() -> None:
    """40 scenes of each content reproduce docs/scenes.md's table (1000 scenes at 512x256).

    Tolerance per label: 4 standard errors of a 40-scene mean (the scene-to-scene spread measured here, over
    the square root of 40) plus 0.5 percentage points for rendering at 256x128 (measured: at most 0.35).
    """
    documented = _documented_shares()
    seeds = range(40)
    shares = {c: 100 * label_shares(seeds, content=c, width=W, height=H) for c in ("game", "real")}
    for content, table in documented.items():
        for label, expected in table.items():
            measured = shares[content][:, label]
            tolerance = 4 * measured.std() / np.sqrt(len(seeds)) + 0.5
            assert abs(measured.mean() - expected) <= tolerance, (content, label, measured.mean(), expected)
    # The shift itself, as documented: less sky and terrain, more building, vegetation and car, a hood.
    shift = shares["real"] - shares["game"]  # per scene: the same seeds in both contents
    for label, documented_shift in ((SKY, -12.87), (2, 4.98), (8, 8.23), (13, 4.23), (9, -4.07), (IGNORE, 10.15)):
        assert documented_shift == pytest.approx(documented["real"][label] - documented["game"][label], abs=0.01)
        tolerance = 4 * shift[:, label].std() / np.sqrt(len(seeds)) + 0.5
        assert abs(shift[:, label].mean() - documented_shift) <= tolerance, (label, shift[:, label].mean())
        assert np.sign(shift[:, label].mean()) == np.sign(documented_shift)


@pytest.mark.parametrize("seed", [3, 17])
def test_real_content_has_a_hood_with_an_emblem_labelled_ignore(seed: int) -> None:
    frame = render_frame(seed, width=W, height=H, content="real")
    hood = frame.labels == IGNORE
    assert hood[-1].all()  # across the whole bottom edge
    assert not hood[: int(0.85 * H)].any()  # 9-14 % of the frame at the centre, never higher
    assert 0.06 < hood.mean() < 0.16
    # one region, touching the bottom edge
    count, components = cv2.connectedComponents(hood.astype(np.uint8), connectivity=8)
    assert count == 2
    # the emblem: a second colour inside the middle half of the hood, at its top centre, in both looks
    middle = np.zeros_like(hood)
    middle[:, W // 4: 3 * W // 4] = True
    for image in (frame.game, frame.real):
        hood_colour = np.median(image[hood & middle], axis=0)
        emblem = hood & middle & (np.abs(image.astype(int) - hood_colour).max(axis=2) > 40)
        rows, cols = np.nonzero(emblem)
        assert len(rows) >= 4 and abs(cols.mean() - W / 2) < 0.03 * W and rows.max() < H - 2
    game_content = render_frame(seed, width=W, height=H, content="game")
    assert not (game_content.labels == IGNORE).any()


def test_no_hood_keeps_the_geometry_and_paired_real_content_has_none(tmp_path: Path) -> None:
    hooded = render_frame(5, width=W, height=H, content="real")
    bare = render_frame(5, width=W, height=H, content="real", hood=False)
    outside = hooded.labels != IGNORE
    assert not (bare.labels == IGNORE).any()
    np.testing.assert_array_equal(bare.labels[outside], hooded.labels[outside])
    np.testing.assert_array_equal(bare.game[outside], hooded.game[outside])
    assert not np.array_equal(bare.labels, render_frame(5, width=W, height=H).labels)  # another content

    write_scene_dataset(tmp_path / "pairs", count=1, width=64, height=32, first_seed=5, layout="paired", content="real")
    expected = render_frame(5, width=64, height=32, content="real", hood=False)
    np.testing.assert_array_equal(_read_png(tmp_path / "pairs/labels/00000.png"), expected.labels)
    np.testing.assert_array_equal(_read_png(tmp_path / "pairs/game/00000.png")[..., ::-1], expected.game)
    manifest = json.loads((tmp_path / "pairs/scenes.json").read_text())
    assert manifest["content"] == "real" and manifest["hood"] is False


def test_real_content_driving_dataset_and_clips(tmp_path: Path) -> None:
    write_scene_dataset(tmp_path / "d", count=2, width=64, height=32, first_seed=8, content="real")
    expected = render_frame(9, width=64, height=32, content="real")
    label = _read_png(tmp_path / "d/real/gtFine/train/synth/synth_000001_000000_gtFine_labelTrainIds.png")
    np.testing.assert_array_equal(label, expected.labels)
    assert (label[-1] == IGNORE).all()
    np.testing.assert_array_equal(_read_png(tmp_path / "d/game/labels/00001.png"), expected.labels)
    manifest = json.loads((tmp_path / "d/scenes.json").read_text())
    assert manifest["content"] == "real" and manifest["hood"] is True
    write_scene_dataset(tmp_path / "v", count=1, width=64, height=32, video=True, frames_per_clip=2,
                        content="real", hood=False)
    assert not (_read_png(tmp_path / "v/labels/clip_00000/000001.png") == IGNORE).any()
    with pytest.raises(ValueError, match="content must be one of game, real"):
        write_scene_dataset(tmp_path / "x", count=1, width=64, height=32, content="photo")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="content must be one of game, real"):
        render_frame(0, content="gta")  # type: ignore[arg-type]


def test_the_class_frequency_script_prints_the_documented_table_format(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("scene_classes", REPO / "benchmarks" / "scene_classes.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.main(["--count", "2", "--size", "64x32", "--first-seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "2 scenes per content (seeds 3-4), 64x32" in out
    shares = {c: 100 * label_shares(range(3, 5), content=c, width=64, height=32) for c in ("game", "real")}
    sky = f"| sky | {shares['game'][:, SKY].mean():.2f} ({shares['game'][:, SKY].std():.2f}) | "
    assert sky in out and "| ignore (255) | 0.00 (0.00) | " in out
    assert script.main(["--count", "0"]) == 2
    assert "--count must be at least 1" in capsys.readouterr().err
