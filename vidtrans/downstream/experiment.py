"""The downstream experiment (CyCADA in miniature): does translating game frames help a segmenter on real ones?

One small segmentation network (same architecture, seed and schedule) is trained three times:

    (a) game        game renders of the training scenes with their labels (no adaptation)
    (b) translated  the same game renders translated game -> real by a vidtrans model with `vidtrans synth`
                    (the labelled-dataset path users run), same labels
    (c) real        real renders of the same training scenes with their labels (the oracle)

and each is scored on real renders of held-out scenes. (a), (b) and (c) use the same scene seeds, so
geometry and labels are identical and only the image style differs; (c) is the best a translation can
do. The gap closed is (b - a) / (c - a).

Resolutions: scenes are rendered, and the game images translated, at `render_size` (default 512x256, the
scale the demo model is trained at: a generator applied at another scale blurs and smears); every image is
then area-downsampled, and every label map nearest-neighbour downsampled, to `size` (default 256x128), where
the segmenters train and are scored.

Seeds: training scenes are TRAIN_FIRST_SEED, +1, ...; evaluation scenes TEST_FIRST_SEED, +1, ... Both lie far
above the seeds models are trained on (`vidtrans.scenes` datasets start at seed 0), so a translation model
trained on fewer than 100 000 scenes from seed 0 has never seen an evaluation scene, and the segmenters never
see one either.

Two sanity modes replace the model: `translation="identity"` uses the game images as (b), so b == a;
`translation="real"` uses the real renders as (b), a perfect translation, so b == c.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import torch

from vidtrans.console import Progress, info, warn
from vidtrans.downstream.data import SegmentationData, load_dataset
from vidtrans.downstream.segnet import SegNetConfig, build_segnet
from vidtrans.downstream.train import TrainSettings, evaluate, train_segnet
from vidtrans.errors import OutputError, PartialFailure, UsageError
from vidtrans.fsutil import atomic_write_text
from vidtrans.modeldir import ModelDirectory
from vidtrans.networks import count_parameters
from vidtrans.scenes import CLASS_NAMES, write_scene_dataset

Translation = Literal["model", "identity", "real"]
TRANSLATIONS: tuple[str, ...] = get_args(Translation)
TRAIN_FIRST_SEED = 100_000
TEST_FIRST_SEED = 200_000
MAX_COUNT = TEST_FIRST_SEED - TRAIN_FIRST_SEED
WORK_FOLDERS = ("train", "test", "translated")  # the sub-folders of work_dir the experiment writes
REPORT_VERSION = 1


@dataclass(frozen=True)
class DownstreamSettings:
    """Everything that decides the experiment's result.

    `render_size` (width, height) is where scenes are rendered and translated; `size` where the segmenters
    train and are scored (see the module docstring).
    """

    model: str = "demo"
    translation: Translation = "model"
    train_count: int = 200
    test_count: int = 100
    size: tuple[int, int] = (256, 128)
    render_size: tuple[int, int] = (512, 256)
    steps: int = TrainSettings.steps
    batch_size: int = TrainSettings.batch_size
    lr: float = TrainSettings.lr
    seed: int = TrainSettings.seed
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.translation not in TRANSLATIONS:
            raise UsageError(f"translation must be one of {', '.join(TRANSLATIONS)}; got {self.translation!r}")
        for name in ("train_count", "test_count"):
            value = getattr(self, name)
            if not 1 <= value <= MAX_COUNT:
                raise UsageError(f"{name} must be between 1 and {MAX_COUNT}; got {value}")
        width, height = self.size
        multiple = SegNetConfig().size_multiple
        if width % multiple or height % multiple or width < 64 or height < 32:
            raise UsageError(f"size must be at least 64x32 with both sides multiples of {multiple}; "
                             f"got {width}x{height}")
        render_width, render_height = self.render_size
        if not (64 <= render_width <= 8192 and 32 <= render_height <= 8192):
            raise UsageError(f"render_size must be at least 64x32 and at most 8192x8192; "
                             f"got {render_width}x{render_height}")
        try:
            self.train_settings()
        except ValueError as error:
            raise UsageError(str(error)) from None

    def train_settings(self) -> TrainSettings:
        """How each of the three networks is trained."""
        return TrainSettings(steps=self.steps, batch_size=self.batch_size, lr=self.lr, seed=self.seed)

    @property
    def train_seeds(self) -> range:
        return range(TRAIN_FIRST_SEED, TRAIN_FIRST_SEED + self.train_count)

    @property
    def test_seeds(self) -> range:
        return range(TEST_FIRST_SEED, TEST_FIRST_SEED + self.test_count)


@dataclass(frozen=True)
class ConditionResult:
    """One trained segmenter scored on the held-out real images (IoU and mIoU as fractions, 0..1)."""

    name: str
    description: str
    miou: float
    pixel_accuracy: float
    iou: Mapping[str, float | None]  # class name -> IoU; None for classes absent from the evaluation labels
    final_loss: float
    train_seconds: float


@dataclass(frozen=True)
class DownstreamReport:
    """The three conditions, the share of the (a)-(c) gap that (b) closes, the settings and timings."""

    settings: DownstreamSettings
    model: Mapping[str, Any]  # name, path and generator sha256 of the translation model ({} in sanity modes)
    game: ConditionResult
    translated: ConditionResult
    real: ConditionResult
    gap_closed: float | None  # (b - a) / (c - a); None when c == a
    evaluated_classes: tuple[str, ...]
    timings: Mapping[str, float] = field(default_factory=dict)  # seconds per stage, and "total"
    environment: Mapping[str, Any] = field(default_factory=dict)  # device, torch version and threads, network size

    @property
    def conditions(self) -> tuple[ConditionResult, ConditionResult, ConditionResult]:
        return self.game, self.translated, self.real

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (NaN becomes None)."""
        doc = {"report_version": REPORT_VERSION, "experiment": "vidtrans.downstream", **asdict(self)}
        doc["settings"]["train_seeds"] = [self.settings.train_seeds.start, self.settings.train_seeds.stop - 1]
        doc["settings"]["test_seeds"] = [self.settings.test_seeds.start, self.settings.test_seeds.stop - 1]
        return _finite(doc)

    def write_json(self, path: Path) -> None:
        """Write the report as JSON (atomically)."""
        try:
            atomic_write_text(Path(path), json.dumps(self.to_dict(), indent=2) + "\n")
        except OSError as error:
            raise OutputError(f"{path}: cannot write the report ({error.strerror or error})") from None

    def format_table(self) -> str:
        """A plain-text summary: mIoU per condition, the gap closed, and per-class IoU (in percent)."""
        s = self.settings
        lines = [
            f"downstream segmentation at {s.size[0]}x{s.size[1]} (rendered and translated at {s.render_size[0]}x"
            f"{s.render_size[1]}): train on {s.train_count} scenes "
            f"(seeds {s.train_seeds.start}-{s.train_seeds.stop - 1}), evaluate on {s.test_count} held-out real "
            f"scenes (seeds {s.test_seeds.start}-{s.test_seeds.stop - 1}), {s.steps} steps of batch {s.batch_size}",
            "",
            f"{'condition':<16}{'mIoU':>7}{'pixel acc':>11}{'loss':>8}{'train':>9}  trained on",
        ]
        for label, result in zip("abc", self.conditions):
            lines.append(f"({label}) {result.name:<12}{_pct(result.miou):>7}{_pct(result.pixel_accuracy):>11}"
                         f"{result.final_loss:>8.3f}{result.train_seconds:>8.0f}s  {result.description}")
        gap = "n/a (c == a)" if self.gap_closed is None else f"{100 * self.gap_closed:.1f}%"
        lines += ["", f"gap closed by the translation, (b - a) / (c - a): {gap}", "",
                  f"{'IoU per class':<16}{'(a)':>7}{'(b)':>7}{'(c)':>7}"]
        for name in self.evaluated_classes:
            lines.append(f"{name:<16}" + "".join(f"{_pct(r.iou[name]):>7}" for r in self.conditions))
        timings = ", ".join(f"{k} {v:.1f}s" for k, v in self.timings.items())
        environment = ", ".join(f"{k} {v}" for k, v in self.environment.items())
        lines += ["", f"timings: {timings}", f"environment: {environment}"]
        return "\n".join(lines)


def _pct(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{100 * value:.1f}"


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _say(enabled: bool, message: str) -> None:
    if enabled:
        info(message)


def _prepare_work_dir(work_dir: Path, overwrite: bool) -> None:
    if work_dir.exists() and not work_dir.is_dir():
        raise OutputError(f"{work_dir}: exists and is not a folder")
    if work_dir.is_dir() and any(work_dir.iterdir()):
        if not overwrite:
            raise OutputError(f"{work_dir}: not empty; use a new work folder, or pass overwrite to replace "
                              f"its {', '.join(WORK_FOLDERS)} sub-folders")
        for name in WORK_FOLDERS:
            shutil.rmtree(work_dir / name, ignore_errors=True)
    work_dir.mkdir(parents=True, exist_ok=True)


def _translate(model: ModelDirectory, game_root: Path, out_root: Path, *, device: str, progress: bool) -> None:
    """Translate the GTA5-layout tree `game_root` into `out_root` with `vidtrans synth` (labels copied as they are)."""
    from vidtrans.runtime import RuntimeOptions
    from vidtrans.synthesis import SynthOptions, synth

    summary = synth(game_root, out_root, model=model, options=SynthOptions(
        runtime=RuntimeOptions(device=device), progress=progress))
    if summary.problems():
        raise PartialFailure(summary.problems())


def _model_record(model: ModelDirectory) -> dict[str, Any]:
    return {"name": model.name, "path": str(model.path), "generator_sha256": model.sha256.get("generator"),
            "source_domain": model.info.source_domain, "target_domain": model.info.target_domain,
            "training_size": list(model.info.training_size) if model.info.training_size else None}


def _condition(name: str, description: str, data: SegmentationData, test: SegmentationData,
               settings: DownstreamSettings, device: Any, progress: bool) -> ConditionResult:
    train = settings.train_settings()
    with Progress(train.steps, unit="steps", description=f"training on {name}", enabled=progress) as bar:
        result = train_segnet(data, train, device=device, on_step=lambda _, loss: bar.update(1, loss=f"{loss:.3f}"))
    scores = evaluate(result.net, test, device=device)
    iou = {CLASS_NAMES[c]: value for c, value in enumerate(scores.iou)}
    _say(progress, f"{name}: mIoU {100 * scores.miou:.1f}, pixel accuracy {100 * scores.pixel_accuracy:.1f}, "
                   f"trained in {result.seconds:.0f}s")
    return ConditionResult(name=name, description=description, miou=scores.miou,
                           pixel_accuracy=scores.pixel_accuracy, iou=iou, final_loss=result.final_loss,
                           train_seconds=result.seconds)


_DEFAULTS = DownstreamSettings


def run_downstream(work_dir: Path, *, model: str | Path | ModelDirectory = _DEFAULTS.model,
                   translation: Translation = _DEFAULTS.translation, train_count: int = _DEFAULTS.train_count,
                   test_count: int = _DEFAULTS.test_count, size: tuple[int, int] = _DEFAULTS.size,
                   render_size: tuple[int, int] = _DEFAULTS.render_size,
                   steps: int = _DEFAULTS.steps, batch_size: int = _DEFAULTS.batch_size, lr: float = _DEFAULTS.lr,
                   seed: int = _DEFAULTS.seed, device: str = _DEFAULTS.device, overwrite: bool = False,
                   progress: bool = True) -> DownstreamReport:
    """Render the scenes, translate the game training images, train and score the three segmenters.

    Writes `train/` and `test/` (scene datasets) and `translated/` (the `vidtrans synth` output for the
    game training set) under `work_dir`, which must be empty or new unless `overwrite` (then only those
    sub-folders are replaced). `progress=False` silences the messages and progress bars on stderr. See the
    module docstring for the conditions and the seeds.
    """
    from vidtrans.devices import resolve_device
    from vidtrans.registry import resolve_model

    settings = DownstreamSettings(model=str(model.path if isinstance(model, ModelDirectory) else model),
                                  translation=translation, train_count=train_count, test_count=test_count,
                                  size=(int(size[0]), int(size[1])),
                                  render_size=(int(render_size[0]), int(render_size[1])), steps=steps,
                                  batch_size=batch_size, lr=lr, seed=seed, device=device)
    torch_device = resolve_device(device)
    found = None
    if translation == "model":
        found = model if isinstance(model, ModelDirectory) else resolve_model(model)
        trained_at = found.info.training_size
        if trained_at is not None and tuple(trained_at) != settings.render_size:
            warn(f"{found.name} was trained at {trained_at[0]}x{trained_at[1]} but the scenes are translated at "
                 f"{settings.render_size[0]}x{settings.render_size[1]}; a generator applied at another scale "
                 f"translates worse (see render_size)")
    work_dir = Path(work_dir)
    _prepare_work_dir(work_dir, overwrite)
    timings: dict[str, float] = {}
    started = clock = time.perf_counter()

    width, height = settings.render_size
    _say(progress, f"rendering {train_count} training and {test_count} evaluation scenes at {width}x{height}")
    write_scene_dataset(work_dir / "train", count=train_count, width=width, height=height, first_seed=TRAIN_FIRST_SEED)
    write_scene_dataset(work_dir / "test", count=test_count, width=width, height=height, first_seed=TEST_FIRST_SEED)
    game = load_dataset(work_dir / "train" / "game", size=settings.size)
    real = load_dataset(work_dir / "train" / "real", size=settings.size)
    test = load_dataset(work_dir / "test" / "real", size=settings.size)
    timings["render"], clock = time.perf_counter() - clock, time.perf_counter()

    if found is not None:
        _say(progress, f"translating {train_count} game images with {found.name} ({found.path})")
        _translate(found, work_dir / "train" / "game", work_dir / "translated", device=str(torch_device),
                   progress=progress)
        translated = load_dataset(work_dir / "translated", size=settings.size)
        description = f"game renders translated by {found.name!r}"
        timings["translate"], clock = time.perf_counter() - clock, time.perf_counter()
    elif translation == "identity":
        translated, description = game, "game renders, untranslated (identity sanity check)"
    else:
        translated, description = real, "real renders (perfect-translation sanity check)"

    results = []
    for name, text, data in (("game", "game renders", game), ("translated", description, translated),
                             ("real", "real renders of the same scenes (oracle)", real)):
        results.append(_condition(name, text, data, test, settings, torch_device, progress))
        timings[f"train_and_evaluate_{name}"], clock = time.perf_counter() - clock, time.perf_counter()
    timings["total"] = time.perf_counter() - started

    a, b, c = (r.miou for r in results)
    environment = {"device": str(torch_device), "torch": torch.__version__, "threads": torch.get_num_threads(),
                   "segnet_parameters": count_parameters(build_segnet())}
    return DownstreamReport(settings=settings, model=_model_record(found) if found else {}, game=results[0],
                            translated=results[1], real=results[2], gap_closed=(b - a) / (c - a) if c != a else None,
                            evaluated_classes=tuple(k for k, v in results[0].iou.items() if v is not None),
                            timings=timings, environment=environment)
