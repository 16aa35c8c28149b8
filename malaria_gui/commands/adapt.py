"""``malaria-gui adapt``: fine-tune a model on a lab's labelled cells and write the lab model.

Exit codes: 0 written, 1 written but some files could not be read (each one is listed),
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
        description="Fine-tune a model on labelled cells (folders named Parasitized/Uninfected, and/or a "
        "corrections CSV path,truth). Cross-validation grouped by field image or folder measures it "
        "before anything is written; then NAME.keras and NAME.card.json are written.",
    )
    a.add_argument("paths", nargs="*", metavar="LABELLED_PATH", help="labelled folders or files")
    a.add_argument("--out", type=Path, required=True, metavar="FILE.keras", help="the lab model to write")
    a.add_argument("--base", type=Path, metavar="MODEL", help="the model to start from (default: the bundled one)")
    a.add_argument("--folds", type=int, default=5, metavar="K", help="cross-validation folds (default 5)")
    a.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (same seed, same model)")
    a.add_argument("--max-minutes", type=float, default=None, metavar="M", help="cut fine-tuning short to fit")
    a.add_argument("--corrections", type=Path, metavar="CSV", help="a CSV of path,truth rows (overrides folders)")
    a.add_argument("--name", help="the lab model's name in its card (default: BASE-lab)")
    a.add_argument("--quiet", action="store_true", help="no progress on stderr")
    return a


def run(args: argparse.Namespace) -> int:
    """The command's body; returns an exit code."""
    from malaria_gui.engine.discovery import find_images
    from malaria_gui.training.adapt import (AdaptCancelled, AdaptError, adapt, format_report, merge_items,
                                            read_corrections, save_lab_model)

    def fail(message: str) -> int:
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return EXIT_USAGE

    if not args.paths and args.corrections is None:
        return fail("give labelled folders or files, or --corrections CSV")
    if args.out.suffix.lower() != ".keras":
        return fail(f"--out must name a .keras file: {args.out}")
    if args.folds < 2:
        return fail("--folds must be at least 2")
    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        return fail("no such file or folder: " + ", ".join(map(str, missing)))
    try:
        items = merge_items(find_images(args.paths),
                            read_corrections(args.corrections) if args.corrections is not None else [])
        cancel = threading.Event()
        progress = None if args.quiet else _progress_printer()
        try:
            result = adapt(items, args.base, folds=args.folds, seed=args.seed, progress=progress, cancel=cancel,
                           max_minutes=args.max_minutes, name=args.name)
        except KeyboardInterrupt:
            cancel.set()
            raise
        print(format_report(result))
        if result.skipped:
            print(f"\nleft out, could not be read ({len(result.skipped)}):")
            for path, reason in result.skipped:
                print(f"  {path}: {reason}")
        try:
            out = save_lab_model(result, args.out)
        except OSError as exc:
            return fail(f"cannot write {args.out}: {exc.strerror or exc}")
    except AdaptError as exc:
        return fail(str(exc))
    except (KeyboardInterrupt, AdaptCancelled):
        print(f"\n{PROG}: interrupted; nothing written", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(f"\nwrote {out} and {out.with_name(out.stem + '.card.json').name} "
          f"(threshold {result.card['threshold']:.2f}); use it with: malaria-gui classify --model {out} ...")
    return EXIT_SOME_FAILED if result.skipped else EXIT_OK


def _progress_printer():
    last = [None]

    def progress(stage: str, done: int, total: int) -> None:
        if stage != last[0] or done == total:
            last[0] = stage
            print(f"{stage} ...", file=sys.stderr, flush=True)

    return progress
