"""The downstream experiment (CyCADA in miniature): does translating game frames help a segmenter on real ones?

One small segmentation network (same architecture, seed and schedule) is trained on each of:

    (a) game        game renders of the training scenes with their labels (no adaptation)
    (b) translated  the same game renders translated game -> real by a vidtrans model with `vidtrans synth`
                    (the labelled-dataset path users run), same labels; one condition per model
    (c) real        real renders with their labels (the oracle)

and each is scored on real renders of held-out scenes. The gap a model closes is (b - a) / (c - a).

Two settings of what the scenes hold (`content_shift`):

- False (the default): one content for all (`vidtrans.scenes`' game content). (c) is the real look of the
  *same* training scenes, so geometry and labels are identical and only the look differs; (c) is the best a
  translation can do, and the held-out scenes are game content in the real look.
- True: the domains differ in content as GTA5 and Cityscapes do (docs/scenes.md). (a) and (b) are game content,
  (c) and the held-out scenes are real content in the real look: other scenes, with the ego-vehicle hood at
  the bottom of every frame, labelled 255 and ignored in training and scoring. A translation that paints
  trees into the sky or a hood over the road makes labels that lie, and (b) pays for it.

Resolutions: scenes are rendered, and the game images translated, at `render_size` (default 512x256, the
scale the demo model is trained at: a generator applied at another scale blurs and smears); every image is
then area-downsampled, and every label map nearest-neighbour downsampled, to `size` (default 256x128), where
the segmenters train and are scored.

Seeds: training scenes are TRAIN_FIRST_SEED, +1, ... (with `content_shift`, the real-content training scenes
are REAL_TRAIN_FIRST_SEED, +1, ...: other scenes); evaluation scenes TEST_FIRST_SEED, +1, ... All lie far
above the seeds models are trained on (`vidtrans.scenes` datasets start at seed 0), so a translation model
trained on fewer than 100 000 scenes from seed 0 has never seen an evaluation scene, and the segmenters never
see one either.

Two sanity modes replace the models: `translation="identity"` uses the game images as (b), so b == a;
`translation="real"` uses the real renders of the game training scenes as (b), a perfect translation that
keeps every label (without `content_shift` these are (c)'s images, so b == c).
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Mapping, Sequence
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
REAL_TRAIN_FIRST_SEED = 150_000  # the real-content training scenes of `content_shift`
TEST_FIRST_SEED = 200_000
MAX_COUNT = REAL_TRAIN_FIRST_SEED - TRAIN_FIRST_SEED
WORK_FOLDERS = ("train", "train-real", "test", "translated")  # the sub-folders of work_dir the experiment writes
REPORT_VERSION = 2


@dataclass(frozen=True)
class DownstreamSettings:
    """Everything that decides the experiment's result.

    `models` are the translation models, one condition (b) each; `render_size` (width, height) is where scenes
    are rendered and translated; `size` where the segmenters train and are scored; `content_shift` gives the
    real domain its own content (see the module docstring).
    """

    models: tuple[str, ...] = ("demo",)
    translation: Translation = "model"
    content_shift: bool = False
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
        if self.translation == "model" and not self.models:
            raise UsageError("give at least one translation model")
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
    def real_train_seeds(self) -> range:
        """The scenes of (c): the game training scenes, or with `content_shift` real-content ones."""
        first = REAL_TRAIN_FIRST_SEED if self.content_shift else TRAIN_FIRST_SEED
        return range(first, first + self.train_count)

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
    """The conditions, the share of the (a)-(c) gap that each (b) closes, the settings and timings."""

    settings: DownstreamSettings
    models: tuple[Mapping[str, Any], ...]  # name, path, generator sha256 per model (none in sanity modes)
    game: ConditionResult
    translated: tuple[ConditionResult, ...]  # one per model, or the sanity translation
    real: ConditionResult
    gap_closed: tuple[float | None, ...]  # (b - a) / (c - a) per translated condition; None when c == a
    evaluated_classes: tuple[str, ...]
    timings: Mapping[str, float] = field(default_factory=dict)  # seconds per stage, and "total"
    environment: Mapping[str, Any] = field(default_factory=dict)  # device, torch version and threads, network size

    @property
    def conditions(self) -> tuple[ConditionResult, ...]:
        return self.game, *self.translated, self.real

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (NaN becomes None)."""
        doc = {"report_version": REPORT_VERSION, "experiment": "vidtrans.downstream", **asdict(self)}
        for name in ("train_seeds", "real_train_seeds", "test_seeds"):
            seeds = getattr(self.settings, name)
            doc["settings"][name] = [seeds.start, seeds.stop - 1]
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
        real = (f"{s.train_count} real-content scenes (seeds {s.real_train_seeds.start}-{s.real_train_seeds.stop - 1})"
                if s.content_shift else "the same scenes")
        lines = [
            f"downstream segmentation at {s.size[0]}x{s.size[1]} (rendered and translated at {s.render_size[0]}x"
            f"{s.render_size[1]}): train on {s.train_count} game scenes "
            f"(seeds {s.train_seeds.start}-{s.train_seeds.stop - 1}; the oracle on {real}), evaluate on "
            f"{s.test_count} held-out real{'-content' if s.content_shift else ''} scenes in the real look "
            f"(seeds {s.test_seeds.start}-{s.test_seeds.stop - 1}), {s.steps} steps of batch {s.batch_size}",
            "",
            f"{'condition':<24}{'mIoU':>7}{'pixel acc':>11}{'loss':>8}{'train':>9}{'gap closed':>12}  trained on",
        ]
        gaps = ("",) + tuple("n/a" if gap is None else f"{100 * gap:.1f}%" for gap in self.gap_closed) + ("",)
        for label, result, gap in zip(self._labels(), self.conditions, gaps):
            lines.append(f"{label + ' ' + result.name:<24}{_pct(result.miou):>7}{_pct(result.pixel_accuracy):>11}"
                         f"{result.final_loss:>8.3f}{result.train_seconds:>8.0f}s{gap:>12}  {result.description}")
        lines += ["", "gap closed by a translation: (b - a) / (c - a)", "",
                  f"{'IoU per class':<16}" + "".join(f"{label:>7}" for label in self._labels())]
        for name in self.evaluated_classes:
            lines.append(f"{name:<16}" + "".join(f"{_pct(r.iou[name]):>7}" for r in self.conditions))
        timings = ", ".join(f"{k} {v:.1f}s" for k, v in self.timings.items())
        environment = ", ".join(f"{k} {v}" for k, v in self.environment.items())
        lines += ["", f"timings: {timings}", f"environment: {environment}"]
        return "\n".join(lines)

    def _labels(self) -> list[str]:
        """(a), (b) or (b1), (b2), ..., (c)."""
        count = len(self.translated)
        return ["(a)", *(["(b)"] if count == 1 else [f"(b{i})" for i in range(1, count + 1)]), "(c)"]


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


def _translation_models(models: Sequence[str | Path | ModelDirectory], render_size: tuple[int, int],
                        ) -> list[ModelDirectory]:
    """The models, resolved; a warning for each trained at another scale than the scenes are translated at."""
    from vidtrans.registry import resolve_model

    found = [model if isinstance(model, ModelDirectory) else resolve_model(model) for model in models]
    for model in found:
        trained_at = model.info.training_size
        if trained_at is not None and tuple(trained_at) != render_size:
            warn(f"{model.name} was trained at {trained_at[0]}x{trained_at[1]} but the scenes are translated at "
                 f"{render_size[0]}x{render_size[1]}; a generator applied at another scale translates worse "
                 f"(see render_size)")
    return found


def run_downstream(work_dir: Path, *, models: Sequence[str | Path | ModelDirectory] = _DEFAULTS.models,
                   translation: Translation = _DEFAULTS.translation, content_shift: bool = _DEFAULTS.content_shift,
                   train_count: int = _DEFAULTS.train_count, test_count: int = _DEFAULTS.test_count,
                   size: tuple[int, int] = _DEFAULTS.size, render_size: tuple[int, int] = _DEFAULTS.render_size,
                   steps: int = _DEFAULTS.steps, batch_size: int = _DEFAULTS.batch_size, lr: float = _DEFAULTS.lr,
                   seed: int = _DEFAULTS.seed, device: str = _DEFAULTS.device, overwrite: bool = False,
                   progress: bool = True) -> DownstreamReport:
    """Render the scenes, translate the game training images with each model, train and score the segmenters.

    Writes `train/` and `test/` (scene datasets; with `content_shift` also `train-real/`) and
    `translated/N-NAME/` (the `vidtrans synth` output of model N for the game training set) under `work_dir`,
    which must be empty or new unless `overwrite` (then only those sub-folders are replaced). `progress=False`
    silences the messages and progress bars on stderr. See the module docstring for the conditions and seeds.
    """
    from vidtrans.devices import resolve_device

    settings = DownstreamSettings(
        models=tuple(str(m.path if isinstance(m, ModelDirectory) else m) for m in models) if translation == "model"
        else (), translation=translation, content_shift=content_shift, train_count=train_count,
        test_count=test_count, size=(int(size[0]), int(size[1])),
        render_size=(int(render_size[0]), int(render_size[1])), steps=steps, batch_size=batch_size, lr=lr, seed=seed,
        device=device)
    torch_device = resolve_device(device)
    found = _translation_models(models, settings.render_size) if translation == "model" else []
    work_dir = Path(work_dir)
    _prepare_work_dir(work_dir, overwrite)
    timings: dict[str, float] = {}
    started = clock = time.perf_counter()

    width, height = settings.render_size
    content = "real" if content_shift else "game"
    _say(progress, f"rendering {train_count} training and {test_count} evaluation scenes at {width}x{height}"
                   + (" (the real domain with real content)" if content_shift else ""))
    write_scene_dataset(work_dir / "train", count=train_count, width=width, height=height, first_seed=TRAIN_FIRST_SEED)
    if content_shift:
        write_scene_dataset(work_dir / "train-real", count=train_count, width=width, height=height,
                            first_seed=REAL_TRAIN_FIRST_SEED, content="real")
    write_scene_dataset(work_dir / "test", count=test_count, width=width, height=height, first_seed=TEST_FIRST_SEED,
                        content=content)
    game = load_dataset(work_dir / "train" / "game", size=settings.size)
    real = load_dataset(work_dir / ("train-real" if content_shift else "train") / "real", size=settings.size)
    test = load_dataset(work_dir / "test" / "real", size=settings.size)
    timings["render"], clock = time.perf_counter() - clock, time.perf_counter()

    translated: list[tuple[str, str, SegmentationData]] = []
    for index, model in enumerate(found, 1):
        _say(progress, f"translating {train_count} game images with {model.name} ({model.path})")
        out = work_dir / "translated" / f"{index}-{model.name}"
        _translate(model, work_dir / "train" / "game", out, device=str(torch_device), progress=progress)
        translated.append((model.name, f"game renders translated by {model.name!r}",
                           load_dataset(out, size=settings.size)))
        timings[f"translate_{index}"], clock = time.perf_counter() - clock, time.perf_counter()
    if translation == "identity":
        translated.append(("translated", "game renders, untranslated (identity sanity check)", game))
    elif translation == "real":
        ideal = load_dataset(work_dir / "train" / "real", size=settings.size) if content_shift else real
        translated.append(("translated", "real renders of the game scenes (perfect-translation sanity check)", ideal))

    results = []
    for name, text, data in (("game", "game renders", game), *translated,
                             ("real", "real renders of real-content scenes (oracle)" if content_shift
                              else "real renders of the same scenes (oracle)", real)):
        results.append(_condition(name, text, data, test, settings, torch_device, progress))
        timings[f"train_and_evaluate_{len(results)}-{name}"], clock = time.perf_counter() - clock, time.perf_counter()
    timings["total"] = time.perf_counter() - started

    a, c = results[0].miou, results[-1].miou
    environment = {"device": str(torch_device), "torch": torch.__version__, "threads": torch.get_num_threads(),
                   "segnet_parameters": count_parameters(build_segnet())}
    return DownstreamReport(settings=settings, models=tuple(_model_record(model) for model in found),
                            game=results[0], translated=tuple(results[1:-1]), real=results[-1],
                            gap_closed=tuple((r.miou - a) / (c - a) if c != a else None for r in results[1:-1]),
                            evaluated_classes=tuple(k for k, v in results[0].iou.items() if v is not None),
                            timings=timings, environment=environment)
