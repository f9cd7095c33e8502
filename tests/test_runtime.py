"""`RuntimeOptions`, the `--backend auto` rule, and the runtime options every model-running command shares."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from vidtrans.backends.selection import BackendChoice, auto_backend, select_backend, tensorrt_importable
from vidtrans.cli_params import RUNTIME_PARAMS
from vidtrans.errors import UsageError
from vidtrans.modeldir import ModelDirectory
from vidtrans.runtime import OrtOptions, RuntimeOptions

GPU = torch.cuda.is_available()
CPU = torch.device("cpu")
MODEL_COMMANDS = (("convert",), ("synth",), ("bench",), ("eval",), ("demo",))


def test_runtime_options_validate_themselves() -> None:
    assert RuntimeOptions() == RuntimeOptions(backend="auto", device="auto", precision="auto", compile=False,
                                              compile_mode="max-autotune", ort=OrtOptions(), inverse=False)
    for bad, message in ((dict(backend="tflite"), "auto, torch, onnxruntime, tensorrt"),
                         (dict(device="gpu0"), "auto, cpu, cuda or cuda:N"),
                         (dict(precision="bf16"), "auto, fp32, fp16"),
                         (dict(compile_mode="fast"), "max-autotune-no-cudagraphs"),
                         (dict(backend="onnxruntime", compile=True), "--compile applies to the torch backend")):
        with pytest.raises(UsageError, match=message):
            RuntimeOptions(**bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="EXHAUSTIVE, HEURISTIC, DEFAULT"):  # a UsageError is a ValueError too
        OrtOptions(cudnn_conv_algo_search="FAST")  # type: ignore[arg-type]


def test_auto_rule() -> None:
    cuda = torch.device("cuda")
    assert auto_backend(device=cuda, tensorrt_available=True, onnxruntime_available=True, compile=False) == "tensorrt"
    assert auto_backend(device=cuda, tensorrt_available=False, onnxruntime_available=True, compile=False) == "torch"
    assert auto_backend(device=cuda, tensorrt_available=True, onnxruntime_available=True, compile=True) == "torch"
    assert auto_backend(device=CPU, tensorrt_available=True, onnxruntime_available=True, compile=False) \
        == "onnxruntime"
    assert auto_backend(device=CPU, tensorrt_available=False, onnxruntime_available=False, compile=False) == "torch"
    assert auto_backend(device=CPU, tensorrt_available=False, onnxruntime_available=True, compile=True) == "torch"


@pytest.mark.skipif(GPU, reason="checks the choice on a machine without a GPU")
def test_select_backend_without_a_gpu() -> None:
    choice = select_backend(RuntimeOptions())
    assert choice == BackendChoice(backend="onnxruntime", device=CPU, precision="fp32", compile=False)
    assert choice.describe() == "backend onnxruntime on cpu, precision fp32"
    assert select_backend(RuntimeOptions(compile=True)) == BackendChoice("torch", CPU, "fp32", compile=True)
    assert select_backend(RuntimeOptions(backend="torch", device="cpu")).backend == "torch"
    with pytest.raises(UsageError, match="--backend tensorrt needs a CUDA GPU"):
        select_backend(RuntimeOptions(backend="tensorrt"))
    with pytest.raises(UsageError, match="no CUDA GPU is available"):
        select_backend(RuntimeOptions(device="cuda"))


@pytest.mark.gpu
@pytest.mark.skipif(not GPU, reason="needs a CUDA GPU")
def test_select_backend_with_a_gpu() -> None:
    choice = select_backend(RuntimeOptions())
    assert choice.device.type == "cuda" and choice.precision == "fp16" and not choice.compile
    assert choice.backend == ("tensorrt" if tensorrt_importable() else "torch")
    assert torch.cuda.get_device_name(choice.device) in choice.describe()


def _options_of(command: tuple[str, ...]) -> dict[str, object]:
    """The click options of a vidtrans command, by name."""
    import typer.main

    from vidtrans.cli import app

    group = typer.main.get_command(app)
    for name in command:
        group = group.commands[name]  # type: ignore[attr-defined]
    return {param.name: param for param in group.params}  # type: ignore[attr-defined]


@pytest.mark.parametrize("command", MODEL_COMMANDS, ids=" ".join)
def test_every_model_command_takes_every_runtime_option_with_the_same_help(command: tuple[str, ...]) -> None:
    options = _options_of(command)
    for param in RUNTIME_PARAMS:
        assert param.name in options, f"vidtrans {' '.join(command)} lacks --{param.name.replace('_', '-')}"
        assert options[param.name].help == param.option.help  # type: ignore[attr-defined]
        assert options[param.name].default == param.option.default  # type: ignore[attr-defined]


def test_cli_defaults_are_the_library_defaults() -> None:
    from vidtrans.cli_params import build_runtime

    defaults = {param.name: param.option.default for param in RUNTIME_PARAMS}
    assert build_runtime(defaults) == RuntimeOptions()


def test_runtime_options_reach_the_backend(tmp_path: Path, tiny_model: ModelDirectory,
                                           make_clip: Callable[..., Path], capsys: pytest.CaptureFixture) -> None:
    """`--backend torch` runs torch; the default (auto) picks ONNX Runtime on the CPU; bad values exit 2."""
    from vidtrans.cli import main

    clip = make_clip("drive.mp4", size=(32, 24), frames=2)
    for args, backend in ((["--backend", "torch"], "torch"), ([], "onnxruntime")):
        capsys.readouterr()
        assert main(["convert", str(clip), "-o", str(tmp_path / f"{backend}.mp4"), "--model", str(tiny_model.path),
                     "--device", "cpu", "--json", *args]) == 0
        assert json.loads(capsys.readouterr().out)["backend"] == backend
    assert main(["convert", str(clip), "-o", str(tmp_path / "inv.mp4"), "--model", str(tiny_model.path),
                 "--inverse", "-q"]) == 1  # the tiny model has no inverse generator
    assert "has no inverse generator" in capsys.readouterr().err
    assert main(["convert", str(clip), "-o", str(tmp_path / "bad.mp4"), "--model", str(tiny_model.path),
                 "--precision", "bf16"]) == 2
    assert "--precision must be one of auto, fp32, fp16" in capsys.readouterr().err
