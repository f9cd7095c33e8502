"""Dataset synthesis (`vidtrans synth`): translate a labelled dataset into a mirror tree, resumable and sharded.

    layout    find items in INPUT: GTA5, Cityscapes, any folder, or video frames
    plan      the deterministic split into shards (`--shard I/N`, torchrun's RANK / WORLD_SIZE)
    job       `OUTPUT/synth.json`: the job's identity, checked on every rerun
    manifest  per-shard manifest parts, resume state, the merged `OUTPUT/manifest.jsonl`
    labels    label files copied byte for byte, or hard-linked
    items     one item read (decoded, resized) and written (labels, encode, rename, its manifest record)
    work      what an engine is given (the remaining items, the run's manifest part) and returns (counts)
    local     the local engine: decode pool -> the shared pipeline and Translator -> encode pool
    run       the job: plan, claim OUTPUT, run an engine (local, or Ray: `vidtrans.scale`), merge
    merge     completeness over all shards and the full manifest
"""

from vidtrans.synthesis.layout import Dataset, Item, Sampling, find_items
from vidtrans.synthesis.merge import MergeReport, merge_job
from vidtrans.synthesis.plan import Shard, resolve_shard
from vidtrans.synthesis.run import DEFAULT_WORKERS, SynthOptions, SynthSummary, synth

__all__ = [
    "DEFAULT_WORKERS", "Dataset", "Item", "MergeReport", "Sampling", "Shard", "SynthOptions", "SynthSummary",
    "find_items", "merge_job", "resolve_shard", "synth",
]
