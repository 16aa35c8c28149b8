"""The ``malaria-gui`` command: the window by default, ``classify`` and ``train`` headless.

Exit codes of ``classify``: 0 every file scored, 1 some files could not be read (their rows
are still written, with the reason), 2 usage errors (bad arguments, unknown command, missing
model, no images, a CSV that cannot or must not be written), 130 interrupted by Ctrl+C at
any moment (one line, no traceback; no CSV is written, a previous one is left as it was).

What the first word means: a known command (``KNOWN_COMMANDS``) or an option runs that;
anything that exists on disk or looks like a file path (has a path separator or an image
extension) opens the window with it; any other word is an unknown command (exit 2, with
the closest command suggested).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

from malaria_gui import __version__
from malaria_gui.exitcodes import EXIT_INTERRUPTED, EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE


def _quiet_tensorflow() -> None:
    """TensorFlow, where installed, is imported now and then even on JAX (Keras' data
    helpers) and prints C++ notices on stderr (oneDNN, CPU features) that read as errors
    to a user of ``adapt``. Hidden unless the user set these variables; oneDNN is switched
    off only when TensorFlow computes nothing (another backend), so its numbers never move."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if os.environ.get("KERAS_BACKEND", "jax") != "tensorflow":
        os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")


_quiet_tensorflow()  # before anything below may import Keras (and with it TensorFlow)

__all__ = ["EXIT_INTERRUPTED", "EXIT_OK", "EXIT_SOME_FAILED", "EXIT_USAGE", "KNOWN_COMMANDS", "main"]

# Every sub-command, including those other modules add: a typo of one is an error, not a path.
KNOWN_COMMANDS: tuple[str, ...] = ("gui", "classify", "train", "adapt", "smear", "cases")
_TOP_OPTIONS = {"-h", "--help", "--version"}


def _threshold(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError("must lie between 0 and 1")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="malaria-gui",
        description="Classify microscope images of single red blood cells as Parasitized or Uninfected.",
        epilog="With no sub-command the desktop window opens (and starts scoring PATHs, if given).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    # "gui" is the default and left out of the usage line; every other command is in it.
    sub = parser.add_subparsers(dest="command", metavar="{" + ",".join(c for c in KNOWN_COMMANDS if c != "gui") + "}")

    gui = sub.add_parser("gui", help="open the window (the default)")
    gui.add_argument("paths", nargs="*", metavar="PATH", help="image files or folders to score at once")
    gui.add_argument("--model", type=Path, help="a .keras model (default: the bundled one)")

    c = sub.add_parser(
        "classify",
        help="score image files and folders headless",
        description="Score image files and folders (recursively). Images under folders named Parasitized or "
        "Uninfected (or paired words such as positive/negative side by side; README 'True labels') also get a "
        "confusion matrix and metrics.",
    )
    c.add_argument("paths", nargs="+", metavar="PATH")
    c.add_argument("--csv", type=Path, metavar="OUT.csv",
                   help="write one row per input file here (written before anything is printed)")
    c.add_argument("--force", action="store_true",
                   help="let --csv replace a file that is not a CSV or is one of the inputs")
    c.add_argument("--no-truth", action="store_true",
                   help="take no true labels from folder names (no confusion matrix or metrics)")
    c.add_argument("--threshold", type=_threshold, metavar="T", help="P(Parasitized) cut-off (default: the model card's)")
    c.add_argument("--model", type=Path, metavar="FILE", help="a .keras model (default: the bundled one)")
    c.add_argument("--batch-size", type=_positive_int, default=256)
    c.add_argument("--quiet", action="store_true", help="no progress bar")

    t = sub.add_parser(
        "train",
        help="train a model on a labelled folder with patient-grouped splits",
        description="Train, evaluate on held-out patients and write the model, its card and plots.",
    )
    t.add_argument("data_dir", type=Path, metavar="DATA_DIR")
    t.add_argument("--arch", default="compact",
                   help="network: compact (default), compact_norm (with per-image colour normalisation), "
                        "compact24 (1.5x wider) or seed (the original notebook's)")
    t.add_argument("--epochs", type=_positive_int, default=24)
    t.add_argument("--out", type=Path, default=Path("runs/latest"), metavar="DIR")
    t.add_argument("--batch-size", type=_positive_int, default=64)
    t.add_argument("--seed", type=int, default=1, help="random seed of weights, shuffling and augmentation")
    t.add_argument("--split-seed", type=int, default=1, help="random seed of the patient split (keep it to compare runs)")
    t.add_argument("--augment", default="wide", choices=("none", "geometric", "full", "wide"),
                   help="geometric: flips and rotations; full: also stain, colour, blur, scale and background; "
                        "wide (default): full widened for other labs (dye mixing, blur, resolution, JPEG, neighbours)")
    t.add_argument("--schedule", default="cosine", choices=("cosine", "plateau"),
                   help="learning rate: cosine decay over --epochs (default) or cut on a validation plateau")
    t.add_argument("--other-labs", type=Path, default=None, metavar="DIR",
                   help="folder holding mpidb_pf_crops/ and chula_rbc12_fields/ to measure other labs on "
                        "(default: beside DATA_DIR; skipped when absent)")
    t.add_argument("--teacher", type=Path, action="append", default=None, metavar="FILE",
                   help="distil from this trained model (repeat for an averaged ensemble; same input size)")
    t.add_argument("--test-patients", type=float, default=0.2, help="fraction of patients held out for test")
    t.add_argument("--val-patients", type=float, default=0.15, help="fraction of patients for validation")
    t.add_argument("--max-cells", type=int, default=None, help="use at most this many cells (quick runs)")
    t.add_argument("--patience", type=_positive_int, default=24,
                   help="early-stopping patience in epochs (with --schedule plateau the best epoch is restored)")
    t.add_argument("--max-minutes", type=float, default=None, help="stop training after this long (best epoch kept)")

    from malaria_gui.commands import smear

    smear.add_arguments(sub.add_parser("smear", help="find and score the red cells of whole smear fields; parasitemia",
                                       description=smear.__doc__.splitlines()[0]), _threshold, _positive_int)

    from malaria_gui.commands import adapt as adapt_command

    adapt_command.add_parser(sub)

    from malaria_gui.commands import cases as cases_command

    cases_command.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    # In the frozen program the window's scoring process is this executable started again:
    # this hands it to multiprocessing before any argument parsing (a no-op otherwise).
    import multiprocessing

    multiprocessing.freeze_support()
    as_program = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    previous = _set_sigint(_interrupted_at_start)  # until work that must clean up begins
    try:
        code = _dispatch(argv)
    except KeyboardInterrupt:
        return interrupted("interrupted")
    except BrokenPipeError:
        code = _stdout_closed(EXIT_SOME_FAILED)  # the docs recipe: 1, the output was cut short
    if as_program:
        # All done and written: a Ctrl+C while the interpreter and JAX shut down would only
        # kill the process mid-teardown, so it is ignored.
        _set_sigint(signal.SIG_IGN)
    elif previous is not None:
        _set_sigint(previous)
    return code


def _interrupted_at_start(signum, frame) -> None:
    """Ctrl+C while modules and the model load: nothing is written yet, so leave at once.

    Raising KeyboardInterrupt there can surface inside the import machinery (or Keras'
    loader) as a traceback; exiting here cannot.
    """
    os.write(2, b"\ninterrupted\n")
    os._exit(EXIT_INTERRUPTED)


def _set_sigint(handler):
    """Install ``handler`` for SIGINT; the one it replaced, or None off the main thread."""
    try:
        return signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread (a test calling main() from a worker)
        return None


def interruptible() -> None:
    """From here on Ctrl+C raises KeyboardInterrupt, for work that cleans up (scoring, writing)."""
    _set_sigint(signal.default_int_handler)


def interrupted(message: str) -> int:
    """Ctrl+C: one line on stderr, exit 130; a second Ctrl+C during the exit is ignored."""
    _set_sigint(signal.SIG_IGN)
    try:
        print(f"\n{message}", file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass
    return EXIT_INTERRUPTED


def _stdout_closed(code: int) -> int:
    """stdout went away (``| head``, a closed terminal): stop printing, no traceback.

    The Python docs' recipe: point stdout at devnull so the flush at exit cannot fail again.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass
    return code


def looks_like_path(word: str) -> bool:
    """True for what the window should open: an existing path or something shaped like one."""
    from malaria_gui.engine.discovery import is_image_name

    return os.path.lexists(word) or os.sep in word or "/" in word or is_image_name(word)


def unknown_command(word: str) -> str | None:
    """The error for a first word that is neither a command, an option nor a path; else None."""
    if word in KNOWN_COMMANDS or word.startswith("-") or looks_like_path(word):
        return None
    import difflib

    close = difflib.get_close_matches(word, KNOWN_COMMANDS, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else f" (commands: {', '.join(KNOWN_COMMANDS)})"
    return f"unknown command '{word}'{hint}"


def _dispatch(argv: list[str]) -> int:
    parser = build_parser()
    if argv:
        error = unknown_command(argv[0])
        if error is not None:
            print(f"malaria-gui: error: {error}", file=sys.stderr)
            return EXIT_USAGE
    if not argv or (argv[0] not in KNOWN_COMMANDS and argv[0] not in _TOP_OPTIONS):
        argv = ["gui", *argv]
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    if args.command == "classify":
        return classify(args)
    if args.command == "smear":
        from malaria_gui.commands import smear

        return smear.run(args)
    if args.command == "adapt":
        from malaria_gui.commands.adapt import run as run_adapt

        return run_adapt(args)
    if args.command == "cases":
        from malaria_gui.commands.cases import run as run_cases

        return run_cases(args)
    if args.command == "train":
        from malaria_gui.training.train import train_from_args

        interruptible()  # a Ctrl+C while training ends in the one-line handler below
        return train_from_args(args)
    interruptible()  # the window installs its own handling
    return open_window(args)


def open_window(args: argparse.Namespace) -> int:
    try:
        # First the scoring process (Qt-free): it imports Keras while Qt loads and the window is built.
        from malaria_gui.gui.scoring_process import prestart

        prestart()
    except Exception:  # the worker starts one itself
        pass
    try:
        from malaria_gui.gui.app import run
    except ImportError as exc:
        print(f"the desktop window is not available here ({exc}); use 'malaria-gui classify'", file=sys.stderr)
        build_parser().print_help()
        return EXIT_USAGE
    import os

    if os.environ.get(STARTUP_PROBE_ENV):
        _install_startup_probe(float(os.environ[STARTUP_PROBE_ENV]))
    return run([str(p) for p in args.paths], model=args.model)


STARTUP_PROBE_ENV = "MALARIA_GUI_STARTUP_PROBE"


def _install_startup_probe(timeout_s: float) -> None:
    """For bench/startup.py: print when the window is first exposed and when scoring ends, then quit.

    Lines are ``window-shown <epoch s>`` and ``first-result <epoch s>`` (the bench passes one
    image, so the end of scoring is its first result); ``probe-timeout`` if neither comes.
    """
    import time

    from PySide6.QtCore import QEvent, QObject, QTimer
    from PySide6.QtWidgets import QMainWindow

    from malaria_gui.gui.app import make_app

    app = make_app()  # run() re-uses it

    def say(what: str) -> None:
        print(f"{what} {time.time():.4f}", flush=True)

    class Probe(QObject):
        shown = False

        def eventFilter(self, obj, event):  # noqa: N802 - Qt's name
            if not self.shown and event.type() == QEvent.Type.Show and isinstance(obj, QMainWindow):
                self.shown = True
                QTimer.singleShot(0, lambda: say("window-shown"))  # once the event loop runs and paints
                obj.scoring_finished.connect(lambda: (say("first-result"), app.quit()))
            return False

    app._startup_probe = Probe(app)  # kept alive as long as the app
    app.installEventFilter(app._startup_probe)
    QTimer.singleShot(int(timeout_s * 1000), lambda: (print("probe-timeout", flush=True), app.quit()))


def classify(args: argparse.Namespace) -> int:
    from malaria_gui.engine.discovery import find_images, truth_text
    from malaria_gui.engine.export import csv_target_problem, model_label, write_csv
    from malaria_gui.engine.metrics import format_metrics, metrics_for_results
    from malaria_gui.engine.model import ModelError, load_classifier
    from malaria_gui.engine.ood import OODSample
    from malaria_gui.engine.scorer import score

    missing = [p for p in args.paths if not Path(p).exists() and not Path(p).is_symlink()]
    if missing:
        for p in missing:
            print(f"malaria-gui classify: error: no such file or folder: {p}", file=sys.stderr)
        return EXIT_USAGE
    if args.csv is not None and not args.csv.parent.resolve().is_dir():
        print(f"malaria-gui classify: error: folder for --csv does not exist: {args.csv.parent}", file=sys.stderr)
        return EXIT_USAGE
    if args.csv is not None and args.csv.is_dir():
        print(f"malaria-gui classify: error: --csv names a folder, not a file: {args.csv}", file=sys.stderr)
        return EXIT_USAGE
    items = find_images(args.paths, truth=not args.no_truth)
    if not items:
        print("malaria-gui classify: error: no image files found in " + ", ".join(args.paths), file=sys.stderr)
        return EXIT_USAGE
    if args.csv is not None and not args.force:
        problem = csv_target_problem(args.csv, [*args.paths, *items])
        if problem is not None:
            print(f"malaria-gui classify: error: --csv refused: {problem}; pick another name "
                  "(or add --force to replace it)", file=sys.stderr)
            return EXIT_USAGE
    try:
        classifier = load_classifier(args.model, first_batch=min(len(items), args.batch_size))
    except ModelError as exc:
        print(f"malaria-gui classify: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    threshold = classifier.threshold if args.threshold is None else args.threshold

    from tqdm import tqdm

    results = []
    sample = OODSample()  # filled by the scoring pass: the out-of-distribution check reads no file again
    cancel = threading.Event()
    bar = None
    # From here Ctrl+C only sets ``cancel``: the scorer stops at its next poll and nothing
    # half-done is written. Raised as KeyboardInterrupt instead, it can land in a garbage-
    # collector callback (JAX has one) that swallows it, and the run would go on.
    _set_sigint(lambda signum, frame: cancel.set())
    try:
        if not args.quiet:  # on stderr, like the bar (which hides itself when stderr is not a terminal)
            try:
                print(f"scoring {len(items)} files with {classifier.name}...", file=sys.stderr, flush=True)
            except (OSError, ValueError):
                pass
        bar = tqdm(total=len(items), unit="img", file=sys.stderr, disable=True if args.quiet else None, leave=False)
        for chunk in score(items, classifier, batch_size=args.batch_size, cancel=cancel, ood=sample):
            results.extend(chunk)
            bar.update(len(chunk))
    except KeyboardInterrupt:
        cancel.set()
    if bar is not None:
        bar.close()
    if cancel.is_set():
        return interrupted(f"interrupted after {len(results)} of {len(items)} files; no CSV written")

    # The CSV first: a closed terminal or `| head` must never cost a finished run its file.
    write_error = None
    if args.csv is not None:
        try:
            write_csv(args.csv, results, threshold, model_label(classifier.name, classifier.version))
        except OSError as exc:  # read-only folder, disk full, file locked by a spreadsheet...
            write_error = f"cannot write {args.csv}: {exc.strerror or exc}"
        except KeyboardInterrupt:
            return interrupted("interrupted while writing the CSV; a previous one is left as it was")
    code = EXIT_SOME_FAILED if any(not r.ok for r in results) else EXIT_OK
    if write_error is not None:
        code = EXIT_USAGE
    try:
        print(summary_text(results, threshold, classifier.name))
        print(truth_text(items) if not args.no_truth else "true labels: off (--no-truth)")
        metrics = metrics_for_results(results, threshold)
        if metrics is not None:
            print()
            print(format_metrics(metrics))
        ood_check = sample.check(classifier.card)
        if ood_check is not None and ood_check.unlike:
            print(f"\nwarning: {ood_check.message()}")
        if args.csv is not None and write_error is None:
            print(f"\nwrote {len(results)} rows to {args.csv}")
        sys.stdout.flush()
    except BrokenPipeError:
        return _stdout_closed(code)
    except KeyboardInterrupt:
        cancel.set()
    if cancel.is_set():  # Ctrl+C while writing or printing: the CSV, if asked for, is complete
        done = f"; the CSV was written to {args.csv}" if args.csv is not None and write_error is None else ""
        return interrupted(f"interrupted at the end{done}")
    if write_error is not None:
        print(f"malaria-gui classify: error: {write_error}", file=sys.stderr)
    return code


def summary_text(results, threshold: float, model_name: str, max_errors: int = 20) -> str:
    """Counts per class and the files that failed, for the terminal."""
    from malaria_gui.engine.labels import CLASS_NAMES
    from malaria_gui.engine.metrics import count_classes

    counts = count_classes([r.p_parasitized for r in results], threshold)
    failed = [r for r in results if not r.ok]
    lines = [f"{counts.total} files, {counts.scored} scored, {counts.failed} failed "
             f"(model {model_name}, threshold {float(threshold)!r})"]
    for name in CLASS_NAMES:
        share = f" ({100 * counts.of(name) / counts.scored:.1f}%)" if counts.scored else ""
        lines.append(f"  {name:<12} {counts.of(name)}{share}")
    if failed:
        lines.append("could not be read:")
        lines += [f"  {r.path}: {r.error}" for r in failed[:max_errors]]
        if len(failed) > max_errors:
            lines.append(f"  ... and {len(failed) - max_errors} more (see the CSV)")
    odd = [r for r in results if r.warning]
    if odd:
        lines.append(f"{len(odd)} images do not look like single cells (scored anyway; read them as fields "
                     "with `malaria-gui smear`):")
        lines += [f"  {r.path}: {r.warning}" for r in odd[:max_errors]]
        if len(odd) > max_errors:
            lines.append(f"  ... and {len(odd) - max_errors} more (see the CSV's warning column)")
    return "\n".join(lines)
