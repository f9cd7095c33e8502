"""The PyTorch backend: a generator module in eval mode on the CPU or a CUDA GPU, fp32 or fp16.

On CUDA the weights and the input are channels-last (the backend's `memory_format`) and cuDNN picks its
fastest kernels per shape (`cudnn.benchmark`); all work is queued on the backend's own CUDA stream. With
`compile=True` the module goes through `torch.compile(dynamic=False)`, so each input shape gets its own static
graph; to keep that to exactly one graph per resolution, a batch smaller than the first one seen at its
resolution (the tail of a video) is padded up to that size, in the same memory format (a stride change would
fail the graph's guards and compile a second one), and the extra outputs are dropped. Dynamo recompiles at
most `torch._dynamo.config.recompile_limit` times (8 by default); beyond that many resolutions it runs the
module eagerly. In a CUDA-graph compile mode ("reduce-overhead", "max-autotune") the output of `run` lives
in the graph's memory and is overwritten by the next `run`: use it (or clone it) before then.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn as nn

from vidtrans.backends.stream import DeviceStream
from vidtrans.devices import Precision, torch_dtype
from vidtrans.runtime import COMPILE_MODES



def preferred_memory_format(device: torch.device) -> torch.memory_format:
    """Channels-last on CUDA (cuDNN's fastest convolutions, Tensor Cores), NCHW elsewhere."""
    return torch.channels_last if device.type == "cuda" else torch.contiguous_format


class TorchBackend:
    """Run a generator `nn.Module` with PyTorch (implements `vidtrans.backends.base.Backend`).

    `memory_format` defaults to `preferred_memory_format(device)`.
    """

    name = "torch"

    def __init__(self, module: nn.Module, *, device: torch.device, precision: Precision, size_multiple: int,
                 compile: bool = False, compile_mode: str = "max-autotune",
                 memory_format: torch.memory_format | None = None) -> None:
        if precision not in ("fp32", "fp16"):
            raise ValueError(f"precision must be fp32 or fp16; got {precision!r}")
        if compile_mode not in COMPILE_MODES:
            raise ValueError(f"compile_mode must be one of {', '.join(COMPILE_MODES)}; got {compile_mode!r}")
        self.device = torch.device(device)
        self.precision: Precision = precision
        self.input_dtype = torch_dtype(precision)
        self.size_multiple = int(size_multiple)
        self.memory_format = memory_format or preferred_memory_format(self.device)
        self.stream = DeviceStream(self.device)
        self.compiled = compile
        self.compile_mode = compile_mode
        with self.stream.active():
            module = module.eval().to(device=self.device, dtype=self.input_dtype, memory_format=self.memory_format)
        for parameter in module.parameters():
            parameter.requires_grad_(False)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        self.module: nn.Module | None = module
        self._forward: Callable[[torch.Tensor], torch.Tensor] | None = (
            torch.compile(module, dynamic=False, mode=compile_mode) if compile else module)
        self._batch_for_size: dict[tuple[int, int, int], int] = {}

    def run(self, batch: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) in [-1, 1] on `device`, of `input_dtype` -> the generator's output, same layout.

        Input in another layout than `memory_format` is copied into it first.
        """
        if self._forward is None:
            raise RuntimeError("this backend is closed")
        if batch.device != self.device or batch.dtype != self.input_dtype:
            raise ValueError(f"expected a {self.input_dtype} batch on {self.device}; got {batch.dtype} on "
                             f"{batch.device}")
        with torch.inference_mode(), self.stream.active():
            batch = batch.contiguous(memory_format=self.memory_format)
            if not self.compiled:
                return self._forward(batch)
            n, channels, height, width = batch.shape
            size = (channels, height, width)
            compiled_n = self._batch_for_size.setdefault(size, n)
            if n < compiled_n:
                batch = self._pad_batch(batch, compiled_n)
            elif n > compiled_n:
                self._batch_for_size[size] = n
            if self.device.type == "cuda":
                torch.compiler.cudagraph_mark_step_begin()
            return self._forward(batch)[:n]

    def _pad_batch(self, batch: torch.Tensor, size: int) -> torch.Tensor:
        """`batch` followed by copies of its last frame, `size` frames in all, in `memory_format` (so the padded
        batch has the strides the compiled graph was made for; `torch.cat` would return NCHW)."""
        padded = torch.empty((size, *batch.shape[1:]), dtype=batch.dtype, device=batch.device,
                             memory_format=self.memory_format)
        padded[:len(batch)].copy_(batch)
        padded[len(batch):].copy_(batch[-1:].expand(size - len(batch), -1, -1, -1))
        return padded

    def close(self) -> None:
        """Drop the module (and its GPU memory)."""
        self._forward = None
        self.module = None
        if self.device.type == "cuda":
            self.stream.synchronize()
            torch.cuda.empty_cache()
