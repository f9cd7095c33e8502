"""The paper's networks: output shapes, parameter counts and initialisation."""

from __future__ import annotations

import pytest
import torch

from vidtrans.networks import (
    PatchDiscriminatorConfig,
    PixelDiscriminatorConfig,
    ResnetGeneratorConfig,
    UnetGeneratorConfig,
    build_discriminator,
    build_generator,
    config_from_dict,
    config_to_dict,
    count_parameters,
    generator_config,
    init_weights,
)

# Counts printed by the reference implementation (junyanz/pytorch-CycleGAN-and-pix2pix) for the same settings.
REFERENCE_COUNTS = {
    ("resnet_9blocks", "instance"): 11_378_179,  # CycleGAN G, "11.378 M"
    ("resnet_6blocks", "instance"): 7_837_699,  # CycleGAN G at 128x128, "7.838 M"
    ("unet_256", "batch"): 54_413_955,  # pix2pix G, "54.414 M"
    ("unet_128", "batch"): 41_828_995,
}


@pytest.mark.parametrize(("arch", "norm"), list(REFERENCE_COUNTS))
def test_generator_parameter_counts(arch: str, norm: str) -> None:
    generator = build_generator(generator_config(arch, norm=norm))
    assert count_parameters(generator) == REFERENCE_COUNTS[(arch, norm)]


def test_discriminator_parameter_counts() -> None:
    assert count_parameters(build_discriminator(PatchDiscriminatorConfig())) == 2_764_737  # CycleGAN D_A
    assert count_parameters(build_discriminator(PatchDiscriminatorConfig(in_channels=6, norm="batch"))) == 2_768_705
    assert count_parameters(build_discriminator(PixelDiscriminatorConfig())) == 8_705


@pytest.mark.parametrize("norm", ["instance", "batch", "none"])
@pytest.mark.parametrize("n_blocks", [6, 9])
def test_resnet_generator_shapes(norm: str, n_blocks: int) -> None:
    generator = build_generator(ResnetGeneratorConfig(ngf=8, n_blocks=n_blocks, norm=norm)).eval()
    with torch.no_grad():
        out = generator(torch.rand(2, 3, 36, 52) * 2 - 1)
    assert out.shape == (2, 3, 36, 52)
    assert out.abs().max() <= 1.0


def test_resnet_dropout_and_padding_variants() -> None:
    with_dropout = build_generator(ResnetGeneratorConfig(ngf=8, n_blocks=1, dropout=True))
    assert any(isinstance(m, torch.nn.Dropout) for m in with_dropout.modules())
    for padding in ("replicate", "zero"):
        generator = build_generator(ResnetGeneratorConfig(ngf=8, n_blocks=2, padding=padding)).eval()
        assert generator(torch.zeros(1, 3, 16, 16)).shape == (1, 3, 16, 16)


@pytest.mark.parametrize(("num_downs", "size"), [(7, 128), (8, 256)])
def test_unet_generator_shapes(num_downs: int, size: int) -> None:
    generator = build_generator(UnetGeneratorConfig(ngf=4, num_downs=num_downs)).eval()
    with torch.no_grad():
        out = generator(torch.rand(1, 3, size, size * 2) * 2 - 1)
    assert out.shape == (1, 3, size, size * 2)
    assert generator.config.size_multiple == size


def test_discriminator_output_shapes() -> None:
    patch = build_discriminator(PatchDiscriminatorConfig(ndf=8))
    assert patch(torch.zeros(2, 3, 256, 256)).shape == (2, 1, 30, 30)  # the 70x70 PatchGAN's 30x30 map
    pixel = build_discriminator(PixelDiscriminatorConfig(ndf=8))
    assert pixel(torch.zeros(2, 3, 20, 24)).shape == (2, 1, 20, 24)


def test_patchgan_receptive_field_is_70() -> None:
    """One output cell depends on exactly a 70x70 window of the input."""
    patch = build_discriminator(PatchDiscriminatorConfig(ndf=4, norm="none"))
    image = torch.zeros(1, 3, 256, 256, requires_grad=True)
    patch(image)[0, 0, 15, 15].backward()
    rows = torch.nonzero(image.grad.abs().sum(dim=(0, 1, 3)))
    cols = torch.nonzero(image.grad.abs().sum(dim=(0, 1, 2)))
    assert rows.max() - rows.min() + 1 == 70
    assert cols.max() - cols.min() + 1 == 70


@pytest.mark.parametrize("init_type", ["normal", "xavier", "kaiming", "orthogonal"])
def test_init_weights(init_type: str) -> None:
    torch.manual_seed(0)
    generator = init_weights(build_generator(ResnetGeneratorConfig(ngf=16, n_blocks=1, norm="batch")), init_type)
    conv = generator.model[1]
    assert torch.count_nonzero(generator.model[-2].bias) == 0
    if init_type == "normal":
        assert abs(conv.weight.std().item() - 0.02) < 0.003
    batch_norm = generator.model[2]
    assert abs(batch_norm.weight.mean().item() - 1.0) < 0.02


def test_init_weights_rejects_unknown_type() -> None:
    with pytest.raises(ValueError, match="normal, xavier, kaiming, orthogonal"):
        init_weights(build_generator(ResnetGeneratorConfig(ngf=4, n_blocks=1)), "uniform")


def test_configs_validate_themselves() -> None:
    with pytest.raises(ValueError, match="norm must be one of instance, batch, none"):
        ResnetGeneratorConfig(norm="layer")
    with pytest.raises(ValueError, match="ngf must be an integer >= 1"):
        ResnetGeneratorConfig(ngf=0)
    with pytest.raises(ValueError, match="num_downs"):
        UnetGeneratorConfig(num_downs=3)
    with pytest.raises(ValueError, match="arch must be one of"):
        generator_config("resnet_12blocks")


def test_config_json_round_trip() -> None:
    for config in (ResnetGeneratorConfig(ngf=16, n_blocks=6), UnetGeneratorConfig(num_downs=7),
                   PatchDiscriminatorConfig(n_layers=2), PixelDiscriminatorConfig()):
        assert config_from_dict(config_to_dict(config)) == config
    with pytest.raises(ValueError, match="unknown field"):
        config_from_dict({"type": "resnet", "blocks": 3})
    with pytest.raises(ValueError, match="network type must be one of"):
        config_from_dict({"type": "transformer"})
