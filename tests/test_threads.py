"""The CPU threads: how many parts of a batch ONNX Runtime runs at once, and that the parts add up."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from vidtrans.backends.factory import create_backend
from vidtrans.modeldir import ModelDirectory
from vidtrans.runtime import OrtOptions, RuntimeOptions
from vidtrans.threads import cpu_lanes, usable_cpus


def test_lanes_are_the_usable_cores_unless_told(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VIDTRANS_THREADS", raising=False)
    assert cpu_lanes() == usable_cpus() and 1 <= usable_cpus() <= (os.cpu_count() or 1)
    monkeypatch.setenv("VIDTRANS_THREADS", "3")
    assert cpu_lanes() == 3
    monkeypatch.setenv("VIDTRANS_THREADS", "many")
    assert cpu_lanes() == usable_cpus()


def test_a_batch_split_over_lanes_equals_the_batch_run_whole(tiny_model: ModelDirectory,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIDTRANS_THREADS", "3")
    lanes = create_backend(tiny_model, RuntimeOptions(backend="onnxruntime", device="cpu"))
    whole = create_backend(tiny_model, RuntimeOptions(backend="onnxruntime", device="cpu",
                                                      ort=OrtOptions(intra_op_threads=1)))
    assert lanes._lane_session.get_session_options().intra_op_num_threads == 1  # type: ignore[attr-defined]
    assert lanes._session.get_session_options().intra_op_num_threads == 3  # type: ignore[attr-defined]
    assert whole._lane_session is None  # type: ignore[attr-defined]
    batch = torch.from_numpy(np.random.default_rng(0).uniform(-1, 1, (5, 3, 24, 32)).astype(np.float32))
    for n in (5, 2, 1):  # 5 frames in parts of 2, 2 and 1; 2 in parts of 1; 1 whole on the wide session
        assert torch.allclose(lanes.run(batch[:n]), whole.run(batch[:n]), atol=1e-6)
    lanes.close()
    whole.close()
