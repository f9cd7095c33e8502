"""Outputs that are not finite: a batch the model translates to NaN or infinity is an error in `convert` and a
failed item in `synth`, never black frames written as if all were well.

The model used here has finite weights (so it loads) but a first convolution so large that saturated frames
(black or white) overflow to infinity and turn into NaN, while mid-grey frames translate normally: the same
thing an fp16 overflow does on a GPU, reproducible on the CPU.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from vidtrans.conversion import ConvertOptions, convert
from vidtrans.evaluate import EvalOptions, evaluate
from vidtrans.images import read_image, write_image
from vidtrans.modeldir import ModelDirectory, ModelInfo, save_model
from vidtrans.networks import ResnetGeneratorConfig, build_generator, init_weights
from vidtrans.runtime import RuntimeOptions
from vidtrans.synthesis import SynthOptions, synth
from vidtrans.translator import NonFiniteOutput, Translator

pytestmark = pytest.mark.usefixtures("one_torch_thread")

GREY, BLACK = 128, 0

CPU_TORCH = RuntimeOptions(backend="torch", device="cpu")


@pytest.fixture(scope="module")
def fragile_model(tmp_path_factory: pytest.TempPathFactory) -> ModelDirectory:
    torch.manual_seed(0)
    config = ResnetGeneratorConfig(ngf=8, n_blocks=2)
    generator = init_weights(build_generator(config))
    with torch.no_grad():
        generator.state_dict()["model.1.weight"].fill_(3e36)  # finite, but 147 taps of it overflow float32
    return save_model(tmp_path_factory.mktemp("models") / "fragile", ModelInfo(name="fragile", generator=config),
                      generator)


def _flat(level: int, n: int = 1, size: int = 16) -> np.ndarray:
    return np.full((n, size, size, 3), level, np.uint8)


def test_the_translator_raises_for_a_non_finite_batch_and_not_for_a_finite_one(
        fragile_model: ModelDirectory) -> None:
    translator = Translator.from_model(fragile_model, CPU_TORCH)
    grey = translator.translate(_flat(GREY, 2))
    assert grey.shape == (2, 16, 16, 3)
    with pytest.raises(NonFiniteOutput, match="NaN or infinite values"):
        translator.translate(np.concatenate([_flat(GREY), _flat(BLACK)]))
    unchecked = translator.run(translator.upload(_flat(BLACK)))  # the on-device stage stays unchecked...
    assert unchecked.max() == 0  # ...and this is the black frame the check keeps out of outputs
    pending = [translator.submit(_flat(BLACK)), translator.submit(_flat(GREY))]  # two in flight, as the pipeline
    with pytest.raises(NonFiniteOutput):
        pending[0].result()
    assert pending[1].result().shape == (1, 16, 16, 3)  # a flag belongs to its own batch


def test_convert_fails_naming_the_image_and_writes_nothing(tmp_path: Path, fragile_model: ModelDirectory) -> None:
    folder = tmp_path / "shots"
    folder.mkdir()
    for name, level in (("a.png", GREY), ("b.png", BLACK), ("c.png", GREY)):
        write_image(folder / name, _flat(level)[0])
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    options = ConvertOptions(runtime=CPU_TORCH, batch_size=1, progress=False)
    with pytest.raises(NonFiniteOutput) as error:
        convert(folder, tmp_path / "out", model=fragile_model, options=options)
    assert str(error.value).startswith(f"{folder}: b.png: the model's output holds NaN or infinite values")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shots"]  # no output, no staging folder
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_synth_records_the_items_of_a_non_finite_batch_as_failed_and_goes_on(
        tmp_path: Path, fragile_model: ModelDirectory) -> None:
    data = tmp_path / "data"
    data.mkdir()
    levels = {"0.png": GREY, "1.png": BLACK, "2.png": GREY, "3.png": GREY}
    for name, level in levels.items():
        write_image(data / name, _flat(level)[0])
    summary = synth(data, tmp_path / "out", model=fragile_model,
                    options=SynthOptions(runtime=CPU_TORCH, batch_size=1, workers=1, progress=False))
    assert (summary.translated, summary.failed) == (3, 1)
    records = [json.loads(line) for line in (tmp_path / "out" / "manifest.jsonl").read_text().splitlines()][:-1]
    status = {r["key"]: (r["status"], r["error"]) for r in records}
    assert status["1.png"][0] == "failed" and status["1.png"][1].startswith("1.png: the model's output holds NaN")
    assert all(status[name] == ("ok", None) for name in ("0.png", "2.png", "3.png"))
    assert not (tmp_path / "out" / "1.png").exists()
    assert read_image(tmp_path / "out" / "2.png").shape == (16, 16, 3)


def test_eval_fails_naming_the_image_instead_of_scoring_black(tmp_path: Path, fragile_model: ModelDirectory) -> None:
    folder = tmp_path / "val"
    folder.mkdir()
    write_image(folder / "a.png", _flat(GREY)[0])
    write_image(folder / "b.png", _flat(BLACK)[0])
    with pytest.raises(NonFiniteOutput) as error:
        evaluate(fragile_model, source=folder, output_dir=tmp_path / "report",
                 options=EvalOptions(runtime=CPU_TORCH, quiet=True))
    assert str(error.value).startswith(f"{folder / 'b.png'}: the model's output holds NaN or infinite values")
    assert not (tmp_path / "report").exists()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_flag_travels_with_its_batch(fragile_model: ModelDirectory) -> None:
    translator = Translator.from_model(fragile_model, RuntimeOptions(backend="torch", device="cuda", precision="fp32"))
    pending = [translator.submit(_flat(level)) for level in (GREY, BLACK, GREY)]
    assert pending[0].result().shape == (1, 16, 16, 3)
    with pytest.raises(NonFiniteOutput):
        pending[1].result()
    assert pending[2].result().shape == (1, 16, 16, 3)
