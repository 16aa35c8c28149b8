"""Re-measure a trained model on its card's test patients, from the original files.

The GPU run trains on a WebP-90 copy of the cells (all that fits in its upload); this
scores the lossless originals of the same held-out patients, through the same evaluation,
measures the other labs' sets beside them (other_labs.py), and can write the figures back
into the card:

    python -m malaria_gui.training.evaluate models/malaria_cnn.keras ../shared/data/nih_malaria_cells_128 --write-card
"""

from __future__ import annotations

import argparse
import json

from malaria_gui.engine.metrics import format_metrics
from malaria_gui.engine.model import load_classifier
from malaria_gui.engine.plots import draw_confusion, save_figure
from malaria_gui.resources import card_path_for
from malaria_gui.training.data import card_split, load_pixels, read_table
from malaria_gui.training.other_labs import default_root, format_other_labs
from malaria_gui.training.train import (THRESHOLD_RULE, card_metrics, evaluate, measure_other_labs,
                                        validation_threshold)


def evaluate_on_card_split(model_path, data_dir, other_labs=None, rethreshold: bool = False) -> dict:
    """The card's test patients (and other labs) at the card's threshold, or at one chosen
    again by today's rule (``train.validation_threshold``) on the card's validation patients."""
    classifier = load_classifier(model_path)
    card = classifier.card
    table = read_table(data_dir)
    size, threshold = classifier.input_size, classifier.threshold
    if rethreshold:
        val = card_split(table, card, "validation")
        threshold = validation_threshold(classifier.model, load_pixels(table.paths[val]), table.labels[val], size)
    test = card_split(table, card, "test")
    images = load_pixels(table.paths[test])
    result = evaluate(classifier.model, images, table.labels[test], size, threshold)
    result["other_labs"] = measure_other_labs(classifier.model, size, threshold, other_labs or default_root(data_dir))
    result["threshold"] = threshold
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("data_dir")
    parser.add_argument("--other-labs", help="folder holding mpidb_pf_crops/ and chula_rbc12_fields/ "
                                             "(default: beside data_dir)")
    parser.add_argument("--rethreshold", action="store_true",
                        help="choose the threshold again by the current rule on the card's validation patients")
    parser.add_argument("--write-card", action="store_true", help="store the figures (and threshold) in the model card")
    args = parser.parse_args(argv)
    result = evaluate_on_card_split(args.model, args.data_dir, args.other_labs, args.rethreshold)
    print(f"threshold {result['threshold']!r}" + (" (chosen again on the validation patients)" if args.rethreshold else ""))
    print("test patients (original files):\n" + format_metrics(result["clean"]))
    print("colour/framing-shifted copy:\n" + format_metrics(result["shifted"]))
    for name, m in result["per_shift"].items():
        print(f"  {name:<32} accuracy {100 * m['accuracy']:.1f}%  AUC {m['roc_auc']:.4f}")
    print("other labs (never trained on), same threshold:\n" + format_other_labs(result["other_labs"]))
    if args.write_card:
        path = card_path_for(args.model)
        card = json.loads(path.read_text(encoding="utf-8"))
        metrics = card["metrics"]
        if "data" not in metrics:  # trained on a lossy copy: keep what training measured there
            metrics["training_copy"] = {k: metrics.pop(k) for k in list(metrics)}
            metrics["data"] = "original lossless files of the test patients (data.test_patient_ids)"
        if args.rethreshold:
            card["threshold"], card["threshold_rule"] = result["threshold"], THRESHOLD_RULE
        metrics.update(card_metrics(result))
        path.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
        clean = result["clean"]
        plot = path.parent / card.get("plots", {}).get("confusion_matrix", "confusion_matrix.png")
        save_figure(plot, lambda f: draw_confusion(
            f.subplots(), clean, f"Test patients ({clean.n} cells), threshold {clean.threshold:.2f}"))
        print(f"updated {path} and {plot.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
