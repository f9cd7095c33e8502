"""Tests for the translator, the torch backend and the backend factory (CPU; CUDA cases skip without a GPU)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from vidtrans.backends.base import Backend
from vidtrans.backends.factory import create_backend
from vidtrans.backends.onnxruntime_backend import OnnxRuntimeBackend
from vidtrans.backends.stream import DeviceStream
from vidtrans.backends.tensorrt_backend import TensorRTBackend
from vidtrans.backends.torch_backend import TorchBackend, preferred_memory_format
from vidtrans.errors import ModelError, UsageError
from vidtrans.modeldir import ModelDirectory, ModelInfo, save_model
from vidtrans.networks import UnetGeneratorConfig, build_generator, init_weights
from vidtrans.runtime import RuntimeOptions
from vidtrans.translator import Translator

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CPU = torch.device("cpu")


def needs_cuda(test):  # noqa: ANN001, ANN201 - a decorator
    """A CUDA test: marked `gpu` (run by `pytest -m gpu`) and skipped without a GPU."""
    return pytest.mark.gpu(pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")(test))

CPU_TORCH = RuntimeOptions(backend="torch", device="cpu")


def _images(n: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, height, width, 3), dtype=np.uint8)


def _reference(module: torch.nn.Module, images: np.ndarray, multiple: int, mode: str = "reflect",
               mean: float = 0.5, std: float = 0.5) -> np.ndarray:
    """The generator applied the slow, obvious way: numpy padding, float64 normalisation, one image at a time."""
    n, height, width, _ = images.shape
    padded = np.pad(images, ((0, 0), (0, -height % multiple), (0, -width % multiple), (0, 0)),
                    mode="reflect" if mode == "reflect" else "edge")
    x = torch.from_numpy((padded / 255.0 - mean) / std).permute(0, 3, 1, 2).float()
    with torch.no_grad():
        y = torch.cat([module(x[i:i + 1]) for i in range(n)])[:, :, :height, :width].double()
    return (y * std + mean).mul(255).round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()


def test_translation_equals_the_generator_on_reflect_padded_input(tiny_model: ModelDirectory) -> None:
    translator = Translator(create_backend(tiny_model, CPU_TORCH))
    assert isinstance(translator.backend, Backend)
    images = _images(3, 29, 37)
    out = translator.translate(images)
    assert out.shape == images.shape and out.dtype == np.uint8
    expected = _reference(tiny_model.load_generator(), images, 4)
    assert np.abs(out.astype(int) - expected).max() <= 1
    wrong = _reference(tiny_model.load_generator(), images, 4, mode="edge")
    assert np.abs(out.astype(int) - wrong).max() > 1  # the padding mode is visible at the borders
    assert out.std() > 5  # a generator that ignored its input would fail the comparisons above


def test_stages_compose_to_translate(tiny_model: ModelDirectory) -> None:
    translator = Translator.from_model(tiny_model, CPU_TORCH)
    images = _images(2, 16, 20, seed=1)
    device_in = translator.upload(images)
    assert device_in.shape == (2, 16, 20, 3) and device_in.dtype == torch.uint8
    prepared = translator.prepare(device_in)
    assert prepared.shape == (2, 3, 16, 20) and prepared.dtype == torch.float32
    assert float(prepared.min()) >= -1 and float(prepared.max()) <= 1
    device_out = translator.run(device_in)
    assert np.array_equal(translator.download(device_out).result(), translator.translate(images))
    with pytest.raises(ValueError, match="uint8"):
        translator.upload(images.astype(np.float32))


def test_small_images_fall_back_to_replicate_padding(tmp_path: Path) -> None:
    config = UnetGeneratorConfig(ngf=4, num_downs=5)  # needs multiples of 32
    torch.manual_seed(0)
    module = init_weights(build_generator(config), gain=0.2)
    model = save_model(tmp_path / "u", ModelInfo(name="u", generator=config), module)
    translator = Translator.from_model(model, CPU_TORCH)
    images = _images(2, 12, 20, seed=2)
    out = translator.translate(images)
    assert out.shape == images.shape
    expected = _reference(model.load_generator(), images, 32, mode="edge")
    assert np.abs(out.astype(int) - expected).max() <= 1


def test_model_normalisation_is_used(tmp_path: Path, tiny_model: ModelDirectory) -> None:
    info = ModelInfo(name="n", generator=tiny_model.info.generator, mean=(0.4, 0.4, 0.4), std=(0.3, 0.3, 0.3))
    model = save_model(tmp_path / "n", info, tiny_model.load_generator())
    images = _images(1, 8, 12, seed=3)
    out = Translator.from_model(model, CPU_TORCH).translate(images)
    expected = _reference(model.load_generator(), images, 4, mean=0.4, std=0.3)
    assert np.abs(out.astype(int) - expected).max() <= 1


def test_torch_backend_checks_its_input(tiny_model: ModelDirectory) -> None:
    backend = TorchBackend(tiny_model.load_generator(), device=torch.device("cpu"), precision="fp32",
                           size_multiple=4)
    assert backend.input_dtype == torch.float32 and not backend.module.training  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="float32"):
        backend.run(torch.zeros(1, 3, 8, 8, dtype=torch.float64))
    backend.close()
    with pytest.raises(RuntimeError, match="closed"):
        backend.run(torch.zeros(1, 3, 8, 8))


def test_factory_refuses_what_it_cannot_build(tiny_model: ModelDirectory) -> None:
    with pytest.raises(UsageError, match="--backend must be one of"):
        RuntimeOptions(backend="tflite")
    with pytest.raises(UsageError, match="tensorrt needs a CUDA GPU"):
        create_backend(tiny_model, RuntimeOptions(backend="tensorrt", device="cpu"))
    with pytest.raises(UsageError, match="--compile-mode"):
        RuntimeOptions(compile_mode="fastest")
    with pytest.raises(UsageError, match="fp16 needs a CUDA device"):
        create_backend(tiny_model, RuntimeOptions(device="cpu", precision="fp16"))
    with pytest.raises(ModelError, match="no inverse generator"):
        create_backend(tiny_model, RuntimeOptions(backend="torch", device="cpu", inverse=True))


@needs_cuda
def test_cuda_fp16_matches_cpu_fp32(tiny_model: ModelDirectory) -> None:
    images = _images(4, 30, 42, seed=4)
    cpu = Translator.from_model(tiny_model, CPU_TORCH).translate(images)
    gpu = Translator.from_model(tiny_model, RuntimeOptions(backend="torch", device="cuda", precision="fp16"))
    assert gpu.backend.precision == "fp16"
    assert torch.from_numpy(gpu.host_array((1, 2, 2, 3))).is_pinned()
    pending = gpu.submit(images)
    out = pending.result()
    assert np.abs(out.astype(int) - cpu).mean() < 1.0 and np.abs(out.astype(int) - cpu).max() <= 8
    prepared = gpu.prepare(gpu.upload(images))
    assert prepared.dtype == torch.float16 and prepared.is_contiguous(memory_format=torch.channels_last)


@needs_cuda
@pytest.mark.parametrize("mode", ["default", "reduce-overhead"])
def test_cuda_compile_pads_the_tail_batch_to_one_static_shape(tiny_model: ModelDirectory, mode: str) -> None:
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    translator = Translator.from_model(tiny_model, RuntimeOptions(backend="torch", device="cuda", precision="fp16",
                                                                  compile=True, compile_mode=mode))
    eager = Translator.from_model(tiny_model, RuntimeOptions(backend="torch", device="cuda", precision="fp16"))
    for n, seed in [(4, 5), (4, 6), (3, 7), (2, 8), (1, 9)]:
        images = _images(n, 32, 48, seed=seed)
        assert np.abs(translator.translate(images).astype(int) - eager.translate(images)).max() <= 2
    assert translator.backend._batch_for_size == {(3, 32, 48): 4}  # type: ignore[attr-defined]
    assert counters["stats"]["unique_graphs"] == 1


def _cuda_backends() -> list[str]:
    import onnxruntime

    from vidtrans.backends.selection import tensorrt_importable

    names = ["torch"]
    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        names.append("onnxruntime")
    if tensorrt_importable():
        names.append("tensorrt")
    return names


@needs_cuda
@pytest.mark.parametrize("backend", ["torch", "onnxruntime", "tensorrt"])
def test_two_batches_are_truly_in_flight_on_the_translators_own_stream(tiny_model: ModelDirectory,
                                                                       backend: str) -> None:
    if backend not in _cuda_backends():
        pytest.skip(f"the {backend} backend cannot run on CUDA here")
    translator = Translator.from_model(tiny_model, RuntimeOptions(backend=backend, device="cuda", precision="fp16"))
    stream = translator.stream.cuda
    assert stream is not None and stream != torch.cuda.default_stream() and translator.stream.handle
    first, second = _images(4, 64, 96, seed=20), _images(4, 64, 96, seed=21)
    expected = [translator.translate(first), translator.translate(second)]  # warm-up (engine build, autotuning)
    with torch.cuda.stream(stream):
        torch.cuda._sleep(2_000_000_000)  # hold the stream for about a second
    pending = [translator.submit(first), translator.submit(second)]
    # both submits returned while the stream was still asleep: nothing synchronised on the host
    assert not pending[0]._event.query() and not pending[1]._event.query()  # type: ignore[union-attr]
    assert np.array_equal(pending[0].result(), expected[0]) and np.array_equal(pending[1].result(), expected[1])


# --- streams and memory layouts --------------------------------------------------------------------------


class _Recording:
    """A real backend that keeps every batch handed to it (to check what reached it, and in which layout)."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend
        self.seen: list[torch.Tensor] = []

    def __getattr__(self, name: str) -> object:
        return getattr(self._backend, name)

    def run(self, batch: torch.Tensor) -> torch.Tensor:
        self.seen.append(batch)
        return self._backend.run(batch)


def test_each_backend_declares_its_memory_layout() -> None:
    assert preferred_memory_format(torch.device("cuda")) == torch.channels_last
    assert preferred_memory_format(CPU) == torch.contiguous_format
    assert OnnxRuntimeBackend.memory_format == TensorRTBackend.memory_format == torch.contiguous_format


def _ort_backend(model: ModelDirectory) -> Backend:
    return create_backend(model, RuntimeOptions(backend="onnxruntime", device="cpu"))


@pytest.mark.parametrize("make_backend", [
    lambda model: TorchBackend(model.load_generator(), device=CPU, precision="fp32", size_multiple=4),
    lambda model: TorchBackend(model.load_generator(), device=CPU, precision="fp32", size_multiple=4,
                               memory_format=torch.channels_last),  # the CUDA path's layout
    _ort_backend,
], ids=["torch", "torch channels-last", "onnxruntime"])
def test_batches_reach_the_backend_in_its_layout_without_a_copy(tiny_model: ModelDirectory, make_backend) -> None:
    backend = _Recording(make_backend(tiny_model))
    translator = Translator(backend)  # type: ignore[arg-type]
    assert translator.stream is backend.stream and backend.stream.handle is None  # the CPU: no stream
    images = _images(2, 30, 42, seed=7)  # padded to 32x44 on the way in
    out = translator.translate(images)
    batch = backend.seen[0]
    assert batch.shape == (2, 3, 32, 44) and batch.is_contiguous(memory_format=backend.memory_format)
    assert batch.contiguous(memory_format=backend.memory_format) is batch  # what the backend does with it: nothing
    assert np.abs(out.astype(int) - _reference(tiny_model.load_generator(), images, 4)).max() <= 1


def test_the_stream_is_a_no_op_on_the_cpu() -> None:
    stream = DeviceStream(CPU)
    assert stream.cuda is None and stream.handle is None and stream.record_event() is None
    with stream.active():
        value = torch.ones(2).sum()
    stream.synchronize()
    assert value == 2


def test_compiled_generator_keeps_one_graph_per_resolution_tail_batches_included(tiny_model: ModelDirectory) -> None:
    """The tail of a video is padded to the compiled batch size in the graph's own layout (channels-last, as on
    CUDA): `torch.cat` would return NCHW, fail the graph's stride guard and compile a second graph."""
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    compiled = Translator(TorchBackend(tiny_model.load_generator(), device=CPU, precision="fp32", size_multiple=4,
                                       compile=True, compile_mode="default", memory_format=torch.channels_last))
    eager = Translator(create_backend(tiny_model, CPU_TORCH))
    for n, seed in [(4, 10), (4, 11), (2, 12), (1, 13), (4, 14)]:  # full, full, shorter tails, full again
        images = _images(n, 32, 48, seed=seed)
        out = compiled.translate(images)
        assert out.shape == images.shape
        assert np.abs(out.astype(int) - eager.translate(images)).max() <= 1
    assert counters["stats"]["unique_graphs"] == 1
    assert compiled.backend._batch_for_size == {(3, 32, 48): 4}  # type: ignore[attr-defined]
