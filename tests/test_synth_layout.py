"""Synth item discovery: GTA5 and Cityscapes layouts with their label files, any folder, output names."""

from __future__ import annotations

from pathlib import Path

import pytest

from vidtrans.errors import InputError, UsageError
from vidtrans.synthesis.layout import find_items


def _touch(root: Path, *names: str) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(name.encode())


def test_gta5_layout_pairs_images_with_their_labels(tmp_path: Path) -> None:
    _touch(tmp_path, "images/00001.png", "images/00002.png", "images/00010.png", "labels/00001.png",
           "labels/00010.png", "labels/000100.png", "split.mat", "images/.hidden.png")
    dataset = find_items(tmp_path)
    assert dataset.kind == "gta5"
    assert [(i.key, i.output, i.labels) for i in dataset.items] == [
        ("images/00001.png", "images/00001.png", ("labels/00001.png",)),
        ("images/00002.png", "images/00002.png", ()),
        ("images/00010.png", "images/00010.png", ("labels/00010.png",)),
    ]
    assert dataset.unlabelled == 1


def test_cityscapes_layout_copies_every_label_file_of_an_image(tmp_path: Path) -> None:
    prefix = "train/aachen/aachen_000000_000019"
    other = "train/aachen/aachen_000000_0000190"
    labels = [f"gtFine/{prefix}_gtFine_{kind}" for kind in
              ("color.png", "instanceIds.png", "labelIds.png", "labelTrainIds.png", "polygons.json")]
    _touch(tmp_path, f"leftImg8bit/{prefix}_leftImg8bit.png", f"leftImg8bit/{other}_leftImg8bit.png",
           f"gtFine/{other}_gtFine_labelIds.png", f"gtCoarse/{prefix}_gtCoarse_labelIds.png", *labels,
           "license.txt")
    dataset = find_items(tmp_path, output_format="jpg")
    assert dataset.kind == "cityscapes"
    second, first = dataset.items  # "..._0000190_..." sorts before "..._000019_..."
    assert first.key == f"leftImg8bit/{prefix}_leftImg8bit.png"
    assert first.output == f"leftImg8bit/{prefix}_leftImg8bit.jpg"
    assert sorted(first.labels) == sorted(labels + [f"gtCoarse/{prefix}_gtCoarse_labelIds.png"])
    assert second.labels == (f"gtFine/{other}_gtFine_labelIds.png",)


def test_any_folder_keeps_each_format_unless_told_and_refuses_collisions(tmp_path: Path) -> None:
    _touch(tmp_path, "a/x.png", "a/y.JPG", "b/z.webp", "notes.txt")
    dataset = find_items(tmp_path)
    assert dataset.kind == "folder"
    assert [i.output for i in dataset.items] == ["a/x.png", "a/y.JPG", "b/z.webp"]
    assert [i.output for i in find_items(tmp_path, output_format="png").items] == ["a/x.png", "a/y.png", "b/z.png"]
    _touch(tmp_path, "a/x.jpg")
    with pytest.raises(InputError, match="would both be written to a/x.png"):
        find_items(tmp_path, output_format="png")
    with pytest.raises(UsageError, match="--format"):
        find_items(tmp_path, output_format="tiff")  # type: ignore[arg-type]


def test_unreadable_video_is_a_failed_item_and_empty_input_is_refused(tmp_path: Path) -> None:
    _touch(tmp_path, "clips/broken.mp4", "x.png")
    items = find_items(tmp_path).items
    assert [(i.key, i.output) for i in items] == [("clips/broken.mp4", None), ("x.png", "x.png")]
    assert "not a readable video" in (items[0].problem or "")
    with pytest.raises(InputError, match="not a readable video"):
        find_items(tmp_path / "clips" / "broken.mp4")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="nothing to translate"):
        find_items(tmp_path / "empty")
    with pytest.raises(InputError, match="no such"):
        find_items(tmp_path / "missing")
