"""The PyTorch backend: a generator module in eval mode on the CPU or a CUDA GPU, fp32 or fp16.

On CUDA the weights are channels-last and cuDNN picks its fastest kernels per shape (`cudnn.benchmark`).
With `compile=True` the module goes through `torch.compile(dynamic=False)`, so each input shape gets its
own static graph; to keep that to one shape per resolution, a batch smaller than the first one seen at
its resolution (the tail of a video) is padded up to that size and the extra outputs are dropped.
Dynamo recompiles at most `torch._dynamo.config.recompile_limit` times (8 by default); beyond that many
resolutions it runs the module eagerly.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn as nn

from vidtrans.devices import Precision, torch_dtype
from vidtrans.runtime import COMPILE_MODES



class TorchBackend:
    """Run a generator `nn.Module` with PyTorch (implements `vidtrans.backends.base.Backend`)."""

    name = "torch"

    def __init__(self, module: nn.Module, *, device: torch.device, precision: Precision, size_multiple: int,
                 compile: bool = False, compile_mode: str = "max-autotune") -> None:
        if precision not in ("fp32", "fp16"):
            raise ValueError(f"precision must be fp32 or fp16; got {precision!r}")
        if compile_mode not in COMPILE_MODES:
            raise ValueError(f"compile_mode must be one of {', '.join(COMPILE_MODES)}; got {compile_mode!r}")
        self.device = torch.device(device)
        self.precision: Precision = precision
        self.input_dtype = torch_dtype(precision)
        self.size_multiple = int(size_multiple)
        self.compiled = compile
        self.compile_mode = compile_mode
        module = module.eval().to(device=self.device, dtype=self.input_dtype)
        for parameter in module.parameters():
            parameter.requires_grad_(False)
        if self.device.type == "cuda":
            module = module.to(memory_format=torch.channels_last)
            torch.backends.cudnn.benchmark = True
        self.module: nn.Module | None = module
        self._forward: Callable[[torch.Tensor], torch.Tensor] | None = (
            torch.compile(module, dynamic=False, mode=compile_mode) if compile else module)
        self._batch_for_size: dict[tuple[int, int, int], int] = {}

    def run(self, batch: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) in [-1, 1] on `device`, of `input_dtype` -> the generator's output, same layout."""
        if self._forward is None:
            raise RuntimeError("this backend is closed")
        if batch.device != self.device or batch.dtype != self.input_dtype:
            raise ValueError(f"expected a {self.input_dtype} batch on {self.device}; got {batch.dtype} on "
                             f"{batch.device}")
        with torch.inference_mode():
            if not self.compiled:
                return self._forward(batch)
            n, channels, height, width = batch.shape
            size = (channels, height, width)
            compiled_n = self._batch_for_size.setdefault(size, n)
            if n < compiled_n:
                batch = torch.cat([batch, batch[-1:].expand(compiled_n - n, *size)])
            elif n > compiled_n:
                self._batch_for_size[size] = n
            if self.device.type == "cuda":
                torch.compiler.cudagraph_mark_step_begin()
            return self._forward(batch)[:n]

    def close(self) -> None:
        """Drop the module (and its GPU memory)."""
        self._forward = None
        self.module = None
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
