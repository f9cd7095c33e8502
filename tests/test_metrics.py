"""Tests for vidtrans.metrics, vidtrans.fid and vidtrans.inception."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from vidtrans.errors import ModelError
from vidtrans.fid import (
    compute_fid_kid,
    feature_statistics,
    frechet_distance,
    inception_features,
    kernel_inception_distance,
)
from vidtrans.inception import InceptionFeatures, load_fid_inception
from vidtrans.metrics import l1, mean_pair_metrics, psnr, ssim


def _image(seed: int, size: tuple[int, int] = (32, 40)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(*size, 3), dtype=np.uint8)


def _smooth_image(size: int = 48) -> np.ndarray:
    """A structured image (gradients and a square) in [20, 220], so small shifts never clip."""
    yy, xx = np.mgrid[0:size, 0:size]
    img = np.stack([20 + 4 * xx, 20 + 4 * yy, 20 + 2 * (xx + yy)], axis=-1)
    img[size // 4 : size // 2, size // 4 : size // 2] = 200
    return np.clip(img, 20, 220).astype(np.uint8)


# --- PSNR / L1 ---------------------------------------------------------------------------


def test_psnr_identical_gives_cap() -> None:
    img = _image(0)
    assert psnr(img, img) == 100.0
    assert psnr(img, img, cap=60.0) == 60.0


def test_psnr_uniform_shift_matches_closed_form_and_is_symmetric() -> None:
    a = _smooth_image()
    b = a + np.uint8(4)
    assert psnr(a, b) == pytest.approx(20 * math.log10(255 / 4), abs=1e-9)
    assert psnr(a, b) == psnr(b, a)
    c = _image(1, size=a.shape[:2])
    assert psnr(a, c) == psnr(c, a)


def test_l1_scale() -> None:
    a = _smooth_image()
    assert l1(a, a) == 0.0
    grey = np.full((8, 8, 3), 100, np.uint8)
    assert l1(grey, grey + np.uint8(51)) == pytest.approx(0.2, abs=1e-12)
    black = np.zeros((4, 4, 3), np.uint8)
    assert l1(black, black + np.uint8(255)) == 1.0


def test_mismatched_shape_or_dtype_names_both_shapes() -> None:
    a = np.zeros((16, 16, 3), np.uint8)
    b = np.zeros((16, 17, 3), np.uint8)
    for metric in (psnr, ssim, l1):
        with pytest.raises(ValueError, match=r"\(16, 16, 3\).*\(16, 17, 3\)"):
            metric(a, b)
    with pytest.raises(ValueError, match="uint8.*float32"):
        l1(a, a.astype(np.float32))


# --- SSIM --------------------------------------------------------------------------------


def _ssim_reference(a: np.ndarray, b: np.ndarray) -> float:
    """Direct per-window SSIM: weighted means and population covariances over every 11x11
    window lying inside the image, one channel at a time, averaged over channels."""
    coords = np.arange(11) - 5
    g = np.exp(-(coords**2) / (2 * 1.5**2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    h, wd = a.shape[:2]
    channel_means = []
    for c in range(3):
        x_img = a[..., c].astype(np.float64)
        y_img = b[..., c].astype(np.float64)
        values = []
        for i in range(h - 10):
            for j in range(wd - 10):
                x = x_img[i : i + 11, j : j + 11]
                y = y_img[i : i + 11, j : j + 11]
                mx, my = (w * x).sum(), (w * y).sum()
                vx, vy = (w * (x - mx) ** 2).sum(), (w * (y - my) ** 2).sum()
                cxy = (w * (x - mx) * (y - my)).sum()
                values.append(
                    (2 * mx * my + c1) * (2 * cxy + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
                )
        channel_means.append(np.mean(values))
    return float(np.mean(channel_means))


def test_ssim_identical_is_exactly_one() -> None:
    img = _image(2)
    assert ssim(img, img) == 1.0


def test_ssim_matches_per_window_reference() -> None:
    a = _image(3, size=(16, 16))
    b = _image(4, size=(16, 16))
    smooth = _smooth_image(16)
    for x, y in ((a, b), (smooth, a), (smooth, smooth + np.uint8(9))):
        assert ssim(x, y) == pytest.approx(_ssim_reference(x, y), abs=1e-10)


def test_ssim_drops_monotonically_with_noise() -> None:
    img = _smooth_image(64)
    noise = np.random.default_rng(5).standard_normal(img.shape)
    scores = [
        ssim(img, np.clip(img + level * noise, 0, 255).round().astype(np.uint8))
        for level in (0, 2, 5, 10, 20, 40)
    ]
    assert scores[0] == 1.0
    assert all(later < earlier for earlier, later in zip(scores, scores[1:]))
    assert scores[-1] < 0.6


def test_ssim_rejects_images_smaller_than_window() -> None:
    tiny = np.zeros((10, 20, 3), np.uint8)
    with pytest.raises(ValueError, match="11x11"):
        ssim(tiny, tiny)


def test_mean_pair_metrics() -> None:
    a = _smooth_image()
    pairs = [(a, a), (a, a + np.uint8(4))]
    result = mean_pair_metrics(iter(pairs))
    assert result["psnr"] == pytest.approx((100.0 + 20 * math.log10(255 / 4)) / 2)
    assert set(result) == {"psnr", "ssim", "l1"}
    assert mean_pair_metrics(pairs, metrics=["l1"]) == {"l1": pytest.approx(2 / 255)}
    with pytest.raises(ValueError, match="psnr, ssim, l1"):
        mean_pair_metrics(pairs, metrics=["lpips"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="no image pairs"):
        mean_pair_metrics([])


# --- Fréchet distance --------------------------------------------------------------------


def _random_cov(rng: np.random.Generator, d: int, rank: int | None = None) -> np.ndarray:
    m = rng.standard_normal((d, rank or d))
    return m @ m.T / d


def test_frechet_identical_stats_is_zero() -> None:
    rng = np.random.default_rng(6)
    mu = rng.standard_normal(64)
    for sigma in (_random_cov(rng, 64), _random_cov(rng, 64, rank=10)):
        assert abs(frechet_distance(mu, sigma, mu, sigma)) < 1e-6


def test_frechet_same_covariance_is_squared_mean_distance() -> None:
    rng = np.random.default_rng(7)
    sigma = _random_cov(rng, 32)
    mu1, mu2 = rng.standard_normal(32), rng.standard_normal(32)
    expected = float(np.sum((mu1 - mu2) ** 2))
    assert frechet_distance(mu1, sigma, mu2, sigma) == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_frechet_diagonal_closed_form() -> None:
    a = np.array([1.0, 4.0, 0.25, 9.0])
    b = np.array([4.0, 1.0, 0.25, 0.0])
    mu1, mu2 = np.array([0.0, 1.0, 2.0, 3.0]), np.array([1.0, 1.0, 0.0, 3.0])
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    got = frechet_distance(mu1, np.diag(a), mu2, np.diag(b))
    assert got == pytest.approx(expected, abs=1e-12)
    assert frechet_distance(np.zeros(1), np.array([[2.0]]), np.zeros(1), np.array([[8.0]])) == (
        pytest.approx((math.sqrt(2) - math.sqrt(8)) ** 2, abs=1e-12)
    )


def test_frechet_general_case_matches_eigenvalues_of_product() -> None:
    # tr(sqrtm(S1 S2)) equals the sum of square roots of the (real, non-negative)
    # eigenvalues of S1 S2, computed here with a plain non-symmetric eigen-solver.
    rng = np.random.default_rng(8)
    s1, s2 = _random_cov(rng, 20), _random_cov(rng, 20)
    mu1, mu2 = rng.standard_normal(20), rng.standard_normal(20)
    trace_sqrt = np.sum(np.sqrt(np.linalg.eigvals(s1 @ s2).real))
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * trace_sqrt
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-9)


def test_frechet_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError, match="shape"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(3), np.eye(4))


# --- KID ---------------------------------------------------------------------------------


def test_kid_same_distribution_near_zero_and_shift_positive() -> None:
    rng = np.random.default_rng(9)
    x = rng.standard_normal((400, 16))
    y = rng.standard_normal((400, 16))
    same_mean, same_std = kernel_inception_distance(x, y, subsets=20, subset_size=200)
    shifted_mean, _ = kernel_inception_distance(x, y + 1.0, subsets=20, subset_size=200)
    assert abs(same_mean) < 3 * same_std + 1e-3
    assert abs(same_mean) < 0.02
    assert shifted_mean > 0.5
    assert shifted_mean > 50 * abs(same_mean)


def test_kid_is_deterministic_and_shrinks_subset_size() -> None:
    rng = np.random.default_rng(10)
    x, y = rng.standard_normal((30, 8)), rng.standard_normal((50, 8)) + 0.5
    first = kernel_inception_distance(x, y, subsets=5)
    assert first == kernel_inception_distance(x, y, subsets=5)
    with pytest.raises(ValueError, match="same d"):
        kernel_inception_distance(x, y[:, :4])


# --- Inception ---------------------------------------------------------------------------

# torchvision documents inception_v3 (IMAGENET1K_V1: 1000 classes, with the aux classifier)
# as num_params 27,161,264. Without AuxLogits (conv0 768*128 + 2*128, conv1 128*768*25 +
# 2*768, fc 768*1000 + 1000 = 3,326,696) that is 23,834,568, and 1008 classes add
# 8 * (2048 + 1) = 16,392 to the main fc: 23,850,960.
_TORCHVISION_INCEPTION_1008_NO_AUX_PARAMS = 27_161_264 - 3_326_696 + 16_392


def test_fid_blocks_pool_branches() -> None:
    # pytorch-fid's patches: A/C/E_1 average-pool without counting the zero padding,
    # E_2 max-pools. Capture what each block feeds its branch_pool convolution.
    model = InceptionFeatures()
    x = torch.rand(1, 1280, 5, 5)
    cases = [
        (model.Mixed_5b, x[:, :192], "avg"),
        (model.Mixed_6b, x[:, :768], "avg"),
        (model.Mixed_7b, x, "avg"),
        (model.Mixed_7c, torch.rand(1, 2048, 5, 5), "max"),
    ]
    for block, inp, kind in cases:
        seen: list[torch.Tensor] = []
        handle = block.branch_pool.register_forward_hook(lambda m, args, out: seen.append(args[0]))
        with torch.no_grad():
            block(inp)
        handle.remove()
        if kind == "avg":
            expected = torch.nn.functional.avg_pool2d(inp, 3, 1, 1, count_include_pad=False)
        else:
            expected = torch.nn.functional.max_pool2d(inp, 3, 1, 1)
        assert torch.allclose(seen[0], expected)


@pytest.fixture(scope="module")
def saved_inception(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    torch.manual_seed(0)
    state = InceptionFeatures().state_dict()
    path = tmp_path_factory.mktemp("inception") / "pt_inception-random.pth"
    torch.save(state, path)
    return path, state


def test_inception_layout_matches_reference() -> None:
    model = InceptionFeatures()
    assert sum(p.numel() for p in model.parameters()) == _TORCHVISION_INCEPTION_1008_NO_AUX_PARAMS
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert shapes["Conv2d_1a_3x3.conv.weight"] == (32, 3, 3, 3)
    assert shapes["Conv2d_1a_3x3.bn.running_var"] == (32,)
    assert shapes["Mixed_5b.branch_pool.conv.weight"] == (32, 192, 1, 1)
    assert shapes["Mixed_6e.branch7x7dbl_5.conv.weight"] == (192, 192, 1, 7)
    assert shapes["Mixed_7a.branch7x7x3_4.conv.weight"] == (192, 192, 3, 3)
    assert shapes["Mixed_7c.branch3x3dbl_3b.conv.weight"] == (384, 384, 3, 1)
    assert shapes["fc.weight"] == (1008, 2048)
    assert shapes["fc.bias"] == (1008,)
    assert not any(k.startswith("AuxLogits") or k.endswith("conv.bias") for k in shapes)
    assert model.Conv2d_1a_3x3.bn.eps == 0.001


def test_load_fid_inception_gives_2048_features(saved_inception: tuple[Path, dict]) -> None:
    path, state = saved_inception
    model = load_fid_inception(path, allow_other=True)
    assert not model.training
    loaded = model.Mixed_7c.branch_pool.conv.weight
    assert torch.equal(loaded, state["Mixed_7c.branch_pool.conv.weight"])
    images = torch.rand(2, 3, 64, 64)
    with torch.inference_mode():
        feats = model(images)
    assert feats.shape == (2, 2048)
    assert torch.isfinite(feats).all()
    assert (feats >= 0).all()  # average of ReLU outputs


def test_load_fid_inception_reports_missing_and_unexpected_keys(
    saved_inception: tuple[Path, dict], tmp_path: Path
) -> None:
    _, state = saved_inception
    broken = dict(state)
    del broken["Mixed_6c.branch7x7_2.conv.weight"]
    broken["AuxLogits.fc.weight"] = torch.zeros(1008, 768)
    path = tmp_path / "broken.pth"
    torch.save(broken, path)
    with pytest.raises(ModelError, match="missing keys Mixed_6c.branch7x7_2.conv.weight") as info:
        load_fid_inception(path, allow_other=True)
    assert "unexpected keys AuxLogits.fc.weight" in str(info.value)
    assert str(path) in str(info.value)


class _Malicious:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (open, (str(self.marker), "w"))


def test_load_fid_inception_refuses_arbitrary_pickles(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save({"fc.weight": _Malicious(marker)}, path)
    with pytest.raises(ModelError, match="refusing to load"):
        load_fid_inception(path, allow_other=True)
    assert not marker.exists()


def test_only_pytorch_fids_own_weights_unless_allowed(saved_inception: tuple[Path, dict]) -> None:
    path, _ = saved_inception
    with pytest.raises(ModelError, match=r"not pytorch-fid's pt_inception-2015-12-05-6726825d.pth \(sha256 "
                                         r"[0-9a-f]{16}\.\.\., expected 6726825d0af5f729\.\.\.\).*"
                                         r"--allow-other-inception"):
        load_fid_inception(path)
    assert load_fid_inception(path, allow_other=True) is not None


def test_load_fid_inception_bad_files(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no such Inception weight file"):
        load_fid_inception(tmp_path / "nope.pth")
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"definitely not a checkpoint" * 4)
    with pytest.raises(ModelError, match="garbage.pth"):
        load_fid_inception(garbage, allow_other=True)
    wrong_shape = tmp_path / "wrong_shape.pth"
    state = InceptionFeatures().state_dict()
    state["fc.weight"] = torch.zeros(1000, 2048)
    torch.save(state, wrong_shape)
    with pytest.raises(ModelError, match="fc.weight"):
        load_fid_inception(wrong_shape, allow_other=True)


class _MeanColourFeatures(InceptionFeatures):
    """A cheap stand-in extractor whose features are the per-channel means of its input."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        assert images.shape[1:] == (3, 299, 299)
        return images.mean(dim=(2, 3))


def test_compute_fid_kid_streams_batches() -> None:
    model = _MeanColourFeatures()
    rng = np.random.default_rng(11)
    dark = [rng.integers(0, 100, size=(20 + i, 30, 3), dtype=np.uint8) for i in range(7)]
    light = [rng.integers(150, 256, size=(24, 24, 3), dtype=np.uint8) for _ in range(5)]
    same = compute_fid_kid(iter(dark), iter(dark), model=model, batch_size=3, kid_subsets=4)
    assert same["fid"] < 1e-9
    assert same["num_images_a"] == 7 and same["kid_subset_size"] == 7
    far = compute_fid_kid(dark, light, model=model, batch_size=2, kid_subsets=4)
    assert far["num_images_b"] == 5
    assert far["fid"] > 0.1 and far["kid_mean"] > 0
    # Images reach the model as [0, 1] floats, resized to 299x299 (which keeps means close).
    feats = inception_features(dark, model=model, batch_size=3)
    expected = np.array([img.mean(axis=(0, 1)) / 255 for img in dark])
    assert feats.shape == (7, 3) and feats.dtype == np.float64
    assert feats == pytest.approx(expected, abs=1e-2)
    with pytest.raises(ValueError, match="image 1"):
        compute_fid_kid([dark[0], dark[1].astype(np.float32)], dark, model=model)


def test_feature_statistics_match_numpy() -> None:
    feats = np.random.default_rng(12).standard_normal((50, 6)).astype(np.float32)
    mu, sigma = feature_statistics(feats)
    assert mu.dtype == np.float64 and sigma.shape == (6, 6)
    assert mu == pytest.approx(feats.astype(np.float64).mean(axis=0))
    assert sigma == pytest.approx(np.cov(feats.astype(np.float64), rowvar=False))
    with pytest.raises(ValueError, match="N >= 2"):
        feature_statistics(feats[:1])
