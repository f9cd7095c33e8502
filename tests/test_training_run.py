"""Real training runs on tiny networks and images: models, logs, pix2pix, exact resume (also after SIGKILL), DDP."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import av

import numpy as np
import pytest
import torch
from colour_classes import COOL, GAME, REAL, WARM, scene, write_gta5

from vidtrans.cli import main
from vidtrans.images import write_image
from vidtrans.registry import resolve_model
from vidtrans.errors import InputError, UsageError
from vidtrans.training.checkpoint import load_checkpoint, save_checkpoint
from vidtrans.training.export_model import export_run
from vidtrans.training.config import load_config
from vidtrans.training.loop import Runtime, build_model, train
from vidtrans.training.rundir import load_run_config

TINY = ["--ngf", "8", "--n-blocks", "2", "--ndf", "8", "--load-size", "36", "--crop-size", "32",
        "--num-workers", "0", "--device", "cpu"]
TINY_SETTINGS = {"ngf": 8, "n_blocks": 2, "ndf": 8, "load_size": 36, "crop_size": 32, "num_workers": 0,
                 "device": "cpu", "register": False}


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny networks: one thread is fastest


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("VIDTRANS_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _folder(folder: Path, count: int, *, seed: int, size: tuple[int, int] = (48, 40), names: str = "{:03d}.png",
            ) -> Path:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        base = rng.integers(0, 256, (1, 1, 3))
        noise = rng.integers(-40, 40, (size[1], size[0], 3))
        write_image(folder / names.format(i), np.clip(base + noise, 0, 255).astype(np.uint8))
    return folder


def _domains(tmp_path: Path) -> tuple[Path, Path]:
    return _folder(tmp_path / "game", 6, seed=1), _folder(tmp_path / "real", 5, seed=2)


def _labelled_domains(tmp_path: Path) -> tuple[Path, Path]:
    """Colour scenes (`colour_classes`) in GTA5 layouts: 6 game ones labelled, 5 real ones labelled with their
    warm rectangle ignored (255, as a hood)."""
    rng = np.random.default_rng(3)
    game = write_gta5(tmp_path / "game", [scene(rng, WARM, GAME) for _ in range(6)])
    real = [scene(rng, COOL, REAL) for _ in range(5)]
    return game, write_gta5(tmp_path / "real", [(image, np.where(labels == WARM, 255, labels).astype(np.uint8))
                                                 for image, labels in real])


def _semantic(request: pytest.FixtureRequest) -> dict[str, object]:
    """The settings of the semantic-consistency loss with the colour segmenter."""
    return {"semantic_loss": 2.0, "semantic_segmenter": str(request.getfixturevalue("colour_segmenter"))}


def _weights(checkpoint: Path) -> dict[str, dict[str, torch.Tensor]]:
    state = load_checkpoint(checkpoint)
    return {"networks": state["model"]["networks"], "optimizers": state["model"]["optimizers"]}


def _assert_identical(a: dict, b: dict, where: str = "") -> None:
    assert a.keys() == b.keys(), where
    for key in a:
        if isinstance(a[key], dict):
            _assert_identical(a[key], b[key], f"{where}/{key}")
        elif isinstance(a[key], torch.Tensor):
            assert torch.equal(a[key], b[key]), f"{where}/{key} differs"
        else:
            assert a[key] == b[key], f"{where}/{key} differs"


def test_cyclegan_run_makes_a_model_that_translates(tmp_path: Path, make_clip: Callable[..., Path],
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    game, real = _domains(tmp_path)
    runs = tmp_path / "runs"
    args = ["train", str(game), str(real), "--name", "tiny", "--runs-dir", str(runs), *TINY, "--max-steps", "6",
            "--log-every", "2", "--sample-every", "3", "--source-domain", "game", "--target-domain", "real"]
    assert main(args) == 0
    assert "model 'tiny'" in capsys.readouterr().out

    model = resolve_model("tiny")
    assert (model.info.source_domain, model.info.target_domain, model.info.has_inverse) == ("game", "real", True)
    assert model.info.training_size == (36, 36)
    config = load_run_config(runs / "tiny", {})
    torch.manual_seed(config.seed)
    initial = build_model(config, Runtime(device=torch.device("cpu")))
    frame = torch.rand(1, 3, 32, 44) * 2 - 1
    for inverse, role in ((False, "G"), (True, "F")):
        generator = model.load_generator(inverse=inverse)
        with torch.no_grad():
            out = generator(frame)
        assert out.shape == frame.shape and torch.isfinite(out).all() and out.abs().max() <= 1
        changed = [not torch.equal(p, q) for p, q in zip(generator.state_dict().values(),
                                                        initial.networks[role].state_dict().values())]
        assert sum(changed) > len(changed) // 2, f"{role}: most parameters should have moved"

    events = EventAccumulator(str(runs / "tiny" / "tensorboard"))
    events.Reload()
    scalars = events.Tags()["scalars"]
    for tag in ("loss/G", "loss/F", "loss/cycle_A", "loss/cycle_B", "loss/idt_A", "loss/idt_B", "loss/D_A",
                "loss/D_B", "lr", "images_per_s"):
        assert tag in scalars, tag
    for tag in (t for t in scalars if t.startswith("loss/")):
        points = events.Scalars(tag)
        assert [p.step for p in points] == [2, 4, 6] and all(math.isfinite(p.value) for p in points), tag
    assert events.Scalars("lr")[0].value == pytest.approx(2e-4)
    assert "visuals" in events.Tags()["images"]
    assert sorted(p.name for p in (runs / "tiny" / "samples").iterdir()) == ["step_0000003.png", "step_0000006.png"]

    assert main(args) == 1  # the run exists: --resume or --overwrite
    assert "already exists" in capsys.readouterr().err
    assert main(["train", "export-model", str(runs / "tiny"), "--output", str(tmp_path / "copy")]) == 0
    assert (tmp_path / "copy" / "generator_inverse.safetensors").is_file()

    # the trained model converts a clip without any training flag repeated
    clip = make_clip("clip.mp4", size=(48, 32), frames=4)
    converted = tmp_path / "clip_real.mp4"
    assert main(["convert", str(clip), "--model", "tiny", "-o", str(converted), "--device", "cpu", "-q"]) == 0, \
        capsys.readouterr().err
    with av.open(str(converted)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 4


def test_video_domains_are_sampled_and_cached(tmp_path: Path, make_clip: Callable[..., Path],
                                              capsys: pytest.CaptureFixture[str]) -> None:
    game = make_clip("game.mp4", size=(48, 40), frames=12)
    (tmp_path / "real").mkdir()
    for i in range(2):
        make_clip(f"real/drive{i}.mkv", size=(40, 40), frames=5)
    args = ["train", str(game), str(tmp_path / "real"), "--name", "vid", "--runs-dir", str(tmp_path / "runs"),
            *TINY, "--frame-step", "3", "--max-steps", "2", "--no-register"]
    assert main(args) == 0
    assert "A: 4 images" in capsys.readouterr().err  # frames 0, 3, 6, 9
    frames = tmp_path / "runs" / "vid" / "frames"
    assert sorted(p.name for p in frames.glob("A/*/*.png")) == ["0000000.png", "0000003.png", "0000006.png",
                                                                 "0000009.png"]
    assert len(list(frames.glob("B/*/*.png"))) == 4  # frames 0 and 3 of each clip
    cached = {p: p.stat().st_mtime_ns for p in frames.glob("*/*/*.png")}
    assert main(["train", "--resume", str(tmp_path / "runs" / "vid"), "--max-steps", "3"]) == 0
    assert {p: p.stat().st_mtime_ns for p in frames.glob("*/*/*.png")} == cached  # extracted once


def test_pix2pix_trains_on_pairs_and_refuses_unpaired(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inputs = _folder(tmp_path / "labels", 3, seed=3, size=(64, 64))
    targets = _folder(tmp_path / "photos", 3, seed=4, size=(64, 64), names="{:03d}.jpg")
    common = ["--mode", "pix2pix", "--netG", "unet_128", "--ngf", "8", "--ndf", "8", "--load-size", "136",
              "--crop-size", "128", "--num-workers", "0", "--device", "cpu", "--runs-dir", str(tmp_path / "runs")]
    assert main(["train", str(inputs), str(targets), "--name", "p2p", *common, "--max-steps", "3"]) == 0
    model = resolve_model("p2p")
    assert not model.info.has_inverse and model.info.generator.type == "unet"
    with torch.no_grad():
        out = model.load_generator()(torch.zeros(1, 3, 128, 128))
    assert out.shape == (1, 3, 128, 128) and torch.isfinite(out).all()
    state = load_checkpoint(tmp_path / "runs" / "p2p" / "checkpoints" / "latest.pt")
    assert state["step"] == 3 and set(state["model"]["networks"]) == {"G", "D"}
    capsys.readouterr()

    other = _folder(tmp_path / "other", 4, seed=5, size=(64, 64), names="x{:03d}.png")
    assert main(["train", str(inputs), str(other), "--name", "nope", *common]) == 2
    error = capsys.readouterr().err
    assert "pix2pix needs paired domains" in error and "has 3 images" in error and "0 names match" in error
    assert not (tmp_path / "runs" / "nope").exists()


@pytest.mark.parametrize("semantic", [False, True], ids=["plain", "semantic-loss"])
def test_resume_is_bit_identical_with_loader_workers(tmp_path: Path, semantic: bool,
                                                     request: pytest.FixtureRequest) -> None:
    game, real = _labelled_domains(tmp_path) if semantic else _domains(tmp_path)
    settings = {**TINY_SETTINGS, "domain_a": str(game), "domain_b": str(real), "batch_size": 2, "pool_size": 3,
                "epochs": 2, "epochs_decay": 2, "log_every": 4, **(_semantic(request) if semantic else {})}
    train(load_config(None, {**settings, "name": "whole"}), tmp_path / "whole", progress=False)
    train(load_config(None, {**settings, "name": "part", "max_steps": 4}), tmp_path / "part", progress=False)
    assert load_checkpoint(tmp_path / "part" / "checkpoints" / "latest.pt")["step"] == 4
    resumed = load_run_config(tmp_path / "part", {"max_steps": 100, "num_workers": 2})
    result = train(resumed, tmp_path / "part", resume=True, progress=False)
    assert (result.step, result.epoch) == (12, 4)  # 6 images, batch 2: 3 steps per epoch, 4 epochs
    _assert_identical(_weights(tmp_path / "whole" / "checkpoints" / "latest.pt"),
                      _weights(tmp_path / "part" / "checkpoints" / "latest.pt"))
    assert (tmp_path / "whole" / "checkpoints" / "epoch_0004.pt").is_file()
    assert {"sem_A", "sem_B"} <= set(result.losses) if semantic else not {"sem_A", "sem_B"} & set(result.losses)


def test_semantic_loss_is_recorded_and_a_resumed_run_needs_the_same_segmenter(
        tmp_path: Path, colour_segmenter: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from safetensors.torch import load_file, save_file
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from vidtrans.fsutil import sha256_file

    game, real = _labelled_domains(tmp_path)
    run = tmp_path / "runs" / "sem"
    args = ["train", str(game), str(real), "--name", "sem", "--runs-dir", str(tmp_path / "runs"), *TINY,
            "--semantic-loss", "2", "--semantic-segmenter", str(colour_segmenter), "--log-every", "2"]
    assert main([*args, "--max-steps", "2"]) == 0
    assert "sem_A" in capsys.readouterr().err
    digests = {name: sha256_file(colour_segmenter / name) for name in ("segmenter.safetensors", "segmenter.json")}
    record = {"path": str(colour_segmenter), "sha256": digests}
    assert load_checkpoint(run / "checkpoints" / "latest.pt")["semantic_segmenter"] == record
    model = resolve_model("sem")
    assert model.info.provenance["semantic_segmenter"] == record
    assert model.info.provenance["settings"]["semantic_loss"] == 2.0
    assert f"weight 2.0, with the frozen source-domain segmenter `{colour_segmenter}`" in \
        (model.path / "README.md").read_text()
    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    assert [p.step for p in events.Scalars("loss/sem_A")] == [2] and [p.step for p in events.Scalars("loss/sem_B")] == [2]

    # another segmenter (retrained: other weights, a valid directory) is refused; the same one moved is not
    other = tmp_path / "other"
    shutil.copytree(colour_segmenter, other)
    weights = load_file(other / "segmenter.safetensors")
    weights["head.bias"] = weights["head.bias"] + 0.01
    save_file(weights, other / "segmenter.safetensors")
    sidecar = json.loads((other / "segmenter.json").read_text())
    sidecar["torch"]["sha256"] = sha256_file(other / "segmenter.safetensors")
    (other / "segmenter.json").write_text(json.dumps(sidecar))
    assert main(["train", "--resume", str(run), "--max-steps", "3", "--semantic-segmenter", str(other)]) == 1
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error == (f"vidtrans: error: {other}: segmenter.json, segmenter.safetensors differs from the segmenter "
                     f"{run / 'checkpoints' / 'latest.pt'} was trained with ({colour_segmenter}); resume with that "
                     "segmenter, or start a new run")
    assert load_checkpoint(run / "checkpoints" / "latest.pt")["step"] == 2
    moved = shutil.copytree(colour_segmenter, tmp_path / "moved")
    assert main(["train", "--resume", str(run), "--max-steps", "3", "--semantic-segmenter", str(moved)]) == 0
    assert load_checkpoint(run / "checkpoints" / "latest.pt")["semantic_segmenter"]["path"] == str(moved)


def test_pix2pix_resume_restores_dropout_randomness(tmp_path: Path) -> None:
    inputs = _folder(tmp_path / "in", 2, seed=3, size=(32, 32))
    targets = _folder(tmp_path / "out", 2, seed=4, size=(32, 32))
    settings = {**TINY_SETTINGS, "mode": "pix2pix", "domain_a": str(inputs), "domain_b": str(targets),
                "net_g": "resnet_6blocks", "dropout": True, "gan_mode": "wgangp", "epochs": 2, "epochs_decay": 1}
    train(load_config(None, {**settings, "name": "whole"}), tmp_path / "whole", progress=False)
    train(load_config(None, {**settings, "name": "part", "max_steps": 3}), tmp_path / "part", progress=False)
    train(load_run_config(tmp_path / "part", {"max_steps": 6}), tmp_path / "part", resume=True, progress=False)
    _assert_identical(_weights(tmp_path / "whole" / "checkpoints" / "latest.pt"),
                      _weights(tmp_path / "part" / "checkpoints" / "latest.pt"))


def test_resume_without_latest_continues_from_the_newest_usable_epoch_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """latest.pt gone and epoch_0002.pt damaged: the run resumes from epoch_0001.pt, never from step 0."""
    game, real = _domains(tmp_path)
    settings = {**TINY_SETTINGS, "domain_a": str(game), "domain_b": str(real), "batch_size": 2, "pool_size": 3,
                "epochs": 2, "epochs_decay": 1, "save_every": 1, "log_every": 3}
    train(load_config(None, {**settings, "name": "whole"}), tmp_path / "whole", progress=False)
    train(load_config(None, {**settings, "name": "part", "max_steps": 7}), tmp_path / "part", progress=False)
    kept = tmp_path / "part" / "checkpoints"
    (kept / "latest.pt").unlink()
    (kept / "epoch_0002.pt").write_bytes((kept / "epoch_0002.pt").read_bytes()[:1000])
    with pytest.raises(InputError, match=r"latest.pt: missing; export a kept one with --checkpoint .*epoch_0002"):
        export_run(tmp_path / "part", register=False)
    first = (kept / "epoch_0001.pt").stat()
    capsys.readouterr()
    result = train(load_run_config(tmp_path / "part", {"max_steps": 100}), tmp_path / "part", resume=True,
                   progress=False)
    error = capsys.readouterr().err
    assert f"skipping {kept / 'latest.pt'}: missing" in error
    assert f"skipping {kept / 'epoch_0002.pt'}: not a readable checkpoint" in error
    assert "resuming at step 3, epoch 1 from epoch_0001.pt" in error
    assert (result.step, result.epoch) == (9, 3)
    assert (kept / "epoch_0001.pt").stat().st_ino == first.st_ino  # kept as it was, not written again
    _assert_identical(_weights(tmp_path / "whole" / "checkpoints" / "latest.pt"), _weights(kept / "latest.pt"))
    _assert_identical(_weights(tmp_path / "whole" / "checkpoints" / "epoch_0002.pt"), _weights(kept / "epoch_0002.pt"))


def test_resume_refuses_when_no_checkpoint_is_usable_and_restart_starts_over(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    game, real = _domains(tmp_path)
    settings = {**TINY_SETTINGS, "domain_a": str(game), "domain_b": str(real), "batch_size": 2, "save_every": 1,
                "max_steps": 4, "name": "run"}
    run = tmp_path / "run"
    train(load_config(None, settings), run, progress=False)
    kept = run / "checkpoints"
    diverged = load_checkpoint(kept / "latest.pt")
    diverged["model"]["networks"]["G"]["model.1.weight"][0, 0, 0, 0] = float("nan")
    save_checkpoint(kept / "latest.pt", {k: v for k, v in diverged.items() if k != "format"})
    (kept / "epoch_0001.pt").write_bytes(b"PK\x03\x04 damaged")
    before = {p.name: p.read_bytes() for p in kept.iterdir()}
    with pytest.raises(InputError) as refused:
        train(load_run_config(run, {}), run, resume=True, progress=False)
    message = str(refused.value)
    assert message.startswith(f"{kept}: no checkpoint can be resumed from (latest.pt (G): tensor model.1.weight "
                              "holds 1 NaN") and "epoch_0001.pt: not a readable checkpoint" in message
    assert message.endswith("pass --restart to start the run again from step 0, replacing them")
    assert {p.name: p.read_bytes() for p in kept.iterdir()} == before  # nothing touched
    with pytest.raises(UsageError, match="--restart starts an existing run again"):
        train(load_run_config(run, {}), run, restart=True, progress=False)
    assert main(["train", "--resume", str(run), "--restart"]) == 0
    assert "restarted from step 0" in capsys.readouterr().err
    assert load_checkpoint(kept / "latest.pt")["step"] == 4
    assert sorted(p.name for p in kept.iterdir()) == ["epoch_0001.pt", "latest.pt"]
    assert load_checkpoint(kept / "epoch_0001.pt")["step"] == 3


def test_sigkill_mid_run_then_resume_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    game, real = _domains(tmp_path)
    steps = ["--max-steps", "60", "--log-every", "10", "--sample-every", "1000", "--no-register"]
    run = tmp_path / "runs" / "killed"
    command = [sys.executable, "-m", "vidtrans", "train", str(game), str(real), "--name", "killed",
               "--runs-dir", str(tmp_path / "runs"), *TINY, *steps, "--save-every-steps", "5"]
    process = subprocess.Popen(command, env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    latest = run / "checkpoints" / "latest.pt"
    deadline = time.monotonic() + 120
    while not latest.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    _, stderr = process.communicate()
    assert process.returncode == -signal.SIGKILL, f"the run ended before it was killed: {stderr.decode()[-500:]}"
    killed_at = load_checkpoint(latest)["step"]
    assert 5 <= killed_at < 60

    assert main(["train", "--resume", str(run)]) == 0
    assert load_checkpoint(latest)["step"] == 60
    settings = {**TINY_SETTINGS, "domain_a": str(game), "domain_b": str(real), "max_steps": 60, "log_every": 10,
                "sample_every": 1000}
    train(load_config(None, {**settings, "name": "straight"}), tmp_path / "straight", progress=False)
    _assert_identical(_weights(tmp_path / "straight" / "checkpoints" / "latest.pt"), _weights(latest))


@pytest.mark.parametrize("semantic", [False, True], ids=["plain", "semantic-loss"])
def test_two_process_ddp_trains_and_writes_once(tmp_path: Path, home: Path, semantic: bool,
                                                request: pytest.FixtureRequest) -> None:
    game, real = _labelled_domains(tmp_path) if semantic else _domains(tmp_path)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    loss = ["--semantic-loss", "2", "--semantic-segmenter", _semantic(request)["semantic_segmenter"]] if semantic else []
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "vidtrans", "train", str(game), str(real), "--name", "ddp", "--runs-dir", str(tmp_path / "runs"),
               *TINY, "--max-steps", "4", "--log-every", "2", "--sample-every", "2", "--pool-size", "2", *loss]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("model 'ddp'") == 1
    assert done.stderr.count("finished at step 4") == 1
    assert ("sem_A" in done.stderr) == semantic
    run = tmp_path / "runs" / "ddp"
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["latest.pt"]
    assert len(list((run / "tensorboard").iterdir())) == 1
    assert [p.name for p in (home / "models").iterdir()] == ["ddp"]
    state = load_checkpoint(run / "checkpoints" / "latest.pt")
    assert state["step"] == 4 and len(state["ranks"]) == 2
    pools = [rank["pool_A"]["images"] for rank in state["ranks"]]
    assert not torch.equal(pools[0], pools[1])  # each rank saw its own shard
    with torch.no_grad():
        assert torch.isfinite(resolve_model("ddp").load_generator()(torch.zeros(1, 3, 32, 32))).all()


def test_unreadable_images_are_skipped_and_an_empty_domain_is_an_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    game, real = _domains(tmp_path)
    (game / "002.png").write_bytes(b"\x89PNG truncated")
    runs = ["--runs-dir", str(tmp_path / "runs"), *TINY, "--no-register"]
    assert main(["train", str(game), str(real), "--name", "bad", *runs, "--max-steps", "6"]) == 0
    error = capsys.readouterr().err
    assert "skipping an unreadable image" in error and "002.png" in error
    assert "1 unreadable image(s) were skipped" in error
    (tmp_path / "empty").mkdir()
    assert main(["train", str(tmp_path / "empty"), str(real), "--name", "empty", *runs]) == 1
    error = capsys.readouterr().err
    assert "DOMAIN_A" in error and "no images (png, jpg, jpeg, webp, bmp)" in error
    assert not (tmp_path / "runs" / "empty").exists()  # a run that cannot start leaves nothing behind
    _folder(tmp_path / "mixed", 2, seed=6, size=(32, 32))
    _folder(tmp_path / "mixed", 2, seed=7, size=(48, 32), names="w{:03d}.png")
    assert main(["train", str(tmp_path / "mixed"), str(real), "--name", "mixed", *runs, "--preprocess", "none",
                 "--batch-size", "4", "--num-workers", "1"]) == 1
    error = capsys.readouterr().err
    assert "vidtrans: error: images of different sizes in one batch (32x32, 48x32, 48x40)" in error
    assert "Traceback" not in error and "worker" not in error


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("extra, semantic", [(["--amp"], False), (["--amp", "--compile"], False), ([], False),
                                             (["--amp", "--compile"], True)],
                         ids=["amp", "amp-compile", "fp32", "amp-compile-semantic-loss"])
def test_cuda_training_paths(tmp_path: Path, extra: list[str], semantic: bool, request: pytest.FixtureRequest) -> None:
    game, real = _labelled_domains(tmp_path) if semantic else _domains(tmp_path)
    cuda = [arg if arg != "cpu" else "cuda" for arg in TINY]
    loss = ["--semantic-loss", "2", "--semantic-segmenter", _semantic(request)["semantic_segmenter"]] if semantic else []
    assert main(["train", str(game), str(real), "--name", "gpu", "--runs-dir", str(tmp_path / "runs"), *cuda,
                 "--max-steps", "4", "--log-every", "2", *extra, *loss]) == 0
    state = load_checkpoint(tmp_path / "runs" / "gpu" / "checkpoints" / "latest.pt")
    assert state["step"] == 4 and "cuda" in state["ranks"][0]["rng"]
    assert ("semantic_segmenter" in state) == semantic
    generator = resolve_model("gpu").load_generator(device="cuda")
    with torch.no_grad():
        assert torch.isfinite(generator(torch.zeros(1, 3, 32, 32, device="cuda"))).all()
