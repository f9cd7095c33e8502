"""`vidtrans eval`: numbers on hand-made cases, the report files and the CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from vidtrans.cli import main
from vidtrans.errors import OutputError, UsageError
from vidtrans.evaluate import EvalOptions, evaluate, match_pairs
from vidtrans.images import read_image, write_image
from vidtrans.modeldir import ModelInfo, open_model, save_model
from vidtrans.networks import ResnetGeneratorConfig, build_generator
from vidtrans.runtime import RuntimeOptions

TINY = ResnetGeneratorConfig(ngf=4, n_blocks=1)

CPU_TORCH = RuntimeOptions(backend="torch", device="cpu")


def _constant_generator(level: int) -> torch.nn.Module:
    """A generator whose output is the constant grey `level` for any input: zero weights, a tanh bias."""
    generator = build_generator(TINY)
    with torch.no_grad():
        for parameter in generator.parameters():
            parameter.zero_()
        generator.model[-2].bias.fill_(math.atanh(level / 127.5 - 1))
    return generator


def _constant_model(path: Path, level: int, *, inverse_level: int | None = None):
    info = ModelInfo(name=path.name, generator=TINY, has_inverse=inverse_level is not None)
    inverse = _constant_generator(inverse_level) if inverse_level is not None else None
    return save_model(path, info, _constant_generator(level), inverse)


def _image(value: int, shape=(20, 28, 3)) -> np.ndarray:
    return np.full(shape, value, np.uint8)


def _pairs(tmp_path: Path, a_values: list[int], b_values: list[int]) -> tuple[Path, Path]:
    for folder, values in (("a", a_values), ("b", b_values)):
        (tmp_path / folder).mkdir()
        for i, value in enumerate(values):
            write_image(tmp_path / folder / f"{i:03d}.png", _image(value))
    return tmp_path / "a", tmp_path / "b"


def test_known_answers(tmp_path: Path) -> None:
    """G maps everything to grey 100; targets are 104 (output off by 4) and inputs 90 or 104."""
    model = _constant_model(tmp_path / "grey", 100, inverse_level=90)
    a, b = _pairs(tmp_path, [90, 104], [104, 104])
    report = evaluate(model, source=a, target=b, paired=True, output_dir=tmp_path / "report",
                      options=EvalOptions(runtime=CPU_TORCH, quiet=True))
    shift4 = 20 * math.log10(255 / 4)
    assert [s.psnr for s in report.items] == pytest.approx([shift4, shift4], abs=1e-9)
    assert report.items[0].baseline_psnr == pytest.approx(20 * math.log10(255 / 14), abs=1e-9)
    assert report.items[1].baseline_psnr == 100.0  # identical images: the documented cap
    assert report.items[1].baseline_ssim == 1.0
    assert report.items[0].cycle_l1 == pytest.approx(0.0)  # F(G(a)) = 90 = a
    assert report.items[1].cycle_l1 == pytest.approx(14 / 255)
    assert report.means["psnr"] == pytest.approx(shift4)
    assert report.fid is None and "--inception-weights" in report.fid_note
    written = json.loads((tmp_path / "report" / "report.json").read_text())
    assert written["means"]["psnr"] == pytest.approx(shift4)
    grid = read_image(tmp_path / "report" / "examples.png")
    assert grid.shape[0] == 2 * (192 + 4)  # two example rows


def test_refuses_to_overwrite_a_report(tmp_path: Path) -> None:
    model = _constant_model(tmp_path / "grey", 100)
    a, b = _pairs(tmp_path, [90], [100])
    evaluate(model, source=a, target=b, paired=True, output_dir=tmp_path / "r", options=EvalOptions(runtime=CPU_TORCH))
    with pytest.raises(OutputError, match="already exists"):
        evaluate(model, source=a, target=b, paired=True, output_dir=tmp_path / "r", options=EvalOptions(runtime=CPU_TORCH))


def test_pairs_match_by_relative_name(tmp_path: Path) -> None:
    for folder, names in (("a", ["x.png", "sub/y.jpg", "only_a.png"]), ("b", ["x.png", "sub/y.png"])):
        for name in names:
            (tmp_path / folder / name).parent.mkdir(parents=True, exist_ok=True)
            write_image(tmp_path / folder / name, _image(5))
    assert [name for name, _, _ in match_pairs(tmp_path / "a", tmp_path / "b")] == ["sub/y", "x"]
    (tmp_path / "c").mkdir()
    write_image(tmp_path / "c" / "z.png", _image(5))
    with pytest.raises(UsageError, match="no image names match"):
        match_pairs(tmp_path / "a", tmp_path / "c")


def test_fid_with_inception_weights(tmp_path: Path) -> None:
    """FID/KID run when weights are given (a randomly initialised network in pytorch-fid's key layout)."""
    from vidtrans.inception import InceptionFeatures

    torch.manual_seed(0)
    torch.save(InceptionFeatures().state_dict(), tmp_path / "inception.pth")
    model = _constant_model(tmp_path / "grey", 100)
    a, b = _pairs(tmp_path, [10, 20], [100, 100])
    report = evaluate(model, source=a, target=b, paired=True, output_dir=tmp_path / "r",
                      options=EvalOptions(runtime=CPU_TORCH, inception_weights=tmp_path / "inception.pth", examples=0,
                                          allow_other_inception=True))
    assert report.fid is not None and report.fid["fid"] == pytest.approx(0.0, abs=1e-3)  # G(A) equals B
    assert report.examples_path is None


def test_eval_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _constant_model(tmp_path / "grey", 100)
    a, b = _pairs(tmp_path, [90, 96], [104, 104])
    assert main(["eval", "--model", str(tmp_path / "grey"), "--pairs", str(a), str(b),
                 "--output", str(tmp_path / "out"), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "PSNR 36.09 dB" in out and "untranslated" in out
    assert open_model(tmp_path / "grey")  # the model is untouched
    assert main(["eval", "--model", str(tmp_path / "grey"), "--pairs", str(a), str(tmp_path / "nope"),
                 "--output", str(tmp_path / "out2"), "--device", "cpu"]) == 1
    assert "nope: no such folder" in capsys.readouterr().err


def test_eval_record_puts_the_results_on_the_model_card(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from vidtrans.modelcard import CARD_FILE

    _constant_model(tmp_path / "grey", 100)
    a, b = _pairs(tmp_path, [90, 96], [104, 104])
    assert main(["eval", "--model", str(tmp_path / "grey"), "--pairs", str(a), str(b), "--output",
                 str(tmp_path / "out"), "--backend", "torch", "--device", "cpu", "--record", "-q"]) == 0
    card = (tmp_path / "grey" / CARD_FILE).read_text(encoding="utf-8")
    assert "| `a vs b` | 2 | 36.09 |" in card  # PSNR of grey 100 against grey 104
    assert open_model(tmp_path / "grey").info.evaluations[0]["psnr"] == pytest.approx(36.09, abs=0.01)
    capsys.readouterr()
    assert main(["models", "show", str(tmp_path / "grey")]) == 0
    assert "| `a vs b` | 2 | 36.09 |" in capsys.readouterr().out
