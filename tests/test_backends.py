"""Keras on JAX (the default) and on TensorFlow give the same results with the bundled model.

Each backend runs in its own process (Keras picks its backend once, at import). TensorFlow
comes with the `test` extra (`make test` installs it); without it these tests say so and skip.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cells import DATA_DIR, REPO, synthetic_cell, write_rgb

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("tensorflow") is None,
        reason="TensorFlow is not installed (pip install -e '.[test]' installs it)",
    ),
]

BACKENDS = ("jax", "tensorflow")
TOLERANCE = 1e-5

# `malaria-gui classify`, then which backend Keras really ran on (the last line).
CLASSIFY = (
    "import sys; from malaria_gui.cli import main; code = main(sys.argv[1:]); "
    "import keras; print('keras backend:', keras.backend.backend()); sys.exit(code)"
)


def _env(backend: str) -> dict[str, str]:
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("MALARIA_GUI_MODEL", None)  # the bundled model
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def _python(code: str, *args: str, backend: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=cwd, env=_env(backend),
        capture_output=True, text=True, timeout=600,
    )


def test_classify_gives_the_same_csv_on_jax_and_tensorflow(tmp_path):
    rng = np.random.default_rng(8)
    folder = tmp_path / "slides"
    for label, parasitized in (("Parasitized", True), ("Uninfected", False)):
        for i in range(5):
            write_rgb(folder / label / f"cell_{i}.png", synthetic_cell(rng, parasitized))
    rows = {}
    for backend in BACKENDS:
        out = tmp_path / f"{backend}.csv"
        proc = _python(CLASSIFY, "classify", str(folder), "--csv", str(out), "--quiet", backend=backend, cwd=tmp_path)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert proc.stdout.strip().endswith(f"keras backend: {backend}")
        with open(out, newline="", encoding="utf-8") as fh:
            rows[backend] = {r["path"]: r for r in csv.DictReader(fh)}
    jax_rows, tf_rows = rows["jax"], rows["tensorflow"]
    assert len(jax_rows) == 10 and jax_rows.keys() == tf_rows.keys()
    for path, row in jax_rows.items():
        assert row["error"] == tf_rows[path]["error"] == ""
        assert row["prediction"] == tf_rows[path]["prediction"], path
        assert abs(float(row["p_parasitized"]) - float(tf_rows[path]["p_parasitized"])) <= TOLERANCE, path
    # Not a comparison of constants: the bundled model tells these cells apart.
    p = [float(r["p_parasitized"]) for r in jax_rows.values()]
    assert max(p) - min(p) > 0.1


# The model card's evaluation (clean and colour/framing-shifted test cells) on the first test
# patients of the card's split; prints the metrics and the probabilities as JSON.
CARD_FIGURES = """
import json, sys
import numpy as np
from malaria_gui.engine.model import load_classifier
from malaria_gui.training.data import load_pixels, read_table
from malaria_gui.training.train import evaluate
classifier = load_classifier()
table = read_table(sys.argv[1])
patients = classifier.card["data"]["test_patient_ids"][: int(sys.argv[2])]
test = np.flatnonzero(np.isin(table.patients, patients))
result = evaluate(classifier.model, load_pixels(table.paths[test]), table.labels[test],
                  classifier.input_size, classifier.threshold)
print(json.dumps({"clean": result["clean"].as_dict(), "shifted": result["shifted"].as_dict(),
                  "p": [float(x) for x in result["p_clean"]]}))
"""


@pytest.mark.realdata
@pytest.mark.skipif(not (DATA_DIR / "manifest.csv").is_file(), reason=f"no real data at {DATA_DIR}")
def test_card_figures_on_test_patients_are_the_same_on_both_backends(tmp_path):
    results = {}
    for backend in BACKENDS:
        proc = _python(CARD_FIGURES, str(DATA_DIR), "5", backend=backend, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr[-3000:]
        results[backend] = json.loads(proc.stdout.strip().splitlines()[-1])
    jax_result, tf_result = results["jax"], results["tensorflow"]
    assert jax_result["clean"]["n"] >= 200  # five patients: a few hundred cells
    assert np.max(np.abs(np.subtract(jax_result["p"], tf_result["p"]))) <= TOLERANCE
    for copy in ("clean", "shifted"):
        assert jax_result[copy]["confusion"] == tf_result[copy]["confusion"], copy
        assert jax_result[copy]["roc_auc"] == pytest.approx(tf_result[copy]["roc_auc"], abs=1e-4), copy
    assert jax_result["clean"]["accuracy"] > 0.9  # the real model on real cells, not a degenerate run
