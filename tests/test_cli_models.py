"""The CLI skeleton: help, version, `models` commands and error exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path

import pytest
import torch

import vidtrans
from vidtrans.cli import main
from vidtrans.networks import ResnetGeneratorConfig, build_generator, init_weights

COMMANDS = ["models", "train", "convert", "synth", "export", "eval", "bench", "demo"]


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("VIDTRANS_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _official_checkpoint(path: Path) -> Path:
    torch.manual_seed(0)
    generator = init_weights(build_generator(ResnetGeneratorConfig(ngf=4, n_blocks=6)))
    torch.save(OrderedDict(generator.state_dict()), path)
    return path


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in COMMANDS:
        assert command in out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"vidtrans {vidtrans.__version__}"


def test_import_list_show_remove(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    checkpoint = _official_checkpoint(tmp_path / "latest_net_G_A.pth")
    assert main(["models", "import", str(checkpoint), "--name", "h2z", "--source-domain", "horse",
                 "--target-domain", "zebra"]) == 0
    assert "imported" in capsys.readouterr().out
    assert main(["models", "list", "--json"]) == 0
    listed = {m["name"]: m for m in json.loads(capsys.readouterr().out)}
    assert listed["h2z"]["direction"] == ["horse", "zebra"]
    assert main(["models", "show", "h2z"]) == 0
    shown = capsys.readouterr().out
    assert "# h2z: horse -> zebra" in shown and "resnet 6 blocks, ngf 4" in shown
    assert "Imported from the checkpoint `latest_net_G_A.pth`" in shown
    assert main(["models", "import", str(checkpoint), "--name", "h2z"]) == 1
    assert "already exists" in capsys.readouterr().err
    assert main(["models", "remove", "h2z", "--yes"]) == 0
    assert main(["models", "show", "h2z"]) == 1
    assert "unknown model 'h2z'" in capsys.readouterr().err


def test_errors_are_one_line_with_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "show", "does-not-exist"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("vidtrans: error: unknown model") and err.count("\n") == 1
    assert main(["models", "import", str(tmp_path / "missing.pth"), "--name", "x"]) == 1
    assert "missing.pth: no such file" in capsys.readouterr().err
    assert main(["models", "import", str(tmp_path / "missing.pth"), "--name", "../x"]) == 2
    assert "invalid model name" in capsys.readouterr().err
    assert main(["models", "import", "x.pth", "--name", "ok", "--arch", "vgg"]) == 2
    assert main(["no-such-command"]) == 2


def test_console_script_never_prints_a_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"\x00" * 10)
    result = subprocess.run([sys.executable, "-m", "vidtrans", "models", "import", str(bad), "--name", "b"],
                            capture_output=True, text=True, env={"VIDTRANS_HOME": str(tmp_path), "PATH": ""})
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(f"vidtrans: error: {bad}")
    debug = subprocess.run([sys.executable, "-m", "vidtrans", "--debug", "models", "import", str(bad), "--name", "b"],
                           capture_output=True, text=True, env={"VIDTRANS_HOME": str(tmp_path), "PATH": ""})
    assert debug.returncode != 0 and "Traceback" in debug.stderr


@pytest.mark.parametrize(("args", "expected"), [
    (["convert", "clip.mp4"], "vidtrans: error: missing option '--model' / '-m' (see 'vidtrans convert --help')"),
    (["convert", "clip.mp4", "-m", "demo", "--bogus"], "vidtrans: error: no such option: --bogus"),
    (["convert", "clip.mp4", "-m", "demo", "--batch-size", "many"], "invalid value for '--batch-size' / '-b'"),
    (["models", "impor"], "no such command 'impor'. Did you mean 'import'?"),
    (["train", "--resume"], "vidtrans: error: option '--resume' requires an argument"),
    (["models", "remove", "x"], "vidtrans: error: removing 'x' needs confirmation: pass --yes"),  # vidtrans' own
])
def test_usage_errors_are_one_line_with_exit_code_2(capsys: pytest.CaptureFixture[str], args: list[str],
                                                    expected: str) -> None:
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("vidtrans: error: ") and captured.err.count("\n") == 1, captured.err
    assert expected in captured.err and captured.out == ""


def test_help_stays_rich(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["convert", "--help"]) == 0
    assert "╭─ Options" in capsys.readouterr().out
    assert main(["models"]) == 2  # a group without its command shows its help
    assert "import" in capsys.readouterr().out
