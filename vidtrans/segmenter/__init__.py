"""Segmenters: networks that label images with classes, for the FCN score and for training losses.

- `spec`: the sidecar JSON that says how to run an ONNX segmenter (input size, mean/std, class names, ignore index);
- `runners`: running one (ONNX Runtime, or torch for vidtrans' own), the bundled ones, the frozen torch module;
- `build`: `vidtrans segmenter train`, training one on a labelled folder and writing its directory.
"""

from vidtrans.segmenter.runners import (
    BUNDLED_SEGMENTERS,
    DEFAULT_SEGMENTER,
    OnnxSegmenter,
    Segmenter,
    TorchSegmenter,
    frozen_segmenter,
    load_segmenter,
)
from vidtrans.segmenter.spec import EGO_VEHICLE, SegmenterSpec, read_spec, sidecar_path

__all__ = [
    "BUNDLED_SEGMENTERS", "DEFAULT_SEGMENTER", "EGO_VEHICLE", "OnnxSegmenter", "Segmenter", "SegmenterSpec",
    "TorchSegmenter", "frozen_segmenter", "load_segmenter", "read_spec", "sidecar_path",
]
