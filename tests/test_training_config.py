"""The training config: mode defaults, validation, YAML/TOML files, CLI overrides and resume rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from vidtrans.errors import UsageError
from vidtrans.training.config import config_from_dict, config_to_dict, load_config, resume_config


def test_mode_defaults_are_the_papers() -> None:
    cyclegan = load_config(None, {"name": "c"})
    assert (cyclegan.model.net_g, cyclegan.model.n_blocks, cyclegan.model.norm, cyclegan.model.dropout,
            cyclegan.optim.gan_mode) == ("resnet_9blocks", 9, "instance", False, "lsgan")
    assert (cyclegan.optim.lr, cyclegan.optim.beta1, cyclegan.optim.lambda_cycle, cyclegan.optim.lambda_identity,
            cyclegan.optim.pool_size) == (2e-4, 0.5, 10.0, 0.5, 50)
    assert cyclegan.model.discriminator_config(3).n_layers == 3  # the 70x70 PatchGAN
    pix2pix = load_config(None, {"name": "p", "mode": "pix2pix"})
    assert (pix2pix.model.net_g, pix2pix.model.norm, pix2pix.model.dropout, pix2pix.optim.gan_mode,
            pix2pix.optim.lambda_l1) == ("unet_256", "batch", True, "vanilla", 100.0)
    assert pix2pix.model.generator_config().num_downs == 8
    assert config_from_dict(config_to_dict(pix2pix)) == pix2pix
    named = load_config(None, {"name": "n", "direction": "BtoA", "target_domain": "game"})
    assert (named.source_name, named.target_name) == ("B", "game")


@pytest.mark.parametrize(("overrides", "message"), [
    ({"gan_mode": "hinge"}, "gan_mode must be one of lsgan, vanilla, wgangp"),
    ({"preprocess": "zoom"}, "preprocess must be one of resize_and_crop"),
    ({"net_g": "unet_256", "crop_size": 200, "load_size": 286}, "crop_size must be a multiple of 256"),
    ({"crop_size": 300}, r"crop_size \(300\) must not exceed load_size \(286\)"),
    ({"name": "../x"}, "invalid model name"),
    ({"batch_size": 0}, "batch_size must be an integer >= 1"),
    ({"lr": "fast"}, "lr must be a number"),
    ({"mode": "pix2pix", "n_blocks": 3}, "n_blocks applies to ResNet generators, not unet_256"),
])
def test_invalid_settings_are_usage_errors(overrides: dict, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        load_config(None, {"name": "x", **overrides})


def test_yaml_and_toml_files_with_overrides(tmp_path: Path) -> None:
    yaml_file = tmp_path / "run.yaml"
    yaml_file.write_text("name: y\nepochs: 3\ndata:\n  domain_a: game\n  crop_size: 128\n  load_size: 143\n"
                         "optim:\n  lr: 2e-4\n  lambda_identity: 0\nmodel:\n  ngf: 32\n")
    config = load_config(yaml_file, {"epochs_decay": 4, "ngf": 16})
    assert (config.optim.epochs, config.optim.epochs_decay, config.optim.lr, config.optim.lambda_identity) == \
        (3, 4, 2e-4, 0.0)
    assert config.model.ngf == 16 and config.data.crop_size == 128
    assert config.data.domain_a == str(tmp_path / "game")  # relative to the file
    toml_file = tmp_path / "run.toml"
    toml_file.write_text('name = "t"\nmode = "pix2pix"\n[data]\npreprocess = "none"\n[optim]\nlambda_l1 = 50\n')
    config = load_config(toml_file, {})
    assert (config.mode, config.data.preprocess, config.optim.lambda_l1) == ("pix2pix", "none", 50.0)
    (tmp_path / "bad.yaml").write_text("name: z\nlearning_rate: 1\n")
    with pytest.raises(UsageError, match="unknown setting 'learning_rate'"):
        load_config(tmp_path / "bad.yaml", {})
    (tmp_path / "bad2.yaml").write_text("name: z\ndata:\n  lr: 1\n")
    with pytest.raises(UsageError, match="unknown setting data.lr"):
        load_config(tmp_path / "bad2.yaml", {})
    with pytest.raises(UsageError, match="needs a name"):
        load_config(None, {})


def test_resume_allows_only_some_changes() -> None:
    saved = config_to_dict(load_config(None, {"name": "r", "epochs": 5}))
    resumed = resume_config(saved, {"epochs": 8, "device": "cpu", "lr": 2e-4, "max_steps": 10}, where="runs/r")
    assert (resumed.optim.epochs, resumed.device, resumed.max_steps) == (8, "cpu", 10)
    with pytest.raises(UsageError, match="cannot change crop_size, lr when resuming runs/r"):
        resume_config(saved, {"lr": 1e-3, "crop_size": 128, "epochs": 9}, where="runs/r")


# --- the command line is generated from the config ---------------------------------------------------


def _train_options() -> dict[str, object]:
    import typer.main

    from vidtrans.cli import app

    command = typer.main.get_command(app).commands["train"].commands["run"]  # type: ignore[attr-defined]
    return {param.name: param for param in command.params}


def test_every_setting_is_an_option_with_its_help() -> None:
    from vidtrans.training.config import setting_fields

    options = _train_options()
    for name, (_, spec, _) in setting_fields().items():
        assert name in options, f"training setting {name} has no command-line option"
        assert options[name].help.startswith(spec.metadata["help"])  # type: ignore[attr-defined]
    assert options["domain_a"].param_type_name == "argument" and options["net_g"].opts == ["--netG", "--net-g"]


def test_print_config_reads_back_as_the_same_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from vidtrans.cli import main

    (tmp_path / "base.yaml").write_text("name: base\ndata:\n  crop_size: 64\n  load_size: 72\nmodel:\n  ngf: 8\n")
    assert main(["train", "game", "real", "--config", str(tmp_path / "base.yaml"), "--name", "run1", "--no-flip",
                 "--lr", "1e-3", "--netG", "resnet_6blocks", "--print-config"]) == 0
    printed = capsys.readouterr().out
    (tmp_path / "printed.yaml").write_text(printed)
    config = load_config(tmp_path / "printed.yaml", {})
    assert (config.name, config.data.crop_size, config.model.ngf, config.data.flip, config.optim.lr) == \
        ("run1", 64, 8, False, 1e-3)  # flags override the file, the file's other values stand
    assert (config.model.net_g, config.model.n_blocks) == ("resnet_6blocks", 6)
    assert config.data.domain_a == str(Path("game").absolute())
    assert not (tmp_path / "runs").exists() and not Path("runs/run1").exists()  # nothing was trained
    assert main(["train", "game", "real", "--name", "x", "--crop-size", "300", "--print-config"]) == 2
