"""The training configuration: frozen, validated dataclasses, loadable from YAML or TOML, with overrides.

A config file holds top-level fields and three sections (`data`, `model`, `optim`); every field name is
unique across sections, so a field may also be written at the top level, and CLI overrides are a flat
`{field: value}` mapping. The resolved config is saved as `runs/NAME/config.yaml` and in every checkpoint.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, get_args

import yaml

from vidtrans.errors import InputError, UsageError
from vidtrans.networks import (
    DiscriminatorConfig,
    GeneratorConfig,
    PatchDiscriminatorConfig,
    PixelDiscriminatorConfig,
    generator_config,
)
from vidtrans.networks.config import GENERATOR_ARCHS, INIT_TYPES, NORMS, GeneratorArch, InitType, Norm

Mode = Literal["cyclegan", "pix2pix"]
Preprocess = Literal["resize_and_crop", "scale_width_and_crop", "scale_width", "crop", "none"]
Direction = Literal["AtoB", "BtoA"]
NetD = Literal["basic", "n_layers", "pixel"]
GanMode = Literal["lsgan", "vanilla", "wgangp"]
LrPolicy = Literal["linear", "step", "cosine"]

MODES: tuple[str, ...] = get_args(Mode)
PREPROCESS: tuple[str, ...] = get_args(Preprocess)
DIRECTIONS: tuple[str, ...] = get_args(Direction)
NET_DS: tuple[str, ...] = get_args(NetD)
GAN_MODES: tuple[str, ...] = get_args(GanMode)
LR_POLICIES: tuple[str, ...] = get_args(LrPolicy)


def setting(default: Any, help: str, *flags: str) -> Any:
    """A config field with its command-line help (and flags, when not `--field-name`): the one place a training
    setting is declared; `vidtrans train`'s options are generated from these (`vidtrans.cli_params`)."""
    return field(default=default, metadata={"help": help, "flags": flags})


def _choice(name: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")


def _at_least(name: str, value: object, minimum: float, *, integer: bool = True) -> None:
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or value < minimum:
        raise ValueError(f"{name} must be {'an integer' if integer else 'a number'} >= {minimum}; got {value!r}")


@dataclass(frozen=True)
class DataConfig:
    """Where the two domains come from and how their images are prepared (as in the reference implementation)."""

    domain_a: str = setting("", "Input domain: image folder, video, folder of videos, list file or dataset root "
                                "(GTA5, Cityscapes).")
    domain_b: str = setting("", "Output domain, likewise.")
    split: str = setting("train", "Cityscapes split under leftImg8bit/.")
    preprocess: Preprocess = setting("resize_and_crop", "How images are prepared: resize_and_crop, "
                                                        "scale_width_and_crop, scale_width, crop or none.")
    load_size: int = setting(286, "Resize/scale target.")
    crop_size: int = setting(256, "Random crop size.")
    flip: bool = setting(True, "Random horizontal flips.")
    max_items: int | None = setting(None, "Use at most this many images per domain (default: all).")
    frame_step: int = setting(10, "Take every N-th video frame.")
    direction: Direction = setting("AtoB", "AtoB or BtoA.")
    batch_size: int = setting(1, "Images per step and process.")
    num_workers: int = setting(4, "Data loading processes.")

    def __post_init__(self) -> None:
        _choice("preprocess", self.preprocess, PREPROCESS)
        _choice("direction", self.direction, DIRECTIONS)
        for name in ("load_size", "crop_size", "frame_step", "batch_size"):
            _at_least(name, getattr(self, name), 1)
        _at_least("num_workers", self.num_workers, 0)
        if self.max_items is not None:
            _at_least("max_items", self.max_items, 1)
        if self.preprocess in ("resize_and_crop", "scale_width_and_crop") and self.crop_size > self.load_size:
            raise ValueError(f"crop_size ({self.crop_size}) must not exceed load_size ({self.load_size}) "
                             f"with preprocess {self.preprocess}")


@dataclass(frozen=True)
class NetworkOptions:
    """The networks; unset fields take the paper's choice for the mode (see `TrainConfig`)."""

    net_g: GeneratorArch | None = setting(None, "Generator: resnet_9blocks, resnet_6blocks, unet_256 or unet_128 "
                                                "(default by mode).", "--netG", "--net-g")
    ngf: int = setting(64, "Generator filters in the first layer.")
    n_blocks: int | None = setting(None, "Residual blocks (default from --netG).")
    net_d: NetD = setting("basic", "Discriminator: basic (70x70 PatchGAN), n_layers or pixel.", "--netD", "--net-d")
    ndf: int = setting(64, "Discriminator filters in the first layer.")
    n_layers_d: int = setting(3, "Layers of --netD n_layers.", "--n-layers-D", "--n-layers-d")
    norm: Norm | None = setting(None, "instance, batch or none (default by mode).")
    dropout: bool | None = setting(None, "Generator dropout (default by mode: pix2pix on).")
    init_type: InitType = setting("normal", "normal, xavier, kaiming or orthogonal.")
    init_gain: float = setting(0.02, "Init scale.")

    def __post_init__(self) -> None:
        if self.net_g is not None:
            _choice("net_g", self.net_g, GENERATOR_ARCHS)
        _choice("net_d", self.net_d, NET_DS)
        if self.norm is not None:
            _choice("norm", self.norm, NORMS)
        _choice("init_type", self.init_type, INIT_TYPES)
        for name in ("ngf", "ndf", "n_layers_d"):
            _at_least(name, getattr(self, name), 1)
        if self.n_blocks is not None:
            _at_least("n_blocks", self.n_blocks, 0)
        _at_least("init_gain", self.init_gain, 0.0, integer=False)

    def for_mode(self, mode: Mode) -> NetworkOptions:
        """Fill the unset fields: CycleGAN uses ResNet-9, instance norm, no dropout; pix2pix U-Net 256, batch
        norm and dropout."""
        cyclegan = mode == "cyclegan"
        net_g = self.net_g or ("resnet_9blocks" if cyclegan else "unet_256")
        if self.n_blocks is not None and not net_g.startswith("resnet"):
            raise ValueError(f"n_blocks applies to ResNet generators, not {net_g}")
        return dataclasses.replace(
            self, net_g=net_g,
            n_blocks=self.n_blocks if self.n_blocks is not None or not net_g.startswith("resnet")
            else (9 if net_g == "resnet_9blocks" else 6),
            norm=self.norm or ("instance" if cyclegan else "batch"),
            dropout=(not cyclegan) if self.dropout is None else self.dropout)

    def generator_config(self) -> GeneratorConfig:
        """The generator's network config (after `for_mode`)."""
        assert self.net_g is not None
        config = generator_config(self.net_g, ngf=self.ngf, norm=self.norm, dropout=bool(self.dropout))
        if self.n_blocks is not None and hasattr(config, "n_blocks"):
            config = dataclasses.replace(config, n_blocks=self.n_blocks)
        return config

    def discriminator_config(self, in_channels: int) -> DiscriminatorConfig:
        """The discriminator's network config: `basic` is the 70x70 PatchGAN (3 layers)."""
        norm = self.norm or "instance"
        if self.net_d == "pixel":
            return PixelDiscriminatorConfig(in_channels=in_channels, ndf=self.ndf, norm=norm)
        n_layers = 3 if self.net_d == "basic" else self.n_layers_d
        return PatchDiscriminatorConfig(in_channels=in_channels, ndf=self.ndf, n_layers=n_layers, norm=norm)


@dataclass(frozen=True)
class OptimConfig:
    """Losses, the optimiser and the learning-rate schedule; epochs count passes over the data."""

    lr: float = setting(2e-4, "Adam learning rate.")
    beta1: float = setting(0.5, "Adam beta1.")
    beta2: float = setting(0.999, "Adam beta2.")
    gan_mode: GanMode | None = setting(None, "lsgan, vanilla or wgangp (default by mode).")
    lambda_cycle: float = setting(10.0, "Cycle-consistency weight.")
    lambda_identity: float = setting(0.5, "Identity weight relative to --lambda-cycle (0: off).")
    lambda_l1: float = setting(100.0, "pix2pix L1 weight.")
    lambda_gp: float = setting(10.0, "WGAN-GP gradient penalty weight.")
    pool_size: int = setting(50, "Image pool size (0: off).")
    lr_policy: LrPolicy = setting("linear", "linear, step or cosine.")
    epochs: int = setting(100, "Epochs at the initial learning rate.")
    epochs_decay: int = setting(100, "Epochs of decay to zero (linear, cosine).")
    lr_step_epochs: int = setting(50, "--lr-policy step: epochs between steps.")
    lr_step_gamma: float = setting(0.1, "--lr-policy step: factor at each step.")
    semantic_loss: float = setting(0.0, "CyCADA's semantic-consistency weight (0: off): a frozen source-domain "
                                        "segmenter must label G(a) as a's labels and F(b) as it labels b; needs "
                                        "--semantic-segmenter.")
    semantic_segmenter: str = setting("", "The frozen source-domain segmenter of --semantic-loss: a `vidtrans "
                                          "segmenter train` directory, trained at this run's scale.")

    def __post_init__(self) -> None:
        if self.gan_mode is not None:
            _choice("gan_mode", self.gan_mode, GAN_MODES)
        _choice("lr_policy", self.lr_policy, LR_POLICIES)
        for name in ("lr", "lambda_cycle", "lambda_identity", "lambda_l1", "lambda_gp", "lr_step_gamma",
                     "semantic_loss"):
            _at_least(name, getattr(self, name), 0.0, integer=False)
        for name in ("beta1", "beta2"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
                raise ValueError(f"{name} must be in [0, 1); got {value!r}")
        _at_least("pool_size", self.pool_size, 0)
        _at_least("epochs", self.epochs, 0)
        _at_least("epochs_decay", self.epochs_decay, 0)
        _at_least("lr_step_epochs", self.lr_step_epochs, 1)
        if self.epochs + self.epochs_decay < 1:
            raise ValueError("epochs + epochs_decay must be at least 1")
        if self.semantic_loss > 0 and not self.semantic_segmenter:
            raise ValueError("semantic_loss needs a segmenter of the source domain: pass --semantic-segmenter DIR "
                             "(train one with `vidtrans segmenter train`)")

    @property
    def total_epochs(self) -> int:
        return self.epochs + self.epochs_decay


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run. Unset mode-dependent fields get the paper's choice."""

    name: str = field(metadata={"help": "Run and model name (runs/NAME, model NAME).", "flags": ()})
    mode: Mode = setting("cyclegan", "cyclegan (unpaired) or pix2pix (paired).")
    data: DataConfig = field(default_factory=DataConfig)
    model: NetworkOptions = field(default_factory=NetworkOptions)
    optim: OptimConfig = field(default_factory=OptimConfig)
    seed: int = setting(0, "Seed for weights, data order and augmentation.")
    source_domain: str | None = setting(None, "Model's input domain name, e.g. game (default: A).")
    target_domain: str | None = setting(None, "Model's output domain name, e.g. real (default: B).")
    log_every: int = setting(100, "Log losses every N steps.")
    sample_every: int = setting(1000, "Image grids every N steps.")
    save_every: int = setting(5, "Keep a checkpoint every N epochs.")
    save_every_steps: int = setting(0, "Also update the latest checkpoint every N steps (0: off).")
    max_steps: int | None = setting(None, "Stop after this many steps.")
    device: str = setting("auto", "auto, cpu, cuda or cuda:N.")
    amp: bool = setting(False, "bf16 autocast (CUDA).")
    compile: bool = setting(False, "torch.compile the networks.")
    register: bool = setting(True, "Register the model under NAME at the end.")

    def __post_init__(self) -> None:
        from vidtrans.registry import validate_name

        try:
            validate_name(self.name)
        except UsageError as error:
            raise ValueError(str(error)) from None
        _choice("mode", self.mode, MODES)
        _at_least("seed", self.seed, 0)
        for name in ("log_every", "sample_every", "save_every"):
            _at_least(name, getattr(self, name), 1)
        _at_least("save_every_steps", self.save_every_steps, 0)
        if self.max_steps is not None:
            _at_least("max_steps", self.max_steps, 1)
        if self.mode != "cyclegan" and self.optim.semantic_loss > 0:
            raise ValueError("semantic_loss applies to cyclegan (unpaired) training, not pix2pix")
        object.__setattr__(self, "model", self.model.for_mode(self.mode))
        if self.optim.gan_mode is None:
            gan_mode = "lsgan" if self.mode == "cyclegan" else "vanilla"
            object.__setattr__(self, "optim", dataclasses.replace(self.optim, gan_mode=gan_mode))
        multiple = self.model.generator_config().size_multiple
        if self.data.preprocess in ("resize_and_crop", "scale_width_and_crop", "crop") \
                and self.data.crop_size % multiple:
            raise ValueError(f"crop_size must be a multiple of {multiple} for {self.model.net_g}; "
                             f"got {self.data.crop_size}")

    @property
    def source_name(self) -> str:
        """The model's input domain name (the generator maps source -> target)."""
        default = "A" if self.data.direction == "AtoB" else "B"
        return self.source_domain or default

    @property
    def target_name(self) -> str:
        default = "B" if self.data.direction == "AtoB" else "A"
        return self.target_domain or default


SECTIONS: dict[str, type] = {"data": DataConfig, "model": NetworkOptions, "optim": OptimConfig}
TOP_LEVEL = tuple(f.name for f in fields(TrainConfig) if f.name not in SECTIONS)
FIELD_SECTION: dict[str, str | None] = {
    **{name: None for name in TOP_LEVEL},
    **{f.name: section for section, cls in SECTIONS.items() for f in fields(cls)},
}

# Fields that may change when a run is resumed: where and how fast it runs, how often it reports, how long, and
# where its files are (a moved segmenter must be the same file: its sha256 is checked on resume).
RESUMABLE = frozenset({"device", "amp", "compile", "num_workers", "log_every", "sample_every", "save_every",
                       "save_every_steps", "max_steps", "epochs", "epochs_decay", "register", "domain_a",
                       "domain_b", "semantic_segmenter"})


PATH_SETTINGS = ("domain_a", "domain_b", "semantic_segmenter")  # saved as absolute paths


def config_to_dict(config: TrainConfig) -> dict[str, Any]:
    """The nested plain-dict form of a config (for YAML, TOML and checkpoints)."""
    return dataclasses.asdict(config)


def config_to_yaml(config: TrainConfig) -> str:
    """The YAML form of a config, as a run's `config.yaml` holds it (and `--config` reads it)."""
    return yaml.safe_dump(config_to_dict(config), sort_keys=False)


def setting_fields() -> dict[str, tuple[str | None, dataclasses.Field, Any]]:
    """Every setting by its flat name: (section or None, its dataclass field, its resolved type hint)."""
    found: dict[str, tuple[str | None, dataclasses.Field, Any]] = {}
    for section, cls in ((None, TrainConfig), *SECTIONS.items()):
        hints = typing.get_type_hints(cls)
        for f in fields(cls):
            if f.name not in SECTIONS:
                found[f.name] = (section, f, hints[f.name])
    return found


def _coerce(name: str, hint: Any, value: Any) -> Any:
    """Turn YAML/TOML/CLI values into the field's type (e.g. '2e-4' -> 0.0002), or raise a ValueError."""
    args = typing.get_args(hint)
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        hint = next(a for a in args if a is not type(None))
        origin = typing.get_origin(hint)
    if origin is Literal:
        return value
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ValueError(f"{name} must be true or false; got {value!r}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ValueError(f"{name} must be an integer; got {value!r}")
    if hint is float:
        if isinstance(value, (int, float, str)) and not isinstance(value, bool):
            try:
                return float(value)
            except ValueError:
                pass
        raise ValueError(f"{name} must be a number; got {value!r}")
    if hint is str:
        if isinstance(value, (str, Path)):
            return str(value)
        raise ValueError(f"{name} must be a string; got {value!r}")
    return value


def _build(cls: type, values: dict[str, Any], where: str) -> Any:
    hints = typing.get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise UsageError(f"{where}: unknown setting(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    try:
        return cls(**{k: _coerce(k, hints[k], v) for k, v in values.items()})
    except (TypeError, ValueError) as error:
        raise UsageError(f"{where}: {error}") from None


def config_from_dict(doc: dict[str, Any], *, where: str = "config") -> TrainConfig:
    """Build a config from nested sections and/or flat fields; unknown or invalid settings are a UsageError."""
    if not isinstance(doc, dict):
        raise UsageError(f"{where}: expected a mapping of settings; got {type(doc).__name__}")
    nested: dict[str, dict[str, Any]] = {section: {} for section in SECTIONS}
    top: dict[str, Any] = {}
    for key, value in doc.items():
        if key in SECTIONS:
            if not isinstance(value, dict):
                raise UsageError(f"{where}: section {key!r} must be a mapping")
            for inner, inner_value in value.items():
                if FIELD_SECTION.get(inner) != key:
                    raise UsageError(f"{where}: unknown setting {key}.{inner} "
                                     f"(known: {', '.join(f.name for f in fields(SECTIONS[key]))})")
                nested[key][inner] = inner_value
        elif key in FIELD_SECTION:
            section = FIELD_SECTION[key]
            (nested[section] if section else top)[key] = value
        else:
            raise UsageError(f"{where}: unknown setting {key!r} (known: {', '.join(sorted(FIELD_SECTION))})")
    if "name" not in top:
        raise UsageError(f"{where}: a run needs a name (--name)")
    parts = {section: _build(cls, nested[section], where) for section, cls in SECTIONS.items()}
    hints = typing.get_type_hints(TrainConfig)
    try:
        return TrainConfig(**{k: _coerce(k, hints[k], v) for k, v in top.items()}, **parts)
    except (TypeError, ValueError) as error:
        raise UsageError(f"{where}: {error}") from None


def read_config_file(path: Path) -> dict[str, Any]:
    """Read a `.yaml`/`.yml` or `.toml` config file into a dict."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such config file")
    suffix = path.suffix.lower()
    try:
        text = path.read_text(encoding="utf-8")
        if suffix in (".yaml", ".yml"):
            doc = yaml.safe_load(text)
        elif suffix == ".toml":
            doc = tomllib.loads(text)
        else:
            raise UsageError(f"{path}: a config file must end in .yaml, .yml or .toml")
    except (yaml.YAMLError, tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: not valid {suffix[1:].upper()} ({str(error).splitlines()[0]})") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise InputError(f"{path}: expected a mapping of settings at the top level")
    return doc


def merge_overrides(doc: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """`doc` with the flat `overrides` applied (each to its section); unknown names are a UsageError."""
    merged = {k: (dict(v) if isinstance(v, dict) else v) for k, v in doc.items()}
    for key, value in overrides.items():
        if key not in FIELD_SECTION:
            raise UsageError(f"unknown setting {key!r}")
        section = FIELD_SECTION[key]
        merged.pop(key, None)
        if section:
            merged.setdefault(section, {})[key] = value
        else:
            merged[key] = value
    return merged


def load_config(file: Path | None = None, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """The config of a new run: the file's settings (if any), then the CLI overrides.

    Relative paths in the file (PATH_SETTINGS) are relative to the file's folder; they are saved as absolute paths.
    """
    doc = read_config_file(file) if file is not None else {}
    if file is not None:
        sections = [doc.get(FIELD_SECTION[key]) for key in PATH_SETTINGS]
        for holder in [doc, *(section for section in sections if isinstance(section, dict))]:
            for key in PATH_SETTINGS:
                if isinstance(holder.get(key), str) and holder[key]:
                    holder[key] = str((Path(file).parent / Path(holder[key]).expanduser()).absolute())
    return config_from_dict(merge_overrides(doc, overrides or {}), where=str(file) if file else "options")


def flat_settings(config: TrainConfig) -> dict[str, Any]:
    """Every setting by its flat name."""
    doc = config_to_dict(config)
    flat = {k: v for k, v in doc.items() if k not in SECTIONS}
    for section in SECTIONS:
        flat.update(doc[section])
    return flat


def resume_config(saved: dict[str, Any], overrides: dict[str, Any], *, where: str) -> TrainConfig:
    """The saved config of a run with the overrides allowed on resume; other changes are refused."""
    config = config_from_dict(saved, where=where)
    current = flat_settings(config)
    refused = sorted(key for key, value in overrides.items()
                     if key not in RESUMABLE and key in current and _differs(current[key], value))
    if refused:
        raise UsageError(f"cannot change {', '.join(refused)} when resuming {where} (these can change: "
                         f"{', '.join(sorted(RESUMABLE))}); start a new run with a new --name instead")
    unknown = sorted(set(overrides) - set(current))
    if unknown:
        raise UsageError(f"unknown setting(s) {', '.join(unknown)}")
    return config_from_dict(merge_overrides(config_to_dict(config), overrides), where=where)


def _differs(saved: Any, new: Any) -> bool:
    if isinstance(saved, float) or isinstance(new, float):
        try:
            return float(saved) != float(new)
        except (TypeError, ValueError):
            return True
    return saved != new
