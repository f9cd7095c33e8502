"""The FCN score, hood score and label-flip rate: exact numbers from a hand-built ONNX segmenter, `vidtrans eval
--fcn-score` end to end, and one-line errors for bad segmenters and sidecars."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

from vidtrans.cli import main
from vidtrans.errors import InputError, ModelError, UsageError
from vidtrans.evaluate import EvalOptions, evaluate
from vidtrans.fcn_score import FcnScorer
from vidtrans.images import write_image
from vidtrans.modeldir import ModelInfo, save_model
from vidtrans.networks import ResnetGeneratorConfig, build_generator
from vidtrans.runtime import RuntimeOptions
from vidtrans.segmenter import OnnxSegmenter, load_segmenter

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)
CLASSES = ["red", "green", "blue", "ego vehicle"]
H, W = 4, 8

CPU_TORCH = RuntimeOptions(backend="torch", device="cpu")


def colour_segmenter(folder: Path, *, classes: list[str] = CLASSES, size: tuple[int, int] = (W, H),
                     static: bool = False, **sidecar: object) -> Path:
    """An ONNX graph that scores (r, g, b, r + g + b - 1.5) on [0, 1] RGB: red, green and blue pixels are classes
    0, 1 and 2, white is 3 ("ego vehicle"). Written as colours.onnx with its sidecar colours.json."""
    weight = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]], np.float32).reshape(4, 3, 1, 1)
    bias = np.array([0, 0, 0, -1.5], np.float32)
    dims = [1, 3, size[1], size[0]] if static else ["batch", 3, "height", "width"]
    graph = helper.make_graph(
        [helper.make_node("Conv", ["pixels", "weight", "bias"], ["scores"])], "colours",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, dims)],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", 4, "height", "width"])],
        [helper.make_tensor("weight", TensorProto.FLOAT, weight.shape, weight.reshape(-1)),
         helper.make_tensor("bias", TensorProto.FLOAT, bias.shape, bias)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, str(folder / "colours.onnx"))
    doc = {"input_size": list(size), "mean": [0, 0, 0], "std": [1, 1, 1], "class_names": classes,
           "ignore_index": 255, **sidecar}
    (folder / "colours.json").write_text(json.dumps(doc))
    return folder / "colours.onnx"


def paint(rows: list[list[tuple[int, int, int]]]) -> np.ndarray:
    """An H x W image, row by row: each row's colours side by side, each W / len(row) pixels wide."""
    return np.array([[c for c in row for _ in range(W // len(row))] for row in rows], np.uint8)


def upscale(image: np.ndarray, factor: int) -> np.ndarray:
    """Each pixel as a factor x factor block."""
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


# labels: row 0 red (0), row 1 green (1), row 2 blue (2) on the left and ignore (255) on the right, row 3 blue
LABELS = np.array([[0] * 8, [1] * 8, [2] * 4 + [255] * 4, [2] * 8], np.uint8)
# real: right everywhere except the first two pixels of row 0 (green, wrong); white under the ignore label
REAL = paint([[GREEN, GREEN, RED, RED, RED, RED, RED, RED], [GREEN], [BLUE, WHITE], [BLUE]])
# translated: row 1 half turned red, the bottom row painted white (a hood); row 0 right everywhere
TRANSLATED = paint([[RED], [GREEN, RED], [BLUE, WHITE], [WHITE]])
SOURCE = paint([[RED], [RED], [RED], [RED]])


def test_the_fcn_score_of_known_images_gives_known_numbers(tmp_path: Path) -> None:
    segmenter = load_segmenter(colour_segmenter(tmp_path))
    assert isinstance(segmenter, OnnxSegmenter)  # a real ONNX Runtime session
    scorer = FcnScorer(segmenter, hood_band=0.25)  # the bottom row
    scorer.add(LABELS, source=SOURCE, translated=TRANSLATED, real=REAL)
    score = scorer.result()
    source, translated, real = (score.row(name) for name in ("source", "translated", "real"))
    labelled = 28  # 8 + 8 + 4 + 8 pixels; 4 ignored
    # translated: red 8/8 right, green 4/8 (4 called red), blue 4/12 (8 called ego vehicle)
    assert translated.scores.confusion.tolist() == [[8, 0, 0, 0], [4, 4, 0, 0], [0, 0, 4, 8], [0, 0, 0, 0]]
    assert translated.scores.pixel_accuracy == pytest.approx(16 / labelled)
    assert translated.scores.class_accuracy[:3] == pytest.approx((1, 1 / 2, 1 / 3))
    assert translated.scores.mean_class_accuracy == pytest.approx((1 + 1 / 2 + 1 / 3) / 3)
    assert translated.scores.iou[:3] == pytest.approx((8 / 12, 4 / 8, 4 / 12)) and translated.scores.iou[3] is None
    assert translated.scores.miou == pytest.approx((8 / 12 + 4 / 8 + 4 / 12) / 3)
    assert translated.hood == 1.0
    # source: everything red
    assert source.scores.pixel_accuracy == pytest.approx(8 / labelled)
    assert source.scores.iou[:3] == pytest.approx((8 / 28, 0, 0)) and source.scores.miou == pytest.approx(8 / 28 / 3)
    assert source.scores.mean_class_accuracy == pytest.approx(1 / 3) and source.hood == 0.0
    # real: two red pixels called green
    assert real.scores.confusion.tolist()[0] == [6, 2, 0, 0] and real.scores.pixel_accuracy == pytest.approx(26 / 28)
    assert real.scores.iou[:3] == pytest.approx((6 / 8, 8 / 10, 1.0)) and real.hood == 0.0
    # flips: 12 pixels right on the real image and wrong on the translation, 2 the other way round
    flips = score.label_flips
    assert flips.flipped == pytest.approx(12 / labelled) and flips.restored == pytest.approx(2 / labelled)
    assert flips.rate == pytest.approx(real.scores.pixel_accuracy - translated.scores.pixel_accuracy)
    assert flips.rate == pytest.approx(10 / labelled)
    doc = json.loads(json.dumps(score.to_json()))
    assert doc["rows"]["translated"]["iou"] == {"red": pytest.approx(8 / 12), "green": 0.5,
                                                "blue": pytest.approx(1 / 3)}
    assert doc["label_flip_rate"] == pytest.approx(10 / 28) and doc["images"] == 1


def test_images_accumulate_and_predictions_come_back_at_the_label_size(tmp_path: Path) -> None:
    # the segmenter works at 8x4; images and labels of 16x8 are resized down and the classes back up
    scorer = FcnScorer(load_segmenter(colour_segmenter(tmp_path)), hood_band=0.25)
    def big(image: np.ndarray) -> np.ndarray:
        return upscale(image, 2)

    for _ in range(2):
        scorer.add(big(LABELS), source=big(SOURCE), translated=big(TRANSLATED))
    score = scorer.result()
    assert score.images == 2 and score.label_flips is None and score.row("real") is None
    assert score.row("translated").scores.confusion.tolist()[2] == [0, 0, 2 * 16, 2 * 32]
    assert score.row("translated").hood == 1.0
    with pytest.raises(ValueError, match="same sets"):
        scorer.add(big(LABELS), source=big(SOURCE))
    with pytest.raises(ValueError, match="labels are 16x8"):
        scorer.add(big(LABELS), source=SOURCE, translated=big(TRANSLATED))
    with pytest.raises(ValueError, match="class indices below 4"):
        scorer.add(np.full((8, 16), 7, np.uint8), source=big(SOURCE), translated=big(TRANSLATED))


# --- vidtrans eval --fcn-score -------------------------------------------------------------------------------

TINY = ResnetGeneratorConfig(ngf=4, n_blocks=1)


def _white_model(path: Path):
    """A generator that turns any image white (zero weights, a tanh bias of almost 1)."""
    generator = build_generator(TINY)
    with torch.no_grad():
        for parameter in generator.parameters():
            parameter.zero_()
        generator.model[-2].bias.fill_(math.atanh(254.6 / 127.5 - 1))
    return save_model(path, ModelInfo(name=path.name, generator=TINY), generator)


def _scene_folders(tmp_path: Path) -> tuple[Path, Path, Path]:
    """game/, real/ and labels/ with two 32x16 scenes (names a.png and b.png; SSIM needs 11 pixels a side)."""
    for folder, image in (("game", SOURCE), ("real", REAL), ("labels", LABELS)):
        (tmp_path / folder).mkdir()
        for name in ("a", "b"):
            write_image(tmp_path / folder / f"{name}.png", upscale(image, 4))
    return tmp_path / "game", tmp_path / "real", tmp_path / "labels"


def test_eval_reports_the_fcn_score(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = _white_model(tmp_path / "white")
    game, real, labels = _scene_folders(tmp_path)
    segmenter = colour_segmenter(tmp_path / "seg")
    report = evaluate(model, source=game, target=real, paired=True, output_dir=tmp_path / "report", labels=labels,
                      options=EvalOptions(runtime=CPU_TORCH, quiet=True, fcn_score=True, segmenter=str(segmenter)))
    translated = report.fcn.row("translated")
    assert translated.scores.pixel_accuracy == 0.0 and translated.hood == 1.0  # all white: all "ego vehicle"
    assert report.fcn.row("source").scores.pixel_accuracy == pytest.approx(8 / 28)
    assert report.fcn.row("real").scores.pixel_accuracy == pytest.approx(26 / 28)
    assert report.fcn.label_flips.rate == pytest.approx(26 / 28) and report.fcn.images == 2
    written = json.loads((tmp_path / "report" / "report.json").read_text())
    assert written["fcn"]["rows"]["real"]["pixel_accuracy"] == pytest.approx(26 / 28)
    assert written["fcn"]["rows"]["translated"]["hood"] == 1.0

    assert main(["eval", "--model", str(model.path), "--pairs", str(game), str(real), "--labels", str(labels),
                 "--fcn-score", "--segmenter", str(segmenter), "--output", str(tmp_path / "cli"),
                 "--backend", "torch", "--device", "cpu", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "FCN score (2 images" in out and "label-flip rate 92.9%" in out
    assert re.search(r"translated +0\.0 +0\.0 +0\.0 +100\.0\n", out)  # pixel acc, class acc, mean IoU, hood
    assert re.search(r"real \(paired\) +92\.9 +91\.7 ", out)  # 26/28 and (6/8 + 1 + 1)/3

    unpaired = evaluate(model, source=game, output_dir=tmp_path / "unpaired", labels=labels,
                        options=EvalOptions(runtime=CPU_TORCH, quiet=True, fcn_score=True, segmenter=str(segmenter)))
    assert [row.name for row in unpaired.fcn.rows] == ["source", "translated"] and unpaired.fcn.label_flips is None
    assert not any("label-flip" in line for line in unpaired.summary_lines())


def test_fcn_score_usage_and_label_errors(tmp_path: Path) -> None:
    model = _white_model(tmp_path / "white")
    game, real, labels = _scene_folders(tmp_path)
    segmenter = str(colour_segmenter(tmp_path / "seg"))
    run = dict(source=game, target=real, paired=True, output_dir=tmp_path / "r")
    with pytest.raises(UsageError, match="--fcn-score needs --labels"):
        evaluate(model, **run, options=EvalOptions(runtime=CPU_TORCH, fcn_score=True))
    with pytest.raises(UsageError, match="--segmenter goes with --fcn-score"):
        EvalOptions(segmenter=segmenter)
    with pytest.raises(UsageError, match="--labels goes with --fcn-score"):
        evaluate(model, **run, labels=labels, options=EvalOptions(runtime=CPU_TORCH))
    (labels / "b.png").unlink()
    with pytest.raises(InputError, match=r"labels: no label map for .*b.png \(looked for b.png\)"):
        evaluate(model, **run, labels=labels, options=EvalOptions(runtime=CPU_TORCH, fcn_score=True, segmenter=segmenter))
    write_image(labels / "b.png", np.full((16, 32), 9, np.uint8))
    with pytest.raises(InputError, match=r"b.png: labels must be class indices below 4 or 255"):
        evaluate(model, **run, labels=labels, options=EvalOptions(runtime=CPU_TORCH, fcn_score=True, segmenter=segmenter,
                                                                     quiet=True))
    write_image(labels / "b.png", np.zeros((4, 8), np.uint8))
    with pytest.raises(InputError, match=r"b.png: the source image is 32x16 but its labels are 8x4"):
        evaluate(model, **run, labels=labels, options=EvalOptions(runtime=CPU_TORCH, fcn_score=True, segmenter=segmenter,
                                                                     quiet=True, overwrite=True))


# --- bad segmenters and sidecars ---------------------------------------------------------------------------


@pytest.mark.parametrize(("change", "message"), [
    ({"class_names": ["red", "green", "blue"]}, "returns 4 class scores, but its sidecar names 3 classes"),
    ({"class_names": ["red", "red", "blue", "x"]}, "bad segmenter sidecar: class_names has duplicates"),
    ({"ignore_index": 2}, "ignore_index must be an integer from 4"),
    ({"input_size": [8]}, "input_size must be \\[width, height\\]"),
    ({"std": [1, 0, 1]}, "std must be positive"),
    ({"mean": [0, 0]}, "mean must be a list of 3 numbers"),
    ({"input_size": None}, "input_size must be"),
])
def test_bad_sidecars_are_one_line_errors_naming_the_file(tmp_path: Path, change: dict, message: str) -> None:
    path = colour_segmenter(tmp_path)
    doc = {**json.loads((tmp_path / "colours.json").read_text()), **change}
    (tmp_path / "colours.json").write_text(json.dumps(doc))
    with pytest.raises(ModelError, match=message) as error:
        load_segmenter(path).predict(np.zeros((1, H, W, 3), np.uint8))
    assert "colours." in str(error.value) and "\n" not in str(error.value)


def test_missing_and_broken_segmenter_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = colour_segmenter(tmp_path)
    (tmp_path / "colours.json").write_text("{not json")
    with pytest.raises(ModelError, match="colours.json: not valid JSON"):
        load_segmenter(path)
    (tmp_path / "colours.json").write_text(json.dumps({"mean": [0, 0, 0]}))
    with pytest.raises(ModelError, match="colours.json: bad segmenter sidecar: missing input_size, std, class_names"):
        load_segmenter(path)
    (tmp_path / "colours.json").unlink()
    with pytest.raises(ModelError, match="colours.json: no segmenter sidecar"):
        load_segmenter(path)
    colour_segmenter(tmp_path)
    path.write_bytes(b"not an onnx graph")
    with pytest.raises(ModelError, match="colours.onnx: ONNX Runtime cannot load the segmenter"):
        load_segmenter(path)
    static = colour_segmenter(tmp_path / "static", static=True, size=(16, 8))
    (tmp_path / "static" / "colours.json").write_text(json.dumps(
        {**json.loads((tmp_path / "static" / "colours.json").read_text()), "input_size": [32, 16]}))
    with pytest.raises(ModelError, match=r"input pixels has shape \[1, 3, 8, 16\]; the sidecar needs \(N, 3, 16, 32\)"):
        load_segmenter(static)
    with pytest.raises(ModelError, match="unknown segmenter 'nonesuch'.*bundled: scenes-real"):
        load_segmenter("nonesuch")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="empty: not a segmenter directory"):
        load_segmenter(tmp_path / "empty")
    (tmp_path / "seg.txt").write_text("x")
    with pytest.raises(ModelError, match="seg.txt: a segmenter is an .onnx file"):
        load_segmenter(tmp_path / "seg.txt")

    model = _white_model(tmp_path / "white")
    (tmp_path / "scenes").mkdir()
    game, real, labels = _scene_folders(tmp_path / "scenes")
    assert main(["eval", "--model", str(model.path), "--pairs", str(game), str(real), "--labels", str(labels),
                 "--fcn-score", "--segmenter", str(path), "--output", str(tmp_path / "out"), "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "colours.onnx: ONNX Runtime cannot load the segmenter" in err
