"""vidtrans: video and game-frame domain adaptation (CycleGAN / pix2pix training, export, fast translation).

    import vidtrans
    model = vidtrans.load("gta2real", device="cuda")
    out = model(frames)
    model.convert("drive.mp4", "drive.real.mp4")

The names below load on first use, so `import vidtrans` stays light (the command line reads its version).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "load": "vidtrans.api", "convert": "vidtrans.api", "synth": "vidtrans.api", "train": "vidtrans.api",
    "export": "vidtrans.api", "TranslationModel": "vidtrans.api", "Translator": "vidtrans.translator",
    "RuntimeOptions": "vidtrans.runtime", "OrtOptions": "vidtrans.runtime", "ConvertOptions": "vidtrans.conversion",
    "SynthOptions": "vidtrans.synthesis", "ExportOptions": "vidtrans.deploy.export_job",
    "ModelDirectory": "vidtrans.modeldir", "list_models": "vidtrans.registry", "VidtransError": "vidtrans.errors",
}
__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'vidtrans' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
