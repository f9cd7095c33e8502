"""JPEGs with an EXIF orientation tag (phones, dashcams) are read upright, translated upright and written
upright (without the tag), in convert and synth."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from media import UPRIGHT, jpeg_with_orientation
from vidtrans.cli import main
from vidtrans.images import read_image
from vidtrans.modeldir import ModelDirectory
from vidtrans.runtime import RuntimeOptions
from vidtrans.translator import Translator


def _stored() -> np.ndarray:
    """A 24x40 picture whose four quadrants differ, so every flip and turn shows."""
    picture = np.zeros((24, 40, 3), np.uint8)
    picture[:12, :20], picture[:12, 20:], picture[12:, :20], picture[12:, 20:] = \
        (230, 30, 30), (30, 230, 30), (30, 30, 230), (230, 230, 30)
    return picture


@pytest.mark.parametrize("orientation", range(1, 9))
def test_read_image_applies_the_exif_orientation(tmp_path: Path, orientation: int) -> None:
    path = tmp_path / "phone.jpg"
    path.write_bytes(jpeg_with_orientation(_stored(), orientation))
    upright = np.ascontiguousarray(UPRIGHT[orientation](_stored()))
    pixels = read_image(path)
    assert pixels.shape == upright.shape
    error = np.abs(pixels.astype(int) - upright)
    assert np.median(error) <= 3 and error.mean() < 15  # JPEG blurs colour edges; a wrong turn is off by ~100


def test_convert_and_synth_write_the_translation_upright(tmp_path: Path, tiny_model: ModelDirectory,
                                                         one_torch_thread: None) -> None:
    upright = np.ascontiguousarray(UPRIGHT[6](_stored()))  # stored landscape, seen portrait
    data = tmp_path / "data"
    data.mkdir()
    (data / "phone.jpg").write_bytes(jpeg_with_orientation(_stored(), 6))
    translator = Translator.from_model(tiny_model, RuntimeOptions(backend="torch", device="cpu"))
    expected = translator.translate(read_image(data / "phone.jpg")[None])[0]
    translator.close()
    assert main(["convert", str(data / "phone.jpg"), "-o", str(tmp_path / "out.png"), "--model",
                 str(tiny_model.path), "--backend", "torch", "--device", "cpu", "-q"]) == 0
    assert main(["synth", str(data), str(tmp_path / "synth"), "--model", str(tiny_model.path), "--format", "png",
                 "--backend", "torch", "--device", "cpu", "-q"]) == 0
    for written in (tmp_path / "out.png", tmp_path / "synth" / "phone.png"):
        stored = cv2.imdecode(np.fromfile(written, np.uint8), cv2.IMREAD_UNCHANGED)  # no orientation applied
        assert stored.shape == upright.shape  # upright in the file itself: 40 high, 24 wide
        assert np.abs(read_image(written).astype(int) - expected).max() <= 1
    record = json.loads((tmp_path / "synth" / "manifest.jsonl").read_text().splitlines()[0])
    assert record["size"] == record["source_size"] == [24, 40]
