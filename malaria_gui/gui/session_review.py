"""The reviewer's decisions on the rows: true labels set, cleared, undone, saved as CSV.

A part of :class:`~malaria_gui.gui.session.Session` (a mixin; the signals are the session's).
Each change is one undoable command (``corrections.py``); when a case is open, every
decision is also written to the case store as it is made (``case_recorder``).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QUndoStack

from malaria_gui.engine.field_labels import NOT_A_CELL
from malaria_gui.gui.results_model import SORT_INPUT


class ReviewPart:
    """Corrections keyed by file (and cell of a field), with their undo stack."""

    def _init_review(self) -> None:
        self.undo_stack = QUndoStack(self)  # the reviewer's corrections (Ctrl+Z / Ctrl+Shift+Z)

    @property
    def corrections(self) -> dict[str, str | None]:
        """Path key (+ "#cell" in a field) -> the reviewer's true label (None: cleared); kept
        across rescore, forgotten by Clear session."""
        return self.results.corrections

    def set_truth(self, rows: list[int], label: str | None) -> None:
        """Set the true label of rows of ``results`` (None clears it), as one undoable step.

        :data:`NOT_A_CELL` is for cells found in whole fields (the segmentation cut no red
        cell there); a field that could not be counted has no cell to label."""
        from malaria_gui.gui.corrections import SetTruth

        results = self.results
        rows = [r for r in rows if 0 <= r < results.rowCount() and results.cell(r) != 0]
        if label == NOT_A_CELL:
            files = [r for r in rows if results.cell(r) is None]
            rows = [r for r in rows if results.cell(r) is not None]
            if files and not rows:
                self.message.emit("\"Not a red cell\" (N) is for cells found in whole fields; "
                                  "a file of its own keeps Parasitized or Uninfected.", 8000)
        if not rows:
            return
        command = SetTruth(results, rows, label, self._on_corrections_changed)
        if not command.is_noop():
            self.undo_stack.push(command)  # push() runs redo(), which applies it

    def _on_corrections_changed(self, decided: dict[str, str | None] | None = None) -> None:
        if decided and self.case is not None:
            self._record_decisions(decided)  # durable before the views follow (session_case)
        elif decided:
            self.unstored_decisions = True  # no case open: only Save corrections keeps them
        if self.proxy.depends_on_threshold():  # misclassified / matrix-cell filters read the truth
            self.proxy.refilter()
        if self.results.sort_key()[0] != SORT_INPUT:
            self._resort_timer.start()
        self.rows_changed()
        self.corrections_changed.emit()

    def has_unsaved_corrections(self) -> bool:
        """Decisions that closing would lose: made and not saved to a CSV, unless every one of
        them went into the open case's store."""
        if not self.corrections or self.undo_stack.isClean():
            return False
        return self.case is None or self.unstored_decisions

    def file_corrections(self) -> dict[str, str | None]:
        """The corrections of files of their own (path key -> label; None: the label cleared)."""
        m = self.results
        return {k: v for k, v in self.corrections.items() if not m.is_field_key(k)}

    def field_labels(self) -> list:
        """The reviewer's labels on cells of whole fields, as FieldCellLabels (box and cell)."""
        return self.results.field_cell_labels()

    def corrections_text(self) -> str:
        """What the corrections are, in words: "3 files and 38 field cells"."""
        files, cells = len(self.file_corrections()), len(self.field_labels())
        parts = [f"{files} file{'s' if files != 1 else ''}"] if files else []
        if cells:
            parts.append(f"{cells} field cell{'s' if cells != 1 else ''}")
        return " and ".join(parts) or "no cell"

    def save_corrections(self, path: Path) -> list[tuple[Path, int, str]]:
        """Write the corrections; returns ``(file, rows, what)`` for each file written.

        Files of their own go to ``path`` as ``path,truth`` (``adapt --corrections``); cells of
        whole fields as field-cell labels (image, cell, box, truth: ``adapt --field-labels``),
        to ``path`` when there are no file corrections, else to ``NAME-fields.csv`` beside it.
        Nothing is written (and the corrections stay unsaved) when there is nothing to save."""
        from malaria_gui.engine.export import write_corrections
        from malaria_gui.engine.field_labels import write_field_labels

        path = Path(path)
        files, cells = self.file_corrections(), self.field_labels()
        written: list[tuple[Path, int, str]] = []
        if files:
            write_corrections(path, files)
            written.append((path, len(files), "file corrections (path,truth)"))
        if cells:
            where = path.with_name(f"{path.stem}-fields{path.suffix or '.csv'}") if files else path
            write_field_labels(where, cells)
            written.append((where, len(cells), "field-cell labels (image,cell,x,y,width,height,truth)"))
        if written:
            self.undo_stack.setClean()
            self.unstored_decisions = False
        return written
