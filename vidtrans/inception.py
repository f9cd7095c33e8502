"""The Inception-v3 feature extractor of pytorch-fid, written in plain torch.

The module and parameter names follow torchvision's ``inception_v3(num_classes=1008,
aux_logits=False)`` layout with pytorch-fid's FID blocks, so the pytorch-fid weight file
``pt_inception-2015-12-05-6726825d.pth`` (a port of TensorFlow's 2015-12-05 Inception graph)
loads with a strict key check. The file is never downloaded: the user passes it with
``--inception-weights FILE``.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vidtrans.errors import ModelError
from vidtrans.fsutil import sha256_file
from vidtrans.safeload import load_weights_only

INPUT_SIZE = 299
FEATURE_DIM = 2048
_NUM_CLASSES = 1008
_KEYS_SHOWN = 3

FID_WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
FID_WEIGHTS_SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"
"""pytorch-fid's release file (95,628,359 bytes), the weights every published FID is computed with."""


class BasicConv2d(nn.Module):
    """Convolution without bias, batch norm (eps 0.001) and ReLU."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        *,
        stride: int = 1,
        padding: int | tuple[int, int] = 0,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(
            in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=False
        )
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.bn(self.conv(x)))


def _avg_pool_same(x: Tensor) -> Tensor:
    """3x3 stride-1 average pool that, like TensorFlow, ignores the zero padding."""
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class FIDInceptionA(nn.Module):
    """35x35 block: 1x1, 5x5, double 3x3 and pool branches."""

    def __init__(self, in_channels: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 64, 1)
        self.branch5x5_1 = BasicConv2d(in_channels, 48, 1)
        self.branch5x5_2 = BasicConv2d(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, padding=1)
        self.branch_pool = BasicConv2d(in_channels, pool_features, 1)

    def forward(self, x: Tensor) -> Tensor:
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        pool = self.branch_pool(_avg_pool_same(x))
        return torch.cat([self.branch1x1(x), b5, b3, pool], dim=1)


class InceptionB(nn.Module):
    """Grid reduction 35x35 -> 17x17."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3 = BasicConv2d(in_channels, 384, 3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        pool = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([self.branch3x3(x), b3, pool], dim=1)


class FIDInceptionC(nn.Module):
    """17x17 block with factorised 7x7 convolutions."""

    def __init__(self, in_channels: int, channels_7x7: int) -> None:
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = BasicConv2d(in_channels, 192, 1)
        self.branch7x7_1 = BasicConv2d(in_channels, c7, 1)
        self.branch7x7_2 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(in_channels, c7, 1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(in_channels, 192, 1)

    def forward(self, x: Tensor) -> Tensor:
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        b7dbl = self.branch7x7dbl_1(x)
        for layer in (
            self.branch7x7dbl_2,
            self.branch7x7dbl_3,
            self.branch7x7dbl_4,
            self.branch7x7dbl_5,
        ):
            b7dbl = layer(b7dbl)
        pool = self.branch_pool(_avg_pool_same(x))
        return torch.cat([self.branch1x1(x), b7, b7dbl, pool], dim=1)


class InceptionD(nn.Module):
    """Grid reduction 17x17 -> 8x8."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3_1 = BasicConv2d(in_channels, 192, 1)
        self.branch3x3_2 = BasicConv2d(192, 320, 3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(in_channels, 192, 1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, 3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = self.branch7x7x3_1(x)
        for layer in (self.branch7x7x3_2, self.branch7x7x3_3, self.branch7x7x3_4):
            b7 = layer(b7)
        pool = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([b3, b7, pool], dim=1)


class _InceptionE(nn.Module):
    """8x8 block with expanded 1x3 / 3x1 outputs; subclasses choose the pool branch."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 320, 1)
        self.branch3x3_1 = BasicConv2d(in_channels, 384, 1)
        self.branch3x3_2a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 448, 1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(in_channels, 192, 1)

    def _pool(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], dim=1)
        b3dbl = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        b3dbl = torch.cat([self.branch3x3dbl_3a(b3dbl), self.branch3x3dbl_3b(b3dbl)], dim=1)
        pool = self.branch_pool(self._pool(x))
        return torch.cat([self.branch1x1(x), b3, b3dbl, pool], dim=1)


class FIDInceptionE_1(_InceptionE):  # noqa: N801 - pytorch-fid's block name
    """First 8x8 block: average pool that ignores the padding."""

    def _pool(self, x: Tensor) -> Tensor:
        return _avg_pool_same(x)


class FIDInceptionE_2(_InceptionE):  # noqa: N801 - pytorch-fid's block name
    """Second 8x8 block: the FID graph max-pools here, unlike the paper's average pool."""

    def _pool(self, x: Tensor) -> Tensor:
        return F.max_pool2d(x, kernel_size=3, stride=1, padding=1)


class InceptionFeatures(nn.Module):
    """pytorch-fid's Inception-v3 up to the final average pool (pool3, 2048 features).

    A fresh instance has random weights; use :func:`load_fid_inception` for FID.
    The 1008-class ``fc`` layer exists only so the weight file loads strictly; it is not run.
    """

    def __init__(self) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, 3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, 1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, 3)
        self.Mixed_5b = FIDInceptionA(192, pool_features=32)
        self.Mixed_5c = FIDInceptionA(256, pool_features=64)
        self.Mixed_5d = FIDInceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = FIDInceptionC(768, channels_7x7=128)
        self.Mixed_6c = FIDInceptionC(768, channels_7x7=160)
        self.Mixed_6d = FIDInceptionC(768, channels_7x7=160)
        self.Mixed_6e = FIDInceptionC(768, channels_7x7=192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = FIDInceptionE_1(1280)
        self.Mixed_7c = FIDInceptionE_2(2048)
        self.fc = nn.Linear(FEATURE_DIM, _NUM_CLASSES)

    def forward(self, images: Tensor) -> Tensor:
        """Map ``[N, 3, H, W]`` float images in [0, 1] to ``[N, 2048]`` pool3 features.

        Images are resized to 299x299 (bilinear, ``align_corners=False``) and scaled to
        [-1, 1], as pytorch-fid does.
        """
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"expected images of shape [N, 3, H, W], got {list(images.shape)}")
        x = images
        if x.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
            x = F.interpolate(
                x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False
            )
        x = 2 * x - 1
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        for block in (
            self.Mixed_5b,
            self.Mixed_5c,
            self.Mixed_5d,
            self.Mixed_6a,
            self.Mixed_6b,
            self.Mixed_6c,
            self.Mixed_6d,
            self.Mixed_6e,
            self.Mixed_7a,
            self.Mixed_7b,
            self.Mixed_7c,
        ):
            x = block(x)
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)


def _some(keys: list[str]) -> str:
    """A few keys and how many more there are, for a one-line message."""
    shown = ", ".join(keys[:_KEYS_SHOWN])
    more = len(keys) - _KEYS_SHOWN
    return f"{shown} (+{more} more)" if more > 0 else shown


def load_fid_inception(path: Path, *, allow_other: bool = False) -> InceptionFeatures:
    """Load pytorch-fid's Inception weights from ``path`` into an eval-mode extractor.

    The file must be pytorch-fid's own (its sha256 is `FID_WEIGHTS_SHA256`): FID and KID from other weights
    are not comparable with published figures, so another file is refused unless `allow_other`. It is
    treated as untrusted: read with ``weights_only=True`` and refused if it needs arbitrary unpickling; its
    keys must match the network's exactly.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such Inception weight file")
    digest = sha256_file(path)
    if digest != FID_WEIGHTS_SHA256 and not allow_other:
        raise ModelError(f"{path}: not pytorch-fid's {FID_WEIGHTS_FILE} (sha256 {digest[:16]}..., expected "
                         f"{FID_WEIGHTS_SHA256[:16]}...); FID from other weights is not comparable with published "
                         f"figures (--allow-other-inception uses it anyway)")
    state = load_weights_only(path, what="Inception weight file")
    if not isinstance(state, dict):
        raise ModelError(f"{path}: expected a state dict, found {type(state).__name__}")
    model = InceptionFeatures()
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # right keys, wrong shapes or non-tensor values
        detail = " ".join(str(exc).split())
        raise ModelError(f"{path}: weights do not fit pytorch-fid's Inception: {detail}") from None
    problems = []
    if result.missing_keys:
        problems.append(f"missing keys {_some(result.missing_keys)}")
    if result.unexpected_keys:
        problems.append(f"unexpected keys {_some(result.unexpected_keys)}")
    if problems:
        raise ModelError(f"{path}: not pytorch-fid's Inception weights: {'; '.join(problems)}")
    model.requires_grad_(False)
    return model.eval()
