"""CyCADA's semantic-consistency loss (Hoffman et al. 2018) with a frozen segmenter of the source domain.

A translation must keep what is where. A segmenter f trained on the labelled source domain A (and frozen)
must label a translated source image G(a) with a's labels (with f's prediction on a where A has no labels),
and a translated target image F(b) as it labels b itself:

    L_sem = CE(f(G(a)), y_a) + CE(f(F(b)), argmax f(b))

each term weighted by `--semantic-loss` (logged as sem_A and sem_B). Pixels labelled with the segmenter's
ignore index are left out: in y_a, and in f's prediction on b wherever b's own label map (if domain B has
labels) says ignore, such as the hood of the recording car in Cityscapes.

The segmenter sees images at its own scale and normalisation (its sidecar's `input_size`, mean and std): the
generator's [-1, 1] output is converted, resized by input_size / the run's training size, and padded to the
network's size multiple inside the graph, so gradients reach the generator; the logits are cropped and
resized back, and the cross-entropy is taken at the training crop's resolution.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from vidtrans.errors import ModelError
from vidtrans.fsutil import folder_listing, sha256_file
from vidtrans.segmenter.runners import SPEC_FILE, WEIGHTS_FILE, frozen_segmenter
from vidtrans.segmenter.spec import SegmenterSpec, read_spec


@dataclass(frozen=True)
class SourceSegmenter:
    """The segmenter a run's semantic loss uses: its folder, its sidecar and the sha256 of its files (a resumed
    run must find the same files)."""

    path: Path
    spec: SegmenterSpec
    sha256: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        return {"path": str(self.path), "sha256": dict(self.sha256)}

    def loss(self, *, training_size: tuple[int, int], device: torch.device,
             compile: bool = False) -> SemanticConsistency:
        """The loss for a run training at `training_size` (width, height); the network compiled with `compile`."""
        with torch.random.fork_rng(devices=[]):  # building the network must not move the run's random streams
            net = frozen_segmenter(self.path, device=device)
        runnable = torch.compile(net) if compile else net
        return SemanticConsistency(runnable, self.spec, training_size=training_size,
                                   multiple=net.config.size_multiple).to(device)


def open_source_segmenter(folder: Path) -> SourceSegmenter:
    """The vidtrans segmenter directory `folder` (what `vidtrans segmenter train` writes), checked and hashed."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelError(f"{folder}: no such segmenter directory (--semantic-segmenter takes what `vidtrans "
                         "segmenter train` writes)")
    missing = [name for name in (SPEC_FILE, WEIGHTS_FILE) if not (folder / name).is_file()]
    if missing:
        raise ModelError(f"{folder}: not a vidtrans segmenter directory: missing {', '.join(missing)} "
                         f"(it holds: {folder_listing(folder)})")
    return SourceSegmenter(folder.absolute(), read_spec(folder / SPEC_FILE),
                           {name: sha256_file(folder / name) for name in (WEIGHTS_FILE, SPEC_FILE)})


def check_same_segmenter(saved: dict[str, Any] | None, current: SourceSegmenter, *, where: Path) -> None:
    """Refuse to resume a run whose checkpoint recorded another segmenter (`saved`, its `to_json`) than `current`."""
    digests = (saved or {}).get("sha256", {})
    changed = sorted(name for name, digest in current.sha256.items() if digests.get(name) != digest)
    if changed:
        raise ModelError(f"{current.path}: {', '.join(changed)} differs from the segmenter {where} was trained with "
                         f"({(saved or {}).get('path', 'none recorded')}); resume with that segmenter, or start a "
                         "new run")


class SemanticConsistency(nn.Module):
    """The frozen source-domain segmenter as a loss: `forward(translated, targets)` is the cross-entropy of its
    logits on `translated` (images in [-1, 1]) against `targets` (class indices, the ignore index left out)."""

    def __init__(self, net: nn.Module, spec: SegmenterSpec, *, training_size: tuple[int, int],
                 multiple: int) -> None:
        super().__init__()
        self.net, self.spec, self.multiple = net, spec, multiple
        self.ignore = spec.ignore_index
        self.scale = (spec.input_size[0] / training_size[0], spec.input_size[1] / training_size[1])
        self.register_buffer("mean", torch.tensor(spec.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(spec.std).view(1, 3, 1, 1), persistent=False)

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """Class logits (N, C, H, W) of images in [-1, 1] (N, 3, H, W), differentiable in the images."""
        height, width = images.shape[-2:]
        size = (round(height * self.scale[1]), round(width * self.scale[0]))
        x = ((images + 1) * 0.5 - self.mean) / self.std
        if size != (height, width):
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False,
                              antialias=size[0] * size[1] < height * width)
        pad_h, pad_w = -size[0] % self.multiple, -size[1] % self.multiple
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        logits = self.net(x)[..., :size[0], :size[1]]
        if size != (height, width):
            logits = F.interpolate(logits, size=(height, width), mode="bilinear", align_corners=False)
        return logits

    @torch.no_grad()
    def predict(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """The segmenter's classes (N, H, W, int64) on `images`; where `labels` holds the ignore index, that too."""
        classes = self.logits(images).argmax(dim=1)
        return classes if labels is None else classes.masked_fill(labels == self.ignore, self.ignore)

    def forward(self, translated: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self.logits(translated).float(), targets.long(), ignore_index=self.ignore)
