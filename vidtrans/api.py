"""The Python face of vidtrans: `load` a model and call it on frames, or run a command as a function.

    import vidtrans
    model = vidtrans.load("gta2real", device="cuda")     # a name or a directory; backend="auto"
    out = model(frame)                                    # numpy, PIL or torch in, the same type out
    model.convert("drive.mp4", "drive.real.mp4")          # what `vidtrans convert` does

`convert`, `synth`, `train` and `export` mirror the commands with the same defaults; their keyword options
are the fields of the command's options dataclass plus those of `RuntimeOptions` (backend, device,
precision, compile, compile_mode, ort, inverse).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import torch

from vidtrans.errors import UsageError
from vidtrans.modeldir import ModelDirectory, ModelInfo
from vidtrans.runtime import RuntimeOptions
from vidtrans.translator import Translator

if TYPE_CHECKING:
    from vidtrans.conversion import ConvertSummary
    from vidtrans.deploy.export_job import ExportResult
    from vidtrans.synthesis import SynthSummary
    from vidtrans.training.loop import TrainResult

Options = TypeVar("Options")
_RUNTIME_FIELDS = frozenset(f.name for f in dataclasses.fields(RuntimeOptions))


def _options(cls: type[Options], options: dict[str, Any], what: str) -> Options:
    """`cls` built from keyword options, the runtime ones gathered into its `runtime` field."""
    known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    runtime = {k: options.pop(k) for k in list(options) if k in _RUNTIME_FIELDS} if "runtime" in known else {}
    if runtime:
        if "runtime" in options:
            raise UsageError(f"{what}: give runtime=RuntimeOptions(...) or {', '.join(sorted(runtime))}, not both")
        options["runtime"] = RuntimeOptions(**runtime)
    unknown = sorted(set(options) - known)
    if unknown:
        allowed = (known - {"runtime"}) | _RUNTIME_FIELDS if "runtime" in known else known
        raise UsageError(f"{what}: unknown option(s) {', '.join(unknown)} (known: {', '.join(sorted(allowed))})")
    return cls(**options)


def _model(model: str | Path | ModelDirectory) -> ModelDirectory:
    from vidtrans.registry import resolve_model

    return model if isinstance(model, ModelDirectory) else resolve_model(model)


class TranslationModel:
    """A loaded generator: call it on frames, convert files with it, close it (or use it in a `with` block).

    Frames may be RGB uint8 numpy arrays (H, W, 3) or (N, H, W, 3), PIL images (or lists of them), or torch
    tensors (N, 3, H, W), (N, H, W, 3), (3, H, W) or (H, W, 3); the output has the input's type, shape and
    layout. Tensors stay on their device: a batch already on the model's GPU is translated there, with no
    trip through host memory. Float arrays and tensors need `value_range=(0, 1)` or `(-1, 1)` and come back
    as floats in that range, never rounded to 8 bits.
    """

    def __init__(self, model: ModelDirectory, runtime: RuntimeOptions, *, announce: bool = True) -> None:
        self.model = model
        self.runtime = runtime
        self.translator = Translator.from_model(model, runtime, announce=announce)

    @property
    def info(self) -> ModelInfo:
        """The model's description (architecture, domains, normalisation, provenance)."""
        return self.model.info

    @property
    def device(self) -> torch.device:
        return self.translator.device

    @property
    def backend(self) -> str:
        """The backend that runs the generator: torch, onnxruntime or tensorrt."""
        return self.translator.backend.name

    def __call__(self, frames: Any, *, value_range: tuple[float, float] | None = None,
                 batch_size: int = 16) -> Any:
        """Translate `frames` (see the class docstring), `batch_size` at a time."""
        if batch_size < 1:
            raise UsageError(f"batch_size must be >= 1; got {batch_size}")
        if isinstance(frames, torch.Tensor):
            return self._tensor(frames, value_range, batch_size)
        if isinstance(frames, np.ndarray):
            if frames.dtype == np.uint8:
                if value_range is not None:
                    raise UsageError("value_range applies to float input; uint8 pixels are 0-255")
                return self._batched(frames, self.translator.translate, batch_size)
            return self._tensor(torch.from_numpy(frames), value_range, batch_size).numpy()
        if _is_pil(frames) or (isinstance(frames, list) and frames and all(_is_pil(f) for f in frames)):
            return self._pil(frames, batch_size)
        raise UsageError(f"cannot translate a {type(frames).__name__}: give RGB numpy arrays, PIL images or torch "
                         f"tensors")

    def convert(self, input: str | Path, output: str | Path | None = None, **options: Any) -> ConvertSummary:
        """Translate a video, an image or a folder as `vidtrans convert` does, with this loaded model."""
        from vidtrans.conversion import ConvertOptions
        from vidtrans.conversion import convert as convert_files

        if _RUNTIME_FIELDS & set(options):
            raise UsageError(f"the model is loaded already; runtime options ({', '.join(sorted(_RUNTIME_FIELDS))}) "
                             f"go to vidtrans.load")
        settings = _options(ConvertOptions, {**options, "runtime": self.runtime}, "convert")
        return convert_files(input, output, model=self.model, options=settings, translator=self.translator)

    def close(self) -> None:
        """Release the backend (and its GPU memory)."""
        self.translator.close()

    def __enter__(self) -> TranslationModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"TranslationModel({self.model.name!r}, {self.info.source_domain} -> {self.info.target_domain}, "
                f"{self.backend} on {self.device})")

    # --- input types ---------------------------------------------------------------------------------

    @staticmethod
    def _batched(frames: Any, translate: Any, batch_size: int) -> Any:
        """Translate a single frame or a batch in chunks of `batch_size` (numpy or torch, channels last)."""
        if frames.ndim == 3:
            return translate(frames[None])[0]
        if frames.ndim != 4:
            raise UsageError(f"expected a frame (H, W, 3) or a batch (N, H, W, 3); got shape {tuple(frames.shape)}")
        chunks = [translate(frames[i:i + batch_size]) for i in range(0, len(frames), batch_size)]
        if isinstance(frames, np.ndarray):
            return np.concatenate(chunks) if chunks else frames.copy()
        return torch.cat(chunks) if chunks else frames.clone()

    def _tensor(self, frames: torch.Tensor, value_range: tuple[float, float] | None, batch_size: int) -> torch.Tensor:
        channels_first = _channels_first(frames)
        nhwc = frames.movedim(-3, -1) if channels_first else frames
        on_device = nhwc.to(self.device)
        stream = self.translator.stream
        if frames.dtype == torch.uint8:
            if value_range is not None:
                raise UsageError("value_range applies to float input; uint8 pixels are 0-255")
            out = self._batched(on_device, lambda batch: stream.call(self.translator.translate_tensor, batch),
                                batch_size)
        elif frames.is_floating_point():
            low_high = _check_range(value_range)
            out = self._batched(on_device, lambda batch: stream.call(lambda b: self._float(b, low_high), batch),
                                batch_size)
        else:
            raise UsageError(f"expected uint8 or float pixels; got {frames.dtype}")
        out = out.to(frames.device)
        return out.movedim(-1, -3).contiguous() if channels_first else out

    def _float(self, batch: torch.Tensor, value_range: tuple[float, float]) -> torch.Tensor:
        low, high = value_range
        pixels = (batch.movedim(-1, 1).float() - low) * (255.0 / (high - low))
        out = self.translator.translate_float(pixels) * ((high - low) / 255.0) + low
        return out.movedim(1, -1).to(batch.dtype)

    def _pil(self, frames: Any, batch_size: int) -> Any:
        from PIL import Image

        images = frames if isinstance(frames, list) else [frames]
        sizes = {image.size for image in images}
        pixels = [np.asarray(image.convert("RGB")) for image in images]
        if len(sizes) == 1:
            translated = list(self._batched(np.stack(pixels), self.translator.translate, batch_size))
        else:  # frames of several sizes: one at a time
            translated = [self.translator.translate(p) for p in pixels]
        out = [Image.fromarray(p) for p in translated]
        return out if isinstance(frames, list) else out[0]


def _is_pil(value: object) -> bool:
    return type(value).__module__.startswith("PIL.") and hasattr(value, "convert")


def _channels_first(frames: torch.Tensor) -> bool:
    """(…, 3, H, W) or (…, H, W, 3)? Channels first when both read as 3 (torch's convention)."""
    if frames.ndim not in (3, 4) or 3 not in (frames.shape[-3], frames.shape[-1]):
        raise UsageError(f"expected RGB (N, 3, H, W), (N, H, W, 3), (3, H, W) or (H, W, 3); got shape "
                         f"{tuple(frames.shape)}")
    return frames.shape[-3] == 3


def _check_range(value_range: tuple[float, float] | None) -> tuple[float, float]:
    if value_range is None:
        raise UsageError("float pixels need value_range=(0, 1) or (-1, 1) (uint8 pixels are 0-255)")
    low, high = (float(v) for v in value_range)
    if not high > low:
        raise UsageError(f"value_range must be (low, high) with high > low; got {value_range!r}")
    return low, high


def load(model: str | Path | ModelDirectory, *, runtime: RuntimeOptions | None = None,
         **options: Any) -> TranslationModel:
    """Load a model (a registered name or a model directory) to call on frames; see `TranslationModel`.

    `options` are `RuntimeOptions` fields (backend="auto", device="auto", precision="auto", compile=False,
    compile_mode, ort, inverse), or pass `runtime=RuntimeOptions(...)`.
    """
    if runtime is not None and options:
        raise UsageError(f"give runtime=RuntimeOptions(...) or {', '.join(sorted(options))}, not both")
    return TranslationModel(_model(model), runtime or RuntimeOptions(**options))


def convert(input: str | Path, output: str | Path | None = None, *, model: str | Path | ModelDirectory,
            **options: Any) -> ConvertSummary:
    """`vidtrans convert`: translate a video, an image or a folder; options are `ConvertOptions` and
    `RuntimeOptions` fields (e.g. `batch_size=4, device="cpu"`)."""
    from vidtrans.conversion import ConvertOptions
    from vidtrans.conversion import convert as convert_files

    return convert_files(input, output, model=model, options=_options(ConvertOptions, options, "convert"))


def synth(input: str | Path, output: str | Path, *, model: str | Path | ModelDirectory,
          **options: Any) -> SynthSummary:
    """`vidtrans synth`: translate a labelled dataset into `output`; options are `SynthOptions` and
    `RuntimeOptions` fields."""
    from vidtrans.synthesis import SynthOptions
    from vidtrans.synthesis import synth as synth_dataset

    return synth_dataset(input, output, model=model, options=_options(SynthOptions, options, "synth"))


def train(domain_a: str | Path | None = None, domain_b: str | Path | None = None, *, config: str | Path | None = None,
          resume: str | Path | None = None, restart: bool = False, runs_dir: str | Path = "runs",
          overwrite: bool = False, **settings: Any) -> TrainResult:
    """`vidtrans train`: train on two domains (or continue the run `resume`, or with `restart` start it again);
    `settings` are the training settings by name (`name="gta2real", ngf=32, ...`; see `vidtrans train --help`)
    and override `config`."""
    from vidtrans.training.launch import resolve_run
    from vidtrans.training.loop import train as train_run

    resolved, run_dir = resolve_run(domain_a, domain_b, settings, config_file=config, resume=resume,
                                    runs_dir=runs_dir)
    return train_run(resolved, run_dir, resume=resume is not None, restart=restart, overwrite=overwrite)


def export(model: str | Path | ModelDirectory, **options: Any) -> ExportResult:
    """`vidtrans export`: ONNX graphs or a TensorRT engine; options are `ExportOptions` fields
    (format="onnx", fp16, opset, inverse, force, batch, sizes, device, workspace_gib)."""
    from vidtrans.deploy.export_job import ExportOptions, export_model

    return export_model(_model(model), _options(ExportOptions, options, "export"))
