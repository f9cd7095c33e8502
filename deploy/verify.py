"""Checking an exported ONNX graph: `onnx.checker`, then ONNX Runtime against PyTorch at several shapes.

Verification shapes are valid generator inputs: height and width are multiples of the generator's
`size_multiple` (4 for ResNet, 2**num_downs for U-Net), which is what the pipeline feeds after reflect-padding
any frame size. The graph itself accepts any height and width (its dimensions are symbolic), but a ResNet's
skip connections and a U-Net's concatenations only line up at those multiples. "Odd" shapes here are
non-square ones whose multiplier is odd and not a power of two (36x52 for ResNet is 9x13 times 4), so a graph
that baked in a square or power-of-two size fails.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch
import torch.nn as nn

from vidtrans.errors import ModelError, first_line
from vidtrans.ortpackages import INSTALL_HINT, import_onnxruntime

Shape = tuple[int, int, int]
"""(batch, height, width)."""

FP32_TOLERANCE = 1e-3
"""fp32 ONNX vs fp32 PyTorch: only reordering of float sums differs."""
FP16_TOLERANCE = 1 / 127.5
"""fp16 ONNX vs fp32 PyTorch: one 8-bit level in [-1, 1] units."""


@dataclass(frozen=True)
class SizeCheck:
    """The largest absolute difference between ONNX Runtime and PyTorch outputs at one input shape."""

    batch: int
    height: int
    width: int
    max_abs_diff: float

    def describe(self) -> str:
        return f"batch {self.batch} at {self.width}x{self.height}: max |diff| {self.max_abs_diff:.2e}"

    def to_json(self) -> dict[str, float | int]:
        return {"batch": self.batch, "height": self.height, "width": self.width, "max_abs_diff": self.max_abs_diff}


def default_verification_shapes(multiple: int) -> tuple[Shape, ...]:
    """Three (batch, height, width) shapes: a square, then two non-square ones with odd multipliers.

    ResNet (multiple 4): (2, 32, 32), (1, 20, 28), (3, 36, 52). U-Net (multiple 2**num_downs, e.g. 128):
    (2, 256, 256), (1, 384, 640), (3, 256, 384). No side is below 5 multiples for ResNet: at 8x8 instance norm
    normalises 2x2 bottleneck maps, which magnifies fp16 rounding far beyond what any real frame sees.
    """
    m = multiple
    if m <= 8:
        return ((2, 8 * m, 8 * m), (1, 5 * m, 7 * m), (3, 9 * m, 13 * m))
    return ((2, 2 * m, 2 * m), (1, 3 * m, 5 * m), (3, 2 * m, 3 * m))


def check_onnx_file(path: Path, *, label: Path | None = None) -> None:
    """Run `onnx.checker` with full shape inference; a failure becomes a ModelError naming the file (or `label`,
    the final name of a file still being written)."""
    label = label or path
    try:
        onnx.checker.check_model(str(path), full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as error:
        raise ModelError(f"{label}: the ONNX graph is invalid ({first_line(error)})") from None


def verification_unavailable() -> str | None:
    """Why `compare_with_torch` cannot run here (ONNX Runtime is not installed), or None when it can."""
    if importlib.util.find_spec("onnxruntime") is None:
        return f"ONNX Runtime is not installed ({INSTALL_HINT}); export again once it is to verify the graph"
    return None


def compare_with_torch(path: Path, generator: nn.Module, *, shapes: Sequence[Shape], tolerance: float,
                       in_channels: int = 3, seed: int = 0, label: Path | None = None) -> tuple[SizeCheck, ...]:
    """Run the ONNX file with ONNX Runtime on the CPU and `generator` (fp32, CPU) on the same random inputs.

    Returns the maximum absolute difference at each shape; raises ModelError (naming `label`, default `path`)
    when one exceeds `tolerance`.
    """
    ort = import_onnxruntime("verifying an ONNX export")
    label = label or path
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # small inputs: don't busy-wait
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # noqa: BLE001 - onnxruntime's errors have no common public base class
        raise ModelError(f"{label}: ONNX Runtime cannot load the graph ({first_line(error)})") from None
    input_name = session.get_inputs()[0].name
    rng = torch.Generator().manual_seed(seed)
    checks = []
    for batch, height, width in shapes:
        frames = torch.rand(batch, in_channels, height, width, generator=rng) * 2 - 1
        where = f"batch {batch}, {width}x{height}"
        try:
            with torch.inference_mode():
                expected = generator(frames).numpy()
        except (RuntimeError, ValueError) as error:
            raise ModelError(f"{label}: PyTorch cannot run the generator at {where} ({first_line(error)})") from None
        try:
            actual = session.run(None, {input_name: frames.numpy()})[0]
        except Exception as error:  # noqa: BLE001 - as above
            raise ModelError(f"{label}: ONNX Runtime cannot run the graph at {where} ({first_line(error)})") from None
        if actual.shape != expected.shape:
            raise ModelError(f"{label}: ONNX Runtime returned shape {actual.shape} for input {tuple(frames.shape)}; "
                             f"PyTorch returns {expected.shape}")
        diff = float(np.max(np.abs(actual.astype(np.float64) - expected)))
        if not np.isfinite(diff) or diff > tolerance:
            raise ModelError(f"{label}: ONNX Runtime output differs from PyTorch by {diff:.3g} at {where} "
                             f"(tolerance {tolerance:.3g})")
        checks.append(SizeCheck(batch, height, width, diff))
    return tuple(checks)

