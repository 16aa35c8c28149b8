"""Reading any image file a technician may drop into an RGB ``uint8`` array, or a clear error.

Every failure becomes an :class:`ImageError` whose message is meant for the user ("empty
file", "truncated image", "image too large"...); :func:`decode` never raises anything else
for a bad file, so one broken file cannot stop a batch.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

# OpenCV's own pixel limit is a last line of defence against decompression bombs; it must
# be set before cv2 is first imported.
MAX_PIXELS = 50_000_000  # 50 megapixels: far beyond any single-cell crop, far below a bomb
MAX_FILE_BYTES = 512 * 1024 * 1024
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(MAX_PIXELS))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

cv2.setNumThreads(1)  # decoding runs on our own threads; OpenCV's pool would oversubscribe


class ImageError(Exception):
    """A file that cannot be scored, with the reason in words a user understands."""


_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def read_bytes(path: str | os.PathLike[str]) -> bytes:
    """The file's bytes, refusing what is not a regular, readable, plausible-sized file."""
    try:
        st = os.stat(path)  # not Path(path).stat(): re-parsing the path cost ~20 us a file
    except FileNotFoundError:
        if Path(path).is_symlink():
            raise ImageError("broken link: the file it points to does not exist") from None
        raise ImageError("file not found") from None
    except PermissionError:
        raise ImageError("permission denied") from None
    except OSError as exc:
        raise ImageError(f"cannot open file: {exc.strerror or exc}") from None
    if stat.S_ISDIR(st.st_mode):
        raise ImageError("is a folder, not an image file")
    if not stat.S_ISREG(st.st_mode):
        raise ImageError("not a regular file (device, pipe or socket)")
    if st.st_size == 0:
        raise ImageError("empty file (0 bytes)")
    if st.st_size > MAX_FILE_BYTES:
        raise ImageError(f"file too large ({st.st_size / 2**20:.0f} MB)")
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except PermissionError:
        raise ImageError("permission denied") from None
    except OSError as exc:
        raise ImageError(f"cannot read file: {exc.strerror or exc}") from None


def _header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the header alone, before any pixels are allocated.

    PNG, WebP and JPEG (nearly every cell image) are read directly: Pillow's identification
    tries plugin after plugin in Python, costing as much CPU as decoding and holding the GIL
    the window needs. Other formats go through Pillow."""
    size = _png_size(data) or _webp_size(data) or _jpeg_size(data)
    if size is not None:
        return size
    from io import BytesIO

    from PIL import Image

    try:
        with Image.open(BytesIO(data)) as im:
            return im.size
    except Image.DecompressionBombError as exc:
        raise ImageError(f"image too large ({exc})") from None
    except Exception:  # not identified by Pillow: OpenCV still gets a try
        return None


def header_size(path: str | os.PathLike[str], head: int = 1 << 18) -> tuple[int, int] | None:
    """(width, height) of an image file from its first bytes (no pixels decoded), or None
    when the header does not say (or the file cannot be read)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(head)
    except OSError:
        return None
    return _png_size(data) or _webp_size(data) or _jpeg_size(data)


def _png_size(data: bytes) -> tuple[int, int] | None:
    if data[:8] == _PNG_MAGIC and data[12:16] == b"IHDR":
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    """The canvas size of a WebP file (RIFF container; lossy VP8, lossless VP8L or extended VP8X)."""
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP" or len(data) < 30:
        return None
    kind = data[12:16]
    if kind == b"VP8X":
        return 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little")
    if kind == b"VP8L" and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    if kind == b"VP8 " and data[23:26] == b"\x9d\x01\x2a":
        return int.from_bytes(data[26:28], "little") & 0x3FFF, int.from_bytes(data[28:30], "little") & 0x3FFF
    return None


# JPEG start-of-frame markers (baseline, progressive, lossless...: not DHT C4, JPG C8, DAC CC).
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """The frame size from a JPEG's start-of-frame segment, walking the segments before it."""
    if data[:2] != b"\xff\xd8":
        return None
    pos, end = 2, len(data)
    while pos + 9 <= end:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in _SOF_MARKERS:
            return int.from_bytes(data[pos + 7:pos + 9], "big"), int.from_bytes(data[pos + 5:pos + 7], "big")
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # no length field
            pos += 2
            continue
        pos += 2 + int.from_bytes(data[pos + 2:pos + 4], "big")
    return None


def _check_truncated(data: bytes) -> None:
    # libjpeg and libpng fill in a truncated file with grey and only warn; a half image
    # must not be scored as if it were a cell.
    if data[:2] == b"\xff\xd8" and b"\xff\xd9" not in data[-4096:]:
        raise ImageError("truncated or corrupt JPEG (no end-of-image marker)")
    if data[:8] == _PNG_MAGIC and b"IEND" not in data[-4096:]:
        raise ImageError("truncated or corrupt PNG (no IEND chunk)")


def to_rgb8(image: np.ndarray) -> np.ndarray:
    """Any OpenCV-decoded array (BGR order, any depth, 1-4 channels) to RGB ``uint8``."""
    if image.dtype == np.uint16:
        # 12-bit cameras store 0..4095 in 16-bit containers: stretch those, scale the rest.
        scale = 16.0 if int(image.max()) <= 4095 else 257.0
        image = np.clip(image / scale + 0.5, 0, 255).astype(np.uint8)
    elif image.dtype in (np.float32, np.float64):
        finite = np.nan_to_num(image, nan=0.0, posinf=0.0, neginf=0.0)
        top = float(finite.max()) if finite.size else 1.0
        image = np.clip(finite * (255.0 if top <= 1.0 else 255.0 / top), 0, 255).astype(np.uint8)
    elif image.dtype != np.uint8:
        image = cv2.normalize(image, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)

    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    channels = image.shape[2]
    if channels == 1:
        return cv2.cvtColor(image[:, :, 0], cv2.COLOR_GRAY2RGB)
    if channels == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if channels == 4:
        # Composite over black: the NIH cells the model learned sit on a black background.
        alpha = image[:, :, 3:4].astype(np.float32) / 255.0
        rgb = cv2.cvtColor(image[:, :, :3], cv2.COLOR_BGR2RGB).astype(np.float32)
        return (rgb * alpha + 0.5).astype(np.uint8)
    raise ImageError(f"unsupported image with {channels} channels")


def decode(path: str | os.PathLike[str]) -> np.ndarray:
    """Read ``path`` into an RGB ``uint8`` array of shape (H, W, 3), or raise ImageError."""
    data = read_bytes(path)
    size = _header_size(data)
    if size is not None:
        width, height = size
        if width <= 0 or height <= 0:
            raise ImageError("image has no pixels")
        if width * height > MAX_PIXELS:
            raise ImageError(f"image too large ({width} x {height} pixels; limit {MAX_PIXELS // 10**6} MP)")
    _check_truncated(data)
    buffer = np.frombuffer(data, dtype=np.uint8)
    try:
        image = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED | cv2.IMREAD_ANYDEPTH)
    except cv2.error as exc:
        raise ImageError(f"cannot decode image: {str(exc).strip().splitlines()[-1]}") from None
    if image is None:
        if size is None:
            raise ImageError("not an image, or an unsupported or corrupt image format")
        raise ImageError("corrupt or unsupported image data")
    if image.size == 0:
        raise ImageError("image has no pixels")
    return to_rgb8(image)
