"""The downstream benchmark: IoU scoring, the segmentation net, data loading and the experiment end to end."""

from __future__ import annotations

import json
import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from vidtrans.downstream import (
    REAL_TRAIN_FIRST_SEED,
    TEST_FIRST_SEED,
    TRAIN_FIRST_SEED,
    SegNetConfig,
    SegmentationData,
    TrainSettings,
    build_segnet,
    confusion_matrix,
    evaluate,
    find_pairs,
    load_dataset,
    read_label,
    run_downstream,
    scores_from_confusion,
    train_segnet,
)
from vidtrans.errors import InputError, OutputError, UsageError
from vidtrans.modeldir import ModelDirectory
from vidtrans.networks import count_parameters
from vidtrans.scenes import IGNORE, NUM_CLASSES, render_frame, write_scene_dataset

REPO = Path(__file__).resolve().parents[1]


def _scores(predicted: list[int], target: list[int], num_classes: int = 4):
    confusion = confusion_matrix(torch.tensor(predicted), torch.tensor(target), num_classes)
    return scores_from_confusion(confusion)


# --- IoU and mIoU -------------------------------------------------------------------------------------


def test_perfect_prediction_scores_one_and_absent_classes_have_no_iou() -> None:
    scores = _scores([0, 0, 2, 2, 2], [0, 0, 2, 2, 2])
    assert scores.miou == 1.0 and scores.pixel_accuracy == 1.0
    assert scores.iou == (1.0, None, 1.0, None)
    assert scores.classes == (0, 2)


def test_partial_overlap_gives_the_known_iou() -> None:
    # class 0: 3 hits, 1 missed -> 3/4; class 1: 4 hits, 1 false positive -> 4/5
    scores = _scores([0, 0, 0, 1, 1, 1, 1, 1], [0, 0, 0, 0, 1, 1, 1, 1])
    assert scores.iou[0] == pytest.approx(3 / 4) and scores.iou[1] == pytest.approx(4 / 5)
    assert scores.miou == pytest.approx((3 / 4 + 4 / 5) / 2)
    assert scores.pixel_accuracy == pytest.approx(7 / 8)
    assert scores.confusion.tolist()[0][:2] == [3, 1] and scores.confusion.tolist()[1][:2] == [0, 4]
    # class accuracy (recall): class 0 3 of 4, class 1 4 of 4; absent classes have none
    assert scores.class_accuracy == (pytest.approx(3 / 4), 1.0, None, None)
    assert scores.mean_class_accuracy == pytest.approx((3 / 4 + 1) / 2)


def test_ignored_pixels_do_not_count() -> None:
    base = _scores([0, 1, 1], [0, 1, 1])
    with_ignore = _scores([0, 1, 1, 0, 3, 2], [0, 1, 1, IGNORE, IGNORE, IGNORE])
    assert with_ignore.iou == base.iou and with_ignore.miou == 1.0
    assert int(with_ignore.confusion.sum()) == 3


def test_a_predicted_class_absent_from_the_labels_is_left_out_of_the_mean() -> None:
    # class 3 never occurs in the labels: no IoU of its own, but its false positives cost class 0
    scores = _scores([0, 0, 3, 3], [0, 0, 0, 0])
    assert scores.iou[3] is None and scores.iou[0] == pytest.approx(0.5)
    assert scores.miou == pytest.approx(0.5) and scores.classes == (0,)


def test_no_labelled_pixels_and_bad_labels() -> None:
    assert math.isnan(_scores([0, 1], [IGNORE, IGNORE]).miou)
    with pytest.raises(ValueError, match="class indices"):
        _scores([0, 1], [0, 7])
    with pytest.raises(ValueError, match="shape"):
        confusion_matrix(torch.zeros(3), torch.zeros(4), 4)


# --- the network and its training ----------------------------------------------------------------------


def test_segnet_shapes_and_size() -> None:
    net = build_segnet(seed=1)
    assert 100_000 <= count_parameters(net) <= 300_000
    out = net.eval()(torch.zeros(2, 3, 32, 64))
    assert out.shape == (2, NUM_CLASSES, 32, 64)
    with pytest.raises(ValueError, match="multiples of 16"):
        net(torch.zeros(1, 3, 40, 64))
    same = build_segnet(seed=1)
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), same.state_dict().values()))
    with pytest.raises(ValueError):
        SegNetConfig(widths=(8,))


def _scene_data(seeds: range, style: str, size: tuple[int, int] = (128, 64)) -> SegmentationData:
    frames = [render_frame(s, width=size[0], height=size[1], styles=(style,)) for s in seeds]
    return SegmentationData.from_arrays([getattr(f, style) for f in frames], [f.labels for f in frames],
                                        [str(s) for s in seeds])


def test_training_reduces_the_loss_and_repeats_exactly(one_torch_thread: None) -> None:
    data = _scene_data(range(4), "real")
    settings = TrainSettings(steps=30, batch_size=4, lr=1e-2, seed=3)
    result = train_segnet(data, settings)
    assert len(result.losses) == 30 and not result.net.training
    assert np.mean(result.losses[-5:]) < 0.6 * np.mean(result.losses[:5])  # about 0.4 measured
    short = TrainSettings(steps=3, batch_size=4, seed=3)
    assert train_segnet(data, short).losses == train_segnet(data, short).losses
    scores = evaluate(result.net, data)
    assert 0 < scores.miou <= 1 and 0 < scores.pixel_accuracy <= 1


def test_training_with_crops_and_bad_settings(one_torch_thread: None) -> None:
    data = _scene_data(range(2), "game", size=(64, 32))
    result = train_segnet(data, TrainSettings(steps=2, batch_size=2, crop=(32, 32)))
    assert len(result.losses) == 2 and all(math.isfinite(v) for v in result.losses)
    with pytest.raises(ValueError, match="multiple of 16"):
        train_segnet(data, TrainSettings(steps=1, crop=(40, 32)))
    with pytest.raises(ValueError, match="steps"):
        TrainSettings(steps=0)


# --- data -------------------------------------------------------------------------------------------------


def test_photometric_jitter_changes_the_look_and_keeps_the_geometry() -> None:
    from vidtrans.downstream.augment import PhotometricJitter

    frame = render_frame(7, width=64, height=32)
    images = torch.from_numpy(np.stack([frame.game] * 8))
    jittered = PhotometricJitter(seed=3)(images)
    assert jittered.shape == images.shape and jittered.dtype == torch.uint8
    assert torch.equal(jittered, PhotometricJitter(seed=3)(images))  # seeded: a training run repeats
    change = (jittered.float() - images.float()).abs().mean(dim=(1, 2, 3))
    assert (change > 3).all() and len(set(change.tolist())) == 8  # every image gets its own look
    # the geometry stays: every jittered image's brightness follows the original's pixel by pixel
    original = images[0].float().mean(dim=-1).flatten()
    for image in jittered.float().mean(dim=-1).flatten(1):
        assert torch.corrcoef(torch.stack([original, image]))[0, 1] > 0.8
        assert torch.corrcoef(torch.stack([original.flip(0), image]))[0, 1] < 0.5


def test_both_scene_layouts_load_as_matching_pairs(tmp_path: Path) -> None:
    write_scene_dataset(tmp_path / "d", count=3, width=64, height=32, first_seed=5)
    game, real = load_dataset(tmp_path / "d" / "game"), load_dataset(tmp_path / "d" / "real")
    assert len(game) == len(real) == 3 and game.size == real.size == (64, 32)
    assert torch.equal(game.labels, real.labels)
    assert torch.equal(game.labels[1], torch.from_numpy(render_frame(6, width=64, height=32).labels))
    resized = load_dataset(tmp_path / "d" / "game", size=(32, 16))
    assert resized.images.shape == (3, 16, 32, 3) and set(resized.labels.unique().tolist()) <= set(
        game.labels.unique().tolist())


def test_missing_labels_and_unknown_layouts_are_input_errors(tmp_path: Path) -> None:
    write_scene_dataset(tmp_path / "d", count=2, width=64, height=32)
    (tmp_path / "d" / "game" / "labels" / "00001.png").unlink()
    with pytest.raises(InputError, match="00001.png: no label file"):
        find_pairs(tmp_path / "d" / "game")
    with pytest.raises(InputError, match="not a labelled dataset"):
        find_pairs(tmp_path / "d")
    (tmp_path / "d" / "game" / "labels" / "00001.png").write_bytes(b"not a png")
    with pytest.raises(InputError, match="not a readable label image"):
        load_dataset(tmp_path / "d" / "game")


# --- the experiment ----------------------------------------------------------------------------------------

TINY = dict(train_count=4, test_count=2, size=(64, 32), render_size=(64, 32), steps=4, batch_size=2, device="cpu",
            progress=False)


def test_run_downstream_end_to_end_with_a_model(tmp_path: Path, tiny_model: ModelDirectory,
                                                one_torch_thread: None) -> None:
    report = run_downstream(tmp_path / "work", models=[tiny_model.path], **{**TINY, "render_size": (128, 64)})
    for result in report.conditions:
        assert 0 <= result.miou <= 1 and math.isfinite(result.final_loss) and result.train_seconds > 0
        assert set(result.iou) >= set(report.evaluated_classes)
    assert report.evaluated_classes and "road" in report.evaluated_classes
    assert len(report.gap_closed) == 1 and (report.gap_closed[0] is None or math.isfinite(report.gap_closed[0]))
    (model,) = report.models
    assert model["name"] == "tiny" and model["generator_sha256"] == tiny_model.sha256["generator"]
    assert set(report.timings) >= {"render", "translate_1", "total"}

    work = tmp_path / "work"
    translated = sorted((work / "translated" / "1-tiny" / "images").glob("*.png"))
    assert len(translated) == 4
    for label in (work / "train" / "game" / "labels").glob("*.png"):
        assert (work / "translated" / "1-tiny" / "labels" / label.name).read_bytes() == label.read_bytes()
    scenes = json.loads((work / "test" / "scenes.json").read_text())
    assert scenes["first_seed"] == TEST_FIRST_SEED and TRAIN_FIRST_SEED + 4 <= TEST_FIRST_SEED

    report.write_json(tmp_path / "report.json")
    doc = json.loads((tmp_path / "report.json").read_text())
    assert doc["settings"]["train_seeds"] == [TRAIN_FIRST_SEED, TRAIN_FIRST_SEED + 3]
    assert doc["translated"][0]["miou"] == report.translated[0].miou and doc["report_version"] == 2
    assert "gap closed" in report.format_table()

    assert report.environment["device"] == "cpu" and report.environment["segnet_parameters"] > 0
    assert report.settings.render_size == (128, 64) and report.settings.size == (64, 32)
    assert read_label(work / "translated" / "1-tiny" / "labels" / "00000.png").shape == (64, 128)

    with pytest.raises(OutputError, match="not empty"):
        run_downstream(work, models=[tiny_model.path], **TINY)
    run_downstream(work, translation="identity", overwrite=True, **TINY)
    assert not (work / "translated").exists() and len(list((work / "train" / "game" / "images").iterdir())) == 4


def test_content_shift_trains_the_oracle_and_scores_on_real_content_with_the_hood_ignored(
        tmp_path: Path, tiny_model: ModelDirectory, one_torch_thread: None) -> None:
    work = tmp_path / "work"
    report = run_downstream(work, models=[tiny_model.path, tiny_model.path], content_shift=True, **TINY)
    scenes = {name: json.loads((work / name / "scenes.json").read_text()) for name in ("train", "train-real", "test")}
    assert [(s["content"], s["first_seed"]) for s in scenes.values()] == [
        ("game", TRAIN_FIRST_SEED), ("real", REAL_TRAIN_FIRST_SEED), ("real", TEST_FIRST_SEED)]
    test_labels = sorted((work / "test" / "real" / "gtFine").rglob("*_labelTrainIds.png"))
    assert scenes["test"]["hood"] and all((read_label(path)[-1] == IGNORE).all() for path in test_labels)
    first, second = report.translated  # the same model twice: the same translation and scores
    assert (first.name, second.name) == ("tiny", "tiny") and first.iou == second.iou
    assert report.gap_closed[0] == report.gap_closed[1]
    assert sorted(p.name for p in (work / "translated").iterdir()) == ["1-tiny", "2-tiny"]
    assert report.real.description == "real renders of real-content scenes (oracle)"
    table = report.format_table()
    assert "(b1) tiny" in table and "(b2) tiny" in table and "real-content scenes (seeds 150000-150003)" in table
    assert report.to_dict()["settings"]["real_train_seeds"] == [REAL_TRAIN_FIRST_SEED, REAL_TRAIN_FIRST_SEED + 3]

    ideal = run_downstream(tmp_path / "ideal", translation="real", content_shift=True, **TINY)
    assert ideal.translated[0].description.startswith("real renders of the game scenes")
    assert ideal.translated[0].iou != ideal.real.iou  # the ideal translation keeps the game content


@pytest.mark.parametrize(("translation", "equals"), [("identity", "game"), ("real", "real")])
def test_sanity_translations_reproduce_the_other_condition(tmp_path: Path, translation: str, equals: str,
                                                           one_torch_thread: None) -> None:
    report = run_downstream(tmp_path / "work", translation=translation, **TINY)
    same = getattr(report, equals)
    (translated,) = report.translated
    assert translated.miou == same.miou and translated.iou == same.iou
    assert report.gap_closed[0] in ((0.0 if equals == "game" else 1.0), None)
    assert report.models == () and not (tmp_path / "work" / "translated").exists()


def test_bad_settings_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="multiples of 16"):
        run_downstream(tmp_path, translation="identity", size=(100, 50))
    with pytest.raises(UsageError, match="translation must be one of"):
        run_downstream(tmp_path, translation="nope")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="train_count"):
        run_downstream(tmp_path, translation="identity", train_count=0)
    with pytest.raises(UsageError, match="render_size"):
        run_downstream(tmp_path, translation="identity", render_size=(32, 16))


def _benchmark_script():
    spec = importlib.util.spec_from_file_location("downstream_benchmark", REPO / "benchmarks" / "downstream.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_script_writes_the_table_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                    one_torch_thread: None) -> None:
    script = _benchmark_script()
    out = tmp_path / "report.json"
    code = script.main(["--translation", "identity", "--train-count", "2", "--test-count", "1", "--size", "64x32", "--render-size", "64x32",
                        "--steps", "2", "--batch-size", "2", "--device", "cpu", "--threads", "1", "--quiet",
                        "--json", str(out), "--work-dir", str(tmp_path / "work")])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert "(a) game" in printed.out and "gap closed" in printed.out
    assert json.loads(out.read_text())["settings"]["steps"] == 2
    assert script.main(["--json", str(out)]) == 1
    assert "already exists" in capsys.readouterr().err
    assert script.main(["--size", "100x50", "--translation", "identity"]) == 2
    assert "multiples of 16" in capsys.readouterr().err
