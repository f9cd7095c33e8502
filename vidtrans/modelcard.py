"""The model card: a `README.md` beside the weights, in the layout of the Hugging Face ecosystem.

YAML front matter (library, pipeline tag, tags), then what the model translates, how it was trained, the
metrics `vidtrans eval --record` measured, the intended use, how to run it, and the files with their sha256.
It is written from `model.json` whenever a model directory is saved, and again when an evaluation is
recorded; `vidtrans models show` prints it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vidtrans.modeldir import WEIGHT_FILES, ModelInfo

CARD_FILE = "README.md"

_METRICS = (  # (key in an evaluation record, label, format)
    ("psnr", "PSNR G(a) vs b (dB)", "{:.2f}"), ("baseline_psnr", "PSNR a vs b, untranslated (dB)", "{:.2f}"),
    ("ssim", "SSIM G(a) vs b", "{:.3f}"), ("baseline_ssim", "SSIM a vs b, untranslated", "{:.3f}"),
    ("cycle_l1", "cycle L1, F(G(a)) vs a", "{:.4f}"), ("fid", "FID G(A) vs B", "{:.2f}"),
    ("kid", "KID G(A) vs B", "{:.4f}"), ("fcn_pixel_accuracy", "FCN pixel acc. on G(a) (%)", "{:.1f}"),
    ("fcn_miou", "FCN mIoU on G(a) (%)", "{:.1f}"), ("label_flip_rate", "label-flip rate (%)", "{:.1f}"),
    ("hood", "hood score (%)", "{:.1f}"),
)


def _architecture(info: ModelInfo) -> str:
    from vidtrans.networks import ResnetGeneratorConfig

    config = info.generator
    if isinstance(config, ResnetGeneratorConfig):
        return f"ResNet generator (resnet {config.n_blocks} blocks, ngf {config.ngf}, {config.norm} norm)"
    return f"U-Net generator (unet {config.num_downs} downs, ngf {config.ngf}, {config.norm} norm)"  # type: ignore[attr-defined]


def _parameters(info: ModelInfo) -> int:
    import torch

    from vidtrans.networks import build_generator, count_parameters

    with torch.device("meta"):
        return count_parameters(build_generator(info.generator))


def _training(info: ModelInfo) -> list[str]:
    prov = info.provenance
    if "imported_from" in prov:
        return [f"Imported from the checkpoint `{prov['imported_from']}` (sha256 `{prov.get('source_sha256', '?')}`);"
                " how it was trained is not recorded here."]
    if "training_run" not in prov:
        return ["Not recorded."]
    settings: Mapping[str, Any] = prov.get("settings") or {}
    lines = [f"- Method: {prov.get('mode', 'cyclegan')}, trained by vidtrans in `{prov['training_run']}`."]
    lines.append(f"- Data: domain A `{prov.get('domain_a', '?')}` ({info.source_domain}), domain B "
                 f"`{prov.get('domain_b', '?')}` ({info.target_domain}).")
    steps = f"{prov['step']:,} steps, {prov.get('epoch', '?')} epochs" if "step" in prov else "unknown length"
    if "batch_size" in settings:
        steps += f", batch {settings['batch_size']}"
    lines.append(f"- Length: {steps}; seed {prov.get('seed', '?')}.")
    if settings:
        shown = {k: settings[k] for k in ("preprocess", "load_size", "crop_size", "gan_mode", "lambda_cycle",
                                          "lambda_identity", "lr", "net_d", "ndf") if k in settings}
        lines.append("- Settings: " + ", ".join(f"{k} {v}" for k, v in shown.items()) + ".")
    segmenter = prov.get("semantic_segmenter")
    if settings.get("semantic_loss") and isinstance(segmenter, Mapping):
        digest = dict(segmenter.get("sha256") or {}).get("segmenter.safetensors", "?")
        lines.append(f"- Semantic-consistency loss (CyCADA) of weight {settings['semantic_loss']}, with the frozen "
                     f"source-domain segmenter `{segmenter.get('path', '?')}` (weights sha256 `{digest}`).")
    return lines


def _evaluations(info: ModelInfo) -> list[str]:
    if not info.evaluations:
        return [f"No evaluation recorded yet: `vidtrans eval --model {info.name} --pairs GAME_DIR REAL_DIR --record` "
                f"adds one here."]
    keys = [(key, label, fmt) for key, label, fmt in _METRICS if any(e.get(key) is not None for e in info.evaluations)]
    lines = ["| data | images | " + " | ".join(label for _, label, _ in keys) + " | date |",
             "|---|---|" + "---|" * len(keys) + "---|"]
    for record in info.evaluations:
        values = [fmt.format(record[key]) if record.get(key) is not None else "" for key, _, fmt in keys]
        lines.append(f"| `{record.get('data', '?')}` | {record.get('items', '?')} | " + " | ".join(values)
                     + f" | {record.get('date', '?')} |")
    return lines


def render_card(info: ModelInfo, hashes: Mapping[str, str]) -> str:
    """The card of a model from its description and the sha256 of its weight files."""
    mode = info.provenance.get("mode", "cyclegan")
    inverse = (f" It also holds the inverse generator, {info.target_domain} -> {info.source_domain} (`--inverse`)."
               if info.has_inverse else "")
    parts = [
        "---", "library_name: vidtrans", "pipeline_tag: image-to-image",
        f"tags: [vidtrans, {mode}, image-to-image, domain-adaptation, driving]", "---", "",
        f"# {info.name}: {info.source_domain} -> {info.target_domain}", "",
        (info.description + "\n") if info.description else "",
        "## Model", "",
        f"Translates {info.source_domain} images and video frames into the look of {info.target_domain} ones, keeping "
        f"their geometry, so label maps of the {info.source_domain} frames stay valid.{inverse}", "",
        f"- Architecture: {_architecture(info)}; {_parameters(info):,} parameters per generator.",
        f"- Input normalisation: mean {list(info.mean)}, std {list(info.std)} (RGB, [0, 1] scale).",
        f"- Trained on {info.training_size[0]}x{info.training_size[1]} frames." if info.training_size else None, "",
        "## Training", "", *_training(info), "",
        "## Evaluation", "", *_evaluations(info), "",
        "## Intended use and limitations", "",
        f"- Intended: making {info.source_domain} footage (games, simulators) look like {info.target_domain} camera "
        "footage, to train and test perception models on it, and to review translated videos.",
        "- An unpaired translation can change content where the two domains differ in content, not only in look "
        "(skies painted with trees, an ego-car hood painted in): check a translated dataset's labels with "
        "`vidtrans eval` before training on it.",
        "- Frames far from the training resolution translate worse; resize to it with `--size` or `--short-side`.",
        "",
        "## How to use", "",
        "```bash", f"vidtrans convert drive.mp4 --model {info.name}            # a video, an image or a folder",
        f"vidtrans synth data/gta5 out/gta5-translated --model {info.name}   # a labelled dataset", "```", "",
        "```python", "import vidtrans", "", f'model = vidtrans.load("{info.name}")', "translated = model(frames)",
        "```", "",
        "## Files", "",
        "| file | sha256 |", "|---|---|",
        *[f"| `{WEIGHT_FILES[role]}` | `{digest}` |" for role, digest in hashes.items()], "",
    ]
    return "\n".join(part for part in parts if part is not None)
