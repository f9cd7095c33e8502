"""Hostile cases for model files, training runs and usage errors, run through the fault harness
(`faults.harness`), which checks the exit code, the one line, and that nothing was lost or half-written.

A refused command also prints no warning and writes nothing. A resumed run may replace only what resuming
rewrites (latest.pt, config.yaml, the exported model): the kept epoch file stays the same file, byte for byte.

Every case starts with the module's assets copied into its `in` folder: an official-layout checkpoint, a tiny
model directory, an image, two domain folders and a finished training run (see `assets`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pickle
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from faults.harness import Check, FaultCase, Result, Workspace, nothing_written, run_case, says, warns
from safetensors.torch import save_file

from vidtrans.images import write_image
from vidtrans.modeldir import ModelInfo, save_model
from vidtrans.networks import ResnetGeneratorConfig, build_generator, init_weights
from vidtrans.training.checkpoint import load_checkpoint, save_checkpoint
from vidtrans.training.config import load_config
from vidtrans.training.loop import train

Setup = Callable[[Workspace], None]
TINY = ResnetGeneratorConfig(ngf=4, n_blocks=2)
CHECKPOINT = "latest_net_G_A.pth"


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder made once for all cases: `latest_net_G_A.pth` (an official-layout ResNet state dict, ngf 8, 9
    blocks), `tiny/` (a model directory with the TINY generator), `grey.png` (16x16), `a/` and `b/` (six 40x40
    images each) and `run/` (a finished training run: epoch_0001.pt at step 3, latest.pt at step 4)."""
    root = tmp_path_factory.mktemp("assets")
    torch.manual_seed(0)
    torch.save(init_weights(build_generator(ResnetGeneratorConfig(ngf=8, n_blocks=9))).state_dict(), root / CHECKPOINT)
    save_model(root / "tiny", ModelInfo(name="tiny", generator=TINY), init_weights(build_generator(TINY)))
    write_image(root / "grey.png", np.full((16, 16, 3), 128, np.uint8))
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
    return root


# --- commands -------------------------------------------------------------------------------------------

IMPORT = ("models", "import", "{in}/g.pth", "--name", "x")
ON_CPU = ("--backend", "torch", "--device", "cpu", "-q")
CONVERT = ("convert", "{in}/grey.png", "-o", "{out}/out.png", "-m", "{in}/tiny", *ON_CPU)
RESUME = ("train", "--resume", "{in}/run")
TRAIN = ("train", "{in}/a", "{in}/b", "--runs-dir", "{out}/runs")


def train_config(suffix: str = ".yaml") -> tuple[str, ...]:
    return ("train", "--config", f"{{in}}/config{suffix}", "--runs-dir", "{out}/runs")


# --- setups: what each case changes in its copy of the assets --------------------------------------------


def _write_checkpoint(workspace: Workspace, state: object) -> None:
    torch.save(state, workspace.inputs / "g.pth")


def changed(key: str, value: torch.Tensor | float) -> Setup:
    """`g.pth`: the official checkpoint with `key` replaced by a tensor, or one of its values set to a float."""
    def setup(workspace: Workspace) -> None:
        state = dict(torch.load(workspace.inputs / CHECKPOINT, weights_only=True))
        if isinstance(value, float):
            state[key].view(-1)[1] = value
        else:
            state[key] = value
        _write_checkpoint(workspace, state)
    return setup


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:200])


def truncated_checkpoint(workspace: Workspace) -> None:
    _truncate(Path(shutil.copy(workspace.inputs / CHECKPOINT, workspace.inputs / "g.pth")))


def text_file(workspace: Workspace) -> None:
    (workspace.inputs / "g.pth").write_text("hello\n")


class _RunsCode:
    """Unpickling it runs `touch MARKER`."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.marker}",))


def malicious(writer: str) -> Setup:
    """`g.pth`: a pickle (written by torch.save or plain pickle) whose loading would create `in/pwned`."""
    def setup(workspace: Workspace) -> None:
        payload = {"model.1.weight": _RunsCode(workspace.inputs / "pwned")}
        if writer == "torch":
            _write_checkpoint(workspace, payload)
        else:
            (workspace.inputs / "g.pth").write_bytes(pickle.dumps(payload, protocol=4))
    return setup


def model_json(change: Callable[[dict], None]) -> Setup:
    """`tiny/model.json` changed by `change`."""
    def setup(workspace: Workspace) -> None:
        path = workspace.inputs / "tiny" / "model.json"
        doc = json.loads(path.read_text())
        change(doc)
        path.write_text(json.dumps(doc))
    return setup


def not_json(workspace: Workspace) -> None:
    (workspace.inputs / "tiny" / "model.json").write_text("{")


def _record_hash(workspace: Workspace) -> None:
    """Make `tiny/model.json` agree with the generator's weights as they are now."""
    model = workspace.inputs / "tiny"
    digest = hashlib.sha256((model / "generator.safetensors").read_bytes()).hexdigest()
    model_json(lambda doc: doc["files"]["generator"].update(sha256=digest))(workspace)


def weights(change: Callable[[Path], None], *, record_hash: bool) -> Setup:
    """`tiny/generator.safetensors` rewritten by `change`; with `record_hash`, model.json agrees with it."""
    def setup(workspace: Workspace) -> None:
        change(workspace.inputs / "tiny" / "generator.safetensors")
        if record_hash:
            _record_hash(workspace)
    return setup


def tiny_state(**values: float) -> dict[str, torch.Tensor]:
    """TINY's weights with some tensors filled with one value (`model_4_bias=...` for `model.4.bias`)."""
    state = {k: v.clone() for k, v in init_weights(build_generator(TINY)).state_dict().items()}
    for key, value in values.items():
        state[key.replace("_", ".")].fill_(value)
    return state


def fragile(workspace: Workspace) -> None:
    """Finite weights that overflow to NaN on a black frame (as fp16 can): the output check must catch it."""
    weights(lambda p: save_file(tiny_state(model_1_weight=3e36), str(p)), record_hash=True)(workspace)
    write_image(workspace.inputs / "black.png", np.zeros((16, 16, 3), np.uint8))


def checkpoints(change: Callable[[Path], None]) -> Setup:
    """The run's checkpoints folder changed by `change`."""
    return lambda workspace: change(workspace.inputs / "run" / "checkpoints")


def nan_latest(folder: Path) -> None:
    """One NaN in latest.pt's network F, saved as a complete checkpoint."""
    state = load_checkpoint(folder / "latest.pt")
    state["model"]["networks"]["F"]["model.1.bias"][0] = float("nan")
    save_checkpoint(folder / "latest.pt", {k: v for k, v in state.items() if k != "format"})


def config(text: str, suffix: str = ".yaml") -> Setup:
    return lambda workspace: (workspace.inputs / f"config{suffix}").write_text(text)


def absent(path: str) -> Check:
    """No file at `path` (paths filled in): a malicious pickle did not run."""
    def check(workspace: Workspace, result: Result) -> None:
        assert not Path(workspace.fill(path)).exists(), f"{path} exists: code ran"
    return check


# --- the table ------------------------------------------------------------------------------------------

REFUSED = [
    # model files given to `models import`
    FaultCase("import-nan-weights", IMPORT, 1, "{in}/g.pth: tensor model.4.weight holds 1 NaN or infinite value(s)",
              setup=changed("model.4.weight", float("nan"))),
    FaultCase("import-inf-weights", IMPORT, 1, "{in}/g.pth: tensor model.26.bias holds 1 NaN or infinite value(s)",
              setup=changed("model.26.bias", float("inf"))),
    FaultCase("import-1d-first-weight", IMPORT, 1,
              "{in}/g.pth: model.1.weight has shape (8,), not that of a convolution weight",
              setup=changed("model.1.weight", torch.zeros(8))),
    FaultCase("import-ngf-0-with-arch", (*IMPORT, "--arch", "resnet_9blocks"), 1,
              "{in}/g.pth: model.1.weight has shape (0, 3, 7, 7)", setup=changed("model.1.weight", torch.zeros(0, 3, 7, 7))),
    FaultCase("import-wrong-shape", IMPORT, 1,
              "weights don't match the architecture (wrong shape: model.4.weight (16, 8, 5, 5) vs (16, 8, 3, 3))",
              setup=changed("model.4.weight", torch.zeros(16, 8, 5, 5))),
    FaultCase("import-one-input-channel", IMPORT, 1, "the generator takes 1 channel(s) and returns 3",
              setup=changed("model.1.weight", torch.zeros(8, 1, 7, 7))),
    FaultCase("import-malicious-torch-save", IMPORT, 1,
              "{in}/g.pth: refusing to load: unpickling this PyTorch checkpoint would run code (",
              setup=malicious("torch"), checks=(says("system"), absent("{in}/pwned"))),
    FaultCase("import-malicious-raw-pickle", IMPORT, 1,
              "{in}/g.pth: refusing to load: unpickling this PyTorch checkpoint would run code (",
              setup=malicious("pickle"), checks=(says("system"), absent("{in}/pwned"))),
    FaultCase("import-truncated", IMPORT, 1, "{in}/g.pth: not a readable PyTorch checkpoint", setup=truncated_checkpoint),
    FaultCase("import-text-file", IMPORT, 1, "{in}/g.pth: not a readable PyTorch checkpoint", setup=text_file),
    FaultCase("import-bundled-name", ("models", "import", f"{{in}}/{CHECKPOINT}", "--name", "demo"), 2,
              "'demo' is the name of a bundled model"),
    # model directories used by `convert`
    FaultCase("model-json-std-0", CONVERT, 1,
              "{in}/tiny/model.json: invalid model description: normalization.std must be positive",
              setup=model_json(lambda d: d["normalization"].update(std=[0, 0.5, 0.5]))),
    FaultCase("model-json-ngf-0", CONVERT, 1,
              "{in}/tiny/model.json: invalid model description: generator: ngf must be an integer >= 1; got 0",
              setup=model_json(lambda d: d["generator"].update(ngf=0))),
    FaultCase("model-json-has-inverse-string", CONVERT, 1, "has_inverse must be true or false",
              setup=model_json(lambda d: d.update(has_inverse="no"))),
    FaultCase("model-json-discriminator", CONVERT, 1, "generator must be a resnet or unet generator",
              setup=model_json(lambda d: d.update(generator={"type": "patch"}))),
    FaultCase("model-json-huge-ngf", CONVERT, 1,
              "{in}/tiny/generator.safetensors: weights don't match the architecture (wrong shape: model.1.weight",
              setup=model_json(lambda d: d["generator"].update(ngf=100_000))),
    FaultCase("model-json-bad-sha256", CONVERT, 1, "files.generator.sha256 must be 64 lowercase hex digits",
              setup=model_json(lambda d: d["files"]["generator"].update(sha256="abc"))),
    FaultCase("model-json-wrong-sha256", CONVERT, 1, "{in}/tiny/generator.safetensors: sha256 does not match model.json",
              setup=model_json(lambda d: d["files"]["generator"].update(sha256="0" * 64))),
    FaultCase("model-json-not-json", CONVERT, 1, "{in}/tiny/model.json: not valid JSON", setup=not_json),
    FaultCase("safetensors-truncated", CONVERT, 1, "{in}/tiny/generator.safetensors: sha256 does not match model.json",
              setup=weights(_truncate, record_hash=False)),
    FaultCase("safetensors-truncated-hash-recorded", CONVERT, 1,
              "{in}/tiny/generator.safetensors: not a readable safetensors file",
              setup=weights(_truncate, record_hash=True)),
    FaultCase("safetensors-nan", CONVERT, 1,
              "{in}/tiny/generator.safetensors: tensor model.4.bias holds 8 NaN or infinite value(s)",
              setup=weights(lambda p: save_file(tiny_state(model_4_bias=float("nan")), str(p)), record_hash=True)),
    FaultCase("non-finite-output", ("convert", "{in}/black.png", "-o", "{out}/out.png", "-m", "{in}/tiny", *ON_CPU),
              1, "{in}/black.png: black.png: the model's output holds NaN or infinite values", setup=fragile),
    # training runs
    FaultCase("resume-nothing-usable", RESUME, 1,
              "{in}/run/checkpoints: no checkpoint can be resumed from (latest.pt (F): tensor model.1.bias holds 1 NaN",
              setup=checkpoints(lambda c: (nan_latest(c), _truncate(c / "epoch_0001.pt"))),
              checks=(says("epoch_0001.pt: not a readable checkpoint", "pass --restart"),)),
    FaultCase("resume-missing-folder", ("train", "--resume", "{in}/nowhere"), 1, "{in}/nowhere: no such run folder"),
    FaultCase("restart-without-resume", (*TRAIN, "--name", "n", "--restart"), 2,
              "--restart starts an existing run again: give its folder with --resume"),
    FaultCase("train-bundled-name", (*TRAIN, "--name", "demo"), 2, "'demo' is the name of a bundled model"),
    FaultCase("export-nan-checkpoint", ("train", "export-model", "{in}/run", "--name", "exported"), 1,
              "latest.pt (F): tensor model.1.bias holds 1 NaN", setup=checkpoints(nan_latest)),
    FaultCase("config-bad-yaml", train_config(), 1, "{in}/config.yaml: not valid YAML", setup=config("name: x\nlr: [\n")),
    FaultCase("config-unknown-setting", train_config(), 2, "{in}/config.yaml: unknown setting 'bogus'",
              setup=config("name: x\nbogus: 1\n")),
    FaultCase("config-wrong-type", train_config(), 2, "{in}/config.yaml: ngf must be an integer",
              setup=config("name: x\nngf: many\n")),
    FaultCase("config-not-a-mapping", train_config(), 1, "expected a mapping of settings at the top level",
              setup=config("- a\n")),
    FaultCase("config-bad-toml", train_config(".toml"), 1, "{in}/config.toml: not valid TOML",
              setup=config("name = \n", ".toml")),
    FaultCase("config-missing", ("train", "--config", "{in}/none.yaml"), 1, "{in}/none.yaml: no such config file"),
    # usage errors
    FaultCase("usage-missing-model", ("convert", "{in}/grey.png"), 2,
              "missing option '--model' / '-m' (see 'vidtrans convert --help')"),
    FaultCase("usage-unknown-option", ("convert", "{in}/grey.png", "-m", "demo", "--fast"), 2, "no such option: --fast"),
    FaultCase("usage-bad-value", ("convert", "{in}/grey.png", "-m", "demo", "-b", "lots"), 2,
              "invalid value for '--batch-size' / '-b'"),
    FaultCase("usage-unknown-command", ("models", "lst"), 2, "no such command 'lst'"),
]

REFUSAL = (warns(), nothing_written)
"""What every refused case checks besides its own checks: the error is the only line, and nothing was written."""

RESUMED = ("{in}/run/checkpoints/latest.pt", "{in}/run/config.yaml", "{in}/run/model")
"""What a resumed run rewrites; everything else in the run, epoch_0001.pt above all, stays the same file."""

RECOVERED = [
    FaultCase("resume-without-latest", (*RESUME, "--max-steps", "5"), 0, line="", may_change=RESUMED,
              setup=checkpoints(lambda c: (c / "latest.pt").unlink()),
              checks=(warns("skipping {in}/run/checkpoints/latest.pt: missing"),
                      says("resuming at step 3, epoch 1 from epoch_0001.pt"))),
    FaultCase("resume-damaged-latest", (*RESUME, "--max-steps", "5"), 0, line="", may_change=RESUMED,
              setup=checkpoints(lambda c: _truncate(c / "latest.pt")),
              checks=(warns("skipping {in}/run/checkpoints/latest.pt: not a readable checkpoint"),
                      says("resuming at step 3, epoch 1 from epoch_0001.pt"))),
    FaultCase("resume-non-finite-latest", (*RESUME, "--max-steps", "5"), 0, line="", may_change=RESUMED,
              setup=checkpoints(nan_latest),
              checks=(warns("skipping {in}/run/checkpoints/latest.pt (F): tensor model.1.bias holds 1 NaN"),
                      says("resuming at step 3, epoch 1 from epoch_0001.pt"))),
]


def with_assets(case: FaultCase, assets: Path, *checks: Check) -> FaultCase:
    """`case` set up on a copy of the assets in its `in` folder, with `checks` added to its own."""
    def setup(workspace: Workspace) -> None:
        shutil.copytree(assets, workspace.inputs, dirs_exist_ok=True)
        case.setup(workspace)
    return dataclasses.replace(case, setup=setup, checks=(*case.checks, *checks))


@pytest.mark.parametrize("case", REFUSED, ids=str)
def test_refused_with_one_line_and_nothing_written(case: FaultCase, assets: Path, workspace: Workspace) -> None:
    run_case(with_assets(case, assets, *REFUSAL), workspace)


@pytest.mark.parametrize("case", RECOVERED, ids=str)
def test_recovered_with_a_warning_and_kept_files_untouched(case: FaultCase, assets: Path,
                                                           workspace: Workspace) -> None:
    run_case(with_assets(case, assets), workspace)
