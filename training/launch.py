"""Which run a `vidtrans train` call starts or continues, and with what config (the CLI and the API share it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vidtrans.errors import UsageError
from vidtrans.training.config import PATH_SETTINGS, TrainConfig, load_config
from vidtrans.training.rundir import load_run_config


def resolve_run(domain_a: str | Path | None, domain_b: str | Path | None, settings: dict[str, Any], *,
                config_file: str | Path | None = None, resume: str | Path | None = None,
                runs_dir: str | Path = "runs") -> tuple[TrainConfig, Path]:
    """The config and folder of a new run (domains, a config file, then `settings` on top) or of the run
    `resume` (its saved config with the `settings` a resumed run may change)."""
    settings = {**settings, **{key: domain for key, domain in (("domain_a", domain_a), ("domain_b", domain_b))
                               if domain}}
    for key in PATH_SETTINGS:
        if settings.get(key):
            settings[key] = str(Path(settings[key]).expanduser().absolute())
    if resume is not None:
        if config_file is not None:
            raise UsageError("--config cannot be combined with --resume (the run's own config.yaml is used)")
        return load_run_config(Path(resume), settings), Path(resume)
    if (domain_a is None) != (domain_b is None):
        raise UsageError("pass both DOMAIN_A and DOMAIN_B (or neither, with --config)")
    config = load_config(Path(config_file) if config_file is not None else None, settings)
    return config, Path(runs_dir) / config.name
