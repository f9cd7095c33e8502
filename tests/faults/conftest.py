"""Fixtures of the fault suite: a workspace per case, with the shared tiny model (tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from faults.harness import Workspace

from vidtrans.modeldir import ModelDirectory


@pytest.fixture
def workspace(tmp_path: Path, tiny_model: ModelDirectory) -> Iterator[Workspace]:
    """An empty workspace (`in`, `out`, `tmp`) for one case; mounts and other cleanups are undone after it."""
    space = Workspace(tmp_path, tiny_model.path)
    try:
        yield space
    finally:
        space.close()
