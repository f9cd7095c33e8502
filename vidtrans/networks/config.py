"""Frozen, validated configs for the networks, and their JSON form."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal, Union, get_args

Norm = Literal["instance", "batch", "none"]
Padding = Literal["reflect", "replicate", "zero"]
InitType = Literal["normal", "xavier", "kaiming", "orthogonal"]
GeneratorArch = Literal["resnet_9blocks", "resnet_6blocks", "unet_256", "unet_128"]

NORMS: tuple[str, ...] = get_args(Norm)
PADDINGS: tuple[str, ...] = get_args(Padding)
INIT_TYPES: tuple[str, ...] = get_args(InitType)
GENERATOR_ARCHS: tuple[str, ...] = get_args(GeneratorArch)


def check_choice(field: str, value: object, allowed: tuple[str, ...]) -> None:
    """Raise a ValueError that lists the allowed values when `value` is not one of them."""
    if value not in allowed:
        raise ValueError(f"{field} must be one of {', '.join(allowed)}; got {value!r}")


def check_positive(field: str, value: int, *, minimum: int = 1) -> None:
    """Raise a ValueError unless `value` is an int of at least `minimum`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{field} must be an integer >= {minimum}; got {value!r}")


@dataclass(frozen=True)
class ResnetGeneratorConfig:
    """The CycleGAN ResNet generator: 2 down-convs, `n_blocks` residual blocks, 2 up-convs."""

    in_channels: int = 3
    out_channels: int = 3
    ngf: int = 64
    n_blocks: int = 9
    norm: Norm = "instance"
    dropout: bool = False
    padding: Padding = "reflect"

    type = "resnet"

    def __post_init__(self) -> None:
        check_positive("in_channels", self.in_channels)
        check_positive("out_channels", self.out_channels)
        check_positive("ngf", self.ngf)
        check_positive("n_blocks", self.n_blocks, minimum=0)
        check_choice("norm", self.norm, NORMS)
        check_choice("padding", self.padding, PADDINGS)

    @property
    def size_multiple(self) -> int:
        """Input height and width must be multiples of this (two stride-2 convs)."""
        return 4

    @property
    def min_size(self) -> int:
        """The smallest height or width a frame may have; it is padded up to a multiple of `size_multiple`.

        The residual blocks work at 1/4 of the padded size: reflection padding by one pixel needs at least
        2 pixels there, and so does instance normalisation (statistics over one pixel are undefined). So
        the padded side must be at least 8, which any side of 5 or more is padded to.
        """
        bottleneck = 2 if self.padding == "reflect" or self.norm == "instance" else 1
        return self.size_multiple * (bottleneck - 1) + 1


@dataclass(frozen=True)
class UnetGeneratorConfig:
    """The pix2pix U-Net generator with `num_downs` down-samplings (8 for unet_256, 7 for unet_128)."""

    in_channels: int = 3
    out_channels: int = 3
    ngf: int = 64
    num_downs: int = 8
    norm: Norm = "batch"
    dropout: bool = False

    type = "unet"

    def __post_init__(self) -> None:
        check_positive("in_channels", self.in_channels)
        check_positive("out_channels", self.out_channels)
        check_positive("ngf", self.ngf)
        check_positive("num_downs", self.num_downs, minimum=5)
        check_choice("norm", self.norm, NORMS)

    @property
    def size_multiple(self) -> int:
        """Input height and width must be multiples of 2**num_downs."""
        return 2**self.num_downs

    @property
    def min_size(self) -> int:
        """The smallest height or width a frame may have: any, since it is padded up to `size_multiple` and
        the only map of one pixel (the innermost) is not normalised."""
        return 1


@dataclass(frozen=True)
class PatchDiscriminatorConfig:
    """The PatchGAN discriminator; 3 layers give the 70x70 receptive field."""

    in_channels: int = 3
    ndf: int = 64
    n_layers: int = 3
    norm: Norm = "instance"

    type = "patch"

    def __post_init__(self) -> None:
        check_positive("in_channels", self.in_channels)
        check_positive("ndf", self.ndf)
        check_positive("n_layers", self.n_layers)
        check_choice("norm", self.norm, NORMS)


@dataclass(frozen=True)
class PixelDiscriminatorConfig:
    """The 1x1 PixelGAN discriminator."""

    in_channels: int = 3
    ndf: int = 64
    norm: Norm = "instance"

    type = "pixel"

    def __post_init__(self) -> None:
        check_positive("in_channels", self.in_channels)
        check_positive("ndf", self.ndf)
        check_choice("norm", self.norm, NORMS)


GeneratorConfig = Union[ResnetGeneratorConfig, UnetGeneratorConfig]
DiscriminatorConfig = Union[PatchDiscriminatorConfig, PixelDiscriminatorConfig]
_CONFIG_TYPES: dict[str, type] = {
    cls.type: cls
    for cls in (ResnetGeneratorConfig, UnetGeneratorConfig, PatchDiscriminatorConfig, PixelDiscriminatorConfig)
}


def generator_config(arch: GeneratorArch, *, ngf: int = 64, norm: Norm | None = None,
                     dropout: bool = False, in_channels: int = 3, out_channels: int = 3) -> GeneratorConfig:
    """The config for one of the reference implementation's named generators.

    The norm defaults to the papers' choice: instance norm for ResNet (CycleGAN), batch norm for U-Net (pix2pix).
    """
    check_choice("arch", arch, GENERATOR_ARCHS)
    if arch.startswith("resnet"):
        return ResnetGeneratorConfig(in_channels=in_channels, out_channels=out_channels, ngf=ngf,
                                     n_blocks=9 if arch == "resnet_9blocks" else 6,
                                     norm=norm or "instance", dropout=dropout)
    return UnetGeneratorConfig(in_channels=in_channels, out_channels=out_channels, ngf=ngf,
                               num_downs=8 if arch == "unet_256" else 7, norm=norm or "batch", dropout=dropout)


def config_to_dict(config: GeneratorConfig | DiscriminatorConfig) -> dict[str, Any]:
    """The JSON form of a network config: its fields plus a `type` tag."""
    return {"type": config.type, **asdict(config)}


def config_from_dict(data: dict[str, Any]) -> GeneratorConfig | DiscriminatorConfig:
    """Rebuild a network config from its JSON form, refusing unknown types and fields."""
    if not isinstance(data, dict):
        raise ValueError(f"a network config must be a JSON object; got {type(data).__name__}")
    kind = data.get("type")
    if kind not in _CONFIG_TYPES:
        raise ValueError(f"network type must be one of {', '.join(_CONFIG_TYPES)}; got {kind!r}")
    cls = _CONFIG_TYPES[kind]
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known - {"type"})
    if unknown:
        raise ValueError(f"unknown field(s) for a {kind} network: {', '.join(unknown)}")
    return cls(**{k: v for k, v in data.items() if k != "type"})
