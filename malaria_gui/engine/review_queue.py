"""Which cells a person must look at, and in what order.

A lab confirms every positive call; cells just under the threshold are where the model is
least sure, so they come next. Largest P(Parasitized) first in both parts: the surest calls
are the quickest to confirm, and a reviewer who stops early has seen the ones that count.
Qt-free: the window's queue and any headless review share it.
"""

from __future__ import annotations

import numpy as np

UNCERTAIN_BAND = 0.15  # below the threshold by at most this much: the uncertain calls


def review_order(p: np.ndarray, threshold: float, band: float = UNCERTAIN_BAND,
                 eligible: np.ndarray | None = None) -> list[int]:
    """Indices into ``p``: every call (p >= threshold), then the band [threshold - band,
    threshold), each part largest P first. ``eligible`` (bool) leaves rows out (errors, NaN)."""
    p = np.asarray(p, dtype=np.float64)
    ok = np.isfinite(p) if eligible is None else (np.asarray(eligible, bool) & np.isfinite(p))
    calls = np.flatnonzero(ok & (p >= threshold))
    unsure = np.flatnonzero(ok & (p < threshold) & (p >= threshold - band))
    # Stable sorts: equal P keeps input order, so the queue is the same every time.
    calls = calls[np.argsort(-p[calls], kind="stable")]
    unsure = unsure[np.argsort(-p[unsure], kind="stable")]
    return calls.tolist() + unsure.tolist()
