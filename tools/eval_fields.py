"""Score a folder of fields with known truth through the real field pipeline: issue 20's figures.

    python tools/eval_fields.py FOLDER [--model FILE] [--threshold T] [--split K [--labels-out CSV]]

FOLDER holds truth.csv (``image,x,y,truth``: one point per red cell, Parasitized/Uninfected,
and per non-red object, "not a red cell"), and optionally objects.csv (each point's kind and the
object's box, as tools/compose_fields.py writes them) for breakdowns by kind. Fields are scored
by malaria_gui.engine.fields.score_fields with the classifier of --model (the bundled one by
default) at --threshold (by default the card's field_threshold where adaptation wrote one,
else its threshold). Points go to found cells with
field_labels.match_labels (a point inside the found cell's outline). Per red-cell point:

  found  - it lies in a found cell that holds no other truth point (a cell holding two is a
           clump cut as one: its points are not found);
  infected found and called - found, truth Parasitized, P(Parasitized) >= threshold.

Uninfected called Parasitized is the share of found uninfected red cells called Parasitized.
False counted objects are found cells holding no red point alone: by the kind of the truth
point they hold or the object box their centre lies in (white_cell, clump (2+ red points),
scale_bar, text, platelet...), else "unmarked" (no truth: an unmarked cell of the background or
debris). Pooled parasitemia: true = infected / red points over all fields; estimated = called /
counted over the fields counted. Per field error in percentage points over the counted fields.

--split K writes the first K fields' found cells with their truth as a field-label CSV
(field_labels.write_field_labels: image,cell,x,y,width,height,truth; the cell's truth when it
holds one red point alone, "not a red cell" for what is no single red cell; unmarked cells are
left out, as nobody labelled them) for ``malaria-gui adapt --field-labels``, and scores only
the remaining fields.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from malaria_gui.engine.field_labels import NOT_A_CELL, FieldCellLabel, match_labels, read_field_labels, write_field_labels  # noqa: E402
from malaria_gui.engine.labels import PARASITIZED, UNINFECTED  # noqa: E402

RED = (PARASITIZED, UNINFECTED)


@dataclass
class Obj:
    """A found cell as match_labels reads it: its box and (box-shaped) boolean mask."""

    x: int
    y: int
    width: int
    height: int
    mask: np.ndarray | None = None
    p: float = 0.0


@dataclass
class FieldTally:
    """What one field's found cells and truth points came to."""

    image: Path
    error: str | None = None
    red: int = 0
    infected: int = 0
    inner_red: int = 0
    red_found: int = 0
    inner_found: int = 0
    infected_found: int = 0
    infected_called: int = 0
    uninfected_found: int = 0
    uninfected_called: int = 0
    counted: int = 0
    called: int = 0
    false_kinds: Counter = field(default_factory=Counter)
    false_called: Counter = field(default_factory=Counter)
    cell_truth: dict[int, str] = field(default_factory=dict)  # found cell -> truth for --split


def cell_from_score(cell) -> Obj:
    """A scored cell (fields.CellScore, with its contour) as an :class:`Obj` with a mask."""
    mask = None
    if getattr(cell, "contour", None) is not None and len(cell.contour):
        m = np.zeros((cell.height, cell.width), np.uint8)
        cv2.fillPoly(m, [np.asarray(cell.contour, np.int32) - np.array([cell.x, cell.y], np.int32)], 1)
        mask = m.astype(bool)
    return Obj(cell.x, cell.y, cell.width, cell.height, mask, float(cell.p_parasitized))


def tally(image: Path, cells: list[Obj], labels: list[FieldCellLabel], kinds: list[tuple[str, tuple[int, int, int, int]]],
          threshold: float, shape: tuple[int, int] | None = None) -> FieldTally:
    """Count one field. ``kinds[i]`` is label i's kind and its object's box (or ("", None))."""
    t = FieldTally(image)
    owner: list[int | None] = []
    for lab in labels:
        taken, _ = match_labels(cells, [lab])
        owner.append(next(iter(taken), None))
    held: dict[int, list[int]] = defaultdict(list)
    for li, ci in enumerate(owner):
        if ci is not None:
            held[ci].append(li)
    radius = float(np.median([np.sqrt(c.mask.sum() / np.pi) if c.mask is not None else c.width / 2 for c in cells])) if cells else 0.0
    for li, lab in enumerate(labels):
        if lab.truth not in RED:
            continue
        inner = shape is None or (radius <= lab.x < shape[1] - radius and radius <= lab.y < shape[0] - radius)
        t.red += 1
        t.inner_red += inner
        infected = lab.truth == PARASITIZED
        t.infected += infected
        ci = owner[li]
        if ci is None or len(held[ci]) != 1:
            continue
        t.red_found += 1
        t.inner_found += inner
        called = cells[ci].p >= threshold
        if infected:
            t.infected_found += 1
            t.infected_called += called
        else:
            t.uninfected_found += 1
            t.uninfected_called += called
    for ci, c in enumerate(cells):
        t.counted += 1
        called = c.p >= threshold
        t.called += called
        mine = held.get(ci, [])
        if len(mine) == 1 and labels[mine[0]].truth in RED:
            t.cell_truth[ci] = labels[mine[0]].truth
            continue
        if len([i for i in mine if labels[i].truth in RED]) >= 2:
            kind = "clump cut as one (2+ red cells)"
        elif mine:  # a non-red object (with a red cell merged in, when one red point is here too)
            other = [i for i in mine if labels[i].truth not in RED]
            kind = (kinds[other[0]][0] or NOT_A_CELL) + (" (+ a red cell)" if len(other) < len(mine) else "")
        else:
            cx, cy = c.x + c.width / 2, c.y + c.height / 2
            kind = "unmarked"
            for k, box in kinds:
                if box is not None and k not in ("red", "red_with_speck", "pasted_infected", "clump_member", "") \
                        and box[0] <= cx < box[0] + box[2] and box[1] <= cy < box[1] + box[3]:
                    kind = k
                    break
        if kind != "unmarked":
            t.cell_truth[ci] = NOT_A_CELL
        t.false_kinds[kind] += 1
        t.false_called[kind] += called
    return t


def read_kinds(folder: Path) -> dict[tuple[str, float, float], tuple[str, tuple[int, int, int, int]]]:
    path = folder / "objects.csv"
    out = {}
    if not path.is_file():
        return out
    with open(path, newline="") as fh:
        for r in csv.DictReader(fh):
            box = tuple(int(float(r[k])) for k in ("box_x", "box_y", "box_w", "box_h"))
            out[(str((folder / r["image"]).resolve()), round(float(r["x"]), 1), round(float(r["y"]), 1))] = (r["kind"], box)
    return out


def summary(tallies: list[FieldTally], threshold: float) -> list[str]:
    """The report's lines."""
    ok = [t for t in tallies if t.error is None]
    lines = [f"fields: {len(tallies)}; refused: {len(tallies) - len(ok)}"]
    lines += [f"  refused {t.image.name}: {t.error}" for t in tallies if t.error]

    def pct(a: int, b: int) -> str:
        return f"{100 * a / b:.1f}% ({a}/{b})" if b else "n/a (0)"

    red = sum(t.red for t in tallies)
    lines.append(f"red cells found (a truth point alone in one found cell): {pct(sum(t.red_found for t in tallies), red)}; "
                 f"inner (a cell radius from the border): {pct(sum(t.inner_found for t in tallies), sum(t.inner_red for t in tallies))}")
    inf = sum(t.infected for t in tallies)
    lines.append(f"infected found and called: {pct(sum(t.infected_called for t in tallies), inf)} "
                 f"(found {pct(sum(t.infected_found for t in tallies), inf)})")
    lines.append(f"uninfected called Parasitized (of found uninfected red cells): "
                 f"{pct(sum(t.uninfected_called for t in tallies), sum(t.uninfected_found for t in tallies))}")
    kinds, called = Counter(), Counter()
    for t in tallies:
        kinds.update(t.false_kinds)
        called.update(t.false_called)
    counted = sum(t.counted for t in ok)
    lines.append(f"counted objects: {counted}; not a single red cell of the truth: {sum(kinds.values())}")
    for k, n in kinds.most_common():
        lines.append(f"  {k:<34} counted {n:>4}, called Parasitized {called[k]:>3}")
    true = sum(t.infected for t in tallies) / red if red else float("nan")
    est = sum(t.called for t in ok) / counted if counted else float("nan")
    errs = [abs(100 * t.called / t.counted - 100 * t.infected / t.red) for t in ok if t.counted and t.red]
    lines.append(f"pooled parasitemia: estimated {100 * est:.2f}% vs true {100 * true:.2f}% "
                 f"(ratio {est / true:.2f})" if true else f"pooled parasitemia: estimated {100 * est:.2f}%, true 0")
    lines.append(f"per-field parasitemia error: mean absolute {np.mean(errs):.2f} points over {len(errs)} fields"
                 if errs else "per-field error: no field counted")
    lines.append(f"(threshold {threshold:.3f})")
    return lines


def by_variant(folder: Path, tallies: list[FieldTally]) -> list[str]:
    """Per variant and size (from fields.csv, when the folder has one): the main figures."""
    path = folder / "fields.csv"
    if not path.is_file():
        return []
    with open(path, newline="") as fh:
        group = {str((folder / r["image"]).resolve()): f"{r['variant']} {r['size']}" for r in csv.DictReader(fh)}
    rows: dict[str, list[FieldTally]] = defaultdict(list)
    for t in tallies:
        rows[group.get(str(t.image), "?")].append(t)
    lines = [f"{'variant':<20}{'fields':>7}{'refused':>8}{'red found':>10}{'inf called':>11}{'unif->P':>8}{'est/true':>9}"]
    for name in sorted(rows):
        ts = rows[name]
        red, inf = sum(t.red for t in ts), sum(t.infected for t in ts)
        uf = sum(t.uninfected_found for t in ts)
        counted = sum(t.counted for t in ts if t.error is None)
        est = sum(t.called for t in ts if t.error is None) / counted if counted else float("nan")
        ratio = est / (inf / red) if inf and red else float("nan")
        lines.append(f"{name:<20}{len(ts):>7}{sum(t.error is not None for t in ts):>8}"
                     f"{100 * sum(t.red_found for t in ts) / max(red, 1):>9.1f}%"
                     f"{sum(t.infected_called for t in ts):>6}/{inf:<4}"
                     f"{100 * sum(t.uninfected_called for t in ts) / max(uf, 1):>7.2f}%{ratio:>9.2f}")
    return lines


def evaluate(folder: Path, classifier, threshold: float, split: int = 0, labels_out: Path | None = None) -> list[FieldTally]:
    """Score the fields of ``folder``; with ``split`` K, write the first K as field labels and
    score the rest."""
    from malaria_gui.engine.fields import score_fields

    labels, notes = read_field_labels(folder / "truth.csv")
    for n in notes:
        print(f"truth.csv: {n}")
    by_image: dict[Path, list[FieldCellLabel]] = defaultdict(list)
    for lab in labels:
        by_image[lab.image.resolve()].append(lab)
    images = sorted(by_image)
    kinds = read_kinds(folder)
    tallies = []
    train: list[FieldCellLabel] = []
    for result in score_fields(images, classifier, keep_contours=True):
        path = Path(result.path).resolve()
        labs = by_image[path]
        k = [kinds.get((str(path), round(lab.x, 1), round(lab.y, 1)), ("", None)) for lab in labs]
        if result.error is not None:
            t = FieldTally(path, result.error)
            t.red = sum(lab.truth in RED for lab in labs)
            t.infected = sum(lab.truth == PARASITIZED for lab in labs)
            t.inner_red = t.red
        else:
            cells = [cell_from_score(c) for c in result.cells]
            t = tally(path, cells, labs, k, threshold, cv2.imread(str(path), cv2.IMREAD_GRAYSCALE).shape[:2])
        if split and images.index(path) < split:
            if result.error is None:
                for ci, truth in t.cell_truth.items():
                    c = result.cells[ci]
                    train.append(FieldCellLabel(path, c.x, c.y, truth, c.width, c.height, c.index))
            continue
        tallies.append(t)
    if split:
        labels_out = labels_out or folder / f"field_labels_first{split}.csv"
        write_field_labels(labels_out, train)
        n_inf = sum(lab.truth == PARASITIZED for lab in train)
        print(f"wrote {len(train)} labelled found cells of the first {split} fields ({n_inf} Parasitized, "
              f"{sum(lab.truth == NOT_A_CELL for lab in train)} not a red cell) to {labels_out}; "
              f"scoring the other {len(images) - split} fields")
    return tallies


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--model", type=Path)
    parser.add_argument("--threshold", type=float, help="default: the card's field_threshold, else its threshold")
    parser.add_argument("--split", type=int, default=0, help="write the first K fields as field labels; score the rest")
    parser.add_argument("--labels-out", type=Path)
    args = parser.parse_args(argv)
    if not (args.folder / "truth.csv").is_file():
        parser.error(f"{args.folder} holds no truth.csv")
    from malaria_gui.engine.model import load_classifier

    classifier = load_classifier(args.model)
    # Counting uses the card's field threshold where adaptation chose one on field cells
    # (issue 20: the cut-off that makes parasitemia right), else its cell threshold.
    field_threshold = classifier.card.get("field_threshold")
    if args.threshold is not None:
        threshold, which = args.threshold, "--threshold"
    elif isinstance(field_threshold, (int, float)) and not isinstance(field_threshold, bool) and 0 <= field_threshold <= 1:
        threshold, which = float(field_threshold), "the card's field_threshold"
    else:
        threshold, which = classifier.threshold, "the card's threshold"
    tallies = evaluate(args.folder, classifier, threshold, args.split, args.labels_out)
    print(f"model {classifier.name} {classifier.version} ({args.model or 'bundled'}); folder {args.folder}; "
          f"threshold {threshold:.3f} ({which})")
    print("\n".join(summary(tallies, threshold) + by_variant(args.folder, tallies)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
