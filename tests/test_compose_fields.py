"""The composed-field tools' pure logic on synthetic inputs: pasting keeps each truth point on
its pasted object and off what was there, colour matching moves a cell to the field's colours,
and the scorer's counting gives the known answers of a tiny hand-made field."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from malaria_gui.engine.field_labels import NOT_A_CELL, FieldCellLabel
from tools.compose_fields import Piece, free_place, inner_point, lab_stats, mark, paste, reinhard, scale_bar, soft_edged
from tools.eval_fields import Obj, summary, tally


def _disc(size: int, r: float) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size]
    return np.hypot(xx - (size - 1) / 2, yy - (size - 1) / 2) <= r


def test_pasted_pieces_land_in_gaps_with_their_points_on_them():
    rng = np.random.default_rng(0)
    field = np.full((120, 160, 3), 220.0, np.float32)
    occupied = np.zeros((120, 160), bool)
    occupied[:, :90] = True  # the left part is taken by cells
    for _ in range(3):
        mask = _disc(21, 9.5)
        rgb = np.zeros((21, 21, 3), np.float32)
        rgb[mask] = (120, 60, 140)
        x, y = inner_point(mask)
        piece = Piece(rgb, mask, "blend", [(x, y, "Parasitized", "pasted_infected")])
        spot = free_place(occupied, mask, rng)
        assert spot is not None
        before = occupied.copy()
        points = paste(field, piece, spot[0], spot[1], 1.5)
        placed = np.zeros_like(occupied)
        placed[spot[1]:spot[1] + 21, spot[0]:spot[0] + 21] = mask
        assert not (placed & before).any()  # no overlap with what was there
        (px, py, truth, kind), = points
        assert placed[int(py), int(px)] and truth == "Parasitized"
        assert np.allclose(field[int(py), int(px)], (120, 60, 140), atol=1)  # the piece's colour is there
        mark(occupied, mask, *spot)
    assert np.allclose(field[:, :80], 220.0)  # nothing was pasted over the taken part


def test_a_pasted_cell_keeps_its_size_its_edge_half_way_blended_at_its_own_edge():
    # Feathered inside its mask, a pasted cell was found ~9% smaller in radius than the field's
    # own cells and a parasite at its rim faded; the soft edge must sit on the cell's edge.
    mask = _disc(41, 18.0)
    rgb = np.zeros((41, 41, 3), np.float32)
    rgb[mask] = (150, 110, 160)
    width = 3.0
    grown_rgb, grown = soft_edged(rgb, mask, width)
    pad = (grown.shape[0] - 41) // 2
    assert grown[pad:pad + 41, pad:pad + 41][mask].all() and grown.sum() > mask.sum()
    field = np.full((60, 60, 3), 230.0, np.float32)
    paste(field, Piece(grown_rgb, grown, "blend"), 5, 5, width)
    row = field[5 + pad + 20, 5 + pad:5 + pad + 41, 0]  # through the centre, across the cell
    alpha = (230 - row) / (230 - 150)  # 1: the cell's colour, 0: the background
    assert abs(alpha[20] - 1) < 0.01 and abs(alpha[4] - 1) < 0.01  # inside, a few pixels in: the cell
    left = 2  # the cell's first pixel along this row; the pixel before it is outside the cell
    assert 0.4 < alpha[left] < 0.9 and 0.1 < alpha[left - 1] < 0.45  # half-way falls on its edge
    field_before = np.full((60, 60, 3), 230.0, np.float32)  # the old paste: faded a pixel inside
    paste(field_before, Piece(rgb, mask, "blend"), 5, 5, width)
    assert (230 - field_before[25, 5 + left + 1, 0]) / 80 < alpha[left + 1] - 0.2


def test_no_place_when_the_field_is_full():
    assert free_place(np.ones((50, 50), bool), _disc(11, 5), np.random.default_rng(0)) is None


def test_multiplied_pieces_darken_overlaps_like_two_layers():
    field = np.full((40, 40, 3), 200.0, np.float32)
    mask = np.ones((10, 10), bool)
    half = np.full((10, 10, 3), 127.5, np.float32)  # transmittance 0.5
    paste(field, Piece(half, mask, "multiply"), 5, 5, 0.01)
    paste(field, Piece(half, mask, "multiply"), 10, 10, 0.01)
    assert abs(field[7, 7, 0] - 100) < 2 and abs(field[12, 12, 0] - 50) < 2  # one layer, two layers


def test_reinhard_moves_the_cell_to_the_fields_colours_and_keeps_its_parasite_darker():
    rng = np.random.default_rng(1)
    mask = _disc(41, 19)
    cell = np.zeros((41, 41, 3), np.float32)
    cell[mask] = (90, 120, 200) + rng.normal(0, 4, (int(mask.sum()), 3))
    parasite = _disc(41, 4) & mask
    cell[parasite] = (40, 20, 90)
    target = np.zeros((41, 41, 3), np.uint8)
    target[mask] = (200, 140, 160)
    t_mean, t_std = lab_stats(target, mask)
    out = reinhard(cell, mask, t_mean, t_std + 3.0)
    body = mask & ~parasite
    got_mean, _ = lab_stats(out.astype(np.uint8), body)
    assert np.abs(got_mean - t_mean).max() < 6
    assert out[parasite].mean() < out[body].mean() - 20  # the parasite still stands out


def test_scale_bar_points_lie_on_the_burnt_in_marks():
    img = np.full((480, 640, 3), 230, np.uint8)
    objects = scale_bar(img, 18.0, np.random.default_rng(3))
    kinds = [o[3] for o in objects]
    assert kinds[0] == "scale_bar" and kinds.count("text") >= 4  # "10 um" or "50 um": 4 glyphs
    for x, y, truth, kind, (bx, by, bw, bh) in objects:
        assert truth == NOT_A_CELL
        assert bx <= x < bx + bw and by <= y < by + bh
        assert (img[int(y), int(x)] != 230).any()


def _cell(x, y, size, p):
    return Obj(x, y, size, size, _disc(size, size / 2 - 0.5), p)


def test_counting_on_a_tiny_field_gives_the_known_answers():
    cells = [_cell(0, 0, 20, 0.1), _cell(30, 0, 20, 0.9), _cell(60, 0, 20, 0.7), _cell(90, 0, 20, 0.8),
             _cell(120, 0, 20, 0.2)]
    img = Path("f.jpg")
    labels = [
        FieldCellLabel(img, 10, 10, "Uninfected"),  # found, not called
        FieldCellLabel(img, 40, 10, "Parasitized"),  # found and called
        FieldCellLabel(img, 66, 10, "Uninfected"),  # two red points in one cell: a clump cut as one
        FieldCellLabel(img, 74, 10, "Uninfected"),
        FieldCellLabel(img, 100, 10, NOT_A_CELL),  # a white cell counted (and called)
        FieldCellLabel(img, 200, 50, "Uninfected"),  # missed: in no found cell
    ]
    kinds = [("red", None), ("pasted_infected", None), ("clump_member", None), ("clump_member", None),
             ("white_cell", (90, 0, 20, 20)), ("red", None)]
    t = tally(img, cells, labels, kinds, 0.5)
    assert (t.red, t.red_found, t.infected, t.infected_called) == (5, 2, 1, 1)
    assert (t.uninfected_found, t.uninfected_called) == (1, 0)
    assert (t.counted, t.called) == (5, 3)
    assert t.false_kinds == {"clump cut as one (2+ red cells)": 1, "white_cell": 1, "unmarked": 1}
    assert t.false_called["white_cell"] == 1 and t.false_called["unmarked"] == 0
    assert t.cell_truth == {0: "Uninfected", 1: "Parasitized", 2: NOT_A_CELL, 3: NOT_A_CELL}
    text = "\n".join(summary([t], 0.5))
    assert "red cells found (a truth point alone in one found cell): 40.0% (2/5)" in text
    assert "estimated 60.00% vs true 20.00% (ratio 3.00)" in text
    assert "mean absolute 40.00 points" in text


def test_a_box_of_a_non_red_object_names_what_a_found_cell_without_a_point_is():
    cells = [_cell(0, 0, 20, 0.9)]
    t = tally(Path("f.jpg"), cells, [FieldCellLabel(Path("f.jpg"), 50, 50, NOT_A_CELL)],
              [("text", (0, 0, 30, 30))], 0.5)
    assert t.false_kinds == {"text": 1} and t.false_called == {"text": 1}
