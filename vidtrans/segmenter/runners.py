"""Running a segmenter on RGB images: an ONNX file with its sidecar (ONNX Runtime), or vidtrans' own (torch).

A vidtrans segmenter directory (what `vidtrans segmenter train` writes) holds `segmenter.json` (the sidecar,
with the torch architecture), `segmenter.safetensors` and `segmenter.onnx`. `load_segmenter` takes such a
directory (run with torch), an `.onnx` file with its sidecar beside it (run with ONNX Runtime), or the name of
a bundled segmenter; `frozen_segmenter` gives a directory's network as a frozen torch module for training.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from vidtrans.downstream.segnet import SegNet, SegNetConfig
from vidtrans.errors import ModelError, first_line
from vidtrans.ortpackages import import_onnxruntime
from vidtrans.fsutil import folder_listing, sha256_file
from vidtrans.modeldir import check_state_dict, read_safetensors
from vidtrans.resize import resize_rgb
from vidtrans.segmenter.spec import SegmenterSpec, read_spec, sidecar_path
from vidtrans.threads import cpu_lanes

SPEC_FILE = "segmenter.json"
WEIGHTS_FILE = "segmenter.safetensors"
ONNX_FILE = "segmenter.onnx"
BUNDLED_SEGMENTERS = Path(__file__).parent / "bundled"
DEFAULT_SEGMENTER = "scenes-real"
TORCH_MEAN_STD = (0.5, 0.5, 0.5)  # vidtrans' segmenters take [-1, 1] input, like the generators


class Segmenter(ABC):
    """Labels RGB images with the classes of its spec."""

    def __init__(self, path: Path, spec: SegmenterSpec) -> None:
        self.path, self.spec = path, spec

    def predict(self, images: np.ndarray) -> np.ndarray:
        """uint8 (N, H, W, 3) RGB -> uint8 (N, H, W) class indices at the images' own size.

        Each image is resized to the spec's input size and normalised with its mean and std; the predicted
        classes are resized back with nearest neighbours.
        """
        if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
            raise ValueError(f"images must be uint8 (N, H, W, 3); got {images.dtype} {images.shape}")
        height, width = images.shape[1:3]
        resized = np.stack([resize_rgb(image, self.spec.input_size) for image in images]).astype(np.float32)
        mean = np.array(self.spec.mean, np.float32) * 255
        std = np.array(self.spec.std, np.float32) * 255
        batch = np.ascontiguousarray(((resized - mean) / std).transpose(0, 3, 1, 2))
        classes = self._classes(batch)
        if classes.ndim != 3 or len(classes) != len(images):
            raise ModelError(f"{self.path}: the segmenter returned shape {classes.shape} for a batch of {len(images)}")
        if classes.size and (int(classes.min()) < 0 or int(classes.max()) >= self.spec.num_classes):
            raise ModelError(f"{self.path}: the segmenter predicted classes from {int(classes.min())} to "
                             f"{int(classes.max())}, but its sidecar names {self.spec.num_classes} classes")
        classes = classes.astype(np.uint8)
        return np.stack([cv2.resize(c, (width, height), interpolation=cv2.INTER_NEAREST) for c in classes])

    @abstractmethod
    def _classes(self, batch: np.ndarray) -> np.ndarray:
        """float32 NCHW normalised batch -> integer (N, h, w) classes."""

    def describe(self) -> str:
        width, height = self.spec.input_size
        where = f"{self.path.name} (bundled)" if self.path.parent == BUNDLED_SEGMENTERS else str(self.path)
        return f"{where}, {self.spec.num_classes} classes at {width}x{height}"


class OnnxSegmenter(Segmenter):
    """An ONNX graph with one input, float32 NCHW RGB, and one output: logits (N, C, h, w) or classes (N, h, w)."""

    def __init__(self, path: Path, spec: SegmenterSpec, *, device: torch.device) -> None:
        ort = import_onnxruntime("an ONNX segmenter")
        super().__init__(path, spec)
        providers = ["CPUExecutionProvider"]
        if device.type == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, ("CUDAExecutionProvider", {"device_id": str(device.index or 0)}))  # type: ignore[arg-type]
        options = ort.SessionOptions()
        options.log_severity_level = 3
        if device.type == "cpu":
            options.intra_op_num_threads = cpu_lanes()
        try:
            self.session = ort.InferenceSession(str(path), options, providers=providers)
        except Exception as error:  # noqa: BLE001 - onnxruntime's errors have no common public base class
            raise ModelError(f"{path}: ONNX Runtime cannot load the segmenter ({first_line(error)})") from None
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1:
            raise ModelError(f"{path}: a segmenter takes one input (RGB images); this graph takes {len(inputs)}")
        shape = inputs[0].shape
        width, height = spec.input_size
        if len(shape) != 4 or any(isinstance(d, int) and d != want for d, want in zip(shape[1:], (3, height, width))):
            raise ModelError(f"{path}: the graph's input {inputs[0].name} has shape {shape}; the sidecar needs "
                             f"(N, 3, {height}, {width})")
        self.input_name = inputs[0].name
        self.output_name = outputs[0].name

    def _classes(self, batch: np.ndarray) -> np.ndarray:
        try:
            output = self.session.run([self.output_name], {self.input_name: batch})[0]
        except Exception as error:  # noqa: BLE001 - as above
            raise ModelError(f"{self.path}: ONNX Runtime cannot run the segmenter ({first_line(error)})") from None
        output = np.asarray(output)
        if output.ndim != 4:
            return output  # class indices already
        if output.shape[1] != self.spec.num_classes:
            raise ModelError(f"{self.path}: the segmenter returns {output.shape[1]} class scores, but its sidecar "
                             f"names {self.spec.num_classes} classes")
        return output.argmax(axis=1)


class TorchSegmenter(Segmenter):
    """vidtrans' own segmentation network (`vidtrans.downstream.SegNet`) from a segmenter directory."""

    def __init__(self, folder: Path, *, device: torch.device) -> None:
        self.net = frozen_segmenter(folder, device=device)
        super().__init__(folder, read_spec(folder / SPEC_FILE))
        self.device = device

    @torch.inference_mode()
    def _classes(self, batch: np.ndarray) -> np.ndarray:
        return self.net(torch.from_numpy(batch).to(self.device)).argmax(dim=1).cpu().numpy()


def _architecture(spec: SegmenterSpec, path: Path) -> SegNetConfig:
    torch_doc: Any = spec.extra.get("torch")
    try:
        widths = tuple(int(w) for w in torch_doc["architecture"]["widths"])
        return SegNetConfig(num_classes=spec.num_classes, widths=widths)
    except (TypeError, KeyError, ValueError) as error:
        raise ModelError(f"{path}: no usable torch architecture in the sidecar (torch.architecture.widths: "
                         f"{error})") from None


def frozen_segmenter(folder: Path, *, device: str | torch.device = "cpu") -> SegNet:
    """The network of a vidtrans segmenter directory, in eval mode with requires_grad False, on `device`.

    It takes float NCHW RGB in [-1, 1] (the generators' range), height and width multiples of 16, at the scale
    of the sidecar's input_size (the size it was trained at), and returns class logits (N, C, H, W) at the
    input's size. Gradients flow through it to its input, never into its weights.
    """
    folder = Path(folder)
    spec = read_spec(folder / SPEC_FILE)
    if spec.mean != TORCH_MEAN_STD or spec.std != TORCH_MEAN_STD:
        raise ModelError(f"{folder / SPEC_FILE}: a vidtrans segmenter has mean and std 0.5 ([-1, 1] input); "
                         f"got {list(spec.mean)} and {list(spec.std)}")
    config = _architecture(spec, folder / SPEC_FILE)
    weights = folder / WEIGHTS_FILE
    if not weights.is_file():
        raise ModelError(f"{folder}: not a vidtrans segmenter directory: missing {WEIGHTS_FILE} "
                         f"(it holds: {folder_listing(folder)})")
    expected = spec.extra.get("torch", {}).get("sha256")
    if expected is not None and sha256_file(weights) != expected:
        raise ModelError(f"{weights}: sha256 differs from the one in {SPEC_FILE} (a damaged or replaced file)")
    net = SegNet(config)
    state = read_safetensors(weights)
    head = state.get("head.weight")
    if head is not None and head.shape[0] != spec.num_classes:
        raise ModelError(f"{weights}: the network labels {head.shape[0]} classes, but {SPEC_FILE} names "
                         f"{spec.num_classes}")
    check_state_dict(net, state, source=weights)
    net.load_state_dict(state, strict=True)
    net.requires_grad_(False)
    return net.to(device).eval()


def resolve_segmenter_path(spec: str | Path | None) -> Path:
    """The file or directory `spec` names: a path, or a bundled segmenter's name (None: the default one)."""
    text = str(spec) if spec is not None else DEFAULT_SEGMENTER
    path = Path(text).expanduser()
    if path.exists() or "/" in text or text.endswith(".onnx"):
        return path
    if (BUNDLED_SEGMENTERS / text).is_dir():
        return BUNDLED_SEGMENTERS / text
    known = ", ".join(sorted(p.name for p in BUNDLED_SEGMENTERS.iterdir() if p.is_dir())) or "none"
    raise ModelError(f"unknown segmenter {text!r}: no such file or folder, nor a bundled segmenter (bundled: {known})")


def load_segmenter(spec: str | Path | None = None, *, device: str | torch.device = "cpu") -> Segmenter:
    """A segmenter from a vidtrans segmenter directory, an `.onnx` file with its sidecar, or a bundled name.

    None is the bundled default (`scenes-real`, trained on vidtrans' real-content, real-style scenes).
    """
    path = resolve_segmenter_path(spec)
    device = torch.device(device)
    if path.is_dir():
        if (path / WEIGHTS_FILE).is_file():
            return TorchSegmenter(path, device=device)
        if (path / ONNX_FILE).is_file():
            return OnnxSegmenter(path / ONNX_FILE, read_spec(path / SPEC_FILE), device=device)
        raise ModelError(f"{path}: not a segmenter directory: no {WEIGHTS_FILE} or {ONNX_FILE} "
                         f"(it holds: {folder_listing(path)})")
    if not path.is_file():
        raise ModelError(f"{path}: no such segmenter file")
    if path.suffix.lower() != ".onnx":
        raise ModelError(f"{path}: a segmenter is an .onnx file (with a sidecar .json beside it) or a vidtrans "
                         f"segmenter directory")
    return OnnxSegmenter(path, read_spec(sidecar_path(path)), device=device)
