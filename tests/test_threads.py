"""The CPU thread choice: idle cores for the model, the user's override first."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from vidtrans.threads import busy_cpus, model_threads, usable_cpus


@pytest.mark.parametrize(("cpus", "busy", "threads"), [
    (2, 0.0, 2), (2, 1.0, 1), (2, 1.9, 1), (2, 5.0, 1), (16, 0.0, 15), (16, 8.2, 7), (4, 1.0, 2), (1, 0.0, 1),
])
def test_the_model_gets_the_idle_cores(cpus: int, busy: float, threads: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VIDTRANS_THREADS", raising=False)
    assert model_threads(cpus=cpus, busy=busy) == threads


def test_vidtrans_threads_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIDTRANS_THREADS", "3")
    assert model_threads(cpus=2, busy=2.0) == 3


def test_the_machine_is_read() -> None:
    assert 1 <= usable_cpus() <= (os.cpu_count() or 1)
    assert 0.0 <= busy_cpus(0.05) <= (os.cpu_count() or 1) + 0.5


def test_the_cli_sets_torchs_threads_before_torch_starts() -> None:
    """`vidtrans convert` in a fresh process: torch starts with the chosen count; OMP_NUM_THREADS wins."""
    probe = ("import os, sys; from vidtrans.cli import _choose_cpu_threads; _choose_cpu_threads(); import torch; "
             "print(os.environ['VIDTRANS_THREADS'], torch.get_num_threads())")
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "VIDTRANS_THREADS")}
    chosen, torch_threads = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True,
                                           check=True).stdout.split()
    assert chosen == torch_threads and 1 <= int(chosen) <= usable_cpus()
    pinned = subprocess.run([sys.executable, "-c", probe], env={**env, "OMP_NUM_THREADS": "1"},
                            capture_output=True, text=True, check=True).stdout.split()
    assert pinned == ["1", "1"]
