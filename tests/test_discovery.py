"""Finding images: what a user drops (files, nested folders) becomes one stable, labelled list."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from cells import write_rgb
from malaria_gui.engine.discovery import find_images, is_labelled, iter_images
from malaria_gui.engine.labels import CLASS_NAMES, PARASITIZED, UNINFECTED, class_index, label_for_folder

PIXELS = np.full((8, 8, 3), 200, np.uint8)


def _touch_image(path: Path) -> Path:
    return write_rgb(path, PIXELS)


def _names(items, root: Path) -> list[str]:
    return [item.path.relative_to(root).as_posix() for item in items]


def test_class_convention_parasitized_is_zero():
    assert CLASS_NAMES == ("Parasitized", "Uninfected")
    assert class_index(PARASITIZED) == 0 and class_index(UNINFECTED) == 1


@pytest.mark.parametrize(
    "name, label",
    [
        ("Parasitized", PARASITIZED),
        ("PARASITIZED", PARASITIZED),
        ("parasitised", PARASITIZED),
        ("Infected", PARASITIZED),
        ("positive", PARASITIZED),
        ("Uninfected", UNINFECTED),
        ("healthy", UNINFECTED),
        ("Negative", UNINFECTED),
        ("NORMAL", UNINFECTED),
        ("slides", None),
        ("infected_maybe", None),
        ("Malaria", None),
        ("parasite", None),
        ("clean", None),
        ("pos", None),
        ("neg", None),
    ],
)
def test_folder_names_and_aliases(name, label):
    assert label_for_folder(name) == label


def test_finds_every_image_type_recursively_in_stable_order(tmp_path):
    root = tmp_path / "drop"
    for rel in ["b.PNG", "a.jpg", "C.jpeg", "sub/d.tif", "sub/e.TIFF", "sub/deeper/f.bmp", "g.webp"]:
        _touch_image(root / rel)
    (root / "notes.txt").write_text("not an image")
    (root / "results.csv").write_text("path\n")
    (root / ".hidden.png").write_bytes(b"x")
    _touch_image(root / ".cache" / "h.png")
    _touch_image(root / "sub" / ".thumbs" / "i.png")

    names = _names(find_images([root]), root)
    assert names == ["a.jpg", "b.PNG", "C.jpeg", "g.webp", "sub/d.tif", "sub/e.TIFF", "sub/deeper/f.bmp"]
    # The same tree listed again (fresh generator) gives the same order.
    assert _names(iter_images([root]), root) == names


def test_explicit_files_are_kept_whatever_their_extension_and_order(tmp_path):
    """A file the user names is listed (the decoder then says why it fails), in the given order."""
    b = _touch_image(tmp_path / "b.png")
    a = _touch_image(tmp_path / "a.png")
    txt = tmp_path / "notes.txt"
    txt.write_text("hello")
    missing = tmp_path / "gone.png"
    assert [i.path for i in find_images([b, txt, a, missing])] == [b, txt, a, missing]


def test_duplicates_are_listed_once(tmp_path):
    root = tmp_path / "drop"
    a = _touch_image(root / "Parasitized" / "a.png")
    _touch_image(root / "Uninfected" / "b.png")
    items = find_images([root, root, a, str(a), root / "Parasitized", root / ".." / "drop"])
    assert _names(items, root) == ["Parasitized/a.png", "Uninfected/b.png"]


def test_symlink_loops_are_survived(tmp_path):
    root = tmp_path / "drop"
    _touch_image(root / "sub" / "a.png")
    os.symlink(root, root / "sub" / "loop")  # sub/loop -> drop: an infinite tree if followed blindly
    os.symlink("self", root / "self")  # a link to itself
    items = find_images([root])
    assert [i.path.name for i in items] == ["a.png"]


def test_labels_come_from_class_named_folders(tmp_path):
    root = tmp_path / "slides"
    _touch_image(root / "INFECTED" / "patient1" / "a.png")
    _touch_image(root / "healthy" / "b.png")
    _touch_image(root / "unsorted" / "c.png")
    items = {i.path.name: i.truth for i in find_images([root])}
    assert items == {"a.png": PARASITIZED, "b.png": UNINFECTED, "c.png": None}
    assert is_labelled(find_images([root]))


@pytest.mark.parametrize("name", ["Malaria", "pos", "neg", "clean", "parasite", "normal", "positive", "infected"])
def test_a_lone_project_like_or_loose_folder_name_is_never_truth(tmp_path, name):
    """A mixed folder called Malaria (or a lone 'normal') must not become 'all true Parasitized'."""
    _touch_image(tmp_path / "study" / name / "a.png")
    _touch_image(tmp_path / "study" / "other" / "b.png")
    items = find_images([tmp_path / "study"])
    assert [i.truth for i in items] == [None, None]
    assert find_images([tmp_path / "study" / name])[0].truth is None  # dropped on its own too


@pytest.mark.parametrize("pair", [("positive", "negative"), ("infected", "normal"), ("Infected", "Uninfected"),
                                  ("Parasitized", "healthy")])
def test_loose_names_count_when_the_opposite_class_sits_beside_them(tmp_path, pair):
    for name in pair:
        _touch_image(tmp_path / "set" / name / f"{name}.png")
    items = {i.path.parent.name: i for i in find_images([tmp_path / "set"])}
    assert items[pair[0]].truth == PARASITIZED and items[pair[1]].truth == UNINFECTED
    assert items[pair[0]].truth_folder == pair[0]


def test_loose_names_apart_do_not_count(tmp_path):
    """'Beside' means the same parent folder: positive/ and negative/ in different places do not pair."""
    _touch_image(tmp_path / "set" / "a" / "positive" / "x.png")
    _touch_image(tmp_path / "set" / "b" / "negative" / "y.png")
    assert [i.truth for i in find_images([tmp_path / "set"])] == [None, None]


def test_no_truth_turns_folder_labels_off(tmp_path):
    _touch_image(tmp_path / "set" / "Parasitized" / "a.png")
    assert [i.truth for i in find_images([tmp_path / "set"], truth=False)] == [None]


def test_truth_text_says_where_labels_came_from(tmp_path):
    from malaria_gui.engine.discovery import truth_text

    for i in range(3):
        _touch_image(tmp_path / "set" / "Parasitized" / f"p{i}.png")
    for i in range(2):
        _touch_image(tmp_path / "set" / "healthy" / f"u{i}.png")
    _touch_image(tmp_path / "set" / "Malaria" / "m.png")
    assert truth_text(find_images([tmp_path / "set"])) == "true labels from folder names: healthy/ 2, Parasitized/ 3"
    assert truth_text(find_images([tmp_path / "set" / "Malaria"])).startswith("no true labels")


def test_dropped_class_folder_labels_its_own_images(tmp_path):
    folder = tmp_path / "Parasitized"
    _touch_image(folder / "a.png")
    assert [i.truth for i in find_images([folder])] == [PARASITIZED]


def test_folder_above_the_dropped_one_does_not_label(tmp_path):
    """Only what the user dropped (and below) says the class: a parent named Negative is not evidence."""
    folder = tmp_path / "Negative" / "batch7"
    _touch_image(folder / "a.png")
    items = find_images([folder])
    assert [i.truth for i in items] == [None]
    assert not is_labelled(items)


def test_explicit_file_is_labelled_by_its_own_folder(tmp_path):
    a = _touch_image(tmp_path / "Uninfected" / "a.png")
    b = _touch_image(tmp_path / "Uninfected" / "x" / "b.png")
    assert [i.truth for i in find_images([a, b])] == [UNINFECTED, None]


def test_broken_links_and_odd_files_inside_folders_are_listed_for_a_per_file_error(tmp_path):
    root = tmp_path / "drop"
    _touch_image(root / "a.png")
    os.symlink(root / "nowhere.png", root / "broken.png")
    os.mkfifo(root / "pipe.png")
    assert [i.path.name for i in find_images([root])] == ["a.png", "broken.png", "pipe.png"]


def test_empty_or_imageless_folder_finds_nothing(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    assert find_images([tmp_path]) == []
