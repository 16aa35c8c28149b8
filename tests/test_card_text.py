"""The model card in plain words: intended use first, figures as a technician reads them."""

from __future__ import annotations

import json

from cells import REPO
from malaria_gui.engine.card_text import card_sections, card_text


def _bundled_card() -> dict:
    return json.loads((REPO / "models" / "malaria_cnn.card.json").read_text())


def test_bundled_card_opens_with_intended_use_then_figures_limits_and_the_technical_card():
    sections = card_sections(_bundled_card())
    assert [head for head, _ in sections] == ["What it is for", "How well it did", "Limits", "Technical card"]
    use = sections[0][1]
    assert "screening aid" in use and "Giemsa" in use and "thin blood smears" in use
    assert "P. falciparum" in use and "one lab" in use and "check a labelled sample" in use and "adapt" in use
    # Developer words only in the technical card, at the end.
    text = card_text(_bundled_card())
    assert text.index("batch normalisation") > text.index("Technical card")


def test_figures_are_the_cards_own_test_figures_in_plain_words():
    card = _bundled_card()
    figures = card_sections(card)[1][1]
    (found, missed), (false_alarms, cleared) = card["metrics"]["test_patients"]["confusion"]
    n, patients = card["metrics"]["test_patients"]["n"], card["data"]["sets"]["test"]["patients"]
    assert f"On {n:,} cells from {patients} patients it never saw" in figures
    assert f"it found {round(100 * found / (found + missed))} of every 100 infected cells" in figures
    assert f"({false_alarms:,} of {false_alarms + cleared:,})" in figures
    assert repr(card["threshold"]) in figures


def test_a_card_without_test_figures_says_so_instead_of_inventing_any():
    figures = card_sections({"name": "mine", "version": "1", "threshold": 0.5})[1][1]
    assert "records no test" in figures and "of every 100" not in figures


def test_other_labs_figures_are_said_when_the_card_has_them():
    card = {"threshold": 0.7, "metrics": {"test_patients": {"n": 10, "confusion": [[4, 1], [1, 4]]},
                                          "other_labs": {"mpidb_infected": {"cells": 1016, "caught": 823},
                                                         "chula_uninfected": {"cells": 15674, "called_parasitized": 290}}}}
    figures = card_sections(card)[1][1]
    assert "another lab's infected cells (MP-IDB" in figures and "found 81 of every 100 (823 of 1,016)" in figures
    assert "wrongly called 1.9 of every 100 infected (290 of 15,674)" in figures
    del card["metrics"]["other_labs"]
    assert "another lab" not in card_sections(card)[1][1]
