"""The Python API: `vidtrans.load` and the loaded model on every input type, the README's lines, the command
functions, and the online-translation example."""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

import vidtrans
from vidtrans.errors import UsageError
from vidtrans.modeldir import ModelDirectory
from vidtrans.translator import Translator
from vidtrans.video import probe

ROOT = Path(__file__).resolve().parents[1]


def _frames(n: int, height: int = 24, width: int = 40, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, height, width, 3), dtype=np.uint8)


@pytest.fixture
def loaded(tiny_model: ModelDirectory, one_torch_thread: None):
    with vidtrans.load(tiny_model.path, backend="torch", device="cpu") as model:
        yield model


def test_top_level_names() -> None:
    assert {"load", "convert", "synth", "train", "export", "Translator", "RuntimeOptions"} <= set(vidtrans.__all__)
    assert callable(vidtrans.convert) and callable(vidtrans.synth) and callable(vidtrans.export)
    from vidtrans import Translator as Exported

    assert Exported is Translator


def test_every_input_type_gives_the_translators_pixels(loaded: vidtrans.TranslationModel,
                                                       tiny_model: ModelDirectory) -> None:
    from PIL import Image

    batch = _frames(3)
    with Translator.from_model(tiny_model, loaded.runtime) as translator:
        expected = translator.translate(batch)
    assert np.array_equal(loaded(batch), expected)
    assert np.array_equal(loaded(batch, batch_size=2), expected)  # chunked the same
    single = loaded(batch[1])
    assert single.shape == (24, 40, 3) and np.array_equal(single, expected[1])
    pil = loaded(Image.fromarray(batch[2]))
    assert isinstance(pil, Image.Image) and np.array_equal(np.asarray(pil), expected[2])
    listed = loaded([Image.fromarray(b) for b in batch])
    assert [np.asarray(p).tolist() for p in listed] == [e.tolist() for e in expected]
    nchw = loaded(torch.from_numpy(batch).permute(0, 3, 1, 2).contiguous())
    assert nchw.dtype == torch.uint8 and torch.equal(nchw.permute(0, 2, 3, 1), torch.from_numpy(expected))
    nhwc = loaded(torch.from_numpy(batch))
    assert torch.equal(nhwc, torch.from_numpy(expected))
    chw = loaded(torch.from_numpy(batch[0]).permute(2, 0, 1))
    assert torch.equal(chw.permute(1, 2, 0), torch.from_numpy(expected[0]))


def test_float_input_with_its_value_range(loaded: vidtrans.TranslationModel) -> None:
    batch = _frames(2, seed=1)
    expected = loaded(batch).astype(np.float64)
    unit = torch.from_numpy(batch).permute(0, 3, 1, 2).float() / 255
    out = loaded(unit, value_range=(0, 1))
    assert out.dtype == torch.float32 and out.shape == unit.shape
    assert float(out.min()) >= 0 and float(out.max()) <= 1
    assert np.abs(out.permute(0, 2, 3, 1).numpy() * 255 - expected).max() <= 0.5 + 1e-3  # unrounded, same result
    symmetric = loaded(unit * 2 - 1, value_range=(-1, 1))
    assert torch.allclose(symmetric, out * 2 - 1, atol=1e-4)
    as_numpy = loaded(batch.astype(np.float32) / 255, value_range=(0, 1))
    assert isinstance(as_numpy, np.ndarray) and np.abs(as_numpy * 255 - expected).max() <= 0.5 + 1e-3


@pytest.mark.parametrize(("frames", "kwargs", "message"), [
    (torch.rand(1, 3, 8, 8), {}, "need value_range"),
    (np.zeros((8, 8, 3), np.uint8), {"value_range": (0, 1)}, "applies to float input"),
    (torch.zeros(2, 4, 8, 8, dtype=torch.uint8), {}, r"expected RGB \(N, 3, H, W\)"),
    (torch.rand(1, 3, 8, 8), {"value_range": (1, 0)}, "high > low"),
    ("frame.png", {}, "cannot translate a str"),
])
def test_bad_input_is_a_clear_error(loaded: vidtrans.TranslationModel, frames: object, kwargs: dict,
                                    message: str) -> None:
    with pytest.raises(UsageError, match=message):
        loaded(frames, **kwargs)


def test_the_context_manager_closes_the_backend(tiny_model: ModelDirectory) -> None:
    with vidtrans.load(tiny_model.path, backend="torch", device="cpu") as model:
        model(_frames(1))
    with pytest.raises(RuntimeError, match="closed"):
        model(_frames(1))
    with pytest.raises(UsageError, match="not both"):
        vidtrans.load(tiny_model.path, runtime=vidtrans.RuntimeOptions(), device="cpu")


def _readme_python() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "README.md has no ```python block"
    return blocks[0]


def test_the_readme_python_lines_run(tmp_path: Path, make_clip: Callable[..., Path],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    make_clip("drive.mp4", size=(64, 32), frames=3)
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    exec(compile(_readme_python(), "README.md", "exec"), namespace)  # noqa: S102 - our own README
    assert namespace["out"].shape == namespace["frame"].shape  # type: ignore[attr-defined]
    assert probe(tmp_path / "drive.real.mp4").estimated_frames == 3


def test_command_functions_take_the_commands_options(tmp_path: Path, tiny_model: ModelDirectory,
                                                     make_clip: Callable[..., Path],
                                                     one_torch_thread: None) -> None:
    clip = make_clip("drive.mp4", size=(32, 24), frames=4)
    summary = vidtrans.convert(clip, tmp_path / "out.mp4", model=tiny_model.path, backend="torch", device="cpu",
                               batch_size=3, progress=False)
    assert (summary.frames, summary.backend, summary.batch_size) == (4, "torch", 3)
    with pytest.raises(UsageError, match="unknown option"):
        vidtrans.convert(clip, tmp_path / "x.mp4", model=tiny_model.path, batchsize=3)
    with vidtrans.load(tiny_model.path, backend="torch", device="cpu") as model:
        again = model.convert(clip, tmp_path / "again.mp4", batch_size=3, progress=False)
        with pytest.raises(UsageError, match="go to vidtrans.load"):
            model.convert(clip, tmp_path / "y.mp4", device="cpu")
    assert again.frames == 4
    exported = vidtrans.export(tiny_model.path, format="onnx")
    assert exported.format == "onnx" and Path(exported.artifacts[0]["path"]).is_file()


def test_train_function_runs_a_tiny_run(tmp_path: Path, one_torch_thread: None,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import cv2

    monkeypatch.setenv("VIDTRANS_HOME", str(tmp_path / "home"))
    for domain in ("a", "b"):
        (tmp_path / domain).mkdir()
        for i, image in enumerate(_frames(4, 32, 32, seed=ord(domain))):
            cv2.imwrite(str(tmp_path / domain / f"{i}.png"), image)
    result = vidtrans.train(tmp_path / "a", tmp_path / "b", name="api", runs_dir=tmp_path / "runs", ngf=4, ndf=4,
                            net_g="resnet_6blocks", n_blocks=1, preprocess="crop", crop_size=32, num_workers=0,
                            device="cpu", max_steps=2, register=False)
    assert result.step == 2 and (tmp_path / "runs" / "api" / "checkpoints" / "latest.pt").is_file()


def _example():
    spec = importlib.util.spec_from_file_location("online_translation", ROOT / "examples" / "online_translation.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def test_online_translation_matches_training_on_a_synth_copy(tmp_path: Path, one_torch_thread: None,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    from vidtrans.downstream.data import load_dataset
    from vidtrans.downstream.train import TrainSettings, evaluate, train_segnet
    from vidtrans.scenes import write_scene_dataset

    write_scene_dataset(tmp_path / "train", count=6, width=64, height=32, first_seed=100_000)
    write_scene_dataset(tmp_path / "test", count=3, width=64, height=32, first_seed=200_000)
    example = _example()
    assert example.main([str(tmp_path / "train" / "game"), str(tmp_path / "test" / "real"), "--steps", "30",
                         "--batch-size", "4"]) == 0
    assert capsys.readouterr().out.startswith("mIoU ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["test", "train"]  # no translated copy on disk

    settings = TrainSettings(steps=30, batch_size=4)
    test = load_dataset(tmp_path / "test" / "real")
    with vidtrans.load("demo", device="cpu") as model:
        online = evaluate(example.train_online(model, load_dataset(tmp_path / "train" / "game"), settings), test)
    vidtrans.synth(tmp_path / "train" / "game", tmp_path / "synth", model="demo", device="cpu", progress=False)
    offline = evaluate(train_segnet(load_dataset(tmp_path / "synth"), settings).net, test)
    untranslated = evaluate(train_segnet(load_dataset(tmp_path / "train" / "game"), settings).net, test)
    assert abs(online.miou - offline.miou) < 0.01, (online.miou, offline.miou)
    assert online.miou != untranslated.miou  # the translation did reach the training batches


@pytest.mark.parametrize(("command", "options"), [
    ("convert", "vidtrans.conversion.ConvertOptions"), ("synth", "vidtrans.synthesis.SynthOptions"),
    ("bench", "vidtrans.bench.BenchOptions"), ("eval", "vidtrans.evaluate.EvalOptions"),
    ("demo", "vidtrans.demo.DemoOptions"), ("export", "vidtrans.deploy.export_job.ExportOptions"),
])
def test_the_cli_and_the_api_share_defaults(command: str, options: str) -> None:
    import dataclasses
    import importlib

    import typer.main

    from vidtrans.cli import app

    module, name = options.rsplit(".", 1)
    defaults = {f.name: f.default for f in dataclasses.fields(getattr(importlib.import_module(module), name))}
    params = typer.main.get_command(app).commands[command].params  # type: ignore[attr-defined]
    shared = [p for p in params if p.name in defaults and not p.required]
    assert len(shared) >= 2, f"{command}: expected options named like {name}'s fields"
    from vidtrans.resize import parse_size

    for param in shared:
        cli_default = param.default
        if isinstance(defaults[param.name], tuple) and isinstance(cli_default, str):
            cli_default = parse_size(cli_default)  # --size WxH
        assert cli_default == defaults[param.name], f"vidtrans {command} --{param.name}"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_tensors_stay_on_the_gpu(tiny_model: ModelDirectory) -> None:
    batch = torch.from_numpy(_frames(4, 32, 48, seed=3))
    with vidtrans.load(tiny_model.path, backend="torch", device="cpu") as cpu:
        expected = cpu(batch)
    with vidtrans.load(tiny_model.path, backend="torch", device="cuda", precision="fp32") as gpu:
        on_gpu = batch.cuda().permute(0, 3, 1, 2)  # made on the caller's stream, read on the model's
        out = gpu(on_gpu)
        floats = gpu(on_gpu.float() / 255, value_range=(0, 1))
    assert out.device.type == "cuda" and out.dtype == torch.uint8
    assert (out.permute(0, 2, 3, 1).cpu().int() - expected.int()).abs().max() <= 1
    assert floats.device.type == "cuda" and (floats * 255 - out.float()).abs().max() <= 0.51
