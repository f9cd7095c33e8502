"""Full-reference image metrics (PSNR, SSIM, L1) on RGB images of shape (H, W, 3).

FID and KID, which compare sets of images, live in :mod:`vidtrans.fid`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Literal, get_args

import cv2
import numpy as np

PairMetric = Literal["psnr", "ssim", "l1"]
_PAIR_METRICS: tuple[str, ...] = get_args(PairMetric)

_SSIM_WINDOW = 11
_SSIM_SIGMA = 1.5
_SSIM_K1 = 0.01
_SSIM_K2 = 0.03
_SSIM_L = 255.0


def _check_pair(a: np.ndarray, b: np.ndarray, *, uint8: bool) -> None:
    """Raise ValueError unless a and b are equal-shape, equal-dtype (H, W, 3) images."""
    if a.shape != b.shape or a.dtype != b.dtype:
        raise ValueError(
            f"images differ: {a.shape} {a.dtype} vs {b.shape} {b.dtype}; "
            "expected the same shape and dtype"
        )
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"expected RGB images of shape (H, W, 3), got {a.shape} and {b.shape}")
    if uint8 and a.dtype != np.uint8:
        raise ValueError(f"expected uint8 images, got {a.dtype} for shapes {a.shape} and {b.shape}")


def psnr(a: np.ndarray, b: np.ndarray, *, max_value: float = 255.0, cap: float = 100.0) -> float:
    """Peak signal-to-noise ratio in dB over all pixels and channels.

    The result is ``min(10 * log10(max_value**2 / MSE), cap)``; identical images (MSE 0)
    give ``cap``. A uniform difference of d levels gives ``20 * log10(max_value / d)``.
    """
    _check_pair(a, b, uint8=False)
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    if mse == 0.0:
        return float(cap)
    return min(10.0 * math.log10(max_value**2 / mse), float(cap))


def _gaussian_filter_valid(x: np.ndarray) -> np.ndarray:
    """Normalised 11x11 Gaussian (sigma 1.5) filter of a 2-D float64 array, 'valid' part only."""
    kernel = cv2.getGaussianKernel(_SSIM_WINDOW, _SSIM_SIGMA, cv2.CV_64F)
    full = cv2.sepFilter2D(x, cv2.CV_64F, kernel, kernel, borderType=cv2.BORDER_REFLECT)
    r = _SSIM_WINDOW // 2
    return full[r:-r, r:-r]


def _ssim_channel(x: np.ndarray, y: np.ndarray) -> float:
    """Mean SSIM of two 2-D float64 arrays in [0, 255]."""
    c1 = (_SSIM_K1 * _SSIM_L) ** 2
    c2 = (_SSIM_K2 * _SSIM_L) ** 2
    mu_x = _gaussian_filter_valid(x)
    mu_y = _gaussian_filter_valid(y)
    var_x = _gaussian_filter_valid(x * x) - mu_x * mu_x
    var_y = _gaussian_filter_valid(y * y) - mu_y * mu_y
    cov = _gaussian_filter_valid(x * y) - mu_x * mu_y
    num = (2 * mu_x * mu_y + c1) * (2 * cov + c2)
    den = (mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2)
    return float(np.mean(num / den))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Structural similarity (Wang et al. 2004) of two uint8 RGB images.

    Gaussian window 11x11 with sigma 1.5, K1 = 0.01, K2 = 0.03, L = 255, population
    (not sample) covariances, and only windows that lie fully inside the image ('valid'
    filtering, as in the authors' ``ssim_index.m``, without its optional downsampling).
    This equals skimage's ``structural_similarity(gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=255, channel_axis=-1)``. SSIM is computed
    on each RGB channel separately and the three means are averaged. Identical images
    give exactly 1.0. Images must be at least 11x11.
    """
    _check_pair(a, b, uint8=True)
    if min(a.shape[:2]) < _SSIM_WINDOW:
        raise ValueError(f"SSIM needs images of at least 11x11 pixels, got {a.shape}")
    x = a.astype(np.float64)
    y = b.astype(np.float64)
    return float(np.mean([_ssim_channel(x[..., c], y[..., c]) for c in range(3)]))


def l1(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two uint8 images on a [0, 1] scale."""
    _check_pair(a, b, uint8=True)
    return float(np.mean(np.abs(a.astype(np.float64) - b.astype(np.float64))) / 255.0)


def mean_pair_metrics(
    pairs: Iterable[tuple[np.ndarray, np.ndarray]],
    *,
    metrics: Sequence[PairMetric] = ("psnr", "ssim", "l1"),
) -> dict[str, float]:
    """Average the chosen metrics over image pairs, e.g. (input, reconstruction) frames.

    Pairs are consumed one at a time, so a generator of video frames is fine.
    """
    unknown = [m for m in metrics if m not in _PAIR_METRICS]
    if unknown or not metrics:
        raise ValueError(
            f"metrics must be a non-empty selection of {', '.join(_PAIR_METRICS)}; "
            f"got {list(metrics)}"
        )
    funcs = {"psnr": psnr, "ssim": ssim, "l1": l1}
    totals = dict.fromkeys(metrics, 0.0)
    count = 0
    for a, b in pairs:
        for name in totals:
            totals[name] += funcs[name](a, b)
        count += 1
    if count == 0:
        raise ValueError("no image pairs to compare")
    return {name: total / count for name, total in totals.items()}
