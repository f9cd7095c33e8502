"""The one small interface every inference backend implements.

A backend runs a generator on a batch that is already on its device, normalised and padded:
float (N, C, H, W) in [-1, 1] in the backend's `memory_format`, height and width multiples of
`size_multiple`, queued on the backend's `stream`. Everything around it (decode, batching, upload,
normalisation, padding, cropping, download, encode) belongs to the pipeline, so the torch, ONNX Runtime and
TensorRT backends are interchangeable.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch

from vidtrans.backends.stream import DeviceStream
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
    memory_format: torch.memory_format
    """The layout `run` wants its input in, so that it never copies one: `torch.channels_last` for torch on
    CUDA (cuDNN's fastest convolutions), `torch.contiguous_format` (NCHW) for the ONNX and TensorRT graphs."""
    stream: DeviceStream
    """The non-default CUDA stream `run` queues its work on (a no-op `DeviceStream` on the CPU); the caller
    queues the work before and after it on the same stream."""

    def run(self, batch: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) in [-1, 1] of `input_dtype` on `device` -> (N, C_out, H, W), same dtype and device.

        On CUDA the work is queued on `stream` and `run` returns without waiting for it; the caller
        synchronises (`stream.record_event()`). Input in another layout than `memory_format` costs a copy.
        """
        ...

    def close(self) -> None:
        """Release sessions, engines and GPU memory."""
        ...
