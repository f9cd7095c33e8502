"""Where a model's derived artefacts (ONNX graphs, TensorRT engines) are kept."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from vidtrans.modeldir import ModelDirectory
from vidtrans.registry import is_bundled, vidtrans_home


def artifact_dir(model: ModelDirectory, kind: Literal["onnx", "engines"]) -> Path:
    """The model directory's `kind` folder, or a per-user cache folder for bundled and read-only models.

    Bundled models (inside the installed package) and models in read-only folders keep their artefacts under
    `$VIDTRANS_HOME/cache/<name>-<weights hash>/<kind>`, so vidtrans never writes into its own package.
    """
    if not is_bundled(model):
        try:
            folder = model.derived_dir(kind)
            if os.access(folder, os.W_OK):
                return folder
        except OSError:
            pass
    folder = vidtrans_home() / "cache" / f"{model.name}-{model.sha256['generator'][:12]}" / kind
    folder.mkdir(parents=True, exist_ok=True)
    return folder
