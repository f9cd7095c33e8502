"""Seeded tileable noise textures and sampling them at surface coordinates."""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

TEXELS = 256  # texture side


@lru_cache(maxsize=8)
def noise_texture(seed: int) -> np.ndarray:
    """(TEXELS, TEXELS, 2) float32 tileable noise, zero mean, unit variance: channel 0 fine grain, 1 blotches."""
    rng = np.random.default_rng([seed, 7])
    white = np.fft.rfft2(rng.standard_normal((2, TEXELS, TEXELS)))
    fy = np.fft.fftfreq(TEXELS)[:, None]
    fx = np.fft.rfftfreq(TEXELS)[None, :]
    f = np.hypot(fx, fy) * TEXELS  # cycles per texture
    filters = np.stack([np.exp(-((f / 60.0) ** 2)), 1.0 / np.maximum(f, 2.0) ** 1.6])
    noise = np.fft.irfft2(white * filters, s=(TEXELS, TEXELS))
    noise -= noise.mean(axis=(1, 2), keepdims=True)
    noise /= noise.std(axis=(1, 2), keepdims=True)
    return np.ascontiguousarray(noise.transpose(1, 2, 0).astype(np.float32))


def sample(texture: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Bilinear, wrapped lookup of `texture` at (H, W) texel coordinates (u, v); returns (H, W, C)."""
    mx = np.mod(u, TEXELS).astype(np.float32)
    my = np.mod(v, TEXELS).astype(np.float32)
    return cv2.remap(texture, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
