"""Start-up: Keras is imported without what it does not need here, and compiled programs are
kept between runs (JAX's persistent cache in the user's cache folder). Each case runs in a
fresh process: both are decided once per interpreter."""

from __future__ import annotations

import os
import subprocess
import sys

from cells import REPO

LOAD = (
    "import sys; from malaria_gui.engine.model import load_classifier; import numpy as np; "
    "clf = load_classifier(sys.argv[1]); print(clf.predict(np.zeros((1, 32, 32, 3), np.uint8))[0]); "
    "print('heavy:', sorted(m for m in ('matplotlib', 'sklearn') if m in sys.modules)); "
    "import matplotlib, sklearn; print('importable afterwards')"
)


def _run(tmp_path, model, cache: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, KERAS_BACKEND="jax", MALARIA_GUI_XLA_CACHE=cache, HOME=str(tmp_path),
               PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-c", LOAD, str(model)], env=env, capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)


def test_loading_a_model_skips_plotting_and_sklearn_and_keeps_compiled_programs(tmp_path, tiny_model_path):
    cache = tmp_path / "xla"
    first = _run(tmp_path, tiny_model_path, str(cache))
    assert first.returncode == 0, first.stderr[-2000:]
    assert "heavy: []" in first.stdout and "importable afterwards" in first.stdout
    kept = sorted(p.name for p in cache.iterdir())
    assert any(name.startswith("jit_") for name in kept), kept  # the forward programs, on disk
    second = _run(tmp_path, tiny_model_path, str(cache))
    assert second.returncode == 0, second.stderr[-2000:]
    assert second.stdout.splitlines()[0] == first.stdout.splitlines()[0]  # same P from the cached program
    assert sorted(p.name for p in cache.iterdir()) == kept  # read back, not compiled and written anew


def test_the_cache_can_be_switched_off(tmp_path, tiny_model_path):
    off = _run(tmp_path, tiny_model_path, "0")
    assert off.returncode == 0, off.stderr[-2000:]
    assert not (tmp_path / ".cache" / "malaria-gui").exists()
