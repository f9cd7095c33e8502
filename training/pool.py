"""The image pool of Shrivastava et al. (2017) that CycleGAN feeds its discriminators from."""

from __future__ import annotations

import torch


class ImagePool:
    """Keeps up to `size` generated images; `query` returns a batch mixing new images and older ones.

    While the pool is filling, each new image is stored and returned. Once full, each new image is, with
    probability 1/2, returned as it is, or else swapped into the pool at a random slot and the image it
    replaces returned instead. A pool of size 0 returns its input. The pool draws from its own random
    generator, so its behaviour is reproducible and its state can be saved.
    """

    def __init__(self, size: int, *, seed: int) -> None:
        if size < 0:
            raise ValueError(f"pool size must be >= 0; got {size}")
        self.size = size
        self.images: list[torch.Tensor] = []
        self.generator = torch.Generator().manual_seed(seed)

    def query(self, images: torch.Tensor) -> torch.Tensor:
        """Images (N, C, H, W) to show the discriminator in place of `images` (which are detached)."""
        images = images.detach()
        if self.size == 0:
            return images
        returned = []
        for image in images.float():
            if len(self.images) < self.size:
                self.images.append(image.clone())
                returned.append(image)
            elif torch.rand(1, generator=self.generator).item() > 0.5:
                slot = int(torch.randint(0, self.size, (1,), generator=self.generator).item())
                returned.append(self.images[slot])
                self.images[slot] = image.clone()
            else:
                returned.append(image)
        return torch.stack(returned).to(images.dtype)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The stored images as one tensor (on the CPU) and the generator's state."""
        stack = torch.stack(self.images).cpu() if self.images else torch.empty(0)
        return {"images": stack, "rng": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, torch.Tensor], *, device: torch.device | str = "cpu") -> None:
        images = state["images"]
        if len(images) > self.size:
            raise ValueError(f"the saved pool holds {len(images)} images, more than its size {self.size}")
        self.images = [image.to(device) for image in images]
        self.generator.set_state(state["rng"])
