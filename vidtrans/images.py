"""Reading, writing and finding still images (RGB uint8 arrays), with clear errors."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from vidtrans.errors import InputError, OutputError
from vidtrans.fsutil import atomic_path, find_files

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


def is_image_file(path: Path) -> bool:
    """Whether `path` has one of the image extensions vidtrans reads."""
    return path.suffix.lower() in IMAGE_EXTENSIONS


def list_images(folder: Path, *, recursive: bool = True) -> list[Path]:
    """Image files under `folder`, sorted by path; hidden files and folders are skipped."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder")
    return find_files(folder, is_image_file, recursive=recursive)


_DECODE_FLAGS = cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR
"""Keep 16-bit and grey images as they are (converted below), drop alpha, and apply the EXIF orientation."""


def read_image(path: Path) -> np.ndarray:
    """Decode an image file to RGB uint8 (H, W, 3), upright; grey, alpha and 16-bit images are converted.

    Upright: a JPEG's EXIF orientation (phones, dashcams) is applied, as image viewers do, so a picture
    taken sideways is translated, and written, the way it is seen.
    """
    path = Path(path)
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as error:
        raise InputError(f"{path}: cannot read ({error.strerror or error})") from None
    try:
        image = cv2.imdecode(data, _DECODE_FLAGS) if data.size else None
    except cv2.error:  # OpenCV asserts on some headers, such as one claiming over 2**30 pixels
        raise InputError(f"{path}: not a readable image (OpenCV refuses its header: damaged, or a size too large "
                         "to decode)") from None
    if image is None:
        raise InputError(f"{path}: not a readable image (empty, truncated or an unsupported format)")
    if image.dtype == np.uint16:
        image = (image / 257.0 + 0.5).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise InputError(f"{path}: unsupported pixel type {image.dtype}")
    return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB if image.ndim == 2 else cv2.COLOR_BGR2RGB)


def encode_image(rgb: np.ndarray, suffix: str, *, quality: int = 95) -> bytes:
    """Encode RGB uint8 (H, W, 3), or a single-channel (H, W) map such as labels, as PNG, JPEG, WebP or BMP.

    `quality` applies to JPEG and WebP.
    """
    is_rgb = rgb.ndim == 3 and rgb.shape[2] == 3
    if rgb.dtype != np.uint8 or not (is_rgb or rgb.ndim == 2):
        raise ValueError(f"expected an RGB uint8 (H, W, 3) or a uint8 (H, W) image; got {rgb.dtype} {rgb.shape}")
    suffix = suffix.lower()
    params: list[int] = []
    if suffix in (".jpg", ".jpeg"):
        params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    elif suffix == ".webp":
        params = [cv2.IMWRITE_WEBP_QUALITY, int(quality)]
    elif suffix not in (".png", ".bmp"):
        raise ValueError(f"image format must be one of png, jpg, webp, bmp; got {suffix!r}")
    ok, encoded = cv2.imencode(suffix, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR) if is_rgb else rgb, params)
    if not ok:
        raise ValueError(f"OpenCV could not encode a {rgb.shape[1]}x{rgb.shape[0]} image as {suffix}")
    return encoded.tobytes()


def write_image(path: Path, rgb: np.ndarray, *, quality: int = 95) -> None:
    """Write an RGB (or single-channel) image; the format follows the suffix; the file appears only once complete."""
    path = Path(path)
    data = encode_image(rgb, path.suffix, quality=quality)
    try:
        with atomic_path(path) as temporary:
            temporary.write_bytes(data)
    except OSError as error:
        raise OutputError(f"{path}: cannot write ({error.strerror or error})") from None
