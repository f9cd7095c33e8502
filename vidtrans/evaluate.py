"""`vidtrans eval`: quality numbers for a model on folders of images.

- paired (`--pairs A B`, matched by relative file name): PSNR and SSIM of G(a) against b, beside the same
  metrics for the untranslated a (the baseline);
- cycle consistency: L1 of F(G(a)) against a, when the model has the inverse generator F;
- FID and KID between G(A) and B, when Inception weights are given (pytorch-fid's file);
- the FCN score, hood score and label-flip rate (`vidtrans.fcn_score`), when asked for, with the source images'
  label maps: a segmenter of the target domain labels a, G(a) and (paired) b, scored against a's labels;
- a report: `report.json` and `examples.png` (input | output | target or reconstruction).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from vidtrans.console import Progress, warn
from vidtrans.errors import InputError, OutputError, UsageError
from vidtrans.fcn_score import FcnScore, FcnScorer
from vidtrans.fid import FidKidResult, fid_kid_from_features, inception_features
from vidtrans.fsutil import atomic_write_text
from vidtrans.images import list_images, read_image, write_image
from vidtrans.metrics import l1, psnr, ssim
from vidtrans.modeldir import ModelDirectory, record_evaluation
from vidtrans.runtime import RuntimeOptions
from vidtrans.translator import NonFiniteOutput, Translator

REPORT_JSON = "report.json"
INCEPTION_BATCH = 32
EXAMPLES_PNG = "examples.png"
FID_WEIGHTS_HINT = ("pass --inception-weights FILE (pytorch-fid's pt_inception-2015-12-05-6726825d.pth) "
                    "to compute FID and KID")


@dataclass(frozen=True)
class EvalOptions:
    """How to run the model (`runtime`; its `inverse` is ignored: eval measures the forward generator, and the
    cycle through the inverse one) and what to report."""

    runtime: RuntimeOptions = RuntimeOptions()
    max_items: int | None = None
    examples: int = 4
    inception_weights: Path | None = None
    fcn_score: bool = False
    segmenter: str | None = None  # with fcn_score: a segmenter path or bundled name (None: the bundled default)
    record: bool = False
    """Add the results to the model's card and `model.json` (not for bundled models)."""
    allow_other_inception: bool = False
    """Use Inception weights that are not pytorch-fid's (their FID is not comparable with published ones)."""
    overwrite: bool = False
    quiet: bool = False

    def __post_init__(self) -> None:
        if self.segmenter is not None and not self.fcn_score:
            raise UsageError("--segmenter goes with --fcn-score")
        if self.max_items is not None and self.max_items < 1:
            raise UsageError(f"--max-items must be >= 1; got {self.max_items}")
        if self.examples < 0:
            raise UsageError(f"--examples must be >= 0; got {self.examples}")


@dataclass(frozen=True)
class ItemScores:
    """Scores of one source image (None where the metric does not apply)."""

    name: str
    psnr: float | None = None
    ssim: float | None = None
    baseline_psnr: float | None = None
    baseline_ssim: float | None = None
    cycle_l1: float | None = None


@dataclass(frozen=True)
class EvalReport:
    """Everything `vidtrans eval` measured, and where the report files are."""

    model: str
    weights_sha256: str
    source: str
    target: str | None
    paired: bool
    items: tuple[ItemScores, ...]
    means: dict[str, float | None]
    fid: FidKidResult | None
    fid_note: str | None
    report_path: Path
    examples_path: Path | None
    fcn: FcnScore | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["fcn"] = self.fcn.to_json() if self.fcn is not None else None
        doc["items"] = [asdict(item) for item in self.items]
        doc["report_path"] = str(self.report_path)
        doc["examples_path"] = str(self.examples_path) if self.examples_path else None
        return doc

    def card_record(self) -> dict[str, Any]:
        """The summary a model card keeps of this evaluation (see `vidtrans.modelcard`)."""
        folders = f"{Path(self.source).name} vs {Path(self.target).name}" if self.target else Path(self.source).name
        record: dict[str, Any] = {
            "date": _dt.date.today().isoformat(), "data": folders, "paired": self.paired, "items": len(self.items),
            **{key: value for key, value in self.means.items() if value is not None},
        }
        if self.fid is not None:
            record.update(fid=self.fid["fid"], kid=self.fid["kid_mean"])
        translated = self.fcn.row("translated") if self.fcn is not None else None
        if translated is not None:
            scores = translated.scores
            record.update(fcn_miou=100 * scores.miou, fcn_pixel_accuracy=100 * scores.pixel_accuracy)
            if translated.hood is not None:
                record["hood"] = 100 * translated.hood
            if self.fcn.label_flips is not None:  # type: ignore[union-attr]
                record["label_flip_rate"] = 100 * self.fcn.label_flips.rate  # type: ignore[union-attr]
        return record

    def summary_lines(self) -> list[str]:
        """A short human-readable summary."""
        m = self.means
        lines = [f"{self.model}: {len(self.items)} images from {self.source}"]
        if self.paired:
            lines.append(f"  PSNR {m['psnr']:.2f} dB (untranslated {m['baseline_psnr']:.2f} dB, "
                         f"{m['psnr'] - m['baseline_psnr']:+.2f} dB)")
            lines.append(f"  SSIM {m['ssim']:.4f} (untranslated {m['baseline_ssim']:.4f})")
        if m.get("cycle_l1") is not None:
            lines.append(f"  cycle L1 |F(G(a)) - a| {m['cycle_l1']:.4f}")
        if self.fid is not None:
            lines.append(f"  FID {self.fid['fid']:.2f}  KID {self.fid['kid_mean']:.4f} +/- {self.fid['kid_std']:.4f}")
        elif self.fid_note:
            lines.append(f"  FID/KID skipped: {self.fid_note}")
        if self.fcn is not None:
            lines += self.fcn.table_lines()
        lines.append(f"  report: {self.report_path}" + (f", examples: {self.examples_path}" if self.examples_path else ""))
        return lines


def _key(path: Path, root: Path) -> str:
    return path.relative_to(root).with_suffix("").as_posix()


def match_pairs(source: Path, target: Path) -> list[tuple[str, Path, Path]]:
    """(name, a, b) for images with the same relative path (suffix aside) in both folders, sorted by name."""
    a_images = {_key(p, source): p for p in list_images(source)}
    b_images = {_key(p, target): p for p in list_images(target)}
    common = sorted(set(a_images) & set(b_images))
    if not common:
        raise UsageError(f"--pairs {source} {target}: no image names match ({len(a_images)} and "
                         f"{len(b_images)} images); paired evaluation matches files by relative name")
    unmatched = len(a_images) + len(b_images) - 2 * len(common)
    if unmatched:
        warn(f"{unmatched} image(s) in {source} or {target} have no partner and are left out")
    return [(name, a_images[name], b_images[name]) for name in common]


def match_labels(items: list[tuple[str, Path, Path | None]], labels: Path) -> list[Path]:
    """The label map of each item: the file in `labels` with the item's relative name (any image suffix)."""
    if not labels.is_dir():
        raise InputError(f"{labels}: no such folder (--labels: the source images' label maps)")
    found = {_key(p, labels): p for p in list_images(labels)}
    missing = [(name, a) for name, a, _ in items if name not in found]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise InputError(f"{labels}: no label map for {missing[0][1]} (looked for {missing[0][0]}.png){more}")
    return [found[name] for name, _, _ in items]


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return float(np.mean(present)) if present else None


def _tile(image: np.ndarray, height: int) -> np.ndarray:
    width = max(1, round(image.shape[1] * height / image.shape[0]))
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


def examples_grid(rows: list[list[np.ndarray]], *, height: int = 192, gap: int = 4) -> np.ndarray:
    """Rows of images side by side, each scaled to `height`, on a dark background."""
    tiled = [np.concatenate([np.pad(_tile(im, height), ((0, 0), (0, gap), (0, 0)), constant_values=32)
                             for im in row], axis=1) for row in rows]
    width = max(r.shape[1] for r in tiled)
    padded = [np.pad(r, ((0, gap), (0, width - r.shape[1]), (0, 0)), constant_values=32) for r in tiled]
    return np.concatenate(padded, axis=0)


def _score_labels(scorer: FcnScorer, label_path: Path, **images: np.ndarray) -> None:
    from vidtrans.downstream.data import read_label

    try:
        scorer.add(read_label(label_path), **images)
    except ValueError as error:
        raise InputError(f"{label_path}: {error}") from None


def evaluate(model: ModelDirectory, *, source: Path, target: Path | None = None, paired: bool = False,
             output_dir: Path, labels: Path | None = None, options: EvalOptions = EvalOptions()) -> EvalReport:
    """Translate the images in `source` with `model` and measure what the options and the model allow.

    `labels` is a folder of the source images' label maps (same relative names), which the FCN score needs.
    """
    source, output_dir = Path(source), Path(output_dir)
    if paired and target is None:
        raise UsageError("paired evaluation needs a target folder")
    if options.fcn_score and labels is None:
        raise UsageError("--fcn-score needs --labels DIR: the source images' label maps, with the same names")
    if labels is not None and not options.fcn_score:
        raise UsageError("--labels goes with --fcn-score")
    if target is not None and not Path(target).is_dir():
        raise InputError(f"{target}: no such folder")
    report_path = output_dir / REPORT_JSON
    if report_path.exists() and not options.overwrite:
        raise OutputError(f"{report_path}: already exists (pass --overwrite to replace it)")
    if paired:
        items = match_pairs(source, Path(target))
    else:
        items = [(_key(p, source), p, None) for p in list_images(source)]
        if not items:
            raise InputError(f"{source}: no images found (looked for png, jpg, jpeg, webp, bmp)")
    items = items[: options.max_items]
    label_paths = match_labels(items, Path(labels)) if labels is not None else [None] * len(items)

    inception = None
    fid_note = None
    if options.inception_weights is not None:
        from vidtrans.inception import load_fid_inception

        inception = load_fid_inception(Path(options.inception_weights), allow_other=options.allow_other_inception)
    elif target is not None:
        fid_note = FID_WEIGHTS_HINT
    else:
        fid_note = "no target folder to compare against"

    scorer = None
    if options.fcn_score:
        from vidtrans.devices import resolve_device
        from vidtrans.segmenter import load_segmenter

        scorer = FcnScorer(load_segmenter(options.segmenter, device=resolve_device(options.runtime.device)))
    forward = Translator.from_model(model, dataclasses.replace(options.runtime, inverse=False),
                                    announce=not options.quiet)
    inverse = (Translator.from_model(model, dataclasses.replace(options.runtime, inverse=True), announce=False)
               if model.info.has_inverse else None)
    scores: list[ItemScores] = []
    examples: list[list[np.ndarray]] = []
    generated_features: list[np.ndarray] = []
    to_embed: list[np.ndarray] = []  # translations waiting for a full Inception batch

    def embed() -> None:
        generated_features.append(inception_features(to_embed, model=inception, device=forward.device))
        to_embed.clear()

    try:
        with Progress(len(items), unit="images", description="eval", enabled=not options.quiet) as progress:
            for (name, a_path, b_path), label_path in zip(items, label_paths):
                a = read_image(a_path)
                b = read_image(b_path) if b_path is not None else None
                if b is not None and b.shape != a.shape:
                    raise InputError(f"{b_path}: size {b.shape[1]}x{b.shape[0]} differs from its pair "
                                     f"{a_path} ({a.shape[1]}x{a.shape[0]})")
                try:
                    fake = forward.translate(a[None])[0]
                    cycle = inverse.translate(fake[None])[0] if inverse is not None else None
                except NonFiniteOutput as error:
                    raise NonFiniteOutput(f"{a_path}: {error}") from None
                if scorer is not None:
                    _score_labels(scorer, label_path, source=a, translated=fake,
                                  **({"real": b} if b is not None else {}))
                scores.append(ItemScores(
                    name=name,
                    psnr=psnr(fake, b) if b is not None else None,
                    ssim=ssim(fake, b) if b is not None else None,
                    baseline_psnr=psnr(a, b) if b is not None else None,
                    baseline_ssim=ssim(a, b) if b is not None else None,
                    cycle_l1=l1(cycle, a) if cycle is not None else None,
                ))
                if len(examples) < options.examples:
                    examples.append([a, fake] + [x for x in (b, cycle) if x is not None])
                if inception is not None:
                    to_embed.append(fake)
                    if len(to_embed) == INCEPTION_BATCH:
                        embed()
                progress.update(1)
            if to_embed:
                embed()
    finally:
        forward.close()
        if inverse is not None:
            inverse.close()

    fid = None
    if inception is not None and target is not None:
        target_images = (read_image(p) for p in list_images(Path(target))[: options.max_items])
        target_features = inception_features(target_images, model=inception, device=forward.device)
        generated = np.concatenate(generated_features) if generated_features else np.zeros((0, 2048))
        if len(generated) < 2 or len(target_features) < 2:
            fid_note = "FID/KID need at least 2 images in each set"
        else:
            fid = fid_kid_from_features(generated, target_features)
    elif inception is not None:
        fid_note = "no target folder to compare against"

    means = {key: _mean([getattr(s, key) for s in scores])
             for key in ("psnr", "ssim", "baseline_psnr", "baseline_ssim", "cycle_l1")}
    output_dir.mkdir(parents=True, exist_ok=True)
    examples_path = None
    if examples:
        examples_path = output_dir / EXAMPLES_PNG
        write_image(examples_path, examples_grid(examples))
    report = EvalReport(
        model=model.name, weights_sha256=model.sha256["generator"], source=str(source),
        target=str(target) if target is not None else None, paired=paired, items=tuple(scores), means=means,
        fid=fid, fid_note=None if fid is not None else fid_note, report_path=report_path,
        examples_path=examples_path, fcn=scorer.result() if scorer is not None else None,
        extra={"backend": forward.backend.name, "columns": "input | output" + (" | target" if paired else "")
               + (" | reconstruction" if model.info.has_inverse else "")},
    )
    atomic_write_text(report_path, json.dumps(report.to_json(), indent=2) + "\n")
    if options.record:
        record_evaluation(model, report.card_record())
    return report
