"""Start-up benchmark, frozen bundle vs source: time to a visible window, to the first scored image, bundle size.

Targets (issue 4): window visible < 2 s from launch even while the model is still loading;
bundle < 1 GB. Figures are printed, never asserted: timings depend on the machine.

    .venv/bin/python bench/startup.py [--runs 3] [--exe dist/malaria-gui/malaria-gui] [--model FILE]

The window is measured offscreen (QT_QPA_PLATFORM=offscreen) through the app's start-up probe:
with MALARIA_GUI_STARTUP_PROBE=<timeout s> the program prints ``window-shown <epoch s>`` once
the event loop runs with the main window shown, and ``first-result <epoch s>`` when the one
image given has been scored, then quits (malaria_gui/cli.py). The headless figure is the wall
time of ``classify`` on one image, start to exit. Without a bundled model a tiny untrained one
is made (same Keras loading path, smaller weights: the real model loads somewhat slower).

Each program's runs share one throw-away home, so the first run starts with an empty
compilation cache and the later ones find the programs the first compiled (the "first" and
"median" columns); ``--no-xla-cache`` measures without it (MALARIA_GUI_XLA_CACHE=0).
The steps line splits one ``classify``-like start in the same process: importing the
package's engine, importing Keras, loading the model (with compiling), the first image.
The source program runs the malaria_gui found from the current folder (printed).

``--against DIR`` (a checkout of the code to compare with, e.g. ``git archive main | tar -x
-C DIR``) and/or ``--against-python PY`` (another environment, e.g. one with other pinned
packages) measures that program and this one in alternating rounds of the same run (a busy
machine slows both alike) and prints each one's medians and their ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))


def dir_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def make_inputs(work: Path, model: Path | None) -> tuple[Path, Path]:
    import numpy as np

    from cells import synthetic_cell, write_rgb

    image = write_rgb(work / "cell.png", synthetic_cell(np.random.default_rng(0), True))
    if model is None:
        bundled = REPO / "models" / "malaria_cnn.keras"
        if bundled.is_file():
            model = bundled
        else:
            from malaria_gui.training.architectures import compact

            model = work / "tiny.keras"
            compact(input_size=32, width=4).save(model)
            print(f"no models/malaria_cnn.keras: using an untrained compact(32, width=4) at {model}")
    return image, model


def clean_env(home: Path) -> dict[str, str]:
    """Offscreen Qt, settings in a throw-away home, no Python variables leaking into the frozen run."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "MALARIA_GUI_MODEL"))}
    env.update(QT_QPA_PLATFORM="offscreen", HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"),
               TF_CPP_MIN_LOG_LEVEL="2")
    return env


def time_window(cmd: list[str], image: Path, model: Path, env: dict[str, str], timeout: float,
                cwd: Path | None = None) -> tuple[float, float]:
    """(window visible, first result) in seconds from launch; nan where the probe did not say."""
    env = dict(env, MALARIA_GUI_STARTUP_PROBE=str(timeout))
    start = time.time()
    proc = subprocess.run([*cmd, str(image), "--model", str(model)], env=env, capture_output=True, text=True,
                          timeout=timeout + 30, cwd=cwd)
    marks = {}
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] in ("window-shown", "first-result"):
            marks[parts[0]] = float(parts[1]) - start
    if "window-shown" not in marks:
        print(f"  (no probe output; exit {proc.returncode}) {proc.stderr.strip()[-500:]}")
    return marks.get("window-shown", float("nan")), marks.get("first-result", float("nan"))


def time_classify(cmd: list[str], image: Path, model: Path, env: dict[str, str], work: Path,
                  cwd: Path | None = None) -> float:
    start = time.perf_counter()
    proc = subprocess.run([*cmd, "classify", str(image), "--model", str(model), "--csv", str(work / "one.csv"),
                           "--quiet"], env=env, capture_output=True, text=True, timeout=600, cwd=cwd)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        print(f"  classify exited {proc.returncode}: {proc.stderr.strip()[-500:]}")
        return float("nan")
    return elapsed


STEPS = """
import time; t0 = time.perf_counter()
import malaria_gui, numpy as np
from malaria_gui.engine import model, scorer, export, metrics, ood; t1 = time.perf_counter()
(getattr(model, "_import_keras", None) or (lambda: __import__("keras")))(); t2 = time.perf_counter()
clf = model.load_classifier(__import__("sys").argv[1]); t3 = time.perf_counter()
clf.predict(np.zeros((1, clf.input_size, clf.input_size, 3), np.uint8)); t4 = time.perf_counter()
print(malaria_gui.__file__, t1 - t0, t2 - t1, t3 - t2, t4 - t3)
"""


def time_steps(python: str, model: Path, env: dict[str, str]) -> list[float] | None:
    proc = subprocess.run([python, "-c", STEPS, str(model)], env=env, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        print(f"  steps failed: {proc.stderr.strip()[-300:]}")
        return None
    where, *figures = proc.stdout.split()[-5:]
    print(f"  (malaria_gui from {where})")
    return [float(x) for x in figures]


def fmt(values: list[float]) -> str:
    ok = [v for v in values if v == v]
    if not ok:
        return "n/a"
    return f"first {values[0]:6.2f} s   median {statistics.median(ok):6.2f} s   min {min(ok):6.2f} s"


def compare(args) -> int:
    """This program against another (code in --against, or interpreter --against-python), in
    alternating rounds of one run: medians of each and their ratio (this / the other)."""
    other_dir = (args.against or REPO).resolve()
    other_py = args.against_python or sys.executable
    programs = {"against": ([other_py, "-m", "malaria_gui"], other_dir), "this": ([sys.executable, "-m", "malaria_gui"], REPO)}
    with tempfile.TemporaryDirectory(prefix="malaria-startup-") as tmp:
        work = Path(tmp)
        image, model = make_inputs(work, args.model)
        print(f"model {model}; {args.runs} alternating rounds; {os.cpu_count()} CPUs; offscreen Qt")
        figures = {name: {"shown": [], "first": [], "classify": []} for name in programs}
        for name, (cmd, cwd) in programs.items():  # one run each to fill its compilation cache (not counted)
            env = clean_env(work / f"home-{name}")
            time_window(cmd, image, model, env, args.timeout, cwd)
        for _ in range(args.runs):
            for name, (cmd, cwd) in programs.items():
                env = clean_env(work / f"home-{name}")
                shown, first = time_window(cmd, image, model, env, args.timeout, cwd)
                figures[name]["shown"].append(shown)
                figures[name]["first"].append(first)
                figures[name]["classify"].append(time_classify(cmd, image, model, env, work, cwd))
    for name, (cmd, cwd) in programs.items():
        print(f"\n{name}: {' '.join(cmd)}  (in {cwd})")
        for key, what in (("shown", "window visible"), ("first", "GUI: first image scored"),
                          ("classify", "CLI: classify 1 image")):
            print(f"  {what:24s} {fmt(figures[name][key])}")
    print("\nratio this / against (medians):")
    for key, what in (("shown", "window visible"), ("first", "GUI: first image scored"), ("classify", "CLI: classify 1 image")):
        a = statistics.median([v for v in figures["against"][key] if v == v] or [float("nan")])
        b = statistics.median([v for v in figures["this"][key] if v == v] or [float("nan")])
        print(f"  {what:24s} {b:5.2f} s / {a:5.2f} s = {b / a:.2f}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    exe_name = "malaria-gui.exe" if sys.platform == "win32" else "malaria-gui"
    parser.add_argument("--exe", type=Path, default=REPO / "dist" / "malaria-gui" / exe_name)
    parser.add_argument("--model", type=Path, help="default: models/malaria_cnn.keras, else a tiny untrained one")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=120, help="per GUI launch, seconds")
    parser.add_argument("--only", choices=("frozen", "source"), help="measure one program only")
    parser.add_argument("--no-xla-cache", action="store_true", help="no persistent compilation cache")
    parser.add_argument("--against", type=Path, metavar="DIR", help="compare with the malaria_gui checked out in DIR")
    parser.add_argument("--against-python", metavar="PY", help="compare with this interpreter (default: this one)")
    args = parser.parse_args()
    if args.against or args.against_python:
        return compare(args)

    programs = {"source": [sys.executable, "-m", "malaria_gui"], "frozen": [str(args.exe)]}
    if args.only:
        programs = {args.only: programs[args.only]}
    if "frozen" in programs and not args.exe.is_file():
        print(f"no bundle at {args.exe}: run `make package` first (measuring the source program only)")
        programs.pop("frozen")

    with tempfile.TemporaryDirectory(prefix="malaria-startup-") as tmp:
        work = Path(tmp)
        image, model = make_inputs(work, args.model)
        env = clean_env(work / "home")
        if args.no_xla_cache:
            env["MALARIA_GUI_XLA_CACHE"] = "0"
        print(f"model {model}; {args.runs} runs each; {os.cpu_count()} CPUs; offscreen Qt")
        for name, cmd in programs.items():
            shown, first = [], []
            for _ in range(args.runs):
                s, f = time_window(cmd, image, model, env, args.timeout)
                shown.append(s)
                first.append(f)
            headless = [time_classify(cmd, image, model, env, work) for _ in range(args.runs)]
            print(f"\n{name}: {' '.join(cmd)}")
            print(f"  window visible           {fmt(shown)}   (target < 2 s)")
            print(f"  GUI: first image scored  {fmt(first)}")
            print(f"  CLI: classify 1 image    {fmt(headless)}   (launch to exit)")
            if name == "source":
                steps = [time_steps(sys.executable, model, env) for _ in range(args.runs)]
                steps = [s for s in steps if s]
                if steps:
                    med = [statistics.median(col) for col in zip(*steps)]
                    print("  steps (median): engine imports {:.2f} s, Keras import {:.2f} s, model load and "
                          "compile {:.2f} s, first image {:.2f} s".format(*med))

    if "frozen" in programs:
        bundle = args.exe.parent
        print(f"\nbundle {bundle}: {dir_size(bundle) / 2**20:.0f} MiB on disk (target < 1024 MiB)")
        internal = bundle / "_internal"
        if internal.is_dir():
            parts = sorted(((dir_size(p) if p.is_dir() else p.stat().st_size), p.name) for p in internal.iterdir())
            print("  largest parts: " + ", ".join(f"{n} {s / 2**20:.0f} MiB" for s, n in parts[::-1][:8]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
