"""Fault cases for model files, training runs and usage errors: each row runs the real `vidtrans` command in a
subprocess and checks the exit code, the one-line message (no traceback), and that nothing was lost: a refused
command leaves every file exactly as it was (same names, same bytes, no partial files); a command that recovers
keeps the files it must not touch.

Rows are (name, setup, exit code, expected text). `setup(work, assets)` prepares the case in its own folder and
returns the command's arguments; `VIDTRANS_HOME` is `work/home`, so registered models land there too.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from vidtrans.images import write_image
from vidtrans.modeldir import ModelDirectory, ModelInfo, save_model
from vidtrans.networks import ResnetGeneratorConfig, build_generator, init_weights
from vidtrans.training.checkpoint import load_checkpoint, save_checkpoint
from vidtrans.training.config import load_config
from vidtrans.training.loop import train

TINY = ResnetGeneratorConfig(ngf=4, n_blocks=2)


@dataclass(frozen=True)
class Assets:
    """Files made once for all rows (copied, never changed, by the rows that use them)."""

    root: Path
    checkpoint: Path  # an official-layout ResNet state dict (ngf 8, 9 blocks)
    model: ModelDirectory  # a tiny model directory
    image: Path  # a 16x16 PNG to convert
    run: Path  # a finished training run: epoch_0001.pt (step 3) and latest.pt (step 4)


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> Assets:
    root = tmp_path_factory.mktemp("assets")
    torch.manual_seed(0)
    checkpoint = root / "latest_net_G_A.pth"
    torch.save(init_weights(build_generator(ResnetGeneratorConfig(ngf=8, n_blocks=9))).state_dict(), checkpoint)
    model = save_model(root / "tiny", ModelInfo(name="tiny", generator=TINY), init_weights(build_generator(TINY)))
    image = root / "grey.png"
    write_image(image, np.full((16, 16, 3), 128, np.uint8))
    rng = np.random.default_rng(0)
    for domain in ("a", "b"):
        (root / domain).mkdir()
        for i in range(6):
            write_image(root / domain / f"{i}.png", rng.integers(0, 256, (40, 40, 3), dtype=np.uint8))
    settings = {"name": "run", "domain_a": str(root / "a"), "domain_b": str(root / "b"), "ngf": 4, "n_blocks": 1,
                "ndf": 4, "load_size": 36, "crop_size": 32, "num_workers": 0, "device": "cpu", "register": False,
                "batch_size": 2, "save_every": 1, "max_steps": 4, "log_every": 2}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(load_config(None, settings), root / "run", progress=False)
    finally:
        torch.set_num_threads(threads)
    return Assets(root, checkpoint, model, image, root / "run")


# --- what the rows build -------------------------------------------------------------------------------


def _state(assets: Assets) -> dict[str, torch.Tensor]:
    return dict(torch.load(assets.checkpoint, weights_only=True))


def _pth(work: Path, state: object, name: str = "g.pth") -> Path:
    torch.save(state, work / name)
    return work / name


def _import(make: Callable[[Path, Assets], Path], *extra: str) -> Callable[[Path, Assets], list[str]]:
    """`vidtrans models import FILE --name x`, FILE made by `make(work, assets)`."""
    def setup(work: Path, assets: Assets) -> list[str]:
        return ["models", "import", str(make(work, assets)), "--name", "x", *extra]
    return setup


def _changed(key: str, value: torch.Tensor | float) -> Callable[[Path, Assets], Path]:
    """The official checkpoint with `key` replaced by a tensor, or one of its values set to a float."""
    def make(work: Path, assets: Assets) -> Path:
        state = _state(assets)
        if isinstance(value, float):
            state[key].view(-1)[1] = value
        else:
            state[key] = value
        return _pth(work, state)
    return make


def _truncated_checkpoint(work: Path, assets: Assets) -> Path:
    path = Path(shutil.copy(assets.checkpoint, work / "g.pth"))
    _truncate(path)
    return path


def _text_file(work: Path, assets: Assets) -> Path:
    (work / "g.pth").write_text("hello\n")
    return work / "g.pth"


class _RunsCode:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.marker}",))


def _malicious(writer: str) -> Callable[[Path, Assets], Path]:
    def make(work: Path, assets: Assets) -> Path:
        payload = {"model.1.weight": _RunsCode(work / "pwned")}
        if writer == "torch":
            return _pth(work, payload)
        (work / "g.pth").write_bytes(pickle.dumps(payload, protocol=4))
        return work / "g.pth"
    return make


def _model_copy(work: Path, assets: Assets) -> Path:
    return Path(shutil.copytree(assets.model.path, work / "model"))


def _convert(model: Path, work: Path, assets: Assets) -> list[str]:
    image = Path(shutil.copy(assets.image, work / "in.png"))
    return ["convert", str(image), "-o", str(work / "out.png"), "-m", str(model), "--backend", "torch", "--device", "cpu", "-q"]


def _model_json(change: Callable[[dict], None]) -> Callable[[Path, Assets], list[str]]:
    def setup(work: Path, assets: Assets) -> list[str]:
        model = _model_copy(work, assets)
        doc = json.loads((model / "model.json").read_text())
        change(doc)
        (model / "model.json").write_text(json.dumps(doc))
        return _convert(model, work, assets)
    return setup


def _not_json(work: Path, assets: Assets) -> list[str]:
    model = _model_copy(work, assets)
    (model / "model.json").write_text("{")
    return _convert(model, work, assets)


def _weights(change: Callable[[Path], None], *, record_hash: bool) -> Callable[[Path, Assets], list[str]]:
    """A model whose generator.safetensors `change` rewrote; with `record_hash`, model.json agrees with it."""
    def setup(work: Path, assets: Assets) -> list[str]:
        model = _model_copy(work, assets)
        change(model / "generator.safetensors")
        if record_hash:
            doc = json.loads((model / "model.json").read_text())
            doc["files"]["generator"]["sha256"] = hashlib.sha256((model / "generator.safetensors").read_bytes()
                                                                 ).hexdigest()
            (model / "model.json").write_text(json.dumps(doc))
        return _convert(model, work, assets)
    return setup


def _tiny_state(**values: float) -> dict[str, torch.Tensor]:
    state = {k: v.clone() for k, v in init_weights(build_generator(TINY)).state_dict().items()}
    for key, value in values.items():
        state[key.replace("_", ".")].fill_(value)
    return state


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:200])


def _fragile(work: Path, assets: Assets) -> list[str]:
    """Finite weights that overflow to NaN on saturated frames (as fp16 can): the output check must catch it."""
    model = _model_copy(work, assets)
    save_file(_tiny_state(model_1_weight=3e36), str(model / "generator.safetensors"))
    doc = json.loads((model / "model.json").read_text())
    doc["files"]["generator"]["sha256"] = hashlib.sha256((model / "generator.safetensors").read_bytes()).hexdigest()
    (model / "model.json").write_text(json.dumps(doc))
    black = work / "black.png"
    write_image(black, np.zeros((16, 16, 3), np.uint8))
    return ["convert", str(black), "-o", str(work / "out.png"), "-m", str(model), "--backend", "torch", "--device", "cpu", "-q"]


def _run_copy(work: Path, assets: Assets) -> Path:
    return Path(shutil.copytree(assets.run, work / "run"))


def _resume(change: Callable[[Path], None], *extra: str) -> Callable[[Path, Assets], list[str]]:
    def setup(work: Path, assets: Assets) -> list[str]:
        run = _run_copy(work, assets)
        change(run / "checkpoints")
        return ["train", "--resume", str(run), *extra]
    return setup


def _nan_latest(checkpoints: Path) -> None:
    state = load_checkpoint(checkpoints / "latest.pt")
    state["model"]["networks"]["F"]["model.1.bias"][0] = float("nan")
    save_checkpoint(checkpoints / "latest.pt", {k: v for k, v in state.items() if k != "format"})


def _config(text: str, suffix: str = ".yaml") -> Callable[[Path, Assets], list[str]]:
    def setup(work: Path, assets: Assets) -> list[str]:
        (work / f"config{suffix}").write_text(text)
        return ["train", "--config", str(work / f"config{suffix}"), "--runs-dir", str(work / "runs")]
    return setup


def _export_nan(work: Path, assets: Assets) -> list[str]:
    run = _run_copy(work, assets)
    _nan_latest(run / "checkpoints")
    return ["train", "export-model", str(run), "--name", "exported"]


# --- the table -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    setup: Callable[[Path, Assets], list[str]]
    code: int
    expect: tuple[str, ...]
    kept: tuple[str, ...] = ()  # for commands that succeed: files (relative to work) that must stay as they were


REFUSED = [
    # model files given to `models import`
    Case("import-nan-weights", _import(_changed("model.4.weight", float("nan"))), 1,
         ("g.pth: tensor model.4.weight holds 1 NaN or infinite value(s)",)),
    Case("import-inf-weights", _import(_changed("model.26.bias", float("inf"))), 1,
         ("g.pth: tensor model.26.bias holds 1 NaN or infinite value(s)",)),
    Case("import-1d-first-weight", _import(_changed("model.1.weight", torch.zeros(8))), 1,
         ("g.pth: model.1.weight has shape (8,), not that of a convolution weight",)),
    Case("import-ngf-0-with-arch", _import(_changed("model.1.weight", torch.zeros(0, 3, 7, 7)), "--arch",
                                           "resnet_9blocks"), 1, ("g.pth: model.1.weight has shape (0, 3, 7, 7)",)),
    Case("import-wrong-shape", _import(_changed("model.4.weight", torch.zeros(16, 8, 5, 5))), 1,
         ("weights don't match the architecture (wrong shape: model.4.weight (16, 8, 5, 5) vs (16, 8, 3, 3))",)),
    Case("import-one-input-channel", _import(_changed("model.1.weight", torch.zeros(8, 1, 7, 7))), 1,
         ("the generator takes 1 channel(s) and returns 3",)),
    Case("import-malicious-torch-save", _import(_malicious("torch")), 1,
         ("g.pth: refusing to load: unpickling this PyTorch checkpoint would run code (", "system")),
    Case("import-malicious-raw-pickle", _import(_malicious("pickle")), 1,
         ("g.pth: refusing to load: unpickling this PyTorch checkpoint would run code (", "system")),
    Case("import-truncated", _import(_truncated_checkpoint), 1, ("g.pth: not a readable PyTorch checkpoint",)),
    Case("import-text-file", _import(_text_file), 1, ("g.pth: not a readable PyTorch checkpoint",)),
    Case("import-bundled-name", lambda work, assets: [
        "models", "import", str(assets.checkpoint), "--name", "demo"], 2, ("'demo' is the name of a bundled model",)),
    # model directories used by `convert`
    Case("model-json-std-0", _model_json(lambda d: d["normalization"].update(std=[0, 0.5, 0.5])), 1,
         ("model.json: invalid model description: normalization.std must be positive",)),
    Case("model-json-ngf-0", _model_json(lambda d: d["generator"].update(ngf=0)), 1,
         ("model.json: invalid model description: generator: ngf must be an integer >= 1; got 0",)),
    Case("model-json-has-inverse-string", _model_json(lambda d: d.update(has_inverse="no")), 1,
         ("has_inverse must be true or false",)),
    Case("model-json-discriminator", _model_json(lambda d: d.update(generator={"type": "patch"})), 1,
         ("generator must be a resnet or unet generator",)),
    Case("model-json-huge-ngf", _model_json(lambda d: d["generator"].update(ngf=100_000)), 1,
         ("generator.safetensors: weights don't match the architecture (wrong shape: model.1.weight",)),
    Case("model-json-bad-sha256", _model_json(lambda d: d["files"]["generator"].update(sha256="abc")), 1,
         ("files.generator.sha256 must be 64 lowercase hex digits",)),
    Case("model-json-wrong-sha256", _model_json(lambda d: d["files"]["generator"].update(sha256="0" * 64)), 1,
         ("generator.safetensors: sha256 does not match model.json",)),
    Case("model-json-not-json", _not_json, 1, ("model.json: not valid JSON",)),
    Case("safetensors-truncated", _weights(_truncate, record_hash=False), 1,
         ("generator.safetensors: sha256 does not match model.json",)),
    Case("safetensors-truncated-hash-recorded", _weights(_truncate, record_hash=True), 1,
         ("generator.safetensors: not a readable safetensors file",)),
    Case("safetensors-nan", _weights(lambda p: save_file(_tiny_state(model_4_bias=float("nan")), str(p)),
                                     record_hash=True), 1,
         ("generator.safetensors: tensor model.4.bias holds 8 NaN or infinite value(s)",)),
    Case("non-finite-output", _fragile, 1,
         ("black.png: black.png: the model's output holds NaN or infinite values",)),
    # training runs
    Case("resume-nothing-usable", _resume(lambda c: (_nan_latest(c), _truncate(c / "epoch_0001.pt"))), 1,
         ("checkpoints: no checkpoint can be resumed from (latest.pt (F): tensor model.1.bias holds 1 NaN",
          "epoch_0001.pt: not a readable checkpoint", "pass --restart")),
    Case("resume-missing-folder", lambda work, assets: ["train", "--resume", str(work / "nowhere")], 1,
         ("nowhere: no such run folder",)),
    Case("restart-without-resume", lambda work, assets: [
        "train", str(assets.root / "a"), str(assets.root / "b"), "--name", "n", "--runs-dir", str(work / "runs"),
        "--restart"], 2, ("--restart starts an existing run again: give its folder with --resume",)),
    Case("train-bundled-name", lambda work, assets: [
        "train", str(assets.root / "a"), str(assets.root / "b"), "--name", "demo", "--runs-dir",
        str(work / "runs")], 2, ("'demo' is the name of a bundled model",)),
    Case("export-nan-checkpoint", _export_nan, 1, ("latest.pt (F): tensor model.1.bias holds 1 NaN",)),
    Case("config-bad-yaml", _config("name: x\nlr: [\n"), 1, ("config.yaml: not valid YAML",)),
    Case("config-unknown-setting", _config("name: x\nbogus: 1\n"), 2, ("config.yaml: unknown setting 'bogus'",)),
    Case("config-wrong-type", _config("name: x\nngf: many\n"), 2, ("config.yaml: ngf must be an integer",)),
    Case("config-not-a-mapping", _config("- a\n"), 1, ("expected a mapping of settings at the top level",)),
    Case("config-bad-toml", _config("name = \n", ".toml"), 1, ("config.toml: not valid TOML",)),
    Case("config-missing", lambda work, assets: ["train", "--config", str(work / "none.yaml")], 1,
         ("none.yaml: no such config file",)),
    # usage errors
    Case("usage-missing-model", lambda work, assets: ["convert", str(assets.image)], 2,
         ("missing option '--model' / '-m' (see 'vidtrans convert --help')",)),
    Case("usage-unknown-option", lambda work, assets: ["convert", str(assets.image), "-m", "demo", "--fast"], 2,
         ("no such option: --fast",)),
    Case("usage-bad-value", lambda work, assets: ["convert", str(assets.image), "-m", "demo", "-b", "lots"], 2,
         ("invalid value for '--batch-size' / '-b'",)),
    Case("usage-unknown-command", lambda work, assets: ["models", "lst"], 2, ("no such command 'lst'",)),
]

RECOVERED = [
    Case("resume-without-latest", _resume(lambda c: (c / "latest.pt").unlink(), "--max-steps", "5"), 0,
         ("skipping", "latest.pt: missing", "resuming at step 3, epoch 1 from epoch_0001.pt"),
         kept=("run/checkpoints/epoch_0001.pt",)),
    Case("resume-damaged-latest", _resume(lambda c: _truncate(c / "latest.pt"), "--max-steps", "5"), 0,
         ("skipping", "latest.pt: not a readable checkpoint", "resuming at step 3, epoch 1 from epoch_0001.pt"),
         kept=("run/checkpoints/epoch_0001.pt",)),
    Case("resume-non-finite-latest", _resume(_nan_latest, "--max-steps", "5"), 0,
         ("latest.pt (F): tensor model.1.bias holds 1 NaN", "resuming at step 3, epoch 1 from epoch_0001.pt"),
         kept=("run/checkpoints/epoch_0001.pt",)),
]


def _tree(root: Path) -> dict[str, str]:
    """Every file under `root` by relative path, with the sha256 of its bytes."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _vidtrans(work: Path, args: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VIDTRANS_HOME": str(work / "home"), "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "vidtrans", *args], cwd=work, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.parametrize("case", REFUSED, ids=[c.name for c in REFUSED])
def test_refused_with_one_line_and_nothing_changed(case: Case, assets: Assets, tmp_path: Path) -> None:
    args = case.setup(tmp_path, assets)
    before = _tree(tmp_path)
    done = _vidtrans(tmp_path, args)
    lines = done.stderr.splitlines()
    assert done.returncode == case.code, done.stderr
    assert len(lines) == 1 and lines[0].startswith("vidtrans: error: "), done.stderr
    for text in case.expect:
        assert text in lines[0]
    assert _tree(tmp_path) == before  # nothing written, changed or left half-done
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("case", RECOVERED, ids=[c.name for c in RECOVERED])
def test_recovered_with_a_warning_and_kept_files_untouched(case: Case, assets: Assets, tmp_path: Path) -> None:
    args = case.setup(tmp_path, assets)
    kept = {name: (tmp_path / name).read_bytes() for name in case.kept}
    inode = {name: (tmp_path / name).stat().st_ino for name in case.kept}
    done = _vidtrans(tmp_path, args)
    assert done.returncode == case.code, done.stderr
    assert "Traceback" not in done.stderr
    for text in case.expect:
        assert text in done.stderr
    for name, data in kept.items():
        assert (tmp_path / name).read_bytes() == data and (tmp_path / name).stat().st_ino == inode[name]
    assert not [p for p in tmp_path.rglob("*") if ".partial-" in p.name]
