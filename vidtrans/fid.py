"""Set-level metrics on Inception features.

FID (Heusel et al. 2017) and KID (Binkowski et al. 2018).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypedDict

import numpy as np
import torch
import torch.nn.functional as F

from vidtrans.inception import INPUT_SIZE, InceptionFeatures


class FidKidResult(TypedDict):
    """What :func:`compute_fid_kid` reports."""

    fid: float
    kid_mean: float
    kid_std: float
    kid_subset_size: int
    num_images_a: int
    num_images_b: int


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric PSD matrix; tiny negative eigenvalues count as 0."""
    eigvals, eigvecs = np.linalg.eigh(matrix)
    return (eigvecs * np.sqrt(np.clip(eigvals, 0.0, None))) @ eigvecs.T


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray
) -> float:
    """Fréchet distance between Gaussians N(mu1, sigma1) and N(mu2, sigma2), in float64.

    ``||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr(sqrtm(S1 S2))``, where the trace term is the
    sum of square roots of the eigenvalues of the symmetric PSD matrix
    ``sqrt(S1) S2 sqrt(S1)`` (similar to ``S1 S2``). Eigenvalues that rounding makes
    slightly negative are treated as 0, and the result is clipped at 0.
    """
    mu1 = np.asarray(mu1, dtype=np.float64)
    mu2 = np.asarray(mu2, dtype=np.float64)
    s1 = np.asarray(sigma1, dtype=np.float64)
    s2 = np.asarray(sigma2, dtype=np.float64)
    d = mu1.shape[0] if mu1.ndim == 1 else -1
    if mu1.ndim != 1 or mu2.shape != (d,) or s1.shape != (d, d) or s2.shape != (d, d):
        raise ValueError(
            "expected mu1, mu2 of shape (d,) and sigma1, sigma2 of shape (d, d); got "
            f"{mu1.shape}, {mu2.shape}, {s1.shape}, {s2.shape}"
        )
    s1 = (s1 + s1.T) / 2
    s2 = (s2 + s2.T) / 2
    root1 = _sqrt_psd(s1)
    product = root1 @ s2 @ root1
    product = (product + product.T) / 2
    trace_sqrt = float(np.sum(np.sqrt(np.clip(np.linalg.eigvalsh(product), 0.0, None))))
    diff = mu1 - mu2
    value = float(diff @ diff) + float(np.trace(s1)) + float(np.trace(s2)) - 2.0 * trace_sqrt
    return max(value, 0.0)


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased covariance (float64) of ``[N, d]`` features, as in pytorch-fid."""
    feats = np.asarray(features, dtype=np.float64)
    if feats.ndim != 2 or feats.shape[0] < 2:
        raise ValueError(f"expected features of shape [N >= 2, d], got {feats.shape}")
    return feats.mean(axis=0), np.cov(feats, rowvar=False)


def _mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 with the kernel k(u, v) = (u.v / d + 1)^3."""
    m, d = x.shape
    k_xx = (x @ x.T / d + 1.0) ** 3
    k_yy = (y @ y.T / d + 1.0) ** 3
    k_xy = (x @ y.T / d + 1.0) ** 3
    within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(within - 2.0 * k_xy.sum() / (m * m))


def kernel_inception_distance(
    feats1: np.ndarray,
    feats2: np.ndarray,
    *,
    subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """Kernel Inception Distance: mean and std of unbiased MMD^2 over random subsets.

    Follows Binkowski et al. 2018 and torch-fidelity: cubic polynomial kernel
    ``k(x, y) = (x.y / d + 1)^3``; each of ``subsets`` rounds draws ``subset_size`` rows
    from each set without replacement. When a set has fewer rows than ``subset_size``,
    the subset size shrinks to the smaller set's size. The std is the population std.
    """
    x = np.asarray(feats1, dtype=np.float64)
    y = np.asarray(feats2, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"expected features [N, d] with the same d, got {x.shape} and {y.shape}")
    if subsets < 1 or subset_size < 2:
        raise ValueError(f"need subsets >= 1 and subset_size >= 2, got {subsets} and {subset_size}")
    m = min(subset_size, x.shape[0], y.shape[0])
    if m < 2:
        raise ValueError(
            f"KID needs at least 2 feature rows per set, got {x.shape[0]} and {y.shape[0]}"
        )
    rng = np.random.default_rng(seed)
    values = np.array(
        [
            _mmd2_unbiased(
                x[rng.choice(x.shape[0], m, replace=False)],
                y[rng.choice(y.shape[0], m, replace=False)],
            )
            for _ in range(subsets)
        ]
    )
    return float(values.mean()), float(values.std())


def _image_tensor(image: np.ndarray, index: int, device: torch.device) -> torch.Tensor:
    """A uint8 (H, W, 3) image as a [3, 299, 299] float tensor in [0, 1] on ``device``."""
    if not (
        isinstance(image, np.ndarray)
        and image.dtype == np.uint8
        and image.ndim == 3
        and image.shape[2] == 3
    ):
        shape = getattr(image, "shape", None)
        dtype = getattr(image, "dtype", type(image).__name__)
        raise ValueError(
            f"image {index}: expected a uint8 RGB array (H, W, 3), got {shape} {dtype}"
        )
    t = torch.from_numpy(np.ascontiguousarray(image)).to(device).permute(2, 0, 1).float() / 255.0
    return F.interpolate(
        t[None], size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False
    )[0]


def _batches(
    images: Iterable[np.ndarray], batch_size: int, device: torch.device
) -> Iterator[torch.Tensor]:
    """Stack images into [B, 3, 299, 299] batches; images may differ in size."""
    batch: list[torch.Tensor] = []
    for index, image in enumerate(images):
        batch.append(_image_tensor(image, index, device))
        if len(batch) == batch_size:
            yield torch.stack(batch)
            batch = []
    if batch:
        yield torch.stack(batch)


def inception_features(
    images: Iterable[np.ndarray],
    *,
    model: InceptionFeatures,
    batch_size: int = 32,
    device: str | torch.device = "cpu",
) -> np.ndarray:
    """Pool3 features ``[N, 2048]`` (float64) of uint8 RGB images, run in batches."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    dev = torch.device(device)
    model = model.eval().to(dev)
    chunks: list[np.ndarray] = []
    with torch.inference_mode():
        for batch in _batches(images, batch_size, dev):
            chunks.append(model(batch).double().cpu().numpy())
    if not chunks:
        raise ValueError("no images to compute Inception features for")
    return np.concatenate(chunks)


def compute_fid_kid(
    images_a: Iterable[np.ndarray],
    images_b: Iterable[np.ndarray],
    *,
    model: InceptionFeatures,
    batch_size: int = 32,
    device: str | torch.device = "cpu",
    kid_subsets: int = 100,
    kid_subset_size: int = 1000,
) -> FidKidResult:
    """FID and KID between two sets of uint8 RGB images, streamed through ``model`` in batches.

    Each set needs at least 2 images (FID is only meaningful with thousands). ``model`` is
    moved to ``device`` and put in eval mode.
    """
    feats_a = inception_features(images_a, model=model, batch_size=batch_size, device=device)
    feats_b = inception_features(images_b, model=model, batch_size=batch_size, device=device)
    return fid_kid_from_features(feats_a, feats_b, kid_subsets=kid_subsets, kid_subset_size=kid_subset_size)


def fid_kid_from_features(feats_a: np.ndarray, feats_b: np.ndarray, *, kid_subsets: int = 100,
                          kid_subset_size: int = 1000) -> FidKidResult:
    """FID and KID between two sets of Inception features (N, 2048), each of at least 2 rows."""
    mu_a, sigma_a = feature_statistics(feats_a)
    mu_b, sigma_b = feature_statistics(feats_b)
    kid_mean, kid_std = kernel_inception_distance(
        feats_a, feats_b, subsets=kid_subsets, subset_size=kid_subset_size
    )
    return {
        "fid": frechet_distance(mu_a, sigma_a, mu_b, sigma_b),
        "kid_mean": kid_mean,
        "kid_std": kid_std,
        "kid_subset_size": min(kid_subset_size, len(feats_a), len(feats_b)),
        "num_images_a": len(feats_a),
        "num_images_b": len(feats_b),
    }
