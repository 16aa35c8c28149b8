"""Pack the NIH cells into one small zip to train on a remote GPU machine: lossless WebP by
default (pixel-identical to the originals), or ``--quality Q`` for a smaller lossy copy.

The zip holds ``manifest.csv`` and the cells under their own relative paths, so
``malaria-gui train`` reads the unpacked folder exactly like the original. The pack is a
derived copy of the data: it lives in ``.pack/`` (git-ignored) and is never committed.

    python tools/pack_cells.py ../shared/data/nih_malaria_cells_128 .pack/cells.zip [--quality 90]
"""

from __future__ import annotations

import argparse
import csv
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np


def main(src: str, dest: str, quality: int | None = None) -> None:
    src_dir, dest_path = Path(src), Path(dest)
    dest_path.parent.mkdir(parents=True, exist_ok=True)
    rows = list(csv.DictReader(open(src_dir / "manifest.csv", newline="")))

    def encode(row):
        image = cv2.imdecode(np.fromfile(src_dir / row["file"], np.uint8), cv2.IMREAD_COLOR)
        # OpenCV writes lossless WebP for a quality above 100
        ok, buf = cv2.imencode(".webp", image, [cv2.IMWRITE_WEBP_QUALITY, quality or 101])
        assert ok, row["file"]
        if quality is None:
            assert np.array_equal(cv2.imdecode(buf, cv2.IMREAD_COLOR), image), row["file"]
        return row["file"], buf.tobytes()

    with ThreadPoolExecutor(4) as pool, zipfile.ZipFile(dest_path, "w", zipfile.ZIP_STORED) as zf:
        zf.write(src_dir / "manifest.csv", "manifest.csv")
        for name, data in pool.map(encode, rows):
            zf.writestr(name, data)
    print(f"{len(rows)} cells -> {dest_path} ({dest_path.stat().st_size / 2**20:.1f} MiB)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src")
    parser.add_argument("dest")
    parser.add_argument("--quality", type=int, help="lossy WebP quality 1-100 (default: lossless)")
    args = parser.parse_args()
    main(args.src, args.dest, args.quality)
