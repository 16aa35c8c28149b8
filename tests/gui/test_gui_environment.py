"""The Qt binding itself must be sound: the window makes millions of calls in a long session."""

import sys

import pytest
from PySide6.QtWidgets import QLabel


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="None is immortal from Python 3.12 on")
def test_void_qt_calls_do_not_leak_references_to_none(qapp):
    """PySide6 6.12.0 on Python 3.11 drops a reference to None on every call that returns
    nothing (QLabel.setText, a model's data() returning None...). The window makes such calls
    for every row painted, so after a while Python aborts with "deallocating None". Use a
    PySide6-Essentials release without the bug (6.11.x is fine)."""
    label = QLabel()
    before = sys.getrefcount(None)
    for _ in range(1000):
        label.setText("x")
    assert sys.getrefcount(None) - before > -100, "this PySide6 build corrupts None's reference count"
