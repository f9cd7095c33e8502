"""The one small interface every inference backend implements.

A backend runs a generator on a batch that is already on its device, normalised and padded:
float NCHW in [-1, 1], height and width multiples of `size_multiple`. Everything around it (decode,
batching, upload, normalisation, padding, cropping, download, encode) belongs to the pipeline, so the
torch, ONNX Runtime and TensorRT backends are interchangeable.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch

from vidtrans.devices import Precision


@runtime_checkable
class Backend(Protocol):
    """Translate a batch of frames with a generator."""

    name: str
    """Short name for reports: "torch", "onnxruntime", "tensorrt"."""
    device: torch.device
    """Where `run` expects its input and leaves its output."""
    precision: Precision
    """The arithmetic precision of the model ("fp32" or "fp16")."""
    input_dtype: torch.dtype
    """The dtype `run` takes and returns (float16 or float32)."""
    size_multiple: int
    """Height and width given to `run` are multiples of this."""

    def run(self, batch: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) in [-1, 1] of `input_dtype` on `device` -> (N, C_out, H, W), same dtype and device.

        Work may be queued asynchronously on the current CUDA stream; the caller synchronises.
        """
        ...

    def close(self) -> None:
        """Release sessions, engines and GPU memory."""
        ...
