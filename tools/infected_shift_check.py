"""Where another lab's infected cells are lost on the way into a composed field (issue 20).

    python tools/infected_shift_check.py [--model FILE] [--data DIR]

The composed MP-IDB fields (tools/compose_fields.py) catch far fewer infected cells than the
MP-IDB crops themselves. This takes the 1,016 MP-IDB crops through the composer's steps one at
a time, without a field, and prints the share caught at the cut-off that calls 1% of the Chula
fields' uninfected cells (cut by the app's segmentation) Parasitized, and at the card's field
threshold:

- lower resolution (down to 64 ... 28 px across and back): a field camera's smaller cells;
- the composer's own steps: crop_cell's mask, Reinhard transfer to a Chula field's cell
  colour statistics, scaling to that field's cell radius, and both.

What the crops keep here and lose in the composed fields happens in the paste itself (blend,
feathering, whole-field colour variants, JPEG, the segmentation's crop). Reads ../shared data
only; writes nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tools"))

from compose_fields import _scaled, crop_cell, lab_stats, reinhard  # noqa: E402

DATA = REPO.parent / "shared" / "data"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path)
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args(argv)
    from malaria_gui.engine.decoding import decode
    from malaria_gui.engine.fields import segment_field
    from malaria_gui.engine.model import load_classifier
    from malaria_gui.engine.preprocess import preprocess_batch
    from malaria_gui.training.augment import low_resolution
    from malaria_gui.training.other_labs import chula_cells, mpidb_cells

    clf = load_classifier(args.model)

    def predict(cells) -> np.ndarray:
        batch = preprocess_batch(list(cells), clf.input_size)
        return np.concatenate([clf.predict(batch[i:i + 256]) for i in range(0, len(batch), 256)])

    p_chula = predict(chula_cells(args.data / "chula_rbc12_fields"))
    at_1pct = float(np.quantile(p_chula, 0.99))
    field_thr = clf.field_threshold
    print(f"model {clf.name} {clf.version}; Chula uninfected field cells {len(p_chula)}: "
          f"cut-off calling 1% of them {at_1pct:.3f}; card field threshold {field_thr:.3f}")

    def line(name: str, cells) -> None:
        p = predict(cells)
        print(f"  {name:<34} {len(p):>5} cells  caught {100 * np.mean(p >= at_1pct):5.1f}% at Chula-1%  "
              f"{100 * np.mean(p >= field_thr):5.1f}% at {field_thr:.2f}")

    crops = mpidb_cells(args.data / "mpidb_pf_crops" / "Parasitized")
    print("MP-IDB crops, lower resolution:")
    line("as they are", crops)
    for px in (64, 48, 40, 32, 28):
        line(f"down to {px} px and back", np.stack([low_resolution(c, px) for c in crops]))

    # The composer's steps, with the colour and cell size of Chula fields (every other one of the first 40).
    targets = []
    for path in sorted((args.data / "chula_rbc12_fields" / "images").glob("*.jpg"))[:40:2]:
        rgb = decode(path)
        cells = segment_field(rgb)
        mask = np.zeros(rgb.shape[:2], bool)
        for c in cells:
            mask[c.y:c.y + c.height, c.x:c.x + c.width] |= c.mask
        targets.append((*lab_stats(rgb, mask), float(np.sqrt(np.median([c.mask.sum() for c in cells]) / np.pi))))
    rng = np.random.default_rng(0)
    steps: dict[str, list] = {"crop_cell mask": [], "Reinhard to Chula cells": [], "scaled to Chula radius": [],
                              "scaled + Reinhard": []}

    def cut(rgb, mask):
        out = np.clip(rgb, 0, 255).astype(np.uint8)
        out[~mask] = 0
        return out

    for path in sorted((args.data / "mpidb_pf_crops" / "Parasitized").glob("*.png")):
        got = crop_cell(path)
        if got is None:
            continue
        rgb, mask = got
        mean, std, radius = targets[int(rng.integers(len(targets)))]
        small, small_mask = _scaled(rgb, mask, radius / np.sqrt(mask.sum() / np.pi))
        steps["crop_cell mask"].append(cut(rgb, mask))
        steps["Reinhard to Chula cells"].append(cut(reinhard(rgb, mask, mean, std), mask))
        steps["scaled to Chula radius"].append(cut(small, small_mask))
        steps["scaled + Reinhard"].append(cut(reinhard(small, small_mask, mean, std), small_mask))
    print("MP-IDB crops through the composer's steps (whole cells crop_cell keeps):")
    for name, cells in steps.items():
        line(name, cells)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
