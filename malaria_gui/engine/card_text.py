"""A model card in words for technicians: what the model is for, how well it did, its limits.

The card JSON speaks to developers (architecture, folded batch normalisation...). The card
view opens with these plain sections and keeps the technical card below them. Qt-free: the
window, a report or the terminal can show the same text. Figures come from the card only;
a card without test figures says so instead of inventing any.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

INTENDED_USE = (
    "A screening aid for Giemsa-stained thin blood smears: it looks at one red blood cell at a "
    "time and gives the probability that the cell holds a malaria parasite. A trained person "
    "confirms every positive and makes the diagnosis."
)
OTHER_LABS = (
    "Other labs, microscopes, cameras, stains and species: check a labelled sample first "
    "(folders named Parasitized and Uninfected, scored with `malaria-gui classify`), or adapt "
    "the model to your lab before relying on it."
)
LIMITS = (
    "It judges single cell images only. A whole field, a montage or an empty picture gets a "
    "warning: read fields with `malaria-gui smear`.",
    "It was not tested on thick smears, other stains, white cells, platelets or species other "
    "than the one it was trained on.",
    "It says Parasitized or Uninfected per cell; it does not name the species or the stage.",
    "Some cells in the public training data are known to carry wrong labels, so no figure is exact.",
)


def _per_100(part: int, whole: int) -> int:
    return round(100 * part / whole) if whole else 0


def _get(card: Mapping[str, Any], *keys: str) -> Any:
    value: Any = card
    for key in keys:
        if not isinstance(value, Mapping) or key not in value:
            return None
        value = value[key]
    return value


def trained_on(card: Mapping[str, Any]) -> str:
    """Where the training cells came from, in one sentence."""
    source = _get(card, "data", "source")
    patients = _get(card, "data", "patients")
    if source is None:
        return "Its card does not say which cells it was trained on."
    who = f", {patients:,} patients" if isinstance(patients, int) else ""
    species = "P. falciparum " if "NIH" in str(source) else ""
    return f"Trained on {species}cells from one lab: {source}{who}."


def figures_in_words(card: Mapping[str, Any]) -> list[str]:
    """The held-out test figures as sentences ("it found 96 of every 100 infected cells...")."""
    test = _get(card, "metrics", "test_patients")
    confusion = _get(test or {}, "confusion")
    if not test or not confusion:
        return ["This model's card records no test on held-out patients: check it on a labelled sample "
                "of your own cells before use."]
    (found, missed), (false_alarms, cleared) = confusion
    infected, uninfected = found + missed, false_alarms + cleared
    patients = _get(card, "data", "sets", "test", "patients")
    on = f"On {test.get('n', infected + uninfected):,} cells"
    on += f" from {patients} patients it never saw" if patients else " it never saw"
    lines = [
        f"{on}, it found {_per_100(found, infected)} of every 100 infected cells ({found:,} of {infected:,}) "
        f"and wrongly called {_per_100(false_alarms, uninfected)} of every 100 uninfected cells infected "
        f"({false_alarms:,} of {uninfected:,}).",
    ]
    if found + false_alarms:
        lines.append(f"When it says Parasitized it is right {_per_100(found, found + false_alarms)} times in 100 "
                     "(on that test set, where about half the cells were infected; with fewer infected cells, "
                     "more of its positives are false alarms).")
    shifted = _get(card, "metrics", "test_patients_colour_shifted", "confusion")
    if shifted:
        (s_found, s_missed), _ = shifted
        lines.append(f"With the stain colours changed (paler, darker, bluer, washed out), it still found "
                     f"{_per_100(s_found, s_found + s_missed)} of every 100 infected cells.")
    lines += other_labs_in_words(card)
    return lines


def other_labs_in_words(card: Mapping[str, Any]) -> list[str]:
    """The other labs' figures (training/other_labs.py), when the card has them."""
    infected = _get(card, "metrics", "other_labs", "mpidb_infected")
    uninfected = _get(card, "metrics", "other_labs", "chula_uninfected")
    lines = []
    if infected:
        caught, cells = infected["caught"], infected["cells"]
        lines.append(f"On another lab's infected cells (MP-IDB, Italy; mostly early rings) it found "
                     f"{_per_100(caught, cells)} of every 100 ({caught:,} of {cells:,}).")
    if uninfected:
        called, cells = uninfected["called_parasitized"], uninfected["cells"]
        share = 100 * called / cells if cells else 0.0
        lines.append(f"On another lab's uninfected cells (Chula-RBC-12, Thailand; cut from whole fields by this "
                     f"program) it wrongly called {share:.1f} of every 100 infected ({called:,} of {cells:,}).")
    return lines


def threshold_in_words(card: Mapping[str, Any]) -> str:
    threshold = card.get("threshold")
    if threshold is None:
        return "Its card sets no threshold: the app uses 0.5."
    chosen = " (chosen on validation patients)" if card.get("threshold_rule") else ""
    return (f"A cell counts as Parasitized when its P(Parasitized) is {float(threshold)!r} or more{chosen}. "
            "A lower threshold misses fewer infected cells and raises "
            "more false alarms; a higher one the reverse.")


def technical_lines(card: Mapping[str, Any], prefix: str = "") -> list[str]:
    """The card itself, flattened to ``key: value`` lines (long lists shortened)."""
    lines = []
    for key, value in card.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            lines += technical_lines(value, f"{name}.")
        elif isinstance(value, list) and len(value) > 8:
            lines.append(f"{name}: [{len(value)} values]")
        else:
            lines.append(f"{name}: {value}")
    return lines


def card_sections(card: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(heading, text) pairs in reading order: use, figures, limits, then the technical card."""
    title = f"{card.get('name', 'model')} (version {card.get('version', 'unversioned')})"
    return [
        ("What it is for", f"{title}\n{INTENDED_USE}\n{trained_on(card)}\n{OTHER_LABS}"),
        ("How well it did", "\n".join(figures_in_words(card)) + "\n" + threshold_in_words(card)),
        ("Limits", "\n".join(f"- {line}" for line in LIMITS)),
        ("Technical card", "\n".join(technical_lines(card))),
    ]


def card_text(card: Mapping[str, Any]) -> str:
    """The whole card view as plain text (headings underlined)."""
    return "\n\n".join(f"{head}\n{'-' * len(head)}\n{body}" for head, body in card_sections(card))
