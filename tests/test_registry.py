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
