"""Tests for the translator, the torch backend and the backend factory (CPU; CUDA cases skip without a GPU)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from vidtrans.runtime import RuntimeOptions
from vidtrans.backends.base import Backend
from vidtrans.backends.factory import create_backend
from vidtrans.backends.torch_backend import TorchBackend
from vidtrans.errors import ModelError, UsageError
from vidtrans.modeldir import ModelDirectory, ModelInfo, save_model
from vidtrans.networks import UnetGeneratorConfig, build_generator, init_weights
from vidtrans.translator import Translator

pytestmark = pytest.mark.usefixtures("one_torch_thread")

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

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
def test_cuda_compile_pads_the_tail_batch_to_one_static_shape(tiny_model: ModelDirectory) -> None:
    translator = Translator.from_model(tiny_model, RuntimeOptions(device="cuda", precision="fp32", compile=True,
                                                                  compile_mode="default"))
    eager = Translator.from_model(tiny_model, RuntimeOptions(backend="torch", device="cuda", precision="fp32"))
    full, tail = _images(4, 32, 48, seed=5), _images(3, 32, 48, seed=6)
    assert np.abs(translator.translate(full).astype(int) - eager.translate(full)).max() <= 1
    assert np.abs(translator.translate(tail).astype(int) - eager.translate(tail)).max() <= 1
    assert translator.backend._batch_for_size == {(3, 32, 48): 4}  # type: ignore[attr-defined]
