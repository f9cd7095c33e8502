"""The one CUDA stream a backend, and the translator around it, queue all their work on.

A `DeviceStream` is created by each backend (one per backend, so one per `Translator`); the translator queues
upload, preprocessing, the backend, postprocessing, download and the completion event on it, and the backend
hands it to its runtime: torch runs under it, ONNX Runtime gets its handle as the CUDA provider's
`user_compute_stream`, TensorRT as the stream of `execute_async_v3`. It is never the default stream: work on
the legacy default stream synchronises with every other stream on the device, and TensorRT's own docs warn
against enqueueing on it. On the CPU every method is a no-op, so the same code runs on both.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch


class DeviceStream:
    """A non-default CUDA stream on `device`, or nothing at all on the CPU."""

    def __init__(self, device: torch.device) -> None:
        self.device = torch.device(device)
        self.cuda: torch.cuda.Stream | None = torch.cuda.Stream(self.device) if self.device.type == "cuda" else None

    @property
    def handle(self) -> int | None:
        """The `cudaStream_t` as an integer (what ONNX Runtime and TensorRT take), or None on the CPU."""
        return None if self.cuda is None else int(self.cuda.cuda_stream)

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        """Make this the current stream (torch work inside is queued on it); does nothing on the CPU."""
        if self.cuda is None:
            yield
            return
        with torch.cuda.stream(self.cuda):
            yield

    def call(self, work: Callable[[torch.Tensor], torch.Tensor], tensor: torch.Tensor) -> torch.Tensor:
        """`work(tensor)` on this stream, for a tensor made on the caller's current stream: this stream first
        waits for the caller's work, and the caller's stream waits for the result before using it (the caching
        allocator is told about both streams). For callers outside the pipeline, such as `vidtrans.load`."""
        if self.cuda is None:
            return work(tensor)
        caller = torch.cuda.current_stream(self.device)
        self.cuda.wait_stream(caller)
        tensor.record_stream(self.cuda)
        with self.active():
            result = work(tensor)
        caller.wait_stream(self.cuda)
        result.record_stream(caller)
        return result

    def record_event(self) -> torch.cuda.Event | None:
        """An event marking the work queued so far (None on the CPU, where nothing is queued)."""
        if self.cuda is None:
            return None
        event = torch.cuda.Event()
        event.record(self.cuda)
        return event

    def synchronize(self) -> None:
        """Wait for everything queued on the stream."""
        if self.cuda is not None:
            self.cuda.synchronize()
