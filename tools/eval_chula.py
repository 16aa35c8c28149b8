"""Red-cell segmentation and false-positive rate on the public Chula-RBC-12 fields.

    python tools/eval_chula.py [DATA_DIR] [--model FILE] [--limit N] [--every K] [--draw DIR]

DATA_DIR (default ../shared/data/chula_rbc12_fields) holds images/N.jpg and points/N.txt
(one "x y type" line per marked red cell; not every cell is marked, so only recall-type
figures are meaningful). Per marked point:
  found  - the point lies in exactly one found cell, and that cell holds no other point;
  split  - two or more found cells lie within one cell radius of the point, claim no other
           point, and the point is in one of them or between them (one cell cut in pieces);
  merged - the point lies in a found cell that holds two or more points;
  missed - the rest (border-cut cells, which the segmentation drops on purpose, are here too;
           'inner' figures leave out points within one cell diameter of the image border).
Every cell is uninfected, so the share of found cells the classifier calls Parasitized at the
model card's threshold is a false-positive rate on another lab's cells. Also counts the
objects left out of the count by kind and reason (white cells, clumps, others), and the
marked points that lie in each kind (a point in a left-out object is a red cell lost).
``--draw DIR`` writes each field with outlines coloured by kind (PNG; never commit them).
Prints a table.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from malaria_gui.engine.decoding import decode  # noqa: E402
from malaria_gui.engine.fields import CLUMP, OTHER, WHITE_CELL, FieldError, find_objects  # noqa: E402
from malaria_gui.engine.model import load_classifier  # noqa: E402
from malaria_gui.engine.preprocess import prepare  # noqa: E402


def judge(cells, points: np.ndarray) -> dict[str, np.ndarray]:
    """Per point: which found cells contain it, and the outcome name."""
    n = len(points)
    owners: list[list[int]] = [[] for _ in range(n)]
    held = np.zeros(len(cells), int)
    for ci, c in enumerate(cells):
        for pi, (x, y) in enumerate(points):
            lx, ly = int(x) - c.x, int(y) - c.y
            if 0 <= lx < c.width and 0 <= ly < c.height and c.mask[ly, lx]:
                owners[pi].append(ci)
                held[ci] += 1
    radius = np.median([np.sqrt(c.mask.sum() / np.pi) for c in cells]) if cells else 10.0
    centres = np.array([[c.x + c.width / 2, c.y + c.height / 2] for c in cells]) if cells else np.empty((0, 2))
    outcome = []
    for pi, (x, y) in enumerate(points):
        own = owners[pi]
        if len(own) == 1 and held[own[0]] == 1:
            # a second found cell close by that claims no point: the cell was cut in two
            near = np.flatnonzero(np.hypot(*(centres - [x, y]).T) < radius) if len(centres) else []
            extra = [j for j in near if j != own[0] and held[j] == 0]
            outcome.append("split" if extra else "found")
        elif len(own) == 1:
            outcome.append("merged")
        else:
            near = np.flatnonzero(np.hypot(*(centres - [x, y]).T) < radius) if len(centres) else []
            outcome.append("split" if len([j for j in near if held[j] == 0]) >= 2 else "missed")
    return {"outcome": np.array(outcome), "radius": radius}


COLOURS = {"red cell": (0, 200, 0), WHITE_CELL: (255, 0, 255), CLUMP: (255, 140, 0), OTHER: (0, 160, 255)}


def draw(path: Path, rgb: np.ndarray, cells, others, points: np.ndarray | None = None) -> None:
    """The field with red cells outlined green, white cells magenta, clumps orange, others
    blue (their boxes), and marked points as small white dots; written as PNG."""
    import cv2

    out = rgb.copy()
    for c in cells:
        cv2.polylines(out, [c.contour().reshape(-1, 1, 2)], True, COLOURS["red cell"], 2)
    for o in others:
        cv2.rectangle(out, (o.x, o.y), (o.x + o.width - 1, o.y + o.height - 1), COLOURS[o.kind], 2)
    for x, y in ([] if points is None else points):
        cv2.circle(out, (int(x), int(y)), 2, (255, 255, 255), -1)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(out, cv2.COLOR_RGB2BGR))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", type=Path, default=REPO.parent / "shared" / "data" / "chula_rbc12_fields")
    parser.add_argument("--model", type=Path)
    parser.add_argument("--limit", type=int)
    parser.add_argument("--every", type=int, default=1, help="every K-th field only")
    parser.add_argument("--draw", type=Path, metavar="DIR", help="write each field with its objects outlined")
    args = parser.parse_args()
    classifier = load_classifier(args.model)
    threshold = classifier.threshold
    images = sorted((args.data / "images").glob("*.jpg"), key=lambda p: int(p.stem))[:: args.every][: args.limit]
    kinds: Counter = Counter()  # (kind, reason) -> objects
    points_in: Counter = Counter()  # kind -> marked points lying in such an object, not in a red cell
    counts = {"found": 0, "split": 0, "merged": 0, "missed": 0}
    inner = dict(counts)
    total_points = inner_points = found_cells = positives = errors = 0
    seconds = 0.0
    for path in images:
        points = np.loadtxt(args.data / "points" / f"{path.stem}.txt", ndmin=2)[:, :2]
        rgb = decode(path)
        start = time.perf_counter()
        try:
            found = find_objects(rgb)
            cells, others = found.cells, found.others
            if found.channel != "green":
                print(f"{path.name}: cells found in the {found.channel} channel")
        except FieldError as exc:
            print(f"{path.name}: {exc}")
            errors += 1
            cells, others = [], []
        seconds += time.perf_counter() - start
        for o in others:
            kinds[o.kind, o.reason] += 1
        if args.draw:
            draw(args.draw / f"{path.stem}.png", rgb, cells, others, points)
        verdict = judge(cells, points)
        for o in others:
            inside = (points[:, 0] >= o.x) & (points[:, 0] < o.x + o.width) & (points[:, 1] >= o.y) & (points[:, 1] < o.y + o.height)
            points_in[o.kind] += int((inside & (verdict["outcome"] != "found")).sum())
        h, w = rgb.shape[:2]
        margin = 2 * verdict["radius"]
        is_inner = (points[:, 0] > margin) & (points[:, 1] > margin) & (points[:, 0] < w - margin) & (points[:, 1] < h - margin)
        for name in counts:
            counts[name] += int((verdict["outcome"] == name).sum())
            inner[name] += int((verdict["outcome"][is_inner] == name).sum())
        total_points += len(points)
        inner_points += int(is_inner.sum())
        if cells:
            batch = np.stack([prepare(c.crop, classifier.input_size) for c in cells])
            positives += int((classifier.predict(batch) >= threshold).sum())
            found_cells += len(cells)
    print(f"\nChula-RBC-12: {len(images)} fields, {total_points} marked cells "
          f"({inner_points} more than a cell diameter from the border); {errors} fields refused")
    print(f"{'':<10}{'all points':>14}{'inner points':>14}")
    for name in counts:
        print(f"{name:<10}{100 * counts[name] / total_points:>13.1f}%{100 * inner[name] / max(inner_points, 1):>13.1f}%")
    print(f"found cells: {found_cells}; called Parasitized at threshold {threshold:.3f}: {positives} "
          f"({100 * positives / max(found_cells, 1):.2f}%, all cells uninfected: false-positive rate)")
    print("left out of the count (objects; marked points inside their boxes not found as a cell):")
    for kind in (WHITE_CELL, CLUMP, OTHER):
        print(f"  {kind}: {sum(v for (k, _), v in kinds.items() if k == kind)} objects, {points_in[kind]} points")
        for (k, reason), v in sorted(kinds.items(), key=lambda kv: -kv[1]):
            if k == kind:
                print(f"      {v:>6}  {reason}")
    print(f"segmentation time: {1000 * seconds / max(len(images), 1):.0f} ms per 640x480 field")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
