"""Assembling a run's data: the two domains, the dataset, the per-rank sampler and the worker loader."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

from vidtrans.errors import InputError
from vidtrans.segmenter.spec import SegmenterSpec
from vidtrans.training.config import TrainConfig
from vidtrans.training.data import (
    EpochBatches,
    LabelMaps,
    PairedDataset,
    UnpairedDataset,
    collate,
    read_substituting,
    scaled_size,
)
from vidtrans.training.distributed import DistContext, local_main_first
from vidtrans.training.domains import (
    Item,
    describe_empty,
    find_label_maps,
    find_sources,
    pair_items,
    resolve_items,
)


@dataclass(frozen=True)
class TrainingData:
    """What the loop iterates over, and what it reports about the data."""

    dataset: Dataset
    sampler: EpochBatches
    loader: DataLoader
    roots: tuple[Path, Path]
    counts: tuple[int, int]
    training_size: tuple[int, int]


def _domain(label: str, spec: str, config: TrainConfig, frames_dir: Path, ctx: DistContext,
            max_items: int | None) -> tuple[Path, list[Item]]:
    if not spec:
        raise InputError(f"no DOMAIN_{label} given: pass two domains (folders, videos or list files)")
    try:
        root, sources = find_sources(spec, split=config.data.split)
        if not sources:
            raise InputError(describe_empty(root))
        items = local_main_first(ctx, lambda: resolve_items(
            sources, frames_dir=frames_dir / label, frame_step=config.data.frame_step, max_items=max_items))
    except InputError as error:
        raise InputError(f"DOMAIN_{label}: {error}") from None
    if not items:
        raise InputError(f"DOMAIN_{label}: {root}: the videos gave no frames")
    return root, items


def _label_maps(spec: str, items: list[Item], config: TrainConfig, label_spec: SegmenterSpec) -> LabelMaps | None:
    files = find_label_maps(spec, items, split=config.data.split)
    if files is None:
        return None
    return LabelMaps(tuple(files), classes=label_spec.num_classes, ignore=label_spec.ignore_index)


def build_data(config: TrainConfig, *, frames_dir: Path, ctx: DistContext,
               label_spec: SegmenterSpec | None = None) -> TrainingData:
    """Resolve both domains (extracting video frames once), pair them for pix2pix, and build the loader.

    With `--direction BtoA` the domains swap, so domain A is always the generator's input. With `label_spec`
    (the semantic loss's segmenter) the batches also hold the label maps of the domains that are labelled
    datasets (GTA5 or Cityscapes layout), checked against the segmenter's classes.
    """
    data = config.data
    specs = (data.domain_a, data.domain_b) if data.direction == "AtoB" else (data.domain_b, data.domain_a)
    paired = config.mode == "pix2pix"
    limit = None if paired else data.max_items
    root_a, items_a = _domain("A", specs[0], config, frames_dir, ctx, limit)
    root_b, items_b = _domain("B", specs[1], config, frames_dir, ctx, limit)
    multiple = config.model.generator_config().size_multiple
    dataset: Dataset
    if paired:
        pairs = pair_items(items_a, items_b, root_a=root_a, root_b=root_b)[:data.max_items]
        dataset = PairedDataset([(a.path, b.path) for a, b in pairs], data, seed=config.seed, multiple=multiple)
        counts = (len(pairs), len(pairs))
    else:
        labels = [_label_maps(spec, items, config, label_spec) if label_spec is not None else None
                  for spec, items in zip(specs, (items_a, items_b))]
        dataset = UnpairedDataset([i.path for i in items_a], [i.path for i in items_b], data, seed=config.seed,
                                  multiple=multiple, labels_a=labels[0], labels_b=labels[1])
        counts = (len(items_a), len(items_b))
    (first,), _ = read_substituting([dataset.a], 0)  # type: ignore[attr-defined]
    training_size = scaled_size(first.shape[1], first.shape[0], data, multiple)
    sampler = EpochBatches(len(dataset), batch_size=data.batch_size, seed=config.seed,  # type: ignore[arg-type]
                           world_size=ctx.world_size, rank=ctx.rank)
    loader = DataLoader(dataset, batch_sampler=sampler, num_workers=data.num_workers, collate_fn=collate,
                        pin_memory=ctx.device.type == "cuda", persistent_workers=data.num_workers > 0,
                        generator=torch.Generator())
    return TrainingData(dataset, sampler, loader, (root_a, root_b), counts, training_size)
