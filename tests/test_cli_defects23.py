"""Issue 23, defect 9 (command line): the usage line lists every command, and TensorFlow's
C++ notices stay off stderr unless the user asked for them."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

from malaria_gui.cli import KNOWN_COMMANDS, build_parser


def test_usage_lists_every_command_but_the_default_window():
    usage = build_parser().format_usage()
    listed = usage[usage.index("{") + 1:usage.index("}")].split(",")
    assert sorted(listed) == sorted(c for c in KNOWN_COMMANDS if c != "gui") and "smear" in listed


def _stderr_of(code: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    clean.pop("KERAS_BACKEND", None)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=240,
                          env={**clean, **env})


@pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None, reason="TensorFlow not installed")
def test_tensorflow_prints_no_notices_once_the_command_line_is_loaded():
    done = _stderr_of("import malaria_gui.cli, os; import tensorflow; "
                      "print(os.environ['TF_CPP_MIN_LOG_LEVEL'], os.environ['TF_ENABLE_ONEDNN_OPTS'])")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["2", "0"]
    assert "oneDNN" not in done.stderr and "cpu_feature_guard" not in done.stderr, done.stderr


def test_the_users_own_settings_win_and_tensorflows_own_numbers_are_left_alone():
    code = ("import malaria_gui.cli, os; "
            "print(os.environ['TF_CPP_MIN_LOG_LEVEL'], os.environ.get('TF_ENABLE_ONEDNN_OPTS'))")
    assert _stderr_of(code, TF_CPP_MIN_LOG_LEVEL="0", TF_ENABLE_ONEDNN_OPTS="1").stdout.split() == ["0", "1"]
    # On the TensorFlow backend oneDNN computes the results: it stays as TensorFlow sets it.
    assert _stderr_of(code, KERAS_BACKEND="tensorflow").stdout.split() == ["2", "None"]
