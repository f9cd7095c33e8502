"""Photometric augmentation for segmentation training: the look of each image changes, its geometry never.

A segmenter trained with it labels by content (shapes, layout, texture-free cues) more than by look, which a
source-domain segmenter needs when it judges translated images (CyCADA's semantic-consistency loss): they
keep the source's content in the target's look. Per image, in this order:

    brightness  x * U(0.6, 1.4)
    contrast    mean + (x - mean) * U(0.6, 1.4)
    saturation  grey + (x - grey) * U(0.3, 1.5)
    colour      each channel * U(0.8, 1.2) (a colour grade)
    blur        Gaussian, sigma U(0, 1.5), half of the images
    noise       Gaussian, sigma U(0, 8) levels of 255

Label maps are untouched, so the augmentation plugs into `sample_batch`'s `transform`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


class PhotometricJitter:
    """`jitter(images)`: uint8 (N, H, W, 3) -> uint8 (N, H, W, 3), each image re-looked at random.

    The randomness comes from its own generator seeded with `seed`, so a seeded training run repeats exactly.
    """

    def __init__(self, seed: int) -> None:
        self.generator = torch.Generator().manual_seed(seed)

    def _uniform(self, count: int, low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(count, generator=self.generator)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        count = len(images)
        x = images.permute(0, 3, 1, 2).float() / 255
        per_image = (count, 1, 1, 1)
        x = x * self._uniform(count, 0.6, 1.4).view(per_image)
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        x = mean + (x - mean) * self._uniform(count, 0.6, 1.4).view(per_image)
        grey = x.mean(dim=1, keepdim=True)
        x = grey + (x - grey) * self._uniform(count, 0.3, 1.5).view(per_image)
        x = x * self._uniform(3 * count, 0.8, 1.2).view(count, 3, 1, 1)
        sigmas = self._uniform(count, 0.0, 1.5)
        blurred = torch.rand(count, generator=self.generator) < 0.5
        x = torch.stack([_blur(image, float(sigma)) if blur else image
                         for image, sigma, blur in zip(x, sigmas, blurred)])
        noise = torch.randn(x.shape, generator=self.generator) * self._uniform(count, 0.0, 8 / 255).view(per_image)
        return ((x + noise).clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous()


def _blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """A (3, H, W) image blurred with a separable Gaussian of `sigma` pixels (edges replicated)."""
    if sigma < 0.1:
        return image
    radius = max(1, round(2.5 * sigma))
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = (kernel / kernel.sum()).repeat(3, 1)
    x = F.pad(image[None], (radius, radius, radius, radius), mode="replicate")
    x = F.conv2d(x, kernel.view(3, 1, 1, -1), groups=3)
    return F.conv2d(x, kernel.view(3, 1, -1, 1), groups=3)[0]
