"""The device-side work around a backend: RGB uint8 batches in, translated RGB uint8 batches out.

    upload    host (N, H, W, 3) uint8 -> device, from pinned memory without blocking on CUDA
    run       on the device: to the backend's dtype, normalise, reflect-pad to `size_multiple`, in the
              backend's `memory_format` (so the backend never copies), backend, crop, back to uint8
    download  device -> pinned host memory without blocking; `PendingBatch.result()` waits

A batch whose output holds NaN or infinity would come out black or as noise; `submit` and `translate`
raise `NonFiniteOutput` instead. The check is a flag computed on the device before the uint8 cast and
copied back beside the frames, so it adds no synchronisation: it is read when the result is taken.

Only uint8 crosses the bus (a quarter of the bytes of fp32). On CUDA all of it, and the event that marks a
batch done, is queued on the backend's own non-default stream (`backend.stream`, see
`vidtrans.backends.stream`), never the default one. `submit` queues all three and returns at once, so the
caller keeps two batches in flight and decodes and encodes others while the GPU works; nothing
synchronises until `result()` (or `synchronize()` for timing).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from vidtrans.backends.base import Backend
from vidtrans.backends.selection import BackendChoice
from vidtrans.errors import ModelError
from vidtrans.frames import check_rgb
from vidtrans.modeldir import ModelDirectory
from vidtrans.runtime import RuntimeOptions


class NonFiniteOutput(ModelError):
    """A batch translated to NaN or infinite values; `batch` is the `FrameBatch` when the pipeline knows it."""

    def __init__(self, message: str, batch: Any = None) -> None:
        super().__init__(message)
        self.batch = batch


NON_FINITE = ("the model's output holds NaN or infinite values, which would be written as black or noise "
              "(an activation may overflow, in fp16 most often: try --precision fp32)")


class PendingBatch:
    """Translated frames on their way to host memory; `result()` waits for them.

    `finite` is a host (pinned, on CUDA) bool tensor that the device fills with whether every output value
    was finite; None when unchecked.
    """

    def __init__(self, pixels: np.ndarray, event: torch.cuda.Event | None = None,
                 keepalive: tuple[Any, ...] = (), finite: torch.Tensor | None = None) -> None:
        self._pixels = pixels
        self._event = event
        self._keepalive = keepalive  # host buffers an asynchronous copy may still be reading
        self._finite = finite

    def result(self) -> np.ndarray:
        """(N, H, W, 3) uint8 RGB, once the device has finished; `NonFiniteOutput` if the output was not finite."""
        if self._event is not None:
            self._event.synchronize()
            self._event = None
        self._keepalive = ()
        if self._finite is not None and not bool(self._finite):
            raise NonFiniteOutput(NON_FINITE)
        return self._pixels


class Translator:
    """Translate RGB uint8 (N, H, W, 3) batches with a `Backend` (see the module docstring for the stages).

    `mean` and `std` are the model's input normalisation (the output is mapped back with the same ones);
    the defaults give the usual [-1, 1].
    """

    def __init__(self, backend: Backend, *, mean: Sequence[float] = (0.5, 0.5, 0.5),
                 std: Sequence[float] = (0.5, 0.5, 0.5)) -> None:
        if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise ValueError(f"mean and std need 3 values each, std positive; got {mean!r}, {std!r}")
        self.backend = backend
        self.device = backend.device
        self.stream = backend.stream
        self._cuda = self.device.type == "cuda"
        mean_t = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
        std_t = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
        dtype = backend.input_dtype
        with self.stream.active():
            self._in_offset = (255.0 * mean_t).to(self.device, dtype)
            self._in_divisor = (255.0 * std_t).to(self.device, dtype)
            self._out_scale = (255.0 * std_t).to(self.device)
            self._out_bias = (255.0 * mean_t).to(self.device)

    @classmethod
    def from_model(cls, model: ModelDirectory | str | Path, options: RuntimeOptions | None = None, *,
                   choice: BackendChoice | None = None, announce: bool = True) -> Translator:
        """A translator for a model directory (or registered name) run as `options` say (or as `choice`, when
        the caller has resolved them already), with the model's normalisation; `announce` prints what
        `backend="auto"` chose."""
        from vidtrans.backends.factory import create_backend
        from vidtrans.registry import resolve_model

        found = model if isinstance(model, ModelDirectory) else resolve_model(model)
        return cls(create_backend(found, options, choice=choice, announce=announce), mean=found.info.mean,
                   std=found.info.std)

    def host_array(self, shape: tuple[int, ...]) -> np.ndarray:
        """An uninitialised uint8 host array to stack frames into: pinned (page-locked) memory on CUDA."""
        if self._cuda:
            return torch.empty(shape, dtype=torch.uint8, pin_memory=True).numpy()
        return np.empty(shape, dtype=np.uint8)

    def upload(self, pixels: np.ndarray) -> torch.Tensor:
        """Host RGB uint8 (N, H, W, 3) -> the same on the device.

        On CUDA the copy is queued without blocking from pinned memory (`pixels` is staged into a pinned
        buffer unless it came from `host_array`); keep `pixels` unchanged until the batch is finished.
        """
        check_rgb(pixels, batched=True)
        host = torch.from_numpy(np.ascontiguousarray(pixels))
        if not self._cuda:
            return host
        if not host.is_pinned():
            host = torch.empty(pixels.shape, dtype=torch.uint8, pin_memory=True).copy_(host)
        with self.stream.active():
            return host.to(self.device, non_blocking=True)

    def prepare(self, frames: torch.Tensor) -> torch.Tensor:
        """Device uint8 (N, H, W, 3) -> the backend's input: NCHW of `input_dtype`, normalised, padded.

        Padding mirrors the edge (reflect) up to a multiple of `size_multiple` at the bottom and right;
        an image smaller than that padding repeats its edge instead (replicate). The result is in the
        backend's `memory_format`.
        """
        return self._prepare_nchw(frames.permute(0, 3, 1, 2))

    def _prepare_nchw(self, pixels: torch.Tensor) -> torch.Tensor:
        """Device (N, 3, H, W) pixel values in [0, 255], any dtype -> the backend's input (see `prepare`)."""
        _, _, height, width = pixels.shape
        with self.stream.active():
            x = pixels.to(self.backend.input_dtype).sub(self._in_offset).div_(self._in_divisor)
            multiple = self.backend.size_multiple
            pad_h, pad_w = -height % multiple, -width % multiple
            if pad_h or pad_w:
                mode = "reflect" if pad_h < height and pad_w < width else "replicate"
                x = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
            return x.contiguous(memory_format=self.backend.memory_format)

    def finish(self, output: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """The backend's output -> device uint8 (N, height, width, 3): cropped, denormalised, rounded, clamped.

        Unchecked: NaN becomes 0 here; `submit` and `translate` check for it (see `finish_checked`).
        """
        return self.finish_checked(output, height, width)[0]

    def finish_checked(self, output: torch.Tensor, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
        """`finish`, and a device bool tensor: whether every output value was finite (nothing waits for it)."""
        y, finite = self._denormalise(output, height, width)
        with self.stream.active():
            return y.round_().to(torch.uint8).permute(0, 2, 3, 1).contiguous(), finite

    def _denormalise(self, output: torch.Tensor, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The backend's output -> float32 (N, 3, height, width) pixel values in [0, 255], cropped and clamped,
        and a device bool tensor: whether every value was finite before clamping."""
        y = output[:, :, :height, :width]
        if y.shape[1] == 1:
            y = y.expand(-1, 3, -1, -1)
        elif y.shape[1] != 3:
            raise ValueError(f"the generator returns {y.shape[1]} channels; vidtrans writes RGB (3) or grey (1)")
        with self.stream.active():
            y = torch.addcmul(self._out_bias, y.float(), self._out_scale)
            finite = torch.isfinite(y).all()
            return y.clamp_(0, 255), finite

    def run(self, frames: torch.Tensor) -> torch.Tensor:
        """Device uint8 (N, H, W, 3) -> translated device uint8 (N, H, W, 3) (queued, not synchronised).

        Unchecked, like `finish`; `submit`, `translate` and `translate_tensor` raise `NonFiniteOutput` for NaN
        or infinity.
        """
        return self._run(frames)[0]

    def _run(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.inference_mode(), self.stream.active():
            _, height, width, _ = frames.shape
            return self.finish_checked(self.backend.run(self.prepare(frames)), height, width)

    def translate_tensor(self, frames: torch.Tensor) -> torch.Tensor:
        """Device uint8 (N, H, W, 3) -> translated device uint8 (N, H, W, 3), checked: waits for the flag and
        raises `NonFiniteOutput` for NaN or infinity (for callers outside the pipeline, such as `vidtrans.load`)."""
        frames, finite = self._run(frames)
        return _checked(frames, finite)

    def translate_float(self, pixels: torch.Tensor) -> torch.Tensor:
        """Device float (N, 3, H, W) pixel values in [0, 255] -> translated float32 (N, 3, H, W) in [0, 255],
        checked like `translate_tensor`. No 8-bit rounding on the way in or out: for callers that keep images as
        floats (training loops)."""
        with torch.inference_mode(), self.stream.active():
            _, _, height, width = pixels.shape
            translated, finite = self._denormalise(self.backend.run(self._prepare_nchw(pixels)), height, width)
        return _checked(translated, finite)

    def download(self, frames: torch.Tensor) -> PendingBatch:
        """Device uint8 (N, H, W, 3) -> host, into pinned memory without blocking on CUDA."""
        return self._download(frames, keepalive=())

    def _download(self, frames: torch.Tensor, *, keepalive: tuple[Any, ...],
                  finite: torch.Tensor | None = None) -> PendingBatch:
        if not self._cuda:
            return PendingBatch(frames.cpu().numpy(), finite=finite)
        host = torch.empty(frames.shape, dtype=torch.uint8, pin_memory=True)
        host_finite = None
        with self.stream.active():
            host.copy_(frames, non_blocking=True)
            if finite is not None:
                host_finite = torch.empty((), dtype=torch.bool, pin_memory=True)
                host_finite.copy_(finite, non_blocking=True)
        return PendingBatch(host.numpy(), self.stream.record_event(), keepalive, finite=host_finite)

    def submit(self, pixels: np.ndarray) -> PendingBatch:
        """Queue upload, run and download of a batch; on CUDA this returns before the GPU is done.

        The pending batch keeps `pixels` alive until its result is taken (the upload may still read it), and
        its `result()` raises `NonFiniteOutput` if the model's output held NaN or infinity.
        """
        frames, finite = self._run(self.upload(pixels))
        return self._download(frames, keepalive=(pixels,), finite=finite)

    def translate(self, pixels: np.ndarray) -> np.ndarray:
        """Translate and wait: RGB uint8 (N, H, W, 3) -> RGB uint8 (N, H, W, 3), or one (H, W, 3) frame -> (H, W, 3)."""
        if isinstance(pixels, np.ndarray) and pixels.ndim == 3:
            return self.submit(pixels[None]).result()[0]
        return self.submit(pixels).result()

    def synchronize(self) -> None:
        """Wait for all work queued on the translator's stream (for timing)."""
        self.stream.synchronize()

    def close(self) -> None:
        """Release the backend."""
        self.backend.close()

    def __enter__(self) -> Translator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _checked(result: torch.Tensor, finite: torch.Tensor) -> torch.Tensor:
    """`result`, once the device says it was finite; else `NonFiniteOutput`."""
    if not bool(finite):
        raise NonFiniteOutput(NON_FINITE)
    return result
