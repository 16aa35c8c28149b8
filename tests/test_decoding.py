"""Decoding: every file a technician may drop becomes RGB uint8 pixels or one clear ImageError."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from cells import synthetic_cell, write_rgb
from malaria_gui.engine.decoding import ImageError, decode


@pytest.fixture(scope="module")
def cell() -> np.ndarray:
    return synthetic_cell(np.random.default_rng(1), parasitized=True, size=48)


def _decoded(path: Path) -> np.ndarray:
    image = decode(path)
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    return image


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".tif", ".tiff", ".webp"])
def test_lossless_formats_round_trip_exactly(tmp_path, cell, suffix):
    path = write_rgb(tmp_path / f"cell{suffix}", cell)
    np.testing.assert_array_equal(_decoded(path), cell)


@pytest.mark.parametrize("suffix", [".jpg", ".jpeg"])
def test_jpeg_is_read_in_rgb_order(tmp_path, cell, suffix):
    path = write_rgb(tmp_path / f"cell{suffix}", cell)
    image = _decoded(path)
    assert image.shape == cell.shape
    # Lossy, but the colour channels must not be swapped (a BGR mix-up moves red into blue).
    assert np.abs(image.astype(int) - cell).mean() < 4


@pytest.mark.parametrize("shape", [(1, 1), (3, 500), (700, 2)])
def test_any_size(tmp_path, shape):
    rgb = np.random.default_rng(0).integers(0, 256, (*shape, 3), dtype=np.uint8)
    np.testing.assert_array_equal(_decoded(write_rgb(tmp_path / "odd.png", rgb)), rgb)


def test_grayscale_becomes_three_equal_channels(tmp_path):
    gray = np.arange(64, dtype=np.uint8).reshape(8, 8) * 4
    cv2.imwrite(str(tmp_path / "g.png"), gray)
    image = _decoded(tmp_path / "g.png")
    for c in range(3):
        np.testing.assert_array_equal(image[:, :, c], gray)


def test_rgba_is_composited_over_black(tmp_path):
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., :3] = (200, 100, 50)
    rgba[:2, :, 3] = 255  # top half opaque, bottom half transparent
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    image = _decoded(tmp_path / "a.png")
    assert (image[:2] == (200, 100, 50)).all()
    assert (image[2:] == 0).all()


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16_bit_is_scaled_to_8_bit(tmp_path, cell, suffix):
    deep = cell.astype(np.uint16) * 257
    assert cv2.imwrite(str(tmp_path / f"deep{suffix}"), deep[:, :, ::-1])
    np.testing.assert_array_equal(_decoded(tmp_path / f"deep{suffix}"), cell)


def test_16_bit_grayscale_png(tmp_path):
    gray = (np.arange(16, dtype=np.uint16).reshape(4, 4) * 16 + 10) * 257
    Image.fromarray(gray.astype(np.uint16)).save(tmp_path / "g16.png")
    image = _decoded(tmp_path / "g16.png")
    np.testing.assert_array_equal(image[:, :, 1], (gray // 257).astype(np.uint8))


def test_palette_png(tmp_path, cell):
    Image.fromarray(cell).quantize(colors=8).save(tmp_path / "pal.png")
    expected = np.asarray(Image.open(tmp_path / "pal.png").convert("RGB"))
    np.testing.assert_array_equal(_decoded(tmp_path / "pal.png"), expected)


def test_unicode_path(tmp_path, cell):
    path = write_rgb(tmp_path / "données" / "cellule_été_細胞.png", cell)
    np.testing.assert_array_equal(_decoded(path), cell)


# --- broken files: always ImageError, with a reason a user can act on -------------------------


def _error(path: Path) -> str:
    with pytest.raises(ImageError) as info:
        decode(path)
    return str(info.value).lower()


def test_truncated_png(tmp_path, cell):
    good = write_rgb(tmp_path / "good.png", cell).read_bytes()
    (tmp_path / "cut.png").write_bytes(good[: len(good) // 2])
    assert "truncated" in _error(tmp_path / "cut.png")


def test_truncated_jpeg(tmp_path, cell):
    good = write_rgb(tmp_path / "good.jpg", cell).read_bytes()
    (tmp_path / "cut.jpg").write_bytes(good[: len(good) * 2 // 3])
    assert "truncated" in _error(tmp_path / "cut.jpg")


def test_empty_file(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    assert "empty" in _error(tmp_path / "empty.png")


def test_text_renamed_png(tmp_path):
    (tmp_path / "notes.png").write_text("Patient list\nP1, P2\n" * 20)
    assert "not an image" in _error(tmp_path / "notes.png")


def test_garbage_after_png_magic(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4 + b"IEND\xaeB`\x82")
    assert "corrupt" in _error(tmp_path / "bad.png")


def test_directory_named_like_an_image(tmp_path):
    (tmp_path / "x.png").mkdir()
    assert "folder" in _error(tmp_path / "x.png")


def test_fifo_named_like_an_image_does_not_hang(tmp_path):
    os.mkfifo(tmp_path / "x.png")  # opening it for reading would block forever
    assert "not a regular file" in _error(tmp_path / "x.png")


def test_broken_symlink(tmp_path):
    os.symlink(tmp_path / "gone.png", tmp_path / "link.png")
    assert "broken link" in _error(tmp_path / "link.png")


def test_missing_file(tmp_path):
    assert "not found" in _error(tmp_path / "never.png")


def test_symlink_to_itself(tmp_path):
    os.symlink("self.png", tmp_path / "self.png")
    assert "cannot open" in _error(tmp_path / "self.png")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_unreadable_file(tmp_path, cell):
    path = write_rgb(tmp_path / "locked.png", cell)
    path.chmod(0)
    try:
        assert "permission denied" in _error(path)
    finally:
        path.chmod(0o644)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def test_decompression_bomb_header_is_refused_before_allocating(tmp_path):
    """A 300-byte PNG claiming 100000 x 100000 RGB pixels (30 GB) must be refused, not decoded."""
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    png = (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(b"\0" * 4096))
        + _png_chunk(b"IEND", b"")
    )
    (tmp_path / "bomb.png").write_bytes(png)
    message = _error(tmp_path / "bomb.png")
    assert "too large" in message and "100000" in message


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".tif", ".bmp"])
def test_large_but_compressible_image_is_refused(tmp_path, suffix):
    """A real 9000 x 9000 (81 MP) file, tiny on disk, is over the limit in every format."""
    path = tmp_path / f"big{suffix}"
    Image.fromarray(np.zeros((9000, 9000), np.uint8)).save(path)
    assert "too large" in _error(path)


_VARIANTS = [(fmt, options, mode)
             for fmt, options in [("WEBP", {"quality": 90}), ("WEBP", {"lossless": True}), ("JPEG", {}),
                                  ("JPEG", {"progressive": True}), ("JPEG", {"exif": b"Exif\x00\x00" + b"\x00" * 300}),
                                  ("PNG", {})]
             for mode in ("RGB", "RGBA", "L") if not (fmt == "JPEG" and mode == "RGBA")]


@pytest.mark.parametrize("fmt, options, mode", _VARIANTS)
def test_header_size_is_read_without_pillow_and_matches_it(tmp_path, fmt, options, mode):
    """The size check (bomb guard) reads PNG, WebP and JPEG headers itself: it must agree
    with Pillow on every variant (lossy VP8, lossless VP8L, extended VP8X with alpha,
    progressive and EXIF-carrying JPEG), for odd sizes too."""
    from malaria_gui.engine.decoding import _header_size

    path = tmp_path / f"cell.{fmt.lower()}"
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (91, 37, 4), np.uint8)).convert(mode)
    image.save(path, fmt, **options)
    data = path.read_bytes()
    with Image.open(path) as im:
        assert _header_size(data) == im.size == (37, 91)


def test_webp_and_jpeg_bombs_are_refused_from_the_header(tmp_path):
    """Small files whose headers claim 16384 x 16384 (268 MP): refused before decoding."""
    webp = tmp_path / "bomb.webp"
    Image.new("RGBA", (4, 4)).save(webp, "WEBP")  # extended (VP8X) header
    data = bytearray(webp.read_bytes())
    assert data[12:16] == b"VP8X"
    data[24:27] = data[27:30] = (16383).to_bytes(3, "little")
    webp.write_bytes(bytes(data))
    assert "16384 x 16384" in _error(webp)

    jpeg = tmp_path / "bomb.jpg"
    Image.new("RGB", (4, 4)).save(jpeg, "JPEG")
    data = bytearray(jpeg.read_bytes())
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", 16384, 16384)
    jpeg.write_bytes(bytes(data))
    assert "16384 x 16384" in _error(jpeg)
