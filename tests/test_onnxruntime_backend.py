"""The ONNX Runtime backend: IO binding on torch tensors, the provider choice, and `convert` on a real video."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from vidtrans.backends.base import Backend
from vidtrans.backends.onnxruntime_backend import OnnxRuntimeBackend, choose_providers
from vidtrans.runtime import OrtOptions, RuntimeOptions
from vidtrans.conversion import ConvertOptions, convert
from vidtrans.errors import MissingExtraError, UsageError
from vidtrans.images import read_image
from vidtrans.modeldir import ModelDirectory, ModelInfo, save_model
from vidtrans.networks import ResnetGeneratorConfig, build_generator
from vidtrans.ortpackages import Package

LEVEL = 1 / 127.5
CPU = torch.device("cpu")
CUDA_EP = "CUDAExecutionProvider" in ort.get_available_providers()


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> ModelDirectory:
    torch.manual_seed(0)
    config = ResnetGeneratorConfig(ngf=8, n_blocks=2)
    return save_model(tmp_path_factory.mktemp("models") / "ort", ModelInfo(name="ort", generator=config),
                      build_generator(config))


@pytest.fixture(scope="module")
def backend(model: ModelDirectory) -> OnnxRuntimeBackend:
    return OnnxRuntimeBackend.from_model(model, device=CPU, precision="fp32")


def test_backend_matches_the_torch_generator(backend: OnnxRuntimeBackend, model: ModelDirectory) -> None:
    assert isinstance(backend, Backend)
    assert (backend.name, backend.device, backend.precision, backend.input_dtype, backend.size_multiple) == (
        "onnxruntime", CPU, "fp32", torch.float32, 4)
    assert backend.providers == ["CPUExecutionProvider"]
    generator = model.load_generator()
    for shape in [(3, 3, 36, 52), (1, 3, 48, 64)]:  # one session, any batch and size
        batch = torch.rand(*shape, generator=torch.Generator().manual_seed(1)) * 2 - 1
        original = batch.clone()
        with torch.inference_mode():
            expected = generator(batch)
        output = backend.run(batch)
        assert output.shape == expected.shape and output.dtype == torch.float32 and output.device == CPU
        assert torch.equal(batch, original)
        assert expected.abs().max() > 0.3 and (output - expected).abs().max() <= 1e-4
        channels_last = backend.run(batch.contiguous(memory_format=torch.channels_last))  # as the pipeline on CUDA
        assert torch.equal(channels_last, output)


def test_run_rejects_input_it_cannot_take(backend: OnnxRuntimeBackend) -> None:
    with pytest.raises(ValueError, match="float32"):
        backend.run(torch.zeros(1, 3, 8, 8, dtype=torch.float16))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        backend.run(torch.zeros(3, 8, 8))


def test_convert_backend_onnxruntime_matches_torch_within_one_level(
        tmp_path: Path, make_clip: Callable[..., Path], model: ModelDirectory) -> None:
    clip = make_clip("drive.mp4", size=(66, 50), frames=5)  # not multiples of 4: the pipeline pads and crops
    options = ConvertOptions(runtime=RuntimeOptions(backend="torch", device="cpu"), batch_size=2, progress=False)
    with_torch = convert(clip, tmp_path / "torch", model=model, options=options)
    with_ort = convert(clip, tmp_path / "ort", model=model, options=dataclasses.replace(
        options, runtime=RuntimeOptions(backend="onnxruntime", device="cpu")))
    assert with_torch.frames == with_ort.frames == 5
    names = sorted(p.name for p in (tmp_path / "torch").glob("*.png"))
    assert names == sorted(p.name for p in (tmp_path / "ort").glob("*.png")) and len(names) == 5
    for name in names:
        a, b = read_image(tmp_path / "torch" / name), read_image(tmp_path / "ort" / name)
        assert np.abs(a.astype(int) - b).max() <= 1


def test_providers_on_the_cpu() -> None:
    assert choose_providers(["CPUExecutionProvider"], device=CPU, precision="fp32", options=OrtOptions(),
                            tensorrt_cache_dir=Path("/cache")) == [("CPUExecutionProvider", {})]
    with pytest.raises(UsageError, match="fp32 on the CPU"):
        choose_providers(["CPUExecutionProvider"], device=CPU, precision="fp16", options=OrtOptions(),
                         tensorrt_cache_dir=Path("/cache"))


def test_providers_on_cuda_cuda_then_cpu_and_tensorrt_first_when_asked() -> None:
    available = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    providers = choose_providers(available, device=torch.device("cuda", 1), precision="fp16",
                                 options=OrtOptions(cudnn_conv_algo_search="HEURISTIC", use_tensorrt=True),
                                 tensorrt_cache_dir=Path("/models/m/engines/onnxruntime"), stream_handle=0x5A5A00)
    assert [name for name, _ in providers] == available
    trt, cuda, _ = (options for _, options in providers)
    assert trt["device_id"] == cuda["device_id"] == "1"
    assert trt["trt_fp16_enable"] == "1" and trt["trt_engine_cache_enable"] == "1"
    assert trt["trt_engine_cache_path"] == "/models/m/engines/onnxruntime"
    assert cuda["cudnn_conv_algo_search"] == "HEURISTIC"
    # both providers run on the translator's stream, given as the integer value of the cudaStream_t
    assert trt["user_compute_stream"] == cuda["user_compute_stream"] == str(0x5A5A00)

    fp32 = choose_providers(available, device=torch.device("cuda"), precision="fp32",
                            options=OrtOptions(use_tensorrt=True), tensorrt_cache_dir=Path("/c"), stream_handle=7)
    assert fp32[0][1]["trt_fp16_enable"] == "0" and fp32[0][1]["device_id"] == "0"
    no_trt = choose_providers(available, device=torch.device("cuda"), precision="fp16",
                              options=OrtOptions(), tensorrt_cache_dir=Path("/c"), stream_handle=7)
    assert [name for name, _ in no_trt] == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    for default_stream in (None, 0):
        with pytest.raises(ValueError, match="non-default stream"):
            choose_providers(available, device=torch.device("cuda"), precision="fp16", options=OrtOptions(),
                             tensorrt_cache_dir=Path("/c"), stream_handle=default_stream)


def test_cuda_without_onnxruntime_gpu_names_the_packages_and_the_fix() -> None:
    both = (Package("onnxruntime", "1.32.0"), Package("onnxruntime-gpu", "1.30.0"))
    with pytest.raises(MissingExtraError, match=r"onnxruntime 1.32.0 and onnxruntime-gpu 1.30.0 are all installed.*"
                                                r"fix: pip uninstall -y onnxruntime onnxruntime-gpu && "
                                                r"pip install onnxruntime-gpu"):
        choose_providers(["CPUExecutionProvider"], device=torch.device("cuda"), precision="fp16",
                         options=OrtOptions(), tensorrt_cache_dir=Path("/c"), stream_handle=7, packages=both)


def test_the_cpu_backend_needs_no_stream_and_runs_synchronously(backend: OnnxRuntimeBackend) -> None:
    assert backend.stream.handle is None and backend._run_options is None
    assert backend.memory_format == torch.contiguous_format


def test_options_validate_themselves() -> None:
    with pytest.raises(ValueError, match="EXHAUSTIVE, HEURISTIC, DEFAULT"):
        OrtOptions(cudnn_conv_algo_search="FAST")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="intra_op_threads"):
        OrtOptions(intra_op_threads=-1)


@pytest.mark.gpu
@pytest.mark.skipif(not (torch.cuda.is_available() and CUDA_EP),
                    reason="needs a CUDA GPU and onnxruntime-gpu (the CUDA execution provider)")
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_cuda_io_binding_matches_torch(model: ModelDirectory, precision: str) -> None:
    device = torch.device("cuda")
    gpu = OnnxRuntimeBackend.from_model(model, device=device, precision=precision,  # type: ignore[arg-type]
                                        options=OrtOptions(use_tensorrt=False))
    assert "CUDAExecutionProvider" in gpu.providers
    batch = (torch.rand(4, 3, 64, 96, generator=torch.Generator().manual_seed(2)) * 2 - 1)
    with torch.inference_mode():
        expected = model.load_generator()(batch)
    output = gpu.run(batch.to(device))
    torch.cuda.synchronize()
    assert output.device.type == "cuda"
    assert (output.cpu() - expected).abs().max() <= (1e-3 if precision == "fp32" else 2 * LEVEL)


def test_provider_options_reach_the_session(model: ModelDirectory) -> None:
    from vidtrans.backends.factory import create_backend

    backend = create_backend(model, RuntimeOptions(backend="onnxruntime", device="cpu",
                                                  ort=OrtOptions(intra_op_threads=1)))
    assert backend._session.get_session_options().intra_op_num_threads == 1
    backend.close()


def test_convert_cli_takes_provider_options(tmp_path: Path, make_clip: Callable[..., Path],
                                            model: ModelDirectory) -> None:
    from vidtrans.cli import main

    clip = make_clip("drive.mp4", size=(64, 48), frames=2)
    assert main(["convert", str(clip), "-o", str(tmp_path / "out.mp4"), "--model", str(model.path), "--backend",
                 "onnxruntime", "--device", "cpu", "--ort-cudnn-search", "heuristic", "--quiet"]) == 0
    assert main(["convert", str(clip), "-o", str(tmp_path / "x.mp4"), "--model", str(model.path), "--backend",
                 "onnxruntime", "--ort-cudnn-search", "fastest"]) == 2
