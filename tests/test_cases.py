"""The case store: what is written survives a killed program, reads back unchanged, migrates."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap

import pytest

from malaria_gui.engine import cases
from malaria_gui.engine.cases import CaseError, CaseStore, slide_figures
from malaria_gui.engine.export import FIELD_FIGURE_COLUMNS


def _cells(n: int, p_high: int = 2):
    """n cells, the first ``p_high`` with P 0.9 (called Parasitized at 0.5), the rest 0.1."""
    return [(i + 1, 10 * i, 5, 20, 22, 0.9 if i < p_high else 0.1) for i in range(n)]


def test_a_slide_reads_back_with_each_cells_latest_decision(tmp_path):
    with CaseStore(tmp_path / "c.sqlite") as store:
        slide = store.open_slide("S-001", "patient 17")
        ids = store.add_image(slide, "/fields/a.jpg", _cells(5), model="m 1", threshold=0.5, white_cells=2)
        store.add_image(slide, "/fields/b.jpg", [], error="not a smear field: blank")
        store.decide(ids[0], cases.CONFIRMED, "ana")
        store.decide(ids[1], cases.CONFIRMED, "ana")
        store.decide(ids[1], cases.CLEARED, "ana")  # undo
        store.decide(ids[2], cases.NOT_A_CELL, "ben")
    with CaseStore(tmp_path / "c.sqlite") as store:
        case = store.load_slide("S-001")
        history = store.decision_history("S-001")
    assert (case.slide_id, case.reference) == ("S-001", "patient 17")
    assert [im.path for im in case.images] == ["/fields/a.jpg", "/fields/b.jpg"]
    assert case.images[0].white_cells == 2 and case.images[1].error.startswith("not a smear field")
    assert [c.number for c in case.cells] == [1, 2, 3, 4, 5]
    assert [c.truth for c in case.cells] == ["Parasitized", "", "not a red cell", "", ""]
    assert case.cells[0].reviewer == "ana" and case.cells[0].decided
    assert [h[2] for h in history] == ["Parasitized", "Parasitized", "", "not a red cell"]

    fig = slide_figures(case.cells, 0.5)
    # 5 found, 1 is not a red cell: 4 red cells; 2 called; 1 confirmed; 1 call not reviewed (undone).
    assert (fig.red_cells, fig.called, fig.confirmed, fig.not_cells, fig.reviewed_calls) == (4, 2, 1, 1, 1)
    assert fig.model_parasitemia()[0] == pytest.approx(50.0)
    assert fig.confirmed_parasitemia()[0] == pytest.approx(25.0)


def test_a_slide_is_added_to_only_when_asked(tmp_path):
    with CaseStore(tmp_path / "c.sqlite") as store:
        first = store.open_slide("S-2")
        with pytest.raises(CaseError, match="already in the case store"):
            store.open_slide("S-2")
        assert store.open_slide("S-2", append=True) == first
        with pytest.raises(CaseError, match="needs an id"):
            store.open_slide("  ")


def test_scoring_an_image_again_replaces_its_cells_not_others(tmp_path):
    with CaseStore(tmp_path / "c.sqlite") as store:
        slide = store.open_slide("S-3")
        store.add_image(slide, "a.jpg", _cells(4))
        store.add_image(slide, "b.jpg", _cells(3))
        store.add_image(slide, "a.jpg", _cells(2))
        case = store.load_slide("S-3")
    assert sorted((c.image, c.number) for c in case.cells) == [("a.jpg", 1), ("a.jpg", 2), ("b.jpg", 1),
                                                                ("b.jpg", 2), ("b.jpg", 3)]


def test_listing_searches_ids_and_references_and_counts(tmp_path):
    with CaseStore(tmp_path / "c.sqlite") as store:
        for name, ref in (("2026-A1", "ward 3"), ("2026-B7", "clinic"), ("X_1", "ward 9")):
            slide = store.open_slide(name, ref)
            ids = store.add_image(slide, f"{name}.jpg", _cells(6))
            store.decide(ids[0], cases.REJECTED)
        assert [s.slide_id for s in store.list_slides("ward")] == ["X_1", "2026-A1"]
        assert [s.slide_id for s in store.list_slides("_")] == ["X_1"]  # LIKE wildcards are literal
        listing = store.list_slides("B7")[0]
        assert (listing.images, listing.cells, listing.reviewed) == (1, 6, 1)
        today = listing.created[:10]
        assert len(store.list_slides(since=today, until=today)) == 3
        assert store.list_slides(until="2000-01-01") == []


_WRITER = textwrap.dedent("""
    import sys
    from malaria_gui.engine.cases import CaseStore, CONFIRMED
    store = CaseStore(sys.argv[1])
    slide = store.open_slide("KILL")
    for f in range(1000):
        ids = store.add_image(slide, f"field_{f}.jpg", [(i + 1, i, i, 9, 9, 0.9) for i in range(150)])
        store.decide(ids[0], CONFIRMED, "r")
        print(f, flush=True)
""")


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_killing_the_program_keeps_every_field_and_decision_written_before(tmp_path):
    db = tmp_path / "c.sqlite"
    child = subprocess.Popen([sys.executable, "-c", _WRITER, str(db)], stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    done = -1
    for line in child.stdout:
        done = int(line)
        if done >= 20:
            break
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    with CaseStore(db) as store:
        case = store.load_slide("KILL")
    fields = {c.image for c in case.cells}
    assert {f"field_{f}.jpg" for f in range(done + 1)} <= fields  # every field it said it wrote
    per_field = {}
    for c in case.cells:
        per_field[c.image] = per_field.get(c.image, 0) + 1
    assert set(per_field.values()) == {150}  # never half a field
    confirmed = {c.image for c in case.cells if c.truth == cases.CONFIRMED}
    assert {f"field_{f}.jpg" for f in range(done + 1)} <= confirmed


def _version_1_store(db) -> None:
    """A store as version 1 wrote it (schema 1, its own INSERTs): slide OLD with a field of 3
    cells, one decided, and a file of one cell from a Parasitized/ folder."""
    with CaseStore(db, migrations=cases.MIGRATIONS[:1]) as store:
        slide = store.open_slide("OLD")
        con = store._db
        for path, kind, n in (("a.jpg", "field", 3), ("/set/Parasitized/c.png", "cell", 1)):
            image = con.execute("INSERT INTO images (slide, path, kind, error, cells, white_cells, model, threshold, "
                                "scored) VALUES (?, ?, ?, NULL, ?, ?, 'm 1', 0.5, '2026-11-01')",
                                (slide, path, kind, n, 2 if kind == "field" else 0)).lastrowid
            con.executemany("INSERT INTO cells (image, number, x, y, width, height, p_parasitized) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?)", [(image, *c) for c in _cells(n)])
        store.decide(con.execute("SELECT MIN(id) FROM cells").fetchone()[0], cases.CONFIRMED, "ana")


def test_an_old_store_is_migrated_forward_and_keeps_its_cases(tmp_path):
    db = tmp_path / "c.sqlite"
    _version_1_store(db)
    newer = cases.MIGRATIONS + ("ALTER TABLE slides ADD COLUMN site TEXT NOT NULL DEFAULT 'lab';",)
    with CaseStore(db, migrations=newer) as store:
        assert store.schema_version == len(newer)
        assert len(store.load_slide("OLD").cells) == 4  # the field's 3 and the cell file's
        assert store._db.execute("SELECT site FROM slides").fetchone()[0] == "lab"


def test_a_version_1_store_gains_the_folder_truth_of_cell_files(tmp_path):
    db = tmp_path / "c.sqlite"
    _version_1_store(db)
    with CaseStore(db) as store:
        assert store.schema_version == cases.SCHEMA_VERSION == 3
        old = store.load_slide("OLD")
        assert [(im.path, im.cells, im.white_cells, im.truth) for im in old.images] == [
            ("a.jpg", 3, 2, None), ("/set/Parasitized/c.png", 1, 0, None)]  # unknown before: not guessed
        assert [c.truth for c in old.cells] == [cases.CONFIRMED, "", "", ""]
        slide = store.open_slide("NEW")
        store.add_images(slide, [cases.ImageRecord("/set/Uninfected/u.png", [(1, 0, 0, 90, 90, 0.2)], "cell",
                                                   truth="Uninfected", truth_folder="Uninfected")])
    with CaseStore(db) as store:
        image = store.load_slide("NEW").images[0]
    assert (image.truth, image.truth_folder) == ("Uninfected", "Uninfected")


def _ring(cx: int, cy: int, r: int):
    """A round cell's outline as segmentation finds it (OpenCV's contour of a disc)."""
    import cv2
    import numpy as np

    mask = np.zeros((cy + r + 4, cx + r + 4), np.uint8)
    cv2.circle(mask, (cx, cy), r, 1, -1)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return contours[0].reshape(-1, 2)


def _distance_to_polygon(points, polygon):
    """Each point's distance to the closed polygon's edges (pixels)."""
    import numpy as np

    a, b = polygon.astype(float), np.roll(polygon, -1, axis=0).astype(float)
    p = np.asarray(points, float)[:, None, :]
    t = np.clip(((p - a) * (b - a)).sum(-1) / np.maximum(((b - a) ** 2).sum(-1), 1e-9), 0, 1)
    return np.linalg.norm(p - (a + t[..., None] * (b - a)), axis=-1).min(axis=1)


def test_a_field_cells_outline_reads_back_within_a_pixel(tmp_path):
    """The outline is stored simplified (fewer bytes) but draws the same cell: every point found
    lies within a pixel of the stored outline, and a cell stored without one reads back None."""
    outline = _ring(300, 200, 24)
    with CaseStore(tmp_path / "c.sqlite") as store:
        slide = store.open_slide("O-1")
        store.add_image(slide, "/f/a.jpg", [(1, 276, 176, 49, 49, 0.9, outline), (2, 10, 10, 30, 30, 0.1)])
        stored = store.load_slide("O-1").cells
    assert stored[1].outline is None
    back = stored[0].outline
    assert back.dtype.kind == "i" and 4 <= len(back) < len(outline)
    assert _distance_to_polygon(outline, back).max() <= 1.0
    assert (back >= (276, 176)).all() and (back <= (276 + 49, 176 + 49)).all()


def test_a_version_2_store_gains_outlines_and_keeps_its_cells_without(tmp_path):
    db = tmp_path / "c.sqlite"
    _version_1_store(db)
    with CaseStore(db, migrations=cases.MIGRATIONS[:2]) as store:
        assert store.schema_version == 2
    with CaseStore(db) as store:
        assert store.schema_version == 3
        assert [c.outline for c in store.load_slide("OLD").cells] == [None] * 4
        store.add_image(store.open_slide("V3"), "b.jpg", [(1, 276, 176, 49, 49, 0.9, _ring(300, 200, 24))])
        assert store.load_slide("V3").cells[0].outline is not None


def test_a_failed_migration_changes_nothing(tmp_path):
    db = tmp_path / "c.sqlite"
    CaseStore(db).close()
    broken = cases.MIGRATIONS + ("ALTER TABLE slides ADD COLUMN a TEXT; ALTER TABLE nowhere ADD COLUMN b TEXT;",)
    with pytest.raises(CaseError):
        CaseStore(db, migrations=broken)
    with CaseStore(db) as store:
        assert store.schema_version == cases.SCHEMA_VERSION
        columns = [r[1] for r in store._db.execute("PRAGMA table_info(slides)")]
    assert "a" not in columns  # rolled back whole


def test_a_store_from_a_newer_version_or_not_a_database_is_refused(tmp_path):
    db = tmp_path / "c.sqlite"
    CaseStore(db).close()
    con = sqlite3.connect(db)
    con.execute(f"PRAGMA user_version = {cases.SCHEMA_VERSION + 3}")
    con.close()
    with pytest.raises(CaseError, match="newer malaria-gui"):
        CaseStore(db)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(CaseError, match="not a case store"):
        CaseStore(junk)


def test_case_csv_names_each_cell_and_guards_formulas(tmp_path):
    with CaseStore(tmp_path / "c.sqlite") as store:
        slide = store.open_slide("=cmd|x")
        ids = store.add_image(slide, "f.jpg", _cells(2, p_high=1), model="bundled 1", threshold=0.5)
        store.decide(ids[1], cases.CONFIRMED, "=HYPERLINK()")
        text = cases.case_csv_text(store.load_slide("=cmd|x"))
    lines = text.splitlines()
    assert lines[0].split(",") == list(cases.CASE_COLUMNS + FIELD_FIGURE_COLUMNS)
    assert lines[1].split(",")[:3] == ["'=cmd|x", "f.jpg", "1"]
    assert lines[1].split(",")[10:12] == ["Parasitized", ""]
    assert lines[2].split(",")[10:13] == ["Uninfected", "Parasitized", "'=HYPERLINK()"]


def test_cli_lists_and_exports_a_stored_slide(tmp_path, capsys):
    from malaria_gui.cli import main

    db = tmp_path / "c.sqlite"
    with CaseStore(db) as store:
        slide = store.open_slide("SL-9", "sample 4")
        ids = store.add_image(slide, "f1.jpg", _cells(10, p_high=3), model="bundled 1", threshold=0.5)
        store.decide(ids[0], cases.CONFIRMED, "ana")
        store.decide(ids[1], cases.REJECTED, "ana")
    assert main(["cases", "list", "--db", str(db), "--search", "sample"]) == 0
    out = capsys.readouterr().out
    assert "1 slide in" in out and "SL-9 (sample 4)" in out and "10 cells, 2 reviewed" in out
    assert main(["cases", "export", "SL-9", "--csv", str(tmp_path / "out.csv"), "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "wrote 10 cell rows" in out
    assert "model: 30.00% (95% CI 10.78-60.32%), 3 of 10 red cells" in out
    assert "confirmed: at least 10.00% (95% CI 1.79-40.42%), 1 of 10 red cells; 2 of 3 reviewed, 1 call not yet" in out
    assert len((tmp_path / "out.csv").read_text().splitlines()) == 11
    assert main(["cases", "export", "NOPE", "--csv", str(tmp_path / "x.csv"), "--db", str(db)]) == 2
    assert "no slide 'NOPE'" in capsys.readouterr().err
    assert main(["cases", "list", "--db", str(tmp_path / "none.sqlite")]) == 2


def test_a_field_result_is_recorded_with_its_cells_or_its_error(tmp_path):
    from pathlib import Path

    from malaria_gui.engine.fields import CellScore, FieldResult

    good = FieldResult(Path("/s/f1.jpg"), "s", [CellScore(i + 1, i, 2 * i, 30, 31, 0.1 * i) for i in range(6)])
    good.cells[0].contour = _ring(15, 15, 14)  # kept (score_fields(keep_contours=True)) for the first only
    bad = FieldResult(Path("/s/f2.jpg"), "s", error="not a smear field: blank")
    with CaseStore(tmp_path / "c.sqlite") as store:
        slide = store.open_slide("F")
        assert len(cases.record_field(store, slide, good, "m 1", 0.45)) == 6
        assert cases.record_field(store, slide, bad, "m 1", 0.45) == []
        case = store.load_slide("F")
    assert [(c.number, c.y, c.height) for c in case.cells][:2] == [(1, 0, 31), (2, 2, 31)]
    assert case.images[0].threshold == 0.45 and case.images[1].error == "not a smear field: blank"
    assert case.cells[0].outline is not None and all(c.outline is None for c in case.cells[1:])
    assert slide_figures(case.cells, 0.45).called == 1  # P 0.5 only


def test_a_chunk_of_images_is_stored_in_one_transaction(tmp_path):
    """add_images: the window's chunk of cell files is all stored, or (an error half-way) none."""
    with CaseStore(tmp_path / "c.sqlite") as store:
        slide = store.open_slide("S-9")
        ids = store.add_images(slide, [cases.ImageRecord("/c/1.png", [(1, 0, 0, 90, 90, 0.8)], "cell"),
                                       cases.ImageRecord("/f/a.jpg", _cells(3))])
        assert [len(i) for i in ids] == [1, 3]
        with pytest.raises(ValueError):
            store.add_images(slide, [cases.ImageRecord("/c/2.png", [(1, 0, 0, 90, 90, 0.3)], "cell"),
                                     cases.ImageRecord("/c/3.png", [(1, 0, 0, 90, 90, "not a number")], "cell")])
        assert [im.path for im in store.load_slide("S-9").images] == ["/c/1.png", "/f/a.jpg"]
