"""TensorRT: profiles, build plans per version, the engine cache and its trust rules, `--backend auto`; the
builder and runtime themselves where `tensorrt` imports and a GPU is present."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from vidtrans.backends.selection import tensorrt_importable
from vidtrans.errors import MissingExtraError, ModelError, UsageError
from vidtrans.deploy.engine_cache import (
    BatchRange,
    EngineKey,
    ShapeProfile,
    engine_path,
    find_covering_engine,
    incompatible_engines,
    lookup_engine,
    profiles_for,
    prune_obsolete,
    record_path,
    store_engine,
    timing_cache_path,
)
from vidtrans.backends.stream import DeviceStream
from vidtrans.backends.tensorrt_backend import TENSOR_ALIGNMENT, bind_tensor
from vidtrans.deploy.onnx_export import OnnxArtifact
from vidtrans.deploy.tensorrt_build import (
    EngineTarget,
    build_serialized_engine,
    import_tensorrt,
    network_flags,
    require_supported_tensorrt,
    tensorrt_major,
    workspace_bytes,
)
from vidtrans.modeldir import ModelDirectory, ModelInfo, save_model
from vidtrans.networks import ResnetGeneratorConfig, build_generator

TRT = tensorrt_importable()
GPU = torch.cuda.is_available()
LEVEL = 1 / 127.5

PROFILE = ShapeProfile(BatchRange(1, 8, 16), 512, 1024)
KEY = EngineKey(onnx_sha256="a" * 64, tensorrt_version="10.7.0", gpu_name="NVIDIA H100 80GB HBM3",
                compute_capability=(9, 0), precision="fp16", profiles=(PROFILE,))


@pytest.fixture
def model(tmp_path: Path) -> ModelDirectory:
    config = ResnetGeneratorConfig(ngf=4, n_blocks=1)
    return save_model(tmp_path / "m", ModelInfo(name="m", generator=config), build_generator(config))


# --- profiles and plans -----------------------------------------------------------------------------


def test_batch_range_parsing() -> None:
    assert BatchRange.parse("1:8:16") == BatchRange(1, 8, 16)
    assert BatchRange.parse(" 4 ") == BatchRange(1, 4, 4)
    assert str(BatchRange(2, 4, 8)) == "2:4:8"
    for bad in ["8:4:16", "0:1:2", "1:2", "a:b:c", "", "1:2:3:4"]:
        with pytest.raises(UsageError, match="MIN:OPT:MAX"):
            BatchRange.parse(bad)


def test_profiles_pad_sizes_like_the_pipeline_and_select_by_shape() -> None:
    profiles = profiles_for([(1918, 1080), (1024, 510), (1920, 1080)], BatchRange(1, 8, 16), multiple=4)
    assert [(p.width, p.height) for p in profiles] == [(1920, 1080), (1024, 512)]  # rounded up, then deduplicated
    unet = profiles_for([(1920, 1080)], BatchRange(1, 2, 4), multiple=256)
    assert (unet[0].width, unet[0].height) == (2048, 1280)
    key = dataclasses.replace(KEY, profiles=profiles)
    assert key.covers(8, 1080, 1920) == 0 and key.covers(16, 512, 1024) == 1
    assert key.covers(17, 512, 1024) is None and key.covers(1, 1088, 1920) is None
    with pytest.raises(UsageError):
        profiles_for([], BatchRange(1, 1, 1), multiple=4)


def test_supported_tensorrt_versions() -> None:
    for version in ("10.0.1", "10.13.2.6", "11.1.0", "12.0"):
        require_supported_tensorrt(version)
    with pytest.raises(MissingExtraError, match="TensorRT 8.6.1 is too old"):
        require_supported_tensorrt("8.6.1")
    assert tensorrt_major("10.13.2.6") == 10
    with pytest.raises(ValueError):
        tensorrt_major("unknown")


def test_network_flags_are_strongly_typed_whenever_the_flag_exists() -> None:
    with_flag = SimpleNamespace(NetworkDefinitionCreationFlag=SimpleNamespace(STRONGLY_TYPED=1))
    without_flag = SimpleNamespace(NetworkDefinitionCreationFlag=SimpleNamespace())
    assert network_flags(with_flag) == 2  # type: ignore[arg-type]
    assert network_flags(without_flag) == 0  # type: ignore[arg-type]


class _FakeTensorRT:
    """Records the builder calls `build_serialized_engine` makes, with TensorRT 10's or 11's flag set.

    TensorRT itself cannot run here (no GPU); this only checks which API vidtrans uses: the strongly typed
    network flag, and never `BuilderFlag.FP16` (absent here, as in TensorRT 11, so touching it fails).
    """

    def __init__(self, strongly_typed_value: int) -> None:
        self.calls: list[tuple] = []
        self.NetworkDefinitionCreationFlag = SimpleNamespace(STRONGLY_TYPED=strongly_typed_value)
        self.BuilderFlag = SimpleNamespace(TF32=7)
        self.MemoryPoolType = SimpleNamespace(WORKSPACE="workspace")
        fake = self

        class Logger:
            WARNING = 2

            def __init__(self, level: int) -> None:
                pass

        class Profile:
            def set_shape(self, name: str, *shapes: tuple) -> None:
                fake.calls.append(("set_shape", name, shapes))

        class Config:
            def set_memory_pool_limit(self, pool: str, size: int) -> None:
                fake.calls.append(("set_memory_pool_limit", pool, size))

            def set_flag(self, flag: object) -> None:
                fake.calls.append(("set_flag", flag))

            def add_optimization_profile(self, profile: Profile) -> None:
                fake.calls.append(("add_optimization_profile",))

        class Builder:
            def __init__(self, logger: Logger) -> None:
                pass

            def create_network(self, flags: int) -> SimpleNamespace:
                fake.calls.append(("create_network", flags))
                source = SimpleNamespace(name="input", shape=(-1, 3, -1, -1))
                return SimpleNamespace(get_input=lambda index: source)

            def create_builder_config(self) -> Config:
                return Config()

            def create_optimization_profile(self) -> Profile:
                return Profile()

            def build_serialized_network(self, network: object, config: Config) -> bytes:
                return b"engine bytes"

        class OnnxParser:
            num_errors = 0

            def __init__(self, network: object, logger: Logger) -> None:
                pass

            def parse_from_file(self, path: str) -> bool:
                fake.calls.append(("parse_from_file", path))
                return True

        self.Logger, self.Builder, self.OnnxParser = Logger, Builder, OnnxParser


@pytest.mark.parametrize("flag_value", [0, 3], ids=["TensorRT 10", "TensorRT 11"])
def test_engines_are_built_strongly_typed_without_the_fp16_builder_flag(tmp_path: Path, flag_value: int) -> None:
    trt = _FakeTensorRT(flag_value)
    graph = tmp_path / "generator.fp16.onnx"
    profiles = (ShapeProfile(BatchRange(1, 8, 16), 512, 1024), ShapeProfile(BatchRange(1, 2, 4), 1088, 1920))
    engine = build_serialized_engine(trt, graph, profiles=profiles, workspace=1 << 30,  # type: ignore[arg-type]
                                     timing_cache=None)
    assert engine == b"engine bytes"
    assert ("create_network", 1 << flag_value) in trt.calls and ("parse_from_file", str(graph)) in trt.calls
    assert not [call for call in trt.calls if call[0] == "set_flag"]
    shapes = [call[2] for call in trt.calls if call[0] == "set_shape"]
    assert shapes == [((1, 3, 512, 1024), (8, 3, 512, 1024), (16, 3, 512, 1024)),
                      ((1, 3, 1088, 1920), (2, 3, 1088, 1920), (4, 3, 1088, 1920))]


class _AddressBook:
    """An execution context that accepts or refuses addresses (what `set_tensor_address` returns)."""

    def __init__(self, accept: bool) -> None:
        self.accept = accept
        self.addresses: dict[str, int] = {}

    def set_tensor_address(self, name: str, address: int) -> bool:
        self.addresses[name] = address
        return self.accept


def _aligned_view(offset_bytes: int) -> torch.Tensor:
    """A float32 view whose address is `offset_bytes` past a 256-byte boundary."""
    buffer = torch.empty(1024, dtype=torch.float32)
    start = (-buffer.data_ptr() % TENSOR_ALIGNMENT + offset_bytes) // 4
    view = buffer[start:start + 64]
    assert view.data_ptr() % TENSOR_ALIGNMENT == offset_bytes
    return view


def test_tensor_addresses_are_checked_before_and_after_tensorrt_takes_them() -> None:
    context = _AddressBook(accept=True)
    aligned = _aligned_view(0)
    bind_tensor(context, "input", aligned, engine="g.engine")
    assert context.addresses == {"input": aligned.data_ptr()}
    with pytest.raises(ModelError, match=r"g.engine: tensor 'output' is at address 0x[0-9a-f]+, which is not "
                                         r"256-byte aligned"):
        bind_tensor(context, "output", _aligned_view(16), engine="g.engine")
    assert "output" not in context.addresses  # refused before TensorRT saw it
    with pytest.raises(ModelError, match="g.engine: TensorRT refused the address of tensor 'input'"):
        bind_tensor(_AddressBook(accept=False), "input", aligned, engine="g.engine")


def test_the_tensorrt_stream_is_never_the_default_one() -> None:
    from vidtrans.backends.tensorrt_backend import _LoadedEngine

    artifact = SimpleNamespace(path=Path("g.engine"))
    loaded = _LoadedEngine(artifact=artifact, engine=None, context=None, input_name="input",  # type: ignore[arg-type]
                           output_name="output", input_dtype=torch.float32, output_dtype=torch.float32)
    with pytest.raises(ValueError, match="non-default CUDA stream"):
        loaded.execute(torch.zeros(1, 3, 8, 8), 0, DeviceStream(torch.device("cpu")))


def test_workspace_is_bounded() -> None:
    assert workspace_bytes(4) == 4 << 30 and workspace_bytes(0.001) == 64 << 20
    with pytest.raises(UsageError):
        workspace_bytes(0)


# --- the engine cache -----------------------------------------------------------------------------


def test_cache_key_changes_with_each_input() -> None:
    variants = [
        dataclasses.replace(KEY, onnx_sha256="b" * 64),
        dataclasses.replace(KEY, tensorrt_version="10.8.0"),
        dataclasses.replace(KEY, gpu_name="NVIDIA A100-SXM4-80GB"),
        dataclasses.replace(KEY, compute_capability=(8, 0)),
        dataclasses.replace(KEY, precision="fp32"),
        dataclasses.replace(KEY, profiles=(ShapeProfile(BatchRange(1, 8, 32), 512, 1024),)),
        dataclasses.replace(KEY, profiles=(ShapeProfile(BatchRange(1, 8, 16), 1088, 1920),)),
        dataclasses.replace(KEY, profiles=(PROFILE, ShapeProfile(BatchRange(1, 8, 16), 1088, 1920))),
    ]
    digests = {KEY.digest(), *(v.digest() for v in variants)}
    assert len(digests) == len(variants) + 1
    assert dataclasses.replace(KEY).digest() == KEY.digest()
    assert EngineKey.from_json(json.loads(json.dumps(KEY.to_json()))) == KEY


def test_cached_engine_hit_corrupt_and_stale(tmp_path: Path) -> None:
    assert lookup_engine(tmp_path, "generator", KEY, weights_sha256="w1").status == "missing"
    path = store_engine(tmp_path, "generator", KEY, b"serialized engine", weights_sha256="w1", build_seconds=1.5,
                        workspace_bytes=1 << 30)
    assert path == engine_path(tmp_path, "generator", KEY) and path.name.startswith("generator.fp16.")
    assert lookup_engine(tmp_path, "generator", KEY, weights_sha256="w1").status == "hit"
    assert lookup_engine(tmp_path, "generator", KEY, weights_sha256="w2").status == "stale"

    path.write_bytes(b"serialized engine, truncated or tampered with")
    corrupt = lookup_engine(tmp_path, "generator", KEY, weights_sha256="w1")
    assert corrupt.status == "corrupt" and "sha256" in corrupt.reason

    store_engine(tmp_path, "generator", KEY, b"serialized engine", weights_sha256="w1", build_seconds=1.5,
                 workspace_bytes=1 << 30)
    record_path(path).write_text("{ not json")
    assert lookup_engine(tmp_path, "generator", KEY, weights_sha256="w1").status == "corrupt"


def _target(model: ModelDirectory, folder: Path, key: EngineKey = KEY) -> EngineTarget:
    onnx = OnnxArtifact(path=folder / "generator.fp32.onnx", role="generator", precision="fp32", opset=18,
                        weights_sha256=model.sha256["generator"], onnx_sha256=key.onnx_sha256, checks=(),
                        tolerance=1e-3, reused=True, seconds=0.0)
    return EngineTarget(model=model, role="generator", precision=key.precision, onnx=onnx,
                        key=dataclasses.replace(key, profiles=()), folder=folder)


def test_corrupt_or_stale_engine_is_removed_and_rebuilt_not_trusted(model: ModelDirectory, tmp_path: Path) -> None:
    target = _target(model, tmp_path)
    weights = model.sha256["generator"]
    path = store_engine(tmp_path, "generator", KEY, b"engine", weights_sha256=weights, build_seconds=1,
                        workspace_bytes=1)
    cached = target.cached(KEY.profiles)
    assert cached is not None and cached.path == path and not cached.built

    path.write_bytes(b"engime")  # one flipped byte
    assert target.cached(KEY.profiles) is None  # the caller builds a new one
    assert not path.exists() and not record_path(path).exists()

    store_engine(tmp_path, "generator", KEY, b"engine", weights_sha256="other weights", build_seconds=1,
                 workspace_bytes=1)
    assert target.cached(KEY.profiles) is None and not path.exists()


def test_covering_engine_is_found_for_the_same_target_only(model: ModelDirectory, tmp_path: Path) -> None:
    weights = model.sha256["generator"]
    big = dataclasses.replace(KEY, profiles=(ShapeProfile(BatchRange(1, 8, 32), 512, 1024),))
    other_gpu = dataclasses.replace(KEY, gpu_name="NVIDIA A100-SXM4-80GB", compute_capability=(8, 0))
    for key in (KEY, big, other_gpu):
        store_engine(tmp_path, "generator", key, key.digest().encode(), weights_sha256=weights, build_seconds=1,
                     workspace_bytes=1)
    found = find_covering_engine(tmp_path, "generator", KEY, weights_sha256=weights, batch=8, height=512, width=1024)
    assert found == (KEY, engine_path(tmp_path, "generator", KEY))  # the smaller max batch wins
    found = find_covering_engine(tmp_path, "generator", KEY, weights_sha256=weights, batch=24, height=512, width=1024)
    assert found is not None and found[0] == big
    assert find_covering_engine(tmp_path, "generator", KEY, weights_sha256=weights, batch=8, height=1088,
                                width=1920) is None
    assert find_covering_engine(tmp_path, "generator", other_gpu, weights_sha256=weights, batch=24, height=512,
                                width=1024) is None

    target = _target(model, tmp_path)
    assert target.covering(4, 512, 1024) is not None
    notes = incompatible_engines(tmp_path, "generator", KEY, weights_sha256=weights)
    assert notes == [f"{engine_path(tmp_path, 'generator', other_gpu).name} was built for TensorRT 10.7.0 on "
                     f"NVIDIA A100-SXM4-80GB (compute capability 8.0)"]
    assert "this machine has TensorRT 10.7.0 on NVIDIA H100 80GB HBM3 (compute capability 9.0)" in target.why_missing()


def test_engines_of_old_weights_are_pruned(tmp_path: Path) -> None:
    old = store_engine(tmp_path, "generator", KEY, b"old", weights_sha256="old", build_seconds=1, workspace_bytes=1)
    new_key = dataclasses.replace(KEY, onnx_sha256="c" * 64)
    new = store_engine(tmp_path, "generator", new_key, b"new", weights_sha256="new", build_seconds=1,
                       workspace_bytes=1)
    inverse = store_engine(tmp_path, "generator_inverse", KEY, b"inv", weights_sha256="old", build_seconds=1,
                           workspace_bytes=1)
    assert prune_obsolete(tmp_path, "generator", weights_sha256="new") == [old]
    assert new.exists() and inverse.exists() and not old.exists()


def test_timing_cache_is_per_tensorrt_and_gpu(tmp_path: Path) -> None:
    assert timing_cache_path(tmp_path, KEY).name == "timing.trt10.7.0.nvidia-h100-80gb-hbm3.sm90.cache"
    assert timing_cache_path(tmp_path, dataclasses.replace(KEY, profiles=())) == timing_cache_path(tmp_path, KEY)


# --- TensorRT itself -----------------------------------------------------------------------------------


@pytest.mark.skipif(TRT, reason="checks the message shown when TensorRT is missing")
def test_missing_tensorrt_names_the_extra(model: ModelDirectory) -> None:
    from vidtrans.backends.tensorrt_backend import TensorRTBackend

    with pytest.raises(MissingExtraError, match=r"install vidtrans\[tensorrt\]"):
        import_tensorrt()
    with pytest.raises(MissingExtraError, match=r"install vidtrans\[tensorrt\]"):
        TensorRTBackend.from_model(model, device=torch.device("cuda"), precision="fp16")


@pytest.mark.gpu
@pytest.mark.skipif(not (TRT and GPU), reason="needs TensorRT (vidtrans[tensorrt]) and a CUDA GPU")
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_engine_build_cache_and_runtime(model: ModelDirectory, precision: str) -> None:
    from vidtrans.backends.tensorrt_backend import TensorRTBackend
    from vidtrans.deploy.tensorrt_build import ensure_engine

    device = torch.device("cuda")
    profiles = profiles_for([(64, 48), (96, 64)], BatchRange(1, 2, 4), multiple=4)
    built = ensure_engine(model, device=device, precision=precision, profiles=profiles,  # type: ignore[arg-type]
                          workspace_gib=1)
    assert built.built and built.path.is_file() and built.key.profiles == profiles
    again = ensure_engine(model, device=device, precision=precision, profiles=profiles,  # type: ignore[arg-type]
                          workspace_gib=1)
    assert not again.built and again.path == built.path

    backend = TensorRTBackend.from_model(model, device=device, precision=precision,  # type: ignore[arg-type]
                                         build=False)
    generator = model.load_generator()
    tolerance = 1e-2 if precision == "fp32" else 2 * LEVEL
    for shape in [(3, 3, 48, 64), (1, 3, 64, 96)]:  # both profiles of the one engine
        batch = torch.rand(*shape, generator=torch.Generator().manual_seed(3)) * 2 - 1
        with torch.inference_mode():
            expected = generator(batch)
        output = backend.run(batch.to(device))
        torch.cuda.current_stream().synchronize()
        assert (output.cpu() - expected).abs().max() <= tolerance
    with pytest.raises(ModelError, match="no TensorRT engine"):
        backend.run(torch.zeros(1, 3, 32, 32, device=device))  # no profile for 32x32 and build=False
    backend.close()

    built.path.write_bytes(built.path.read_bytes()[:-16])  # truncated: rebuilt, not trusted
    rebuilt = ensure_engine(model, device=device, precision=precision, profiles=profiles,  # type: ignore[arg-type]
                            workspace_gib=1)
    assert rebuilt.built
