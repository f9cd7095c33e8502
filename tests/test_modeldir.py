"""Model directories: save/load round trips and validation errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from vidtrans.errors import ModelError, OutputError
from vidtrans.fsutil import sha256_file
from vidtrans.modeldir import ModelInfo, open_model, save_model
from vidtrans.networks import ResnetGeneratorConfig, UnetGeneratorConfig, build_generator, init_weights

TINY = ResnetGeneratorConfig(ngf=8, n_blocks=2)


def _tiny_generator(config=TINY, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return init_weights(build_generator(config)).eval()


def test_round_trip_gives_the_same_outputs(tmp_path: Path) -> None:
    generator, inverse = _tiny_generator(seed=1), _tiny_generator(seed=2)
    info = ModelInfo(name="tiny", generator=TINY, source_domain="game", target_domain="real", has_inverse=True,
                     training_size=(64, 32), provenance={"run": "runs/tiny"})
    saved = save_model(tmp_path / "tiny", info, generator, inverse)
    loaded = open_model(tmp_path / "tiny")
    assert loaded.info.generator == TINY
    assert (loaded.info.source_domain, loaded.info.target_domain) == ("game", "real")
    assert loaded.info.training_size == (64, 32)
    assert loaded.sha256 == saved.sha256
    batch = torch.rand(2, 3, 32, 48) * 2 - 1
    with torch.no_grad():
        assert torch.equal(loaded.load_generator()(batch), generator(batch))
        assert torch.equal(loaded.load_generator(inverse=True)(batch), inverse(batch))


def test_unet_with_batch_norm_round_trip(tmp_path: Path) -> None:
    config = UnetGeneratorConfig(ngf=4, num_downs=5)
    generator = _tiny_generator(config)
    generator.train()(torch.rand(2, 3, 32, 32))  # give batch norm non-trivial running stats
    generator.eval()
    save_model(tmp_path / "u", ModelInfo(name="u", generator=config), generator)
    batch = torch.rand(1, 3, 64, 32)
    with torch.no_grad():
        assert torch.equal(open_model(tmp_path / "u").load_generator()(batch), generator(batch))


def test_refuses_to_overwrite_without_permission(tmp_path: Path) -> None:
    info = ModelInfo(name="m", generator=TINY)
    save_model(tmp_path / "m", info, _tiny_generator())
    with pytest.raises(OutputError, match="already exists"):
        save_model(tmp_path / "m", info, _tiny_generator())
    replaced = save_model(tmp_path / "m", info, _tiny_generator(seed=5), overwrite=True)
    assert replaced.sha256["generator"] != ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # no staging folders left behind


def test_inverse_flag_must_match(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="has_inverse"):
        save_model(tmp_path / "m", ModelInfo(name="m", generator=TINY), _tiny_generator(), _tiny_generator())


def test_missing_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no such folder"):
        open_model(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("hi")
    with pytest.raises(ModelError, match=r"missing model.json \(it holds: notes.txt\)"):
        open_model(tmp_path / "empty")
    save_model(tmp_path / "m", ModelInfo(name="m", generator=TINY), _tiny_generator())
    (tmp_path / "m" / "generator.safetensors").unlink()
    with pytest.raises(ModelError, match="missing generator.safetensors"):
        open_model(tmp_path / "m")


def test_unknown_format_version(tmp_path: Path) -> None:
    model = save_model(tmp_path / "m", ModelInfo(name="m", generator=TINY), _tiny_generator())
    doc = json.loads((model.path / "model.json").read_text())
    doc["format_version"] = 99
    (model.path / "model.json").write_text(json.dumps(doc))
    with pytest.raises(ModelError, match="unknown format version 99"):
        open_model(model.path)
    (model.path / "model.json").write_text("{not json")
    with pytest.raises(ModelError, match="not valid JSON"):
        open_model(model.path)


def test_weights_that_do_not_match_the_architecture_name_the_keys(tmp_path: Path) -> None:
    model = save_model(tmp_path / "m", ModelInfo(name="m", generator=TINY), _tiny_generator())
    state = dict(_tiny_generator().state_dict())
    del state["model.1.weight"]
    state["model.99.weight"] = torch.zeros(1)
    state["model.4.weight"] = torch.zeros(3, 3)
    save_file(state, str(model.weights_path()))
    with pytest.raises(ModelError, match="sha256 does not match"):
        model.load_generator()
    with pytest.raises(ModelError) as error:
        model.load_generator(verify=False)
    message = str(error.value)
    assert "missing: model.1.weight" in message
    assert "unexpected: model.99.weight" in message
    assert "wrong shape: model.4.weight (3, 3)" in message


def test_corrupt_weights_are_reported(tmp_path: Path) -> None:
    model = save_model(tmp_path / "m", ModelInfo(name="m", generator=TINY), _tiny_generator())
    model.weights_path().write_bytes(b"garbage")
    with pytest.raises(ModelError, match="not a readable safetensors file"):
        model.load_generator(verify=False)


def test_no_inverse_generator(tmp_path: Path) -> None:
    model = save_model(tmp_path / "m", ModelInfo(name="m", generator=TINY), _tiny_generator())
    with pytest.raises(ModelError, match="no inverse generator"):
        model.load_generator(inverse=True)


def _edit(doc: dict, dotted: str, value: object) -> None:
    *parents, last = dotted.split(".")
    for key in parents:
        doc = doc[key]
    if value is _DELETE:
        del doc[last]
    else:
        doc[last] = value


_DELETE = object()


@pytest.mark.parametrize(("field", "value", "expected"), [
    ("normalization.std", [0, 0.5, 0.5], "normalization.std must be positive"),
    ("normalization.std", [float("nan"), 0.5, 0.5], "normalization.std must be 3 finite numbers"),
    ("normalization.mean", [0.5, 0.5], "normalization.mean must be 3 finite numbers"),
    ("normalization", [0.5], "normalization must be an object"),
    ("has_inverse", "false", "has_inverse must be true or false"),
    ("training_size", [256], "training_size must be two positive integers"),
    ("training_size", [0, 256], "training_size must be two positive integers"),
    ("generator", {"type": "patch", "ndf": 8}, "generator must be a resnet or unet generator"),
    ("generator.ngf", 0, "generator: ngf must be an integer >= 1; got 0"),
    ("generator.in_channels", 1, "generator must take 3 channels"),
    ("generator", _DELETE, "missing 'generator'"),
    ("name", "../evil", "invalid model name '../evil'"),
    ("name", _DELETE, "missing 'name'"),
    ("files.generator.sha256", "abc", "files.generator.sha256 must be 64 lowercase hex digits"),
    ("files.extra", {"sha256": "0" * 64}, "files: unknown role 'extra'"),
])
def test_bad_model_json_fields_are_named_in_one_line(tmp_path: Path, field: str, value: object,
                                                     expected: str) -> None:
    model = save_model(tmp_path / "m", ModelInfo(name="m", generator=TINY), _tiny_generator())
    manifest = model.path / "model.json"
    doc = json.loads(manifest.read_text())
    _edit(doc, field, value)
    manifest.write_text(json.dumps(doc))
    with pytest.raises(ModelError) as error:
        open_model(model.path)
    message = str(error.value)
    assert message.startswith(f"{manifest}: invalid model description: ") and "\n" not in message
    assert expected in message


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_weights_are_refused_on_load_naming_the_tensor(tmp_path: Path, bad: float) -> None:
    model = save_model(tmp_path / "m", ModelInfo(name="m", generator=TINY), _tiny_generator())
    state = dict(_tiny_generator().state_dict())
    state["model.4.weight"][0, 0, 0, 0] = bad
    save_file(state, str(model.weights_path()))  # a consistent model directory: the hash is recorded anew
    doc = json.loads((model.path / "model.json").read_text())
    doc["files"]["generator"]["sha256"] = sha256_file(model.weights_path())
    (model.path / "model.json").write_text(json.dumps(doc))
    with pytest.raises(ModelError) as error:
        open_model(model.path).load_generator()
    assert str(error.value).startswith(f"{model.weights_path()}: tensor model.4.weight holds 1 NaN or infinite")


def test_model_info_refuses_bad_values_when_built_in_code() -> None:
    with pytest.raises(ValueError, match="normalization.std must be positive"):
        ModelInfo(name="m", generator=TINY, std=(0.5, 0.0, 0.5))
    listed = ModelInfo(name="m", generator=TINY, training_size=[64, 32])  # type: ignore[arg-type]
    assert listed.training_size == (64, 32)


def test_a_model_json_that_promises_a_huge_network_is_checked_before_allocating_it(tmp_path: Path) -> None:
    """ngf 100000 would ask for about 100 TB; the weights file is compared with it first, on the meta device."""
    model = save_model(tmp_path / "m", ModelInfo(name="m", generator=TINY), _tiny_generator())
    doc = json.loads((model.path / "model.json").read_text())
    doc["generator"]["ngf"] = 100_000
    (model.path / "model.json").write_text(json.dumps(doc))
    with pytest.raises(ModelError, match=r"weights don't match the architecture \(wrong shape: model.1.weight "
                                         r"\(8, 3, 7, 7\) vs \(100000, 3, 7, 7\)"):
        open_model(model.path).load_generator()


def test_every_saved_model_has_a_card(tmp_path: Path) -> None:
    from vidtrans.modelcard import CARD_FILE

    torch.manual_seed(0)
    generator = build_generator(TINY)
    info = ModelInfo(name="tiny", generator=TINY, source_domain="game", target_domain="real",
                     description="a tiny test model", training_size=(64, 32))
    model = save_model(tmp_path / "tiny", info, generator)
    card = (model.path / CARD_FILE).read_text(encoding="utf-8")
    assert card.startswith("---\nlibrary_name: vidtrans\npipeline_tag: image-to-image\n")
    assert "# tiny: game -> real" in card and "a tiny test model" in card and "64x32" in card
    assert f"| `generator.safetensors` | `{model.sha256['generator']}` |" in card
    assert f"{sum(p.numel() for p in generator.parameters()):,} parameters" in card
    assert "No evaluation recorded yet" in card


def test_recorded_evaluations_reach_the_card_and_keep_the_weights_verified(tmp_path: Path) -> None:
    from vidtrans.modelcard import CARD_FILE
    from vidtrans.modeldir import record_evaluation
    from vidtrans.registry import resolve_model

    model = save_model(tmp_path / "tiny", ModelInfo(name="tiny", generator=TINY), build_generator(TINY))
    updated = record_evaluation(model, {"date": "2026-12-01", "data": "game vs real", "items": 64, "psnr": 20.7,
                                        "baseline_psnr": 14.24, "ssim": 0.667})
    updated = record_evaluation(updated, {"date": "2026-12-02", "data": "held-out", "items": 8, "psnr": 21.0})
    assert [e["items"] for e in updated.info.evaluations] == [64, 8]
    card = (model.path / CARD_FILE).read_text(encoding="utf-8")
    assert "| `game vs real` | 64 | 20.70 | 14.24 | 0.667 | 2026-12-01 |" in card
    assert "| `held-out` | 8 | 21.00 |  |  | 2026-12-02 |" in card
    assert open_model(model.path).load_generator() is not None  # sha256 of the weights still match
    with pytest.raises(OutputError, match="bundled model 'demo' is read-only"):
        record_evaluation(resolve_model("demo"), {"items": 1})
