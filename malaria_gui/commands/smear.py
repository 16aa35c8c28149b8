"""``malaria-gui smear``: whole smear fields in, cells and parasitemia out.

Every field image is segmented into red cells (``engine/fields.py``), each cell is scored,
and two CSVs come out: one row per cell (CELLS.csv) and one per field (FIELDS.csv), with
per-slide parasitemia (a slide = the folder holding the fields) printed with its 95% Wilson
interval. Only red cells are counted: white cells are counted on their own, and clumps of
touching cells that could not be split and other objects (platelets, debris, scale bars,
cells cut by the border) are left out, with their numbers per field and slide. A field that
is not a smear, or where no cell is found, gets its reason in the ``error`` column and exit
status 1; the other fields are still counted.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
import threading
from pathlib import Path

from malaria_gui.exitcodes import EXIT_INTERRUPTED, EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE

CELL_COLUMNS = ("image", "cell", "x", "y", "width", "height", "prediction", "p_parasitized", "model", "threshold")
# ``parasitemia``, ``ci_low``, ``ci_high``: the model's figure. Then the confirmed one and the
# review queue (engine/confirmed.py): smear reviews nothing, so ``review`` says "not reviewed"
# and ``queue_cells`` how many cells await a person (empty confirmed figure), or "reviewed"
# with 0% when no cell needed review.
FIELD_COLUMNS = ("slide", "image", "cells", "parasitized", "parasitemia", "ci_low", "ci_high", "white_cells",
                 "clumps_left_out", "others_left_out", "error", "parasitemia_confirmed_pct", "confirmed_ci_low",
                 "confirmed_ci_high", "queue_reviewed", "queue_cells", "review")


def add_arguments(parser: argparse.ArgumentParser, threshold_type, positive_int) -> None:
    """The sub-command's options (the dispatcher owns the parser and its types)."""
    parser.add_argument("paths", nargs="+", metavar="PATH", help="field images, or folders of them (one folder = one slide)")
    parser.add_argument("--csv", type=Path, metavar="CELLS.csv", help="write one row per cell found")
    parser.add_argument("--summary", type=Path, metavar="FIELDS.csv", help="write one row per field image")
    parser.add_argument("--crops", type=Path, metavar="DIR",
                        help="write each cell's crop to DIR/called_Parasitized|called_Uninfected/<image>_<cell>.png "
                             "(the model's call, not a label)")
    parser.add_argument("--threshold", type=threshold_type, metavar="T",
                        help="P(Parasitized) cut-off (default: the model card's field threshold, else its threshold)")
    parser.add_argument("--model", type=Path, metavar="FILE", help="a .keras model (default: the bundled one)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--case", metavar="SLIDE_ID",
                        help="record the run in the case store under this slide id (malaria-gui cases list)")
    parser.add_argument("--reference", default="", metavar="TEXT", help="with --case: a patient or sample reference")
    parser.add_argument("--append", action="store_true", help="with --case: add to a slide already in the store")
    parser.add_argument("--cases-db", type=Path, metavar="FILE", help="the case store (default: the user's data folder)")


def _fail(message: str) -> int:
    print(f"malaria-gui smear: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _check_output(path: Path | None, option: str) -> str | None:
    if path is None:
        return None
    if not path.parent.resolve().is_dir():
        return f"folder for {option} does not exist: {path.parent}"
    if path.is_dir():
        return f"{option} names a folder, not a file: {path}"
    return None


def run(args: argparse.Namespace) -> int:
    """The command's body; returns the exit status."""
    from malaria_gui.engine.discovery import find_images
    from malaria_gui.engine.model import ModelError, load_classifier

    missing = [p for p in args.paths if not Path(p).exists() and not Path(p).is_symlink()]
    if missing:
        return _fail("no such file or folder: " + ", ".join(map(str, missing)))
    for path, option in ((args.csv, "--csv"), (args.summary, "--summary")):
        problem = _check_output(path, option)
        if problem:
            return _fail(problem)
    if args.crops is not None:
        try:
            args.crops.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            return _fail(f"cannot create --crops folder {args.crops}: {exc.strerror or exc}")
    paths = [item.path for item in find_images(args.paths)]
    if not paths:
        return _fail("no image files found in " + ", ".join(map(str, args.paths)))
    try:
        classifier = load_classifier(args.model)
    except ModelError as exc:
        return _fail(str(exc))
    threshold = classifier.field_threshold if args.threshold is None else args.threshold
    store = slide = None
    if args.case is not None:
        from malaria_gui.engine.cases import CaseError, CaseStore

        try:
            store = CaseStore(args.cases_db)
            slide = store.open_slide(args.case, args.reference, append=args.append)
        except CaseError as exc:
            if store is not None:
                store.close()
            return _fail(str(exc))
    try:
        return _count(paths, classifier, threshold, args, store, slide)
    finally:
        if store is not None:
            store.close()


def _count(paths: list[Path], classifier, threshold: float, args: argparse.Namespace, store=None, slide=None) -> int:
    from tqdm import tqdm

    from malaria_gui.engine.confirmed import review_figures
    from malaria_gui.engine.export import _cell as safe  # the same formula-injection guard as classify
    from malaria_gui.engine.export import confirmed_values, model_label
    from malaria_gui.engine.fields import CLUMP, OTHER, score_fields

    model = safe(model_label(classifier.name, classifier.version))
    cut = repr(float(threshold))  # full precision, as classify writes it

    cells_out = io.StringIO()
    fields_out = io.StringIO()
    cell_rows = csv.writer(cells_out, lineterminator="\n")
    field_rows = csv.writer(fields_out, lineterminator="\n")
    cell_rows.writerow(CELL_COLUMNS)
    field_rows.writerow(FIELD_COLUMNS)
    crop_names = _CropNames()
    summaries_in = []  # FieldResults without their cells' pixels: flat memory over any number of fields
    queue = 0
    cancel = threading.Event()
    bar = tqdm(total=len(paths), unit="field", file=sys.stderr, disable=True if args.quiet else None, leave=False)
    try:
        for field in score_fields(paths, classifier, keep_crops=args.crops is not None,
                                  keep_contours=store is not None, cancel=cancel):
            image = safe(str(field.path))
            for c in field.cells:
                cell_rows.writerow([image, c.index, c.x, c.y, c.width, c.height, c.prediction(threshold),
                                    f"{c.p_parasitized:.6f}", model, cut])
                if c.crop is not None:
                    _write_crop(args.crops / crop_folder(c.prediction(threshold)) / f"{crop_names.name(field)}_{c.index}.png",
                                c.crop)
                    c.crop = None
            share = field.parasitemia(threshold)
            figures = (review_figures([c.p_parasitized for c in field.cells], [None] * len(field.cells), threshold)
                       if field.ok else None)
            queue += figures.queue if figures is not None else 0
            field_rows.writerow([safe(field.slide), image, len(field.cells) if field.ok else "",
                                 field.parasitized(threshold) if field.ok else "",
                                 *(("", "", "") if share is None else (f"{v:.2f}" for v in share)),
                                 *((field.white_cells, field.left_out.get(CLUMP, 0), field.left_out.get(OTHER, 0))
                                   if field.ok else ("", "", "")),
                                 safe(field.error or ""), *confirmed_values(figures)])
            if store is not None:  # each field its own transaction: a killed run keeps the fields before it
                from malaria_gui.engine.cases import record_field

                record_field(store, slide, field, model_label(classifier.name, classifier.version), threshold)
            summaries_in.append(field)
            bar.update(1)
    except KeyboardInterrupt:
        cancel.set()
        bar.close()
        print(f"\ninterrupted after {len(summaries_in)} of {len(paths)} fields; no CSV written", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as exc:
        bar.close()
        return _fail(f"cannot write crops under {args.crops}: {exc.strerror or exc}")
    bar.close()

    from malaria_gui.engine.parasitemia import field_accuracy

    print(report_text(summaries_in, threshold, classifier.name, accuracy=field_accuracy(classifier.card)))
    if queue:
        print(f"not reviewed: these are the model's figures; {queue} cell{'s' if queue != 1 else ''} "
              "(every call and the uncertain band) await confirmation by a trained person")
    if store is not None:
        print(f"recorded as slide {args.case} in {store.path}")
    from malaria_gui.engine.export import atomic_write

    for path, text, what in ((args.csv, cells_out, "cell"), (args.summary, fields_out, "field")):
        if path is None:
            continue
        try:
            atomic_write(path, text.getvalue().encode("utf-8"))
        except OSError as exc:
            return _fail(f"cannot write {path}: {exc.strerror or exc}")
        print(f"wrote {text.getvalue().count(chr(10)) - 1} {what} rows to {path}")
    return EXIT_SOME_FAILED if any(not f.ok for f in summaries_in) else EXIT_OK


def crop_folder(prediction: str) -> str:
    """``called_Parasitized`` / ``called_Uninfected``: the model's call, in a folder name that
    is no true label (``Parasitized/`` would be read as a person's label by classify and adapt,
    and the model's own calls would train the lab model). A reviewer moves the crops they have
    checked into ``Parasitized/`` and ``Uninfected/``."""
    return f"called_{prediction}"


class _CropNames:
    """``<image stem>`` for each field's crops; a second field with the same stem (another
    slide's ``1.jpg``) gets ``<slide>_<stem>``, then a counter, so no crop overwrites another."""

    def __init__(self) -> None:
        self._by_path: dict[Path, str] = {}
        self._used: set[str] = set()

    def name(self, field) -> str:
        if field.path not in self._by_path:
            name = field.path.stem
            if name in self._used:
                name = f"{field.slide}_{field.path.stem}"
            base, k = name, 2
            while name in self._used:
                name, k = f"{base}-{k}", k + 1
            self._used.add(name)
            self._by_path[field.path] = name
        return self._by_path[field.path]


def _write_crop(path: Path, rgb) -> None:
    import cv2

    from malaria_gui.engine.export import atomic_write

    path.parent.mkdir(parents=True, exist_ok=True)
    ok, data = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError(f"cannot encode {path.name}")
    atomic_write(path, data.tobytes())


def _left_out_text(summary) -> str:
    """", 3 white cells, 5 clumps left out, 12 other objects left out" (the parts that are not zero)."""
    from malaria_gui.engine.fields import CLUMP, OTHER

    parts = []
    for count, one, many in ((summary.white_cells, "white cell", "white cells"),
                             (summary.left_out.get(CLUMP, 0), "clump left out", "clumps left out"),
                             (summary.left_out.get(OTHER, 0), "other object left out", "other objects left out")):
        if count:
            parts.append(f"{count} {one if count == 1 else many}")
    return "".join(", " + p for p in parts)


def report_text(fields, threshold: float, model_name: str, max_errors: int = 20, accuracy=None) -> str:
    """Per-slide parasitemia with its interval, and the fields that could not be counted.

    With ``accuracy`` (the card's field-cell sensitivity and specificity, measured at this
    threshold) each slide also gets the misclassification-corrected estimate, named as such.
    """
    from malaria_gui.engine.fields import slide_summaries
    from malaria_gui.engine.parasitemia import corrected_parasitemia

    if accuracy is not None and accuracy.threshold is not None and abs(accuracy.threshold - threshold) > 5e-4:
        accuracy = None  # Se and Sp were measured at another cut-off: they say nothing of this one

    failed = [f for f in fields if not f.ok]
    lines = [f"{len(fields)} fields, {len(fields) - len(failed)} counted, {len(failed)} refused "
             f"(model {model_name}, threshold {threshold:.2f})"]
    for s in slide_summaries(fields, threshold):
        share = s.parasitemia()
        figure = "no cells counted" if share is None else (
            f"parasitemia {share[0]:.2f}% (95% CI {share[1]:.2f}-{share[2]:.2f}%)")
        counted = s.fields - s.failed
        lines.append(f"  {s.slide}: {counted} field{'' if counted == 1 else 's'}, {s.cells} cells, "
                     f"{s.parasitized} parasitized, {figure}{_left_out_text(s)}")
        corrected = corrected_parasitemia(s.parasitized, s.cells, accuracy) if accuracy is not None else None
        if corrected is not None:
            lines.append(f"    corrected for the model's errors (Rogan-Gladen, field-cell sensitivity "
                         f"{100 * accuracy.sensitivity:.0f}% / specificity {100 * accuracy.specificity:.1f}% from "
                         f"{accuracy.positives} + {accuracy.negatives} labelled cells): {100 * corrected.estimate:.2f}% "
                         f"(95% CI {100 * corrected.low:.2f}-{100 * corrected.high:.2f}%)")
    if failed:
        lines.append("could not be counted:")
        lines += [f"  {f.path}: {f.error}" for f in failed[:max_errors]]
        if len(failed) > max_errors:
            lines.append(f"  ... and {len(failed) - max_errors} more (see the summary CSV)")
    return "\n".join(lines)
