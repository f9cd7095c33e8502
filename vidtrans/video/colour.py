"""Colour tags of a video stream (matrix, range, primaries, transfer) and the rule for untagged video.

Decoding converts YUV to RGB with the stream's own matrix and range; encoding converts back with the same
ones and writes the tags, so a translated video displays like its input.

The rule for untagged streams (what players do): the matrix is BT.709 for HD (height >= 720) and BT.601
(SMPTE 170M) below; the range is limited ("tv") unless the pixel format is a full-range `yuvj*` one;
untagged primaries and transfer follow the matrix (BT.709 with BT.709, SMPTE 170M with BT.601).
Videos made from still images (sRGB, which has the BT.709 primaries) are BT.709, limited range, at any size.
"""

from __future__ import annotations

from dataclasses import dataclass

# FFmpeg's AVColorSpace / AVColorRange / AVColorPrimaries / AVColorTransferCharacteristic values.
SPC_BT709, SPC_UNSPECIFIED, SPC_FCC, SPC_BT470BG, SPC_SMPTE170M, SPC_SMPTE240M = 1, 2, 4, 5, 6, 7
SPC_BT2020_NCL, SPC_BT2020_CL = 9, 10
RANGE_UNSPECIFIED, RANGE_MPEG, RANGE_JPEG = 0, 1, 2
PRI_BT709, PRI_UNSPECIFIED, PRI_SMPTE170M = 1, 2, 6
TRC_BT709, TRC_UNSPECIFIED, TRC_SMPTE170M = 1, 2, 6

# AVColorSpace -> the swscale matrix name PyAV's `reformat` takes.
_SWS_MATRIX = {
    SPC_BT709: "ITU709", SPC_FCC: "FCC", SPC_BT470BG: "ITU601", SPC_SMPTE170M: "ITU601",
    SPC_SMPTE240M: "SMPTE240M", SPC_BT2020_NCL: "BT2020", SPC_BT2020_CL: "BT2020",
}
# AVColorSpace -> the (primaries, transfer) assumed when those are untagged.
_DEFAULT_PRIMARIES_TRC = {
    SPC_BT709: (PRI_BT709, TRC_BT709), SPC_FCC: (4, 4), SPC_BT470BG: (5, TRC_SMPTE170M),
    SPC_SMPTE170M: (PRI_SMPTE170M, TRC_SMPTE170M), SPC_SMPTE240M: (7, 7), SPC_BT2020_NCL: (9, 14),
    SPC_BT2020_CL: (9, 14),
}
_SPC_NAMES = {SPC_BT709: "bt709", SPC_FCC: "fcc", SPC_BT470BG: "bt470bg", SPC_SMPTE170M: "smpte170m",
              SPC_SMPTE240M: "smpte240m", SPC_BT2020_NCL: "bt2020nc", SPC_BT2020_CL: "bt2020c"}


def is_known_matrix(colorspace: int) -> bool:
    """Whether `colorspace` (an AVColorSpace) is a YUV matrix vidtrans converts with (not "unspecified")."""
    return colorspace in _SWS_MATRIX


@dataclass(frozen=True)
class Colour:
    """How a stream's YUV relates to RGB, as FFmpeg enum values (always resolved: never "unspecified")."""

    colorspace: int
    color_range: int
    color_primaries: int
    color_trc: int

    def __post_init__(self) -> None:
        if self.colorspace not in _SWS_MATRIX:
            raise ValueError(f"unsupported colour matrix {self.colorspace} (known: {sorted(_SWS_MATRIX)})")
        if self.color_range not in (RANGE_MPEG, RANGE_JPEG):
            raise ValueError(f"colour range must be {RANGE_MPEG} (tv) or {RANGE_JPEG} (pc); got {self.color_range}")

    @classmethod
    def resolve(cls, *, height: int, colorspace: int = SPC_UNSPECIFIED, color_range: int = RANGE_UNSPECIFIED,
                color_primaries: int = PRI_UNSPECIFIED, color_trc: int = TRC_UNSPECIFIED,
                pix_fmt: str | None = None) -> Colour:
        """The colour of a stream from its (possibly missing) tags, by the rule in the module docstring."""
        hd = height >= 720
        if colorspace not in _SWS_MATRIX:
            colorspace = SPC_BT709 if hd else SPC_SMPTE170M
        if color_range not in (RANGE_MPEG, RANGE_JPEG):
            color_range = RANGE_JPEG if (pix_fmt or "").startswith("yuvj") else RANGE_MPEG
        primaries, trc = _DEFAULT_PRIMARIES_TRC[colorspace]
        if color_primaries in (0, PRI_UNSPECIFIED, 3):  # reserved, unspecified, reserved
            color_primaries = primaries
        if color_trc in (0, TRC_UNSPECIFIED, 3):
            color_trc = trc
        return cls(colorspace, color_range, color_primaries, color_trc)

    @classmethod
    def for_images(cls) -> Colour:
        """The colour to encode RGB images (sRGB) with: BT.709 matrix, primaries and transfer, limited range."""
        return cls(SPC_BT709, RANGE_MPEG, PRI_BT709, TRC_BT709)

    @property
    def sws_matrix(self) -> str:
        """The matrix name for PyAV's `reformat(src_colorspace=/dst_colorspace=)`."""
        return _SWS_MATRIX[self.colorspace]

    @property
    def sws_range(self) -> str:
        """The range name for PyAV's `reformat(src_color_range=/dst_color_range=)`."""
        return "JPEG" if self.color_range == RANGE_JPEG else "MPEG"

    def describe(self) -> str:
        """E.g. `bt709/tv`."""
        return f"{_SPC_NAMES[self.colorspace]}/{'pc' if self.color_range == RANGE_JPEG else 'tv'}"
