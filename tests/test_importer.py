"""Importing official CycleGAN/pix2pix checkpoints, and refusing pickles that would run code."""

from __future__ import annotations

import pickle
from collections import OrderedDict
from pathlib import Path

import pytest
import torch

from vidtrans.errors import ModelError
from vidtrans.importer import import_checkpoint, infer_generator_config, read_checkpoint
from vidtrans.networks import ResnetGeneratorConfig, UnetGeneratorConfig, build_generator, init_weights


def _official_resnet_state(ngf: int = 8) -> OrderedDict[str, torch.Tensor]:
    """A state dict laid out like latest_net_G_A.pth, built from the documented key layout (not our module)."""
    torch.manual_seed(3)
    g = lambda *shape: torch.randn(*shape) * 0.05  # noqa: E731
    state: OrderedDict[str, torch.Tensor] = OrderedDict()
    state["model.1.weight"], state["model.1.bias"] = g(ngf, 3, 7, 7), g(ngf)
    state["model.4.weight"], state["model.4.bias"] = g(ngf * 2, ngf, 3, 3), g(ngf * 2)
    state["model.7.weight"], state["model.7.bias"] = g(ngf * 4, ngf * 2, 3, 3), g(ngf * 4)
    for block in range(10, 19):
        for conv in (1, 5):
            state[f"model.{block}.conv_block.{conv}.weight"] = g(ngf * 4, ngf * 4, 3, 3)
            state[f"model.{block}.conv_block.{conv}.bias"] = g(ngf * 4)
    state["model.19.weight"], state["model.19.bias"] = g(ngf * 4, ngf * 2, 3, 3), g(ngf * 2)
    state["model.22.weight"], state["model.22.bias"] = g(ngf * 2, ngf, 3, 3), g(ngf)
    state["model.26.weight"], state["model.26.bias"] = g(3, ngf, 7, 7), g(3)
    return state


def _reference_forward(state: dict, x: torch.Tensor) -> torch.Tensor:
    """The ResNet generator written out with functional ops, independent of vidtrans' modules."""
    import torch.nn.functional as F

    def conv(x, key, stride=1, padding=0):
        return F.conv2d(x, state[f"{key}.weight"], state[f"{key}.bias"], stride=stride, padding=padding)

    def norm_relu(x, relu=True):
        x = F.instance_norm(x)
        return F.relu(x) if relu else x

    x = norm_relu(conv(F.pad(x, (3,) * 4, mode="reflect"), "model.1"))
    x = norm_relu(conv(x, "model.4", 2, 1))
    x = norm_relu(conv(x, "model.7", 2, 1))
    for block in range(10, 19):
        y = norm_relu(conv(F.pad(x, (1,) * 4, mode="reflect"), f"model.{block}.conv_block.1"))
        y = norm_relu(conv(F.pad(y, (1,) * 4, mode="reflect"), f"model.{block}.conv_block.5"), relu=False)
        x = x + y
    for key in ("model.19", "model.22"):
        x = F.conv_transpose2d(x, state[f"{key}.weight"], state[f"{key}.bias"], stride=2, padding=1, output_padding=1)
        x = norm_relu(x)
    return torch.tanh(conv(F.pad(x, (3,) * 4, mode="reflect"), "model.26"))


def test_official_resnet_checkpoint_gives_the_same_outputs(tmp_path: Path) -> None:
    state = _official_resnet_state()
    file = tmp_path / "latest_net_G_A.pth"
    # old checkpoints carry stray InstanceNorm running stats, and DataParallel ones a `module.` prefix
    saved = OrderedDict((f"module.{k}", v) for k, v in state.items())
    saved["module.model.2.running_mean"] = torch.zeros(8)
    saved["module.model.2.running_var"] = torch.ones(8)
    torch.save(saved, file)
    model = import_checkpoint(file, name="horse2zebra", destination=tmp_path / "out")
    assert model.info.generator == ResnetGeneratorConfig(ngf=8, n_blocks=9, norm="instance")
    assert model.info.provenance["imported_from"] == "latest_net_G_A.pth"
    x = torch.rand(1, 3, 32, 40) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(model.load_generator()(x), _reference_forward(state, x), atol=1e-5)


def test_unet_checkpoint_round_trip(tmp_path: Path) -> None:
    config = UnetGeneratorConfig(ngf=4, num_downs=7)
    torch.manual_seed(0)
    generator = init_weights(build_generator(config)).eval()
    torch.save(generator.state_dict(), tmp_path / "latest_net_G.pth")
    assert infer_generator_config(read_checkpoint(tmp_path / "latest_net_G.pth")) == config
    model = import_checkpoint(tmp_path / "latest_net_G.pth", name="facades", destination=tmp_path / "m")
    x = torch.rand(1, 3, 128, 128)
    with torch.no_grad():
        assert torch.equal(model.load_generator()(x), generator(x))


def test_explicit_arch_that_does_not_fit_is_reported(tmp_path: Path) -> None:
    torch.save(_official_resnet_state(), tmp_path / "g.pth")
    with pytest.raises(ModelError, match="weights don't match the architecture"):
        import_checkpoint(tmp_path / "g.pth", name="x", arch="resnet_6blocks", destination=tmp_path / "m")
    assert not (tmp_path / "m").exists()


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _write_pickle(file: Path, payload: object, writer: str) -> None:
    if writer == "torch.save":
        torch.save(payload, file)
    elif writer == "torch.save-legacy":
        torch.save(payload, file, _use_new_zipfile_serialization=False)
    else:
        with open(file, "wb") as handle:
            pickle.dump(payload, handle, protocol=int(writer.removeprefix("pickle-")))


@pytest.mark.parametrize("writer", ["torch.save", "torch.save-legacy", *(f"pickle-{p}" for p in range(6))])
def test_pickle_that_would_run_code_is_refused_as_code(tmp_path: Path, writer: str) -> None:
    """Every way of writing a malicious pickle is named as one that would run code, with the callable."""
    marker = tmp_path / "pwned"
    file = tmp_path / "evil.pth"
    _write_pickle(file, {"model.1.weight": _Payload(marker)}, writer)
    with pytest.raises(ModelError) as error:
        import_checkpoint(file, name="evil", destination=tmp_path / "m")
    message = str(error.value)
    assert message.startswith(f"{file}: refusing to load: unpickling this PyTorch checkpoint would run code (")
    assert "pathlib.Path" in message and "\n" not in message  # names what it would call
    assert not marker.exists()
    assert not (tmp_path / "m").exists()


def test_not_a_checkpoint(tmp_path: Path) -> None:
    (tmp_path / "x.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match="x.pth"):
        read_checkpoint(tmp_path / "x.pth")
    torch.save([1, 2, 3], tmp_path / "list.pth")
    with pytest.raises(ModelError, match="not a state dict of tensors"):
        read_checkpoint(tmp_path / "list.pth")
    torch.save({"foo.weight": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(ModelError, match="match neither"):
        import_checkpoint(tmp_path / "other.pth", name="o", destination=tmp_path / "m")


def test_refusals_never_advise_unsafe_loading(tmp_path: Path) -> None:
    """torch's own message suggests weights_only=False; vidtrans must not pass that on."""
    text = tmp_path / "notes.pth"
    text.write_text("just some text\n")
    with pytest.raises(ModelError) as error:
        read_checkpoint(text)
    message = str(error.value)
    assert message.startswith(f"{text}: not a readable PyTorch checkpoint") and "\n" not in message
    assert "weights_only" not in message
    marker = tmp_path / "pwned"
    torch.save({"x": _Payload(marker)}, tmp_path / "evil.pth")
    with pytest.raises(ModelError) as error:
        read_checkpoint(tmp_path / "evil.pth")
    message = str(error.value)
    assert "refusing to load" in message and "would run code" in message and "\n" not in message
    assert "weights_only" not in message
    assert not marker.exists()


@pytest.mark.parametrize(("key", "value"), [("model.4.weight", float("nan")), ("model.26.bias", float("inf"))])
def test_non_finite_weights_are_refused_on_import(tmp_path: Path, key: str, value: float) -> None:
    state = _official_resnet_state()
    state[key].view(-1)[1] = value
    torch.save(state, tmp_path / "g.pth")
    with pytest.raises(ModelError) as error:
        import_checkpoint(tmp_path / "g.pth", name="x", destination=tmp_path / "m")
    assert str(error.value).startswith(f"{tmp_path / 'g.pth'}: tensor {key} holds 1 NaN or infinite value(s)")
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize(("change", "arch", "expected"), [
    (lambda s: s.update({"model.1.weight": torch.zeros(8)}), None,
     "model.1.weight has shape (8,), not that of a convolution weight"),
    (lambda s: s.update({"model.1.weight": torch.zeros(0, 3, 7, 7)}), "resnet_9blocks",
     "model.1.weight has shape (0, 3, 7, 7), not that of a convolution weight"),
    (lambda s: s.update({"model.26.weight": torch.zeros(3, 8)}), None, "model.26.weight has shape (3, 8)"),
    (lambda s: s.update({"model.1.weight": torch.zeros(8, 1, 7, 7)}), None,
     "the generator takes 1 channel(s) and returns 3; vidtrans translates RGB"),
    (lambda s: [s.pop(k) for k in list(s) if k.startswith("model.18.")], None,
     "cannot tell the architecture from the keys"),
], ids=["1-D first conv", "ngf 0 with --arch", "2-D last conv", "1 input channel", "8 residual blocks"])
def test_malformed_state_dicts_are_one_line_errors_naming_the_file(tmp_path: Path, change, arch, expected) -> None:
    state = _official_resnet_state()
    change(state)
    file = tmp_path / "g.pth"
    torch.save(state, file)
    with pytest.raises(ModelError) as error:
        import_checkpoint(file, name="x", arch=arch, destination=tmp_path / "m")
    message = str(error.value)
    assert message.startswith(f"{file}: ") and expected in message and "\n" not in message
    assert not (tmp_path / "m").exists()
