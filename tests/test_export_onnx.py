"""ONNX export: every generator type exported, checked and verified against PyTorch; fp16; caching; the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import torch.nn as nn

from vidtrans.cli import main
from vidtrans.errors import ModelError
from vidtrans.deploy.fp16 import convert_to_fp16
from vidtrans.deploy.onnx_export import ensure_onnx, load_artifact, onnx_path, sidecar_path
from vidtrans.deploy.storage import artifact_dir
from vidtrans.deploy.verify import (
    FP16_TOLERANCE,
    FP32_TOLERANCE,
    check_onnx_file,
    compare_with_torch,
    default_verification_shapes,
)
from vidtrans.modeldir import ModelDirectory, ModelInfo, save_model
from vidtrans.networks import GeneratorConfig, ResnetGeneratorConfig, UnetGeneratorConfig, build_generator

LEVEL = 1 / 127.5

GENERATORS = {
    "resnet_6blocks": ResnetGeneratorConfig(ngf=4, n_blocks=6),
    "resnet_9blocks": ResnetGeneratorConfig(ngf=4, n_blocks=9),
    "unet_128": UnetGeneratorConfig(ngf=4, num_downs=7),
    "unet_256": UnetGeneratorConfig(ngf=4, num_downs=8),
}


def make_generator(config: GeneratorConfig, seed: int = 0) -> nn.Module:
    """PyTorch's default init (outputs span most of [-1, 1]) and non-trivial batch-norm statistics."""
    torch.manual_seed(seed)
    generator = build_generator(config)
    for module in generator.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    return generator.eval()


def make_model(path: Path, config: GeneratorConfig, *, seed: int = 0, inverse: bool = False,
               overwrite: bool = False) -> ModelDirectory:
    info = ModelInfo(name=path.name, generator=config, has_inverse=inverse, training_size=(64, 48))
    return save_model(path, info, make_generator(config, seed), make_generator(config, seed + 1) if inverse else None,
                      overwrite=overwrite)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ModelDirectory]:
    """One tiny model per generator type, each exported to fp32 and fp16 once for the tests of this module."""
    root = tmp_path_factory.mktemp("models")
    models = {}
    for name, config in GENERATORS.items():
        model = make_model(root / name, config)
        ensure_onnx(model, precision="fp16")
        models[name] = model
    return models


def _dims(value: onnx.ValueInfoProto) -> list[str | int]:
    return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]


def _run(path: Path, frames: torch.Tensor) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"input": frames.numpy()})[0]


@pytest.mark.parametrize("name", list(GENERATORS))
def test_fp32_export_verified_at_three_shapes(exported: dict[str, ModelDirectory], name: str) -> None:
    model = exported[name]
    artifact = ensure_onnx(model)
    multiple = model.info.generator.size_multiple
    assert artifact.reused and artifact.path == model.path / "onnx" / "generator.fp32.onnx"
    assert [(c.batch, c.height, c.width) for c in artifact.checks] == list(default_verification_shapes(multiple))
    assert any(c.height != c.width and (c.height // multiple) % 2 == 1 for c in artifact.checks)  # odd, non-square
    assert all(c.max_abs_diff <= FP32_TOLERANCE for c in artifact.checks)

    graph = onnx.load(str(artifact.path)).graph
    assert [i.name for i in graph.input] == ["input"] and [o.name for o in graph.output] == ["output"]
    batch, channels, height, width = _dims(graph.input[0])
    assert channels == 3 and all(isinstance(d, str) and d for d in (batch, height, width))  # symbolic sizes
    norms = sum(isinstance(m, nn.InstanceNorm2d) for m in model.load_generator().modules())
    assert sum(n.op_type == "InstanceNormalization" for n in graph.node) == norms  # kept as ops, not folded

    # A shape the export never saw: batch 4, 7x3 multiples.
    frames = torch.rand(4, 3, 7 * multiple, 3 * multiple, generator=torch.Generator().manual_seed(5)) * 2 - 1
    with torch.inference_mode():
        expected = model.load_generator()(frames).numpy()
    assert np.abs(expected).max() > 0.3  # the check below compares real signal, not zeros
    assert np.abs(_run(artifact.path, frames) - expected).max() <= FP32_TOLERANCE


@pytest.mark.parametrize("name", list(GENERATORS))
def test_fp16_export_keeps_fp32_io_and_stays_within_one_level(exported: dict[str, ModelDirectory],
                                                              name: str) -> None:
    model = exported[name]
    artifact = ensure_onnx(model, precision="fp16")
    assert artifact.reused and artifact.path.name == "generator.fp16.onnx"
    assert artifact.tolerance == FP16_TOLERANCE and all(c.max_abs_diff <= LEVEL for c in artifact.checks)

    proto = onnx.load(str(artifact.path))
    types = {v.name: v.type.tensor_type.elem_type for v in [*proto.graph.value_info, *proto.graph.output]}
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert proto.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    outputs = {n.op_type: set() for n in proto.graph.node}
    for node in proto.graph.node:
        outputs[node.op_type].add(types[node.output[0]])
    assert outputs["Conv"] == {onnx.TensorProto.FLOAT16}
    assert outputs["ConvTranspose"] == {onnx.TensorProto.FLOAT16}
    assert outputs.get("InstanceNormalization", {onnx.TensorProto.FLOAT}) == {onnx.TensorProto.FLOAT}
    weights = [i for i in proto.graph.initializer if len(i.dims) == 4]
    assert weights and all(i.data_type == onnx.TensorProto.FLOAT16 for i in weights)

    multiple = model.info.generator.size_multiple
    frames = torch.rand(2, 3, 3 * multiple, 7 * multiple, generator=torch.Generator().manual_seed(6)) * 2 - 1
    with torch.inference_mode():
        expected = model.load_generator()(frames).numpy()
    assert np.abs(_run(artifact.path, frames) - expected).max() <= LEVEL


def test_fp16_converter_can_keep_or_convert_instance_norm(exported: dict[str, ModelDirectory]) -> None:
    source = onnx.load(str(onnx_path(exported["resnet_6blocks"].path / "onnx", "generator", "fp32")))

    def instance_norm_types(model: onnx.ModelProto) -> set[int]:
        types = {v.name: v.type.tensor_type.elem_type for v in model.graph.value_info}
        return {types[n.output[0]] for n in model.graph.node if n.op_type == "InstanceNormalization"}

    assert instance_norm_types(convert_to_fp16(source)) == {onnx.TensorProto.FLOAT}
    everything = convert_to_fp16(source, keep_fp32=())
    assert instance_norm_types(everything) == {onnx.TensorProto.FLOAT16}
    casts = [(n.input[0], n.output[0]) for n in everything.graph.node if n.op_type == "Cast"]
    assert casts == [("input", "input__fp16"), ("output__fp16", "output")]  # only the boundary casts remain


def test_export_reused_until_weights_change_or_file_is_damaged(tmp_path: Path) -> None:
    config = ResnetGeneratorConfig(ngf=4, n_blocks=0)
    model = make_model(tmp_path / "m", config)
    first = ensure_onnx(model)
    assert not first.reused and sidecar_path(first.path).is_file()
    sidecar = json.loads(sidecar_path(first.path).read_text())
    assert sidecar["weights_sha256"] == model.sha256["generator"] and sidecar["opset"] == 18
    assert sidecar["onnx_sha256"] == first.onnx_sha256 and sidecar["exporter"].startswith("torch.onnx.export")
    assert sidecar["verification"]["checks"][2]["max_abs_diff"] == first.checks[2].max_abs_diff

    assert ensure_onnx(model).reused
    weights = model.sha256["generator"]
    assert load_artifact(first.path, role="generator", precision="fp32", weights_sha256=weights, opset=18)
    assert load_artifact(first.path, role="generator", precision="fp32", weights_sha256=weights, opset=20) is None

    retrained = make_model(tmp_path / "m", config, seed=7, overwrite=True)
    assert retrained.sha256 != model.sha256
    again = ensure_onnx(retrained, opset=20)
    assert not again.reused and again.weights_sha256 == retrained.sha256["generator"] and again.opset == 20
    assert onnx.load(str(again.path)).opset_import[0].version == 20
    assert ensure_onnx(retrained).reused  # any opset will do when none is asked for

    with open(again.path, "ab") as handle:  # a damaged file no longer matches its sidecar: exported again
        handle.write(b"\0")
    assert load_artifact(again.path, role="generator", precision="fp32",
                         weights_sha256=retrained.sha256["generator"]) is None
    assert sorted(p.name for p in again.path.parent.iterdir()) == ["generator.fp32.json", "generator.fp32.onnx"]


def test_inverse_generator_exported_beside_the_forward_one(tmp_path: Path) -> None:
    model = make_model(tmp_path / "m", ResnetGeneratorConfig(ngf=4, n_blocks=0), inverse=True)
    inverse = ensure_onnx(model, inverse=True)
    assert inverse.path == model.path / "onnx" / "generator_inverse.fp32.onnx"
    assert inverse.weights_sha256 == model.sha256["generator_inverse"]
    frames = torch.rand(1, 3, 32, 24) * 2 - 1
    with torch.inference_mode():
        expected = model.load_generator(inverse=True)(frames).numpy()
        forward = model.load_generator()(frames).numpy()
    actual = _run(inverse.path, frames)
    assert np.abs(actual - expected).max() <= FP32_TOLERANCE < np.abs(actual - forward).max()


def test_failed_verification_leaves_no_file(tmp_path: Path) -> None:
    # ResNet at 4x4: the bottleneck is 1x1, which PyTorch's instance norm refuses to normalise.
    model = make_model(tmp_path / "m", ResnetGeneratorConfig(ngf=4, n_blocks=0))
    with pytest.raises(ModelError, match=r"generator\.fp32\.onnx: PyTorch cannot run the generator at batch 1, 4x4"):
        ensure_onnx(model, shapes=[(1, 4, 4)])
    assert list((model.path / "onnx").iterdir()) == []


def test_verification_catches_a_graph_that_differs(exported: dict[str, ModelDirectory]) -> None:
    model = exported["resnet_6blocks"]
    path = onnx_path(model.path / "onnx", "generator", "fp32")
    other = make_generator(model.info.generator, seed=3)
    with pytest.raises(ModelError, match="differs from PyTorch"):
        compare_with_torch(path, other, shapes=[(1, 32, 32)], tolerance=LEVEL)


def test_checker_rejects_a_broken_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a protobuf at all")
    with pytest.raises(ModelError, match="broken.onnx: the ONNX graph is invalid"):
        check_onnx_file(broken)


def test_unwritable_model_directory_falls_back_to_user_cache(exported: dict[str, ModelDirectory], tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIDTRANS_HOME", str(tmp_path / "home"))
    model = exported["unet_128"]
    assert artifact_dir(model, "onnx") == model.path / "onnx"
    (model.path / "engines").write_text("a file where the engines folder would go")
    try:
        fallback = artifact_dir(model, "engines")
    finally:
        (model.path / "engines").unlink()
    assert fallback == tmp_path / "home" / "cache" / f"unet_128-{model.sha256['generator'][:12]}" / "engines"
    assert fallback.is_dir()


def test_cli_export_onnx(exported: dict[str, ModelDirectory], capsys: pytest.CaptureFixture[str]) -> None:
    model = exported["resnet_9blocks"]
    assert main(["export", "--model", str(model.path), "--format", "onnx", "--fp16"]) == 0
    text = capsys.readouterr().out
    assert f"onnx fp32: {model.path / 'onnx' / 'generator.fp32.onnx'}" in text
    assert "onnx fp16:" in text and text.count("max |diff|") == 6 and "done in" in text

    assert main(["export", "--model", str(model.path), "--fp16", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert [a["precision"] for a in summary["artifacts"]] == ["fp32", "fp16"]
    assert all(a["reused"] and len(a["checks"]) == 3 for a in summary["artifacts"])


def test_cli_export_errors(exported: dict[str, ModelDirectory], capsys: pytest.CaptureFixture[str]) -> None:
    model = str(exported["resnet_6blocks"].path)
    assert main(["export", "--model", model, "--opset", "7"]) == 2
    assert "--opset must be an integer from 18" in capsys.readouterr().err
    assert main(["export", "--model", model, "--format", "engine"]) == 2
    assert "--format must be onnx or tensorrt" in capsys.readouterr().err


def test_bundled_models_keep_their_exports_in_the_user_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from vidtrans.registry import resolve_model

    monkeypatch.setenv("VIDTRANS_HOME", str(tmp_path / "home"))
    demo = resolve_model("demo")
    folder = artifact_dir(demo, "onnx")
    assert folder == tmp_path / "home" / "cache" / f"demo-{demo.sha256['generator'][:12]}" / "onnx"
    assert not (demo.path / "onnx").exists()
