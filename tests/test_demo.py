"""`vidtrans demo` end to end with the bundled model, offline, and `vidtrans demo scenes`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vidtrans.cli import main
from vidtrans.registry import BUNDLED_MODELS, resolve_model
from vidtrans.video import probe


@pytest.fixture(autouse=True)
def empty_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIDTRANS_HOME", str(tmp_path / "home"))  # only the bundled models are visible


def test_the_demo_model_is_bundled() -> None:
    model = resolve_model("demo")
    assert model.path == BUNDLED_MODELS / "demo"
    assert (model.info.source_domain, model.info.target_domain) == ("game", "real")
    assert model.info.has_inverse
    size = sum(p.stat().st_size for p in model.path.iterdir())
    assert size < 5_000_000
    model.load_generator()  # the hashes in model.json match the shipped weights


def test_demo_runs_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--size", "128x64", "--frames", "6", "--device", "cpu", "--quiet"]) == 0
    out = capsys.readouterr().out
    folder = tmp_path / "vidtrans-demo"
    assert "translated" in out and "vidtrans-demo/side_by_side.mp4" in out
    game, translated, side = (probe(folder / name) for name in ("game.mp4", "translated.mp4", "side_by_side.mp4"))
    assert game.frames == translated.frames == side.frames == 6
    assert (translated.width, translated.height) == (128, 64)
    assert (side.width, side.height) == (256, 64)
    record = json.loads((folder / "demo.json").read_text())
    assert record["model"] == "demo" and record["frames"] == 6
    # a second run replaces the demo's own files
    assert main(["demo", "--size", "128x64", "--frames", "4", "--device", "cpu", "--quiet"]) == 0
    assert probe(folder / "translated.mp4").frames == 4


def test_demo_never_writes_into_someone_elses_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "holiday.mp4").write_bytes(b"precious")
    assert main(["demo", "--output-dir", str(tmp_path / "mine"), "--device", "cpu", "--quiet"]) == 1
    assert "was not made by `vidtrans demo`" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == ["holiday.mp4"]


def test_demo_scenes_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "scenes", str(tmp_path / "ds"), "--count", "2", "--size", "128x64"]) == 0
    assert "wrote 2 scenes" in capsys.readouterr().out
    assert len(list((tmp_path / "ds" / "game" / "images").iterdir())) == 2
    assert len(list((tmp_path / "ds" / "real" / "leftImg8bit" / "train" / "synth").iterdir())) == 2
    assert main(["demo", "scenes", str(tmp_path / "ds"), "--count", "2", "--size", "128x64"]) == 1
    assert "not empty" in capsys.readouterr().err
    assert main(["demo", "scenes", str(tmp_path / "v"), "--count", "1", "--size", "65x64", "--video"]) == 2
    assert main(["demo", "scenes", str(tmp_path / "r"), "--count", "1", "--size", "128x64", "--content", "real"]) == 0
    assert "real content" in capsys.readouterr().out
    assert json.loads((tmp_path / "r" / "scenes.json").read_text())["content"] == "real"
    assert main(["demo", "scenes", str(tmp_path / "x"), "--count", "1", "--content", "photo"]) == 2
    assert "content must be one of game, real" in capsys.readouterr().err
