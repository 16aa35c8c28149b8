"""``malaria-gui cases``: list the slides kept in the case store, and export one.

    malaria-gui cases list [--search TEXT] [--since DATE] [--until DATE] [--db FILE]
    malaria-gui cases export SLIDE_ID --csv FILE [--db FILE]

The store is ``cases.sqlite`` in the user's data folder (``MALARIA_GUI_CASES_DB`` or ``--db``
names another); ``smear ... --case SLIDE_ID`` and the window write it (engine/cases.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from malaria_gui.exitcodes import EXIT_OK, EXIT_USAGE

PROG = "malaria-gui cases"


def add_parser(sub) -> argparse.ArgumentParser:
    c = sub.add_parser("cases", help="list the slides kept in the case store, or export one",
                       description=__doc__.splitlines()[0])
    actions = c.add_subparsers(dest="cases_command", metavar="{list,export}", required=True)
    listing = actions.add_parser("list", help="the stored slides, newest first")
    listing.add_argument("--search", default="", metavar="TEXT", help="part of a slide id or reference")
    listing.add_argument("--since", metavar="YYYY-MM-DD", help="created on or after this day")
    listing.add_argument("--until", metavar="YYYY-MM-DD", help="created on or before this day")
    export = actions.add_parser("export", help="one row per stored cell, with the model's call and the review")
    export.add_argument("slide", metavar="SLIDE_ID")
    export.add_argument("--csv", type=Path, required=True, metavar="FILE")
    for p in (listing, export):
        p.add_argument("--db", type=Path, metavar="FILE", help="the case store (default: the user's data folder)")
    return c


def run(args: argparse.Namespace) -> int:
    from malaria_gui.engine.cases import CaseError, CaseStore, case_csv_text, default_store_path, slide_figures

    path = args.db or default_store_path()
    if not path.exists():
        print(f"{PROG}: error: no case store at {path} (smear --case SLIDE_ID or the window creates it)",
              file=sys.stderr)
        return EXIT_USAGE
    try:
        with CaseStore(path) as store:
            if args.cases_command == "list":
                slides = store.list_slides(args.search, args.since, args.until)
                print(f"{len(slides)} slide{'s' if len(slides) != 1 else ''} in {path}")
                for s in slides:
                    ref = f" ({s.reference})" if s.reference else ""
                    print(f"  {s.slide_id}{ref}  created {s.created}  {s.images} images, {s.cells} cells, "
                          f"{s.reviewed} reviewed")
                return EXIT_OK
            case = store.load_slide(args.slide)
    except CaseError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    from malaria_gui.engine.export import atomic_write

    try:
        atomic_write(args.csv, case_csv_text(case).encode("utf-8"))
    except OSError as exc:
        print(f"{PROG}: error: cannot write {args.csv}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    thresholds = {im.threshold for im in case.images if im.threshold is not None}
    line = f"wrote {len(case.cells)} cell rows of slide {case.slide_id} to {args.csv}"
    if len(thresholds) == 1:
        from malaria_gui.engine.confirmed import confirmed_text, model_text

        fig = slide_figures(case.cells, thresholds.pop())
        if fig.red_cells:
            line += f"\n  model: {model_text(fig)}\n  confirmed: {confirmed_text(fig)}"
    print(line)
    return EXIT_OK
