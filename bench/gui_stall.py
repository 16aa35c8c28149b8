"""How responsive is the window while it scores thousands of real images, and how much
slower is the GUI path than the CLI's engine scorer on the same files?

    python bench/gui_stall.py [--n 5000] [--model FILE.keras] [--data DIR]

A QTimer probe ticks every 10 ms on the GUI thread; the longest gap between two ticks,
minus the interval, is the worst stall a user could feel. Targets: worst stall < 100 ms,
GUI time <= 1.5 x CLI time. Images come from $MALARIA_DATA_DIR (default
/work/shared/data/nih_malaria_cells_128), read in place. Without a trained model
(models/malaria_cnn.keras) an untrained network of the default architecture is used: the
timing is the same, only the predictions are meaningless.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

DEFAULT_DATA = Path(os.environ.get("MALARIA_DATA_DIR", "/work/shared/data/nih_malaria_cells_128"))
PROBE_MS = 10


def pick_files(data: Path, n: int):
    from malaria_gui.engine.discovery import find_images

    items = find_images([data])
    if len(items) < n:
        sys.exit(f"only {len(items)} images under {data}; need {n}")
    step = len(items) / n  # spread over both classes and many patients
    return [items[int(i * step)] for i in range(n)]


def stand_in_model(folder: Path) -> Path:
    import keras

    from malaria_gui.training.architectures import compact

    keras.utils.set_random_seed(0)
    path = folder / "untrained.keras"
    compact().save(path)
    return path


def time_cli(items, model: Path, batch_size: int) -> float:
    from malaria_gui.engine.model import load_classifier
    from malaria_gui.engine.scorer import score

    classifier = load_classifier(model)
    started = time.perf_counter()
    n = sum(len(chunk) for chunk in score(items, classifier, batch_size=batch_size, cancel=threading.Event()))
    elapsed = time.perf_counter() - started
    assert n == len(items)
    return elapsed


class StallProbe:
    """Records the longest gap between ticks of a fast timer on the GUI thread."""

    def __init__(self) -> None:
        from PySide6.QtCore import QTimer

        self.worst = 0.0
        self.gaps: list[float] = []
        self._last = time.perf_counter()
        self.timer = QTimer()
        self.timer.setInterval(PROBE_MS)
        self.timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        now = time.perf_counter()
        gap = now - self._last - PROBE_MS / 1000
        self._last = now
        self.gaps.append(gap)
        self.worst = max(self.worst, gap)

    def start(self) -> None:
        self.worst, self.gaps, self._last = 0.0, [], time.perf_counter()
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()


def wait_for(app, condition, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the window did not finish in time")
        app.processEvents()
        time.sleep(0.001)


def time_gui(items, model: Path) -> dict:
    from PySide6.QtCore import QSettings

    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, tempfile.mkdtemp(prefix="bench-settings-"))
    from malaria_gui.gui.app import make_app
    from malaria_gui.gui.main_window import MainWindow

    app = make_app()
    window = MainWindow(model)
    window.resize(1280, 800)
    window.show()
    session = window.session
    wait_for(app, lambda: session.model_info is not None or session.model_error is not None, 120)
    if session.model_error:
        sys.exit(session.model_error)
    done = []
    window.scoring_finished.connect(lambda: done.append(time.perf_counter()))
    probe = StallProbe()
    probe.start()
    started = time.perf_counter()
    window.add_paths([str(it.path) for it in items])
    # Run the real event loop (not processEvents polling) until the worker has caught up.
    from PySide6.QtCore import QEventLoop

    loop = QEventLoop()
    window.scoring_finished.connect(loop.quit)
    if not done:
        loop.exec()
    gui_seconds = done[0] - started
    probe.stop()
    scoring_stall = probe.worst
    rows = session.results.rowCount()

    # Interactions on the full table, each timed on the GUI thread.
    interactions = {}
    for name, action in (
        ("threshold_move", lambda: session.set_threshold(0.3)),
        ("threshold_move_back", lambda: session.set_threshold(0.5)),
        ("filter_parasitized", lambda: session.set_filter("parasitized")),
        ("sort_least_confident", lambda: session.sort_by("least_confident")),
        ("filter_all", lambda: session.set_filter("all")),
        ("export_csv", lambda: session.export_csv(Path(tempfile.mkdtemp()) / "out.csv")),
    ):
        t0 = time.perf_counter()
        action()
        app.processEvents()
        interactions[name] = round(1000 * (time.perf_counter() - t0), 1)
    window.close()
    return {"gui_seconds": gui_seconds, "worst_stall_ms": 1000 * scoring_stall, "rows": rows,
            "ticks": len(probe.gaps), "interactions_ms": interactions}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--batch-size", type=int, default=256, help="the CLI's batch size (its default)")
    args = parser.parse_args()

    from malaria_gui.resources import default_model_path

    model = args.model or default_model_path()
    tmp = tempfile.TemporaryDirectory()
    if not model.is_file():
        print(f"{model} not found: using an untrained stand-in of the default architecture", flush=True)
        model = stand_in_model(Path(tmp.name))
    items = pick_files(args.data, args.n)
    for it in items:  # warm the OS file cache so neither run pays for the first read
        it.path.read_bytes()
    cli = time_cli(items, model, args.batch_size)
    gui = time_gui(items, model)
    ratio = gui["gui_seconds"] / cli
    print(f"images:           {len(items)} from {args.data}")
    print(f"model:            {model}")
    print(f"worst GUI stall:  {gui['worst_stall_ms']:.1f} ms  (target < 100 ms; {gui['ticks']} probe ticks)")
    print(f"GUI path:         {gui['gui_seconds']:.2f} s  ({len(items) / gui['gui_seconds']:.0f} images/s)")
    print(f"CLI scorer:       {cli:.2f} s  ({len(items) / cli:.0f} images/s)")
    print(f"GUI / CLI:        {ratio:.2f}x  (target <= 1.5x)")
    print(f"interactions ms:  {gui['interactions_ms']}")
    print(json.dumps({"n": len(items), "worst_stall_ms": round(gui["worst_stall_ms"], 1),
                      "gui_s": round(gui["gui_seconds"], 2), "cli_s": round(cli, 2), "ratio": round(ratio, 2),
                      "interactions_ms": gui["interactions_ms"]}))
    ok = gui["worst_stall_ms"] < 100 and ratio <= 1.5 and gui["rows"] == len(items)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
