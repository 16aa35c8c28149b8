"""The model's parasitemia beside the confirmed one, per field and per slide, and how much
of the review queue a person went through.

A lab reports what a trained person confirmed, not what a model called. Both figures here
count over red cells: the cells found, less those a reviewer marked "not a red cell" (white
cell, clump, debris). The model's is the cells it calls Parasitized; the confirmed one is the
cells a reviewer labelled Parasitized (called or not), each with its 95% Wilson interval.

How to read the confirmed figure (what :func:`confirmed_text` says in words):

- queue not started (cells await review, none has a decision): there is no confirmed
  figure; 0% would read as a negative slide.
- queue partly reviewed: calls not yet reviewed may still be confirmed, and red cells
  can only fall, so the figure can only rise: it is a lower bound ("at least").
- queue fully reviewed (every call and every cell of the uncertain band, see
  ``engine/review_queue.py``): the confirmed positives among the cells the model flagged.
  Cells scored below the band were never looked at, so parasites the model missed there
  are not in it.

Qt-free: the window, the exports, the report and the case store share it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from malaria_gui.engine.field_labels import NOT_A_CELL
from malaria_gui.engine.fields import wilson_interval
from malaria_gui.engine.labels import PARASITIZED, UNINFECTED
from malaria_gui.engine.review_queue import UNCERTAIN_BAND, review_order

NOT_REVIEWED, PARTLY_REVIEWED, REVIEWED = "not reviewed", "partly reviewed", "reviewed"


def percent(k: int, n: int) -> tuple[float, float, float] | None:
    """(k/n, 95% Wilson low, high) in percent; None without cells."""
    if n <= 0:
        return None
    low, high = wilson_interval(k, n)
    return 100.0 * k / n, 100.0 * low, 100.0 * high


@dataclass(frozen=True, slots=True)
class ReviewFigures:
    """Counts of one field, or pooled over a slide (``+``), at one threshold."""

    cells: int = 0  # cells found and scored, before review
    not_cells: int = 0  # marked "not a red cell" by a reviewer
    called: int = 0  # red cells the model calls Parasitized
    confirmed: int = 0  # red cells a reviewer labelled Parasitized (called or not)
    rejected: int = 0  # calls a reviewer labelled Uninfected
    queue: int = 0  # cells in the review queue: every call, then the uncertain band
    reviewed: int = 0  # queue cells with a decision (any of the three)
    reviewed_calls: int = 0  # calls with a decision
    unreviewed_calls: int = 0  # calls still waiting for one

    @property
    def red_cells(self) -> int:
        return self.cells - self.not_cells

    def __add__(self, other: ReviewFigures) -> ReviewFigures:
        return ReviewFigures(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    @property
    def state(self) -> str:
        """:data:`REVIEWED` (queue done, or empty), :data:`PARTLY_REVIEWED` or :data:`NOT_REVIEWED`."""
        if self.reviewed >= self.queue:
            return REVIEWED
        return PARTLY_REVIEWED if self.reviewed else NOT_REVIEWED

    def model_parasitemia(self) -> tuple[float, float, float] | None:
        """Called Parasitized / red cells, percent with its 95% interval."""
        return percent(self.called, self.red_cells)

    def confirmed_parasitemia(self) -> tuple[float, float, float] | None:
        """Confirmed Parasitized / red cells, percent with its 95% interval; None while the
        queue has cells and none was reviewed (a lower bound while :attr:`state` is partial)."""
        if self.state == NOT_REVIEWED:
            return None
        return percent(self.confirmed, self.red_cells)

    def progress_text(self) -> str:
        """"12 of 37 reviewed"."""
        return f"{self.reviewed} of {self.queue} reviewed"


def review_figures(p: Sequence[float] | np.ndarray, truths: Sequence[str | None], threshold: float,
                   band: float = UNCERTAIN_BAND) -> ReviewFigures:
    """The figures of one group of cells: P(Parasitized) of each and the reviewer's decision
    (Parasitized, Uninfected, :data:`NOT_A_CELL`; None or "" = no decision). NaN P (a cell
    that could not be scored) counts nowhere. The queue is :func:`review_order`'s."""
    p = np.asarray(p, dtype=np.float64)
    truths = list(truths)
    if len(truths) != len(p):
        raise ValueError(f"{len(p)} probabilities but {len(truths)} decisions")
    scored = np.isfinite(p)
    in_queue = np.zeros(len(p), dtype=bool)
    in_queue[review_order(p, threshold, band, scored)] = True

    def having(test) -> np.ndarray:  # vectorised: the window recounts a slide after each decision
        return np.fromiter((test(t) for t in truths), dtype=bool, count=len(truths)) & scored

    decided, not_cell = having(bool), having(lambda t: t == NOT_A_CELL)
    call = scored & (p >= np.float64(threshold))
    return ReviewFigures(
        cells=int(scored.sum()), not_cells=int(not_cell.sum()), called=int((call & ~not_cell).sum()),
        confirmed=int(having(lambda t: t == PARASITIZED).sum()),
        rejected=int((call & having(lambda t: t == UNINFECTED)).sum()),
        queue=int(in_queue.sum()), reviewed=int((in_queue & decided).sum()),
        reviewed_calls=int((call & decided).sum()), unreviewed_calls=int((call & ~decided).sum()))


def pool(figures: Iterable[ReviewFigures]) -> ReviewFigures:
    total = ReviewFigures()
    for f in figures:
        total = total + f
    return total


def figures_by_field(cells: Iterable[tuple[str, str, float, str | None]], threshold: float,
                     band: float = UNCERTAIN_BAND) -> tuple[dict[str, ReviewFigures], dict[str, ReviewFigures]]:
    """``cells`` as (field, slide, P, decision): the figures per field and per slide (pooled
    over its fields), both in first-seen order."""
    groups: dict[str, tuple[str, list[float], list[str | None]]] = {}
    for field, slide, p, truth in cells:
        group = groups.setdefault(field, (slide, [], []))
        group[1].append(float(p))
        group[2].append(truth)
    per_field = {f: review_figures(p, t, threshold, band) for f, (_s, p, t) in groups.items()}
    per_slide: dict[str, ReviewFigures] = {}
    for f, (slide, _p, _t) in groups.items():
        per_slide[slide] = per_slide.get(slide, ReviewFigures()) + per_field[f]
    return per_field, per_slide


def field_slide(path: str | Path) -> str:
    """A field's slide: the folder holding it, as ``smear`` and the window name it."""
    path = Path(path)
    return path.parent.name or str(path.parent)


def figures_for_paths(paths: Sequence[str], p: Sequence[float] | np.ndarray, truths: Sequence[str | None],
                      threshold: float, band: float = UNCERTAIN_BAND
                      ) -> tuple[dict[str, ReviewFigures], dict[str, ReviewFigures]]:
    """Cells of whole fields given by their field's path (one each), P and decision: per field
    and per slide, the slide being the field's folder (:func:`field_slide`)."""
    slides: dict[str, str] = {}
    for path in paths:
        if path not in slides:
            slides[path] = field_slide(path)
    return figures_by_field(((f, slides[f], x, t) for f, x, t in zip(paths, p, truths)), threshold, band)


def figures_from_results(results: Sequence, corrected: Sequence[bool] | None, threshold: float,
                         band: float = UNCERTAIN_BAND) -> tuple[dict[str, ReviewFigures], dict[str, ReviewFigures]]:
    """Per field and per slide, from engine Results (the window's rows): only cells of whole
    fields count, and only a reviewer's label (``corrected``) is a decision, never a folder's."""
    flags = corrected if corrected is not None else [False] * len(results)
    kept = [(str(r.path), r.p_parasitized, r.truth if flag else None) for r, flag in zip(results, flags)
            if r.cell and r.p_parasitized is not None and not math.isnan(r.p_parasitized)]
    return figures_for_paths([k[0] for k in kept], [k[1] for k in kept], [k[2] for k in kept], threshold, band)


def _share(share: tuple[float, float, float]) -> str:
    return f"{share[0]:.2f}% (95% CI {share[1]:.2f}-{share[2]:.2f}%)"


def model_text(figures: ReviewFigures) -> str:
    share = figures.model_parasitemia()
    return "no red cells" if share is None else f"{_share(share)}, {figures.called} of {figures.red_cells} red cells"


def confirmed_text(figures: ReviewFigures) -> str:
    """The confirmed figure as a lab should read it (see the module's docstring)."""
    state, share = figures.state, figures.confirmed_parasitemia()
    if share is None:
        return (f"not reviewed yet ({figures.progress_text()})" if figures.red_cells
                else "no red cells")
    counted = f"{figures.confirmed} of {figures.red_cells} red cells"
    if state == PARTLY_REVIEWED:
        calls = figures.unreviewed_calls
        return (f"at least {_share(share)}, {counted}; {figures.progress_text()}, "
                f"{calls} call{'s' if calls != 1 else ''} not yet reviewed")
    if not figures.queue:
        return f"{_share(share)}, {counted}; no cell needed review"
    return f"{_share(share)}, {counted}; queue {figures.progress_text()}"

