"""The registry: names, lookup order, listing and removal."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from vidtrans.errors import ModelError, UsageError
from vidtrans.modeldir import ModelInfo, save_model
from vidtrans.networks import ResnetGeneratorConfig, build_generator
from vidtrans.registry import (
    list_models,
    remove_model,
    resolve_model,
    user_model_path,
    user_models_dir,
    validate_name,
)

TINY = ResnetGeneratorConfig(ngf=4, n_blocks=1)


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("VIDTRANS_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _register(name: str) -> Path:
    torch.manual_seed(0)
    return save_model(user_model_path(name), ModelInfo(name=name, generator=TINY), build_generator(TINY)).path


@pytest.mark.parametrize("name", ["gta2real", "demo-v2", "a_b.c", "X1"])
def test_valid_names(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize("name", ["", "../evil", "a/b", "..", ".hidden", "a..b", "-x", "a b", "/abs", "c:\\x"])
def test_invalid_names_are_refused(name: str) -> None:
    with pytest.raises(UsageError, match="invalid model name"):
        validate_name(name)


def test_home_comes_from_the_environment(home: Path) -> None:
    assert user_models_dir() == home / "models"


def test_resolve_by_name_and_by_path(home: Path, tmp_path: Path) -> None:
    path = _register("gta2real")
    assert resolve_model("gta2real").path == path
    assert resolve_model(str(path)).path == path
    other = save_model(tmp_path / "elsewhere", ModelInfo(name="x", generator=TINY), build_generator(TINY))
    assert resolve_model(other.path).path == other.path


def test_unknown_name_lists_what_is_known(home: Path) -> None:
    _register("gta2real")
    with pytest.raises(ModelError, match=r"unknown model 'nope'.*known: .*gta2real"):
        resolve_model("nope")


def test_list_and_remove(home: Path) -> None:
    _register("one")
    _register("two")
    (user_models_dir() / "broken").mkdir()
    entries = {e.name: e for e in list_models()}
    assert entries["one"].source == "user" and entries["one"].model is not None
    assert entries["broken"].model is None and "missing model.json" in entries["broken"].error
    remove_model("one")
    assert "one" not in {e.name for e in list_models()}
    with pytest.raises(ModelError, match="unknown model"):
        remove_model("one")
    with pytest.raises(UsageError):
        remove_model("../two")
    assert (user_models_dir() / "two").is_dir()


def test_the_names_of_bundled_models_are_refused_for_user_models(home: Path, tmp_path: Path) -> None:
    from vidtrans.importer import import_checkpoint
    from vidtrans.training.export_model import check_destination

    with pytest.raises(UsageError, match="'demo' is the name of a bundled model"):
        user_model_path("demo")
    checkpoint = tmp_path / "g.pth"
    torch.save(build_generator(ResnetGeneratorConfig(ngf=4, n_blocks=6)).state_dict(), checkpoint)
    with pytest.raises(UsageError, match="bundled model"):
        import_checkpoint(checkpoint, name="demo")
    with pytest.raises(UsageError, match="bundled model"):  # a training run checks before it starts
        check_destination(tmp_path / "runs" / "demo", "demo", register=True, overwrite=True)
    assert not (home / "models" / "demo").exists()
    assert resolve_model("demo").path.parent.name == "models"  # still the bundled one
    written = import_checkpoint(checkpoint, name="demo", destination=tmp_path / "mine")  # not registered: fine
    assert written.name == "demo" and resolve_model(str(written.path)).path == written.path


def test_a_user_model_that_hides_a_bundled_one_is_flagged(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Older versions registered such names; the user model still wins, but never silently."""
    old = save_model(user_models_dir() / "demo", ModelInfo(name="demo", generator=TINY), build_generator(TINY))
    entry = next(e for e in list_models() if e.name == "demo")
    assert entry.source == "user" and "hides the bundled model 'demo'" in (entry.note or "")
    capsys.readouterr()
    assert resolve_model("demo").path == old.path
    assert "hides the bundled model 'demo'" in capsys.readouterr().err
    remove_model("demo")  # it can still be removed, which brings the bundled one back
    assert resolve_model("demo").path != old.path
