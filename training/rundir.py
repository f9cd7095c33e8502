"""The run directory `runs/NAME/`: resolved config, checkpoints, TensorBoard logs, samples, frame cache."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from vidtrans.errors import InputError, OutputError
from vidtrans.fsutil import atomic_write_text, folder_listing
from vidtrans.training.checkpoint import LATEST
from vidtrans.training.config import TrainConfig, config_to_yaml, resume_config

CONFIG_FILE = "config.yaml"


@dataclass(frozen=True)
class RunDir:
    """The paths of one run."""

    path: Path

    @property
    def config(self) -> Path:
        return self.path / CONFIG_FILE

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def latest(self) -> Path:
        return self.checkpoints / LATEST

    @property
    def frames(self) -> Path:
        return self.path / "frames"

    def remove_partial_files(self) -> None:
        """Delete temporary checkpoint files a killed run may have left (complete files are never touched)."""
        if self.checkpoints.is_dir():
            for leftover in self.checkpoints.glob(".*.partial-*"):
                leftover.unlink(missing_ok=True)

    def write_config(self, config: TrainConfig) -> None:
        """Save the resolved config as YAML (atomically)."""
        self.path.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.config, config_to_yaml(config))

    def read_config(self) -> dict[str, Any]:
        if not self.path.is_dir():
            raise InputError(f"{self.path}: no such run folder")
        if not self.config.is_file():
            raise InputError(f"{self.path}: not a vidtrans run (no {CONFIG_FILE}; it holds: {folder_listing(self.path)})")
        try:
            doc = yaml.safe_load(self.config.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as error:
            raise InputError(f"{self.config}: not valid YAML ({str(error).splitlines()[0]})") from None
        if not isinstance(doc, dict):
            raise InputError(f"{self.config}: expected a mapping of settings")
        return doc

    def prepare_new(self, *, overwrite: bool) -> None:
        """Create the folder of a new run; an existing run is replaced only with `overwrite`."""
        if self.path.is_dir() and not any(self.path.iterdir()):
            return
        if self.path.exists():
            if not overwrite:
                raise OutputError(f"{self.path}: the run already exists (continue it with --resume {self.path}, "
                                  "or pass --overwrite to start it again from scratch)")
            if not self.config.is_file():
                raise OutputError(f"{self.path}: exists and is not a vidtrans run; refusing to replace it")
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True)


def load_run_config(run_dir: Path, overrides: dict[str, Any]) -> TrainConfig:
    """The config to resume `run_dir` with: its saved config plus the overrides allowed on resume."""
    run = RunDir(Path(run_dir))
    return resume_config(run.read_config(), overrides, where=str(run.config))
