"""On the public sets from other labs (skipped where they are absent): the field segmentation
finds Chula-RBC-12's marked cells, and the bundled model keeps its cross-lab figures, loosely
(the card holds the exact ones; tools/eval_chula.py and training.evaluate measure them)."""

from __future__ import annotations

import numpy as np
import pytest

from cells import DATA_DIR, REPO

OTHER_LABS = DATA_DIR.parent
CHULA = OTHER_LABS / "chula_rbc12_fields"
MPIDB = OTHER_LABS / "mpidb_pf_crops" / "Parasitized"
BUNDLED_MODEL = REPO / "models" / "malaria_cnn.keras"

pytestmark = [
    pytest.mark.realdata,
    pytest.mark.skipif(not BUNDLED_MODEL.is_file(), reason="the bundled model has not been trained yet"),
]


def _inner_found(cells, points: np.ndarray, shape) -> tuple[int, int]:
    """Marked points more than a cell diameter from the border, and how many of them were
    found (tools/eval_chula.py's judgement: in one found cell that holds no other point)."""
    from tools.eval_chula import judge

    verdict = judge(cells, points)
    margin = 2 * verdict["radius"]
    h, w = shape[:2]
    inner = (points[:, 0] > margin) & (points[:, 1] > margin) & (points[:, 0] < w - margin) & (points[:, 1] < h - margin)
    return int(inner.sum()), int((verdict["outcome"][inner] == "found").sum())


@pytest.mark.skipif(not (CHULA / "images").is_dir(), reason=f"Chula-RBC-12 fields not found at {CHULA}")
def test_chula_fields_cells_found_once_and_rarely_called_parasitized():
    from malaria_gui.engine.decoding import decode
    from malaria_gui.engine.fields import segment_field
    from malaria_gui.engine.model import load_classifier
    from malaria_gui.engine.preprocess import prepare

    classifier = load_classifier(BUNDLED_MODEL)
    paths = sorted((CHULA / "images").glob("*.jpg"), key=lambda p: int(p.stem))[::5]  # 39 of 193
    assert len(paths) >= 30
    marked = found = cells_cut = called = called_field = 0
    for path in paths:
        rgb = decode(path)
        cells = segment_field(rgb)
        points = np.loadtxt(CHULA / "points" / f"{path.stem}.txt", ndmin=2)[:, :2]
        n, k = _inner_found(cells, points, rgb.shape)
        marked, found = marked + n, found + k
        batch = np.stack([prepare(c.crop, classifier.input_size) for c in cells])
        p = classifier.predict(batch)
        called += int((p >= classifier.threshold).sum())
        called_field += int((p >= classifier.field_threshold).sum())
        cells_cut += len(cells)
    # All fields, bundled model: 90.1% found, 1.39% called Parasitized at its threshold 0.56
    # (none is infected); these 39 fields: 90.4% (2,358 of 2,608) and 1.65% (52 of 3,143 cells).
    assert found >= 0.85 * marked, (found, marked)
    assert called <= 0.025 * cells_cut, (called, cells_cut)
    # Fields are counted at the card's field threshold (0.65; tools/field_threshold.py): all fields
    # 0.78%, these 39 1.02% (32 of 3,143). The issue's target for other labs' fields is <= 1.0%.
    assert classifier.field_threshold > classifier.threshold
    assert called_field <= 0.012 * cells_cut, (called_field, cells_cut)


@pytest.mark.skipif(not (CHULA / "images").is_dir(), reason=f"Chula-RBC-12 fields not found at {CHULA}")
def test_chula_fields_under_a_lamp_far_off_centre_keep_their_cells_found():
    # Real fields lit from one corner (the far side at under half the light, as an off-centre
    # lamp leaves it): the dim side's cells must still be found. Before the background was
    # fitted a second time, these five fields' found cells fell from 476 to 406 of 513 marked
    # (92.8% -> 79.1%); now to 464 (90.4%).
    from malaria_gui.engine.decoding import decode
    from malaria_gui.engine.fields import segment_field
    from tools.eval_chula import judge

    lit = unlit = marked = 0
    for number in (1, 13, 40, 241, 254):
        rgb = decode(CHULA / "images" / f"{number}.jpg")
        points = np.loadtxt(CHULA / "points" / f"{number}.txt", ndmin=2)[:, :2]
        h, w = rgb.shape[:2]
        yy, xx = np.mgrid[0:h, 0:w]
        light = np.clip(1.05 - 0.45 * ((xx - 0.25 * w) ** 2 + (yy - 0.3 * h) ** 2) / (0.75 * w) ** 2, 0.45, 1.1)
        dim = np.clip(rgb * light[..., None], 0, 255).astype(np.uint8)
        unlit += int((judge(segment_field(rgb), points)["outcome"] == "found").sum())
        lit += int((judge(segment_field(dim), points)["outcome"] == "found").sum())
        marked += len(points)
    assert lit >= unlit - 0.05 * marked, (lit, unlit, marked)


@pytest.mark.skipif(not MPIDB.is_dir(), reason=f"MP-IDB crops not found at {MPIDB}")
def test_mpidb_infected_cells_are_mostly_caught():
    from malaria_gui.engine.discovery import find_images
    from malaria_gui.engine.model import load_classifier
    from malaria_gui.engine.scorer import score_all

    classifier = load_classifier(BUNDLED_MODEL)
    results = score_all(find_images([MPIDB]), classifier, batch_size=256)
    scored = [r.p_parasitized for r in results if r.ok]
    assert len(scored) >= 1000
    # All 1,016, bundled model at its threshold: 81.8% caught.
    assert np.mean(np.array(scored) >= classifier.threshold) >= 0.75
    # At the field threshold 0.65: 72.9% (the field threshold keeps at least 70% by its rule).
    assert np.mean(np.array(scored) >= classifier.field_threshold) >= 0.68
