"""The FCN score (CycleGAN, Zhu et al. 2017, Table 1), the hood score and the label-flip rate.

A segmenter trained on the target (real) domain labels three sets of images of the same scenes, and each set is
scored against the *source* labels (the label maps that `vidtrans synth` would keep):

    source      the untranslated source images (how far the domain gap alone puts the segmenter off)
    translated  the translations G(source)
    real        the paired real images of the same scenes (the ideal translation; needs paired data)

For each set: per-pixel accuracy, per-class accuracy (the mean over classes of the share of a class's pixels
predicted as it) and class IoU (per class, and the mean), from one confusion matrix over all images; pixels
labelled with the segmenter's ignore index are left out, and classes with no labelled pixel have no score.

Hood score: the share of the pixels in the bottom `HOOD_BAND` of each frame (all of them, labelled or not) that the
segmenter labels "ego vehicle". It needs a segmenter with that class (`vidtrans segmenter train --ego-vehicle`);
a translation that paints the target domain's hood into the frame scores high, the paired real images (which
have no hood) give the segmenter's false-alarm floor.

Label-flip rate: the share of labelled pixels whose class, as judged by the segmenter, differs from the source
label on the translation, beyond the segmenter's own error rate on the paired real images:
error(translated) - error(real) = pixel accuracy(real) - pixel accuracy(translated). It splits exactly into
`flipped` (pixels the segmenter gets right on the real image and wrong on the translation) minus `restored`
(wrong on the real image, right on the translation), both shares of the labelled pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from vidtrans.downstream.train import SegmentationScores, confusion_matrix, scores_from_confusion
from vidtrans.segmenter.runners import Segmenter

HOOD_BAND = 0.2  # the bottom fifth of a frame: room for any hood (vidtrans' real content: 9-14 %, plus the emblem)
ROWS = ("source", "translated", "real")
_ROW_TITLES = {"source": "source, untranslated", "translated": "translated", "real": "real (paired)"}


@dataclass(frozen=True)
class FcnRow:
    """The scores of one set of images."""

    name: str
    scores: SegmentationScores
    hood: float | None  # share of bottom-band pixels labelled "ego vehicle"; None without that class

    def to_json(self, class_names: tuple[str, ...]) -> dict[str, Any]:
        s = self.scores
        return {"pixel_accuracy": _finite(s.pixel_accuracy), "mean_class_accuracy": _finite(s.mean_class_accuracy),
                "mean_iou": _finite(s.miou), "hood": self.hood,
                "iou": {name: s.iou[c] for c, name in enumerate(class_names) if s.iou[c] is not None},
                "class_accuracy": {name: s.class_accuracy[c] for c, name in enumerate(class_names)
                                   if s.class_accuracy[c] is not None},
                "confusion": s.confusion.tolist()}


@dataclass(frozen=True)
class LabelFlips:
    """error(translated) - error(real) over the labelled pixels, and its two parts (see the module docstring)."""

    rate: float
    flipped: float
    restored: float


@dataclass(frozen=True)
class FcnScore:
    """Everything the FCN score measured."""

    segmenter: str
    class_names: tuple[str, ...]
    images: int
    rows: tuple[FcnRow, ...]
    label_flips: LabelFlips | None
    hood_band: float

    def row(self, name: str) -> FcnRow | None:
        return next((r for r in self.rows if r.name == name), None)

    def to_json(self) -> dict[str, Any]:
        flips = self.label_flips
        return {"segmenter": self.segmenter, "class_names": list(self.class_names), "images": self.images,
                "hood_band": self.hood_band, "rows": {r.name: r.to_json(self.class_names) for r in self.rows},
                "label_flip_rate": None if flips is None else flips.rate,
                "flipped": None if flips is None else flips.flipped,
                "restored": None if flips is None else flips.restored}

    def table_lines(self) -> list[str]:
        """The table `vidtrans eval --fcn-score` prints (percentages)."""
        lines = [f"  FCN score ({self.images} images; segmenter {self.segmenter}):",
                 f"    {'':<22}{'pixel acc':>10}{'class acc':>10}{'mean IoU':>10}{'hood':>8}"]
        for r in self.rows:
            s = r.scores
            lines.append(f"    {_ROW_TITLES[r.name]:<22}{_pct(s.pixel_accuracy):>10}{_pct(s.mean_class_accuracy):>10}"
                         f"{_pct(s.miou):>10}{_pct(r.hood):>8}")
        if self.label_flips is not None:
            f = self.label_flips
            lines.append(f"    label-flip rate {_pct(f.rate)}% (flipped {_pct(f.flipped)}% of labelled pixels, "
                         f"restored {_pct(f.restored)}%)")
        if self.rows[0].hood is None:
            lines.append("    hood: the segmenter has no 'ego vehicle' class")
        else:
            lines.append(f"    hood: share of the bottom {100 * self.hood_band:.0f}% of each frame labelled "
                         f"ego vehicle")
        lines.append("    IoU per class " + "".join(f"{r.name:>11}" for r in self.rows))
        for c, name in enumerate(self.class_names):
            if self.rows[0].scores.iou[c] is not None:
                lines.append(f"      {name:<14}" + "".join(f"{_pct(r.scores.iou[c]):>11}" for r in self.rows))
        return lines


def _pct(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{100 * value:.1f}"


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


class FcnScorer:
    """Accumulates the FCN score image by image: `add(labels, source=..., translated=..., real=...)`."""

    def __init__(self, segmenter: Segmenter, *, hood_band: float = HOOD_BAND) -> None:
        if not 0 < hood_band <= 1:
            raise ValueError(f"hood_band must be in (0, 1]; got {hood_band}")
        self.segmenter, self.hood_band = segmenter, hood_band
        n = segmenter.spec.num_classes
        self._confusion = {name: np.zeros((n, n), np.int64) for name in ROWS}
        self._hood = dict.fromkeys(ROWS, 0)
        self._band = 0
        self._rows: tuple[str, ...] | None = None
        self._flipped = self._restored = self._labelled = 0
        self.images = 0

    def add(self, labels: np.ndarray, **images: np.ndarray) -> None:
        """Score the images of one scene (keywords from ROWS, each (H, W, 3) uint8) against its (H, W) labels.

        Every call must give the same sets; ValueError for labels outside the segmenter's classes (other than
        its ignore index) or images of another size than the labels.
        """
        rows = tuple(name for name in ROWS if name in images)
        if set(images) - set(rows) or not rows:
            raise ValueError(f"images must be given as {', '.join(ROWS)}; got {', '.join(images) or 'none'}")
        if self._rows is not None and rows != self._rows:
            raise ValueError(f"every image must come with the same sets ({', '.join(self._rows)}); "
                             f"got {', '.join(rows)}")
        for name in rows:
            if images[name].shape[:2] != labels.shape:
                raise ValueError(f"the {name} image is {images[name].shape[1]}x{images[name].shape[0]} but its labels "
                                 f"are {labels.shape[1]}x{labels.shape[0]}")
        spec = self.segmenter.spec
        predicted = dict(zip(rows, self.segmenter.predict(np.stack([images[name] for name in rows]))))
        target = torch.from_numpy(labels)
        confusions = {name: confusion_matrix(torch.from_numpy(predicted[name]), target, spec.num_classes,
                                             ignore=spec.ignore_index) for name in rows}
        self._rows = rows
        for name in rows:
            self._confusion[name] += confusions[name]
        band = predicted[rows[0]][-max(1, round(self.hood_band * labels.shape[0])):]
        self._band += band.size
        if spec.ego_vehicle_class is not None:
            for name in rows:
                self._hood[name] += int((predicted[name][-len(band):] == spec.ego_vehicle_class).sum())
        if "translated" in rows and "real" in rows:
            labelled = labels != spec.ignore_index
            translated_right = predicted["translated"] == labels
            real_right = predicted["real"] == labels
            self._flipped += int((labelled & real_right & ~translated_right).sum())
            self._restored += int((labelled & ~real_right & translated_right).sum())
            self._labelled += int(labelled.sum())
        self.images += 1

    def result(self) -> FcnScore:
        if self._rows is None:
            raise ValueError("no images were scored")
        has_hood = self.segmenter.spec.ego_vehicle_class is not None
        rows = tuple(FcnRow(name=name, scores=scores_from_confusion(self._confusion[name]),
                            hood=self._hood[name] / self._band if has_hood else None) for name in self._rows)
        flips = None
        if self._labelled:
            flips = LabelFlips(rate=(self._flipped - self._restored) / self._labelled,
                               flipped=self._flipped / self._labelled, restored=self._restored / self._labelled)
        return FcnScore(segmenter=self.segmenter.describe(), class_names=self.segmenter.spec.class_names,
                        images=self.images, rows=rows, label_flips=flips, hood_band=self.hood_band)
