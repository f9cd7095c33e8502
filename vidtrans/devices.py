"""Choosing the torch device and the inference precision from the user's `--device` / `--precision`."""

from __future__ import annotations

import re
from typing import Literal

import torch

from vidtrans.errors import UsageError
from vidtrans.runtime import PRECISION_CHOICES

Precision = Literal["fp32", "fp16"]


def resolve_device(spec: str = "auto") -> torch.device:
    """`auto` (CUDA when present, else CPU), `cpu`, `cuda` or `cuda:N`; refuses a GPU that isn't there.

    CUDA devices always carry their index (`cuda` means the current device), so they compare equal to a
    tensor's device.
    """
    spec = spec.strip().lower()
    if spec == "auto":
        return torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else torch.device("cpu")
    if spec == "cpu":
        return torch.device("cpu")
    match = re.fullmatch(r"cuda(?::(\d+))?", spec)
    if not match:
        raise UsageError(f"--device must be auto, cpu, cuda or cuda:N; got {spec!r}")
    if not torch.cuda.is_available():
        raise UsageError(f"--device {spec}: no CUDA GPU is available (torch {torch.__version__}, "
                         f"CUDA build: {torch.version.cuda or 'no'})")
    index = int(match.group(1)) if match.group(1) else torch.cuda.current_device()
    if index >= torch.cuda.device_count():
        raise UsageError(f"--device {spec}: only {torch.cuda.device_count()} CUDA device(s) present")
    return torch.device("cuda", index)


def resolve_precision(spec: str, device: torch.device) -> Precision:
    """`auto` is fp16 on CUDA and fp32 on the CPU; fp16 on the CPU is refused (slow and inexact there)."""
    if spec not in PRECISION_CHOICES:
        raise UsageError(f"--precision must be one of {', '.join(PRECISION_CHOICES)}; got {spec!r}")
    if spec == "auto":
        return "fp16" if device.type == "cuda" else "fp32"
    if spec == "fp16" and device.type != "cuda":
        raise UsageError("--precision fp16 needs a CUDA device; use fp32 on the CPU")
    return spec  # type: ignore[return-value]


def torch_dtype(precision: Precision) -> torch.dtype:
    """The torch dtype of a precision name."""
    return torch.float16 if precision == "fp16" else torch.float32
