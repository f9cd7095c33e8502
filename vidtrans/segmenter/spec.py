"""The segmenter sidecar: a JSON file beside an ONNX segmenter (`seg.onnx` -> `seg.json`) saying how to run it.

Required keys (anything else is kept, unread):

    input_size    [width, height]: images are resized to this before segmentation
    mean, std     three numbers each: the network sees (rgb / 255 - mean) / std, RGB channel order, NCHW
    class_names   one name per output class, in output order; class i must be label value i of the label maps
    ignore_index  the label value that is not scored (255 for Cityscapes train IDs); not a class index

A class named "ego vehicle" (Cityscapes' name for the hood of the recording car) makes the hood score possible.
vidtrans' own segmenters (`vidtrans segmenter train`) write this file with more: the ONNX input and output
names, the torch weights and architecture, and how the network was trained.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vidtrans.errors import ModelError

EGO_VEHICLE = "ego vehicle"
REQUIRED_KEYS = ("input_size", "mean", "std", "class_names", "ignore_index")


@dataclass(frozen=True)
class SegmenterSpec:
    """What a sidecar says; `extra` holds its other keys as they are."""

    input_size: tuple[int, int]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    class_names: tuple[str, ...]
    ignore_index: int
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def ego_vehicle_class(self) -> int | None:
        """The index of the class named "ego vehicle", if the segmenter has one."""
        return self.class_names.index(EGO_VEHICLE) if EGO_VEHICLE in self.class_names else None

    def to_json(self) -> dict[str, Any]:
        return {**self.extra, "input_size": list(self.input_size), "mean": list(self.mean), "std": list(self.std),
                "class_names": list(self.class_names), "ignore_index": self.ignore_index}


def sidecar_path(onnx_file: Path) -> Path:
    """`seg.onnx` -> `seg.json`."""
    return Path(onnx_file).with_suffix(".json")


def _numbers(doc: Mapping[str, Any], key: str, count: int) -> tuple[float, ...]:
    value = doc[key]
    if (not isinstance(value, list) or len(value) != count
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)):
        raise ValueError(f"{key} must be a list of {count} numbers; got {value!r}")
    return tuple(float(v) for v in value)


def spec_from_json(doc: Any) -> SegmenterSpec:
    """Validate a parsed sidecar; ValueError (one line) on the first problem."""
    if not isinstance(doc, dict):
        raise ValueError("expected a JSON object")
    missing = [key for key in REQUIRED_KEYS if key not in doc]
    if missing:
        raise ValueError(f"missing {', '.join(missing)} (a segmenter sidecar needs {', '.join(REQUIRED_KEYS)})")
    size = doc["input_size"]
    if not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) and not isinstance(v, bool)
                                                              and v > 0 for v in size)):
        raise ValueError(f"input_size must be [width, height], two positive integers; got {size!r}")
    mean, std = _numbers(doc, "mean", 3), _numbers(doc, "std", 3)
    if min(std) <= 0:
        raise ValueError(f"std must be positive; got {list(std)}")
    names = doc["class_names"]
    if not (isinstance(names, list) and len(names) >= 2 and all(isinstance(n, str) and n for n in names)):
        raise ValueError("class_names must be a list of at least 2 non-empty strings")
    if len(set(names)) != len(names):
        raise ValueError("class_names has duplicates")
    ignore = doc["ignore_index"]
    if not isinstance(ignore, int) or isinstance(ignore, bool) or not 0 <= ignore <= 255 or ignore < len(names):
        raise ValueError(f"ignore_index must be an integer from {len(names)} (the class count) to 255; got {ignore!r}")
    extra = {k: v for k, v in doc.items() if k not in REQUIRED_KEYS}
    return SegmenterSpec(input_size=(size[0], size[1]), mean=mean, std=std, class_names=tuple(names),  # type: ignore[arg-type]
                         ignore_index=ignore, extra=extra)


def read_spec(path: Path) -> SegmenterSpec:
    """Read and validate a sidecar; a ModelError naming the file and the problem otherwise."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no segmenter sidecar (a JSON file with {', '.join(REQUIRED_KEYS)})")
    try:
        return spec_from_json(json.loads(path.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelError(f"{path}: not valid JSON ({error})") from None
    except ValueError as error:
        raise ModelError(f"{path}: bad segmenter sidecar: {error}") from None
    except OSError as error:
        raise ModelError(f"{path}: cannot read the segmenter sidecar ({error.strerror or error})") from None
