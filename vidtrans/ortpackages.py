"""Which ONNX Runtime package is installed, and the exact fix when it is not the one vidtrans needs.

`onnxruntime` (CPU) and `onnxruntime-gpu` (CUDA) install into the same `onnxruntime` folder, so they cannot
both be installed (microsoft/onnxruntime#26996): whichever pip installed last owns the files, and removing one
deletes the other's. vidtrans therefore offers them as two extras, one or the other: `vidtrans[cpu]` and
`vidtrans[gpu]`. ONNX Runtime is optional: only `--backend onnxruntime` and the verification of ONNX exports
need it. The functions that decide what to tell the user take the installed packages and providers as
arguments, so every case can be checked without installing anything.
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from vidtrans.errors import MissingExtraError

DISTRIBUTIONS = ("onnxruntime", "onnxruntime-gpu", "onnxruntime-directml", "onnxruntime-openvino",
                 "onnxruntime-qnn", "onnxruntime-rocm", "onnxruntime-training")
"""The PyPI packages that install the `onnxruntime` module (all into the same folder)."""
GPU_PACKAGE = "onnxruntime-gpu"
GPU_INSTALL = f"pip install {GPU_PACKAGE}"
INSTALL_HINT = (f"pip install onnxruntime (CPU) or {GPU_INSTALL} (NVIDIA GPUs), not both (the vidtrans[cpu] and "
                f"vidtrans[gpu] extras)")


@dataclass(frozen=True)
class Package:
    """An installed distribution: its PyPI name and version."""

    name: str
    version: str

    def __str__(self) -> str:
        return f"{self.name} {self.version}"


def installed_packages() -> tuple[Package, ...]:
    """The ONNX Runtime distributions pip has a record of (more than one means they overwrote each other)."""
    found = []
    for name in DISTRIBUTIONS:
        try:
            found.append(Package(name, importlib.metadata.version(name)))
        except importlib.metadata.PackageNotFoundError:
            continue
    return tuple(found)


def build_info() -> dict[str, str]:
    """`onnxruntime/capi/build_and_package_info.py` read without importing onnxruntime: which package the files
    in the folder came from (`package_name`), its `__version__` and, for CUDA builds, `cuda_version`."""
    spec = importlib.util.find_spec("onnxruntime")
    if spec is None or not spec.submodule_search_locations:
        return {}
    path = Path(next(iter(spec.submodule_search_locations))) / "capi" / "build_and_package_info.py"
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return {}
    info: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    info[target.id] = node.value.value
    return info


def import_onnxruntime(purpose: str) -> ModuleType:
    """The `onnxruntime` module, or a MissingExtraError saying that `purpose` needs it and what to install."""
    try:
        import onnxruntime
    except ImportError as error:
        raise MissingExtraError(f"{purpose} needs ONNX Runtime, which is not installed ({error}): "
                                f"{INSTALL_HINT}") from None
    return onnxruntime


def cuda_provider_fix(packages: Sequence[Package], providers: Sequence[str]) -> str:
    """Why the installed ONNX Runtime has no CUDA provider, and the exact commands that fix it."""
    listed = ", ".join(providers) or "none"
    if not packages:
        return f"ONNX Runtime is not installed: {GPU_INSTALL} (the vidtrans[gpu] extra)"
    names = [p.name for p in packages]
    installed = " and ".join(str(p) for p in packages)
    if names == [GPU_PACKAGE]:
        return (f"{installed} is installed but its CUDA provider is missing (providers: {listed}); its files "
                f"were probably overwritten: pip install --force-reinstall --no-deps {GPU_PACKAGE}")
    if len(packages) > 1:
        situation = (f"{installed} are all installed, but they share the one `onnxruntime` folder and the files "
                     f"in it are not the CUDA build (providers: {listed})")
    else:
        situation = f"the installed ONNX Runtime is {installed}, which has no CUDA provider (providers: {listed})"
    return f"{situation}; fix: pip uninstall -y {' '.join(names)} && {GPU_INSTALL}"


def cuda_major_mismatch(onnxruntime_cuda: str | None, torch_cuda: str | None) -> str | None:
    """A warning when onnxruntime-gpu and torch were built for different CUDA major versions, else None.

    Both load CUDA libraries into one process; with different majors the CUDA provider fails to load its
    libraries or silently falls back to the CPU.
    """
    if not onnxruntime_cuda or not torch_cuda:
        return None
    ort_major, torch_major = onnxruntime_cuda.split(".")[0], torch_cuda.split(".")[0]
    if ort_major == torch_major:
        return None
    return (f"onnxruntime-gpu was built for CUDA {onnxruntime_cuda} but torch for CUDA {torch_cuda}: the CUDA "
            f"provider may fail to load its libraries; install the onnxruntime-gpu build for CUDA {torch_major} "
            f"(see onnxruntime.ai's install table) or a torch build for CUDA {ort_major}")
