"""Describe a model's training cells for the out-of-distribution check, and show the rule's
calibration: the median-distance ratio of NIH test patients (clean and colour-shifted, which
must stay quiet) and of strongly shifted and other-lab cells (which should fire).

    python tools/ood_card.py [models/malaria_cnn.keras] [--data ../shared/data/nih_malaria_cells_128]
                             [--other ../shared/data/mpidb_pf_crops] [--write-card]

The description is computed from the card's *training* patients (neither test nor
validation ids); ``--write-card`` adds it to the card under ``ood`` (nothing else changes).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

import malaria_gui  # noqa: E402,F401


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default=str(REPO / "models" / "malaria_cnn.keras"))
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "nih_malaria_cells_128"))
    parser.add_argument("--other", default=str(REPO.parent / "shared" / "data" / "mpidb_pf_crops"))
    parser.add_argument("--sample", type=int, default=512, help="cells per checked set (as a run's check uses)")
    parser.add_argument("--write-card", action="store_true")
    args = parser.parse_args()

    from malaria_gui.engine import ood
    from malaria_gui.engine.discovery import find_images
    from malaria_gui.engine.model import load_classifier
    from malaria_gui.engine.preprocess import preprocess_batch
    from malaria_gui.engine.scorer import load_for_model
    from malaria_gui.resources import card_path_for
    from malaria_gui.training.augment import other_lab_shift, shifted_copy
    from malaria_gui.training.data import load_pixels, read_table

    clf = load_classifier(args.model)
    size = clf.input_size
    card = clf.card
    table = read_table(args.data)
    held = set(card["data"]["test_patient_ids"]) | set(card["data"]["validation_patient_ids"])
    train = np.flatnonzero(~np.isin(table.patients, sorted(held)))
    images = load_pixels(table.paths[train])
    desc = ood.describe(clf.model, preprocess_batch(list(images), size))
    print(f"described {len(train)} cells of {len(set(table.patients[train]))} training patients")

    def say(name, check) -> None:
        print(f"  {name:<44} colour ratio {check.colour_ratio:6.2f} (warns > {check.colour_factor:g})  "
              f"feature ratio {check.feature_ratio:5.2f} (warns > {check.feature_factor:g})  warns: {check.unlike}")

    rng = np.random.default_rng(0)
    test = np.flatnonzero(np.isin(table.patients, card["data"]["test_patient_ids"]))
    test = rng.choice(test, args.sample, replace=False)
    test_images = load_pixels(table.paths[test])
    sets = {
        "NIH test patients": test_images,
        "NIH test patients, colour-shifted copy": shifted_copy(test_images)[0],
        "NIH test patients, other_lab_shift": np.stack([other_lab_shift(im) for im in test_images]),
    }
    for name, images_ in sets.items():
        say(name, ood.compare(desc, preprocess_batch(list(images_), size), clf.model))
    other = find_images([args.other])
    if other:
        pick = rng.choice(len(other), min(args.sample, len(other)), replace=False)
        batch = np.stack([load_for_model(other[i].path, size) for i in pick])
        say(f"other lab ({Path(args.other).name})", ood.compare(desc, batch, clf.model))
    if args.write_card:
        path = card_path_for(args.model)
        data = json.loads(path.read_text(encoding="utf-8"))
        data[ood.OOD_KEY] = desc
        path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        print(f"added '{ood.OOD_KEY}' to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
