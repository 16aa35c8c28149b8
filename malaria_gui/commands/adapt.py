"""``malaria-gui adapt``: fine-tune a model on a lab's labelled cells and write the lab model.

Labelled cells come as crops (folders named Parasitized/Uninfected, a corrections CSV
path,truth) and/or as a person's labels on whole fields (``--field-labels``: the cells CSV of
``smear --csv`` with a truth column, or points image,x,y,truth), whose cells are cut by the
same segmentation that scores fields, or as the cells reviewed on slides kept in the case
store (``--case SLIDE_ID``: field cells as field labels, files of one cell as crops; cells
nobody reviewed are never labels).

Exit codes: 0 written, 1 written but some files, fields or label rows could not be used (each one is listed),
2 nothing written (too few cells, one class, a bad base model, bad arguments), 130
interrupted (nothing half-written: both files are replaced atomically).
"""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

from malaria_gui.exitcodes import EXIT_INTERRUPTED, EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE

PROG = "malaria-gui adapt"


def add_parser(sub) -> argparse.ArgumentParser:
    """The ``adapt`` sub-command's arguments, on the dispatcher's sub-parsers."""
    a = sub.add_parser(
        "adapt",
        help="fine-tune the model on a lab's labelled cells (cross-validated) and write a lab model",
        description="Fine-tune a model on labelled cells (folders named Parasitized/Uninfected, a "
        "corrections CSV path,truth, and/or labelled field cells). Cross-validation grouped by field image or "
        "folder measures it before anything is written; then NAME.keras and NAME.card.json are written. "
        "With field cells, the card also gets field_threshold, the cut-off for counting parasitemia.",
    )
    a.add_argument("paths", nargs="*", metavar="LABELLED_PATH", help="labelled folders or files")
    a.add_argument("--out", type=Path, required=True, metavar="FILE.keras", help="the lab model to write")
    a.add_argument("--base", type=Path, metavar="MODEL", help="the model to start from (default: the bundled one)")
    a.add_argument("--folds", type=int, default=5, metavar="K", help="cross-validation folds (default 5)")
    a.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (same seed, same model)")
    a.add_argument("--max-minutes", type=float, default=None, metavar="M", help="cut fine-tuning short to fit")
    a.add_argument("--corrections", type=Path, metavar="CSV",
                   help="a CSV of path,truth rows (overrides folders), or of field labels (image,x,y,truth)")
    a.add_argument("--field-labels", type=Path, action="append", default=[], metavar="CSV",
                   help="labelled field cells: smear --csv's cells CSV with a truth column added "
                   "(Parasitized, Uninfected or 'not a red cell'), or points image,x,y,truth; repeatable")
    a.add_argument("--case", action="append", default=[], metavar="SLIDE_ID",
                   help="the cells reviewed on a slide kept in the case store (smear --case, the window); repeatable")
    a.add_argument("--cases-db", type=Path, metavar="FILE", help="the case store (default: the user's data folder)")
    a.add_argument("--name", help="the lab model's name in its card (default: BASE-lab)")
    a.add_argument("--quiet", action="store_true", help="no progress on stderr")
    return a


def run(args: argparse.Namespace) -> int:
    """The command's body; returns an exit code."""
    from malaria_gui.engine.discovery import find_images
    from malaria_gui.engine.field_labels import FieldLabelError, is_field_label_csv, read_field_labels
    from malaria_gui.training.adapt import (AdaptCancelled, AdaptError, adapt, format_report, merge_items,
                                            read_corrections, save_lab_model)

    def fail(message: str) -> int:
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return EXIT_USAGE

    if not args.paths and args.corrections is None and not args.field_labels and not args.case:
        return fail("give labelled folders or files, --corrections CSV, --field-labels CSV or --case SLIDE_ID")
    if args.out.suffix.lower() != ".keras":
        return fail(f"--out must name a .keras file: {args.out}")
    if args.folds < 2:
        return fail("--folds must be at least 2")
    missing = [p for p in [*args.paths, *args.field_labels] if not Path(p).exists()]
    if missing:
        return fail("no such file or folder: " + ", ".join(map(str, missing)))
    try:
        label_files = list(args.field_labels)
        corrections = args.corrections
        if corrections is not None and is_field_label_csv(corrections):
            label_files.append(corrections)
            corrections = None
        field_labels, label_notes = [], []
        for csv_path in label_files:
            try:
                labels, notes = read_field_labels(csv_path)
            except FieldLabelError as exc:
                return fail(str(exc))
            field_labels += labels
            label_notes += [f"{csv_path}: {note}" for note in notes]
        case_files: list = []
        if args.case:
            try:
                case_labels, case_files = _case_labels(args.case, args.cases_db)
            except ValueError as exc:
                return fail(str(exc))
            field_labels += case_labels
        items = merge_items(find_images(args.paths), read_corrections(corrections) if corrections is not None else [],
                            case_files)
        cancel = threading.Event()
        progress = None if args.quiet else _progress_printer()
        try:
            result = adapt(items, args.base, field_labels=field_labels, folds=args.folds, seed=args.seed, progress=progress, cancel=cancel,
                           max_minutes=args.max_minutes, name=args.name)
        except KeyboardInterrupt:
            cancel.set()
            raise
        print(format_report(result))
        if result.skipped:
            print(f"\nleft out, could not be read ({len(result.skipped)}):")
            for path, reason in result.skipped:
                print(f"  {path}: {reason}")
        if label_notes:
            print(f"\nfield label rows left out ({len(label_notes)}):")
            for note in label_notes:
                print(f"  {note}")
        try:
            out = save_lab_model(result, args.out)
        except OSError as exc:
            return fail(f"cannot write {args.out}: {exc.strerror or exc}")
    except AdaptError as exc:
        return fail(str(exc))
    except (KeyboardInterrupt, AdaptCancelled):
        print(f"\n{PROG}: interrupted; nothing written", file=sys.stderr)
        return EXIT_INTERRUPTED
    field_t = result.card.get("field_threshold")
    print(f"\nwrote {out} and {out.with_name(out.stem + '.card.json').name} "
          f"(threshold {result.card['threshold']:.2f}" + (f", field threshold {field_t:.3f}" if field_t is not None else "")
          + f"); use it with: malaria-gui classify --model {out} ...")
    return EXIT_SOME_FAILED if result.skipped or label_notes else EXIT_OK


def _case_labels(slides: list[str], db: Path | None) -> tuple[list, list]:
    """The reviewed cells of stored slides: field labels and (single-cell file) items."""
    from malaria_gui.engine.cases import CaseError, CaseStore, default_store_path, reviewed_labels
    from malaria_gui.engine.discovery import ImageItem

    path = db or default_store_path()
    if not path.exists():
        raise ValueError(f"no case store at {path}")
    fields, files = [], []
    try:
        with CaseStore(path) as store:
            for slide in slides:
                labels, cells = reviewed_labels(store.load_slide(slide))
                if not labels and not cells:
                    raise ValueError(f"slide {slide!r} has no reviewed cells to learn from")
                fields += labels
                files += [ImageItem(Path(p), truth) for p, truth in cells]
    except CaseError as exc:
        raise ValueError(str(exc)) from None
    return fields, files


def _progress_printer():
    last = [None]

    def progress(stage: str, done: int, total: int) -> None:
        if stage != last[0] or done == total:
            last[0] = stage
            print(f"{stage} ...", file=sys.stderr, flush=True)

    return progress
