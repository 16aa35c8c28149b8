"""Batch scoring: one result per file in order, broken files cost one row, cancel stops cleanly."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from cells import synthetic_cell, write_rgb
from malaria_gui.engine.discovery import ImageItem, find_images
from malaria_gui.engine.labels import PARASITIZED
from malaria_gui.engine.scorer import load_for_model, score, score_all


def _worker_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(("score-producer", "decode"))]


@pytest.fixture(autouse=True)
def no_threads_left_behind():
    before = set(_worker_threads())
    yield
    assert set(_worker_threads()) <= before, "a scoring thread outlived its generator"


@pytest.fixture
def mixed_files(tmp_path) -> list[ImageItem]:
    """Ten good cells with four broken files mixed in (and a first batch that is all broken)."""
    rng = np.random.default_rng(3)
    items: list[ImageItem] = []
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("hello")
    items += [ImageItem(tmp_path / "empty.png"), ImageItem(tmp_path / "text.png")]
    for i in range(10):
        items.append(ImageItem(write_rgb(tmp_path / f"cell_{i:02}.png", synthetic_cell(rng, i % 2 == 0, 60 + i)), PARASITIZED))
        if i == 4:
            items.append(ImageItem(tmp_path / "missing.png"))
        if i == 7:
            (tmp_path / "dir.png").mkdir()
            items.append(ImageItem(tmp_path / "dir.png"))
    return items


def test_every_input_gets_one_result_in_input_order(mixed_files, tiny_classifier):
    results = score_all(mixed_files, tiny_classifier, batch_size=3)
    assert [r.path for r in results] == [i.path for i in mixed_files]
    assert [r.truth for r in results] == [i.truth for i in mixed_files]
    failed = {r.path.name: r.error for r in results if not r.ok}
    assert set(failed) == {"empty.png", "text.png", "missing.png", "dir.png"}
    assert "empty" in failed["empty.png"] and "folder" in failed["dir.png"]
    for r in results:
        assert (r.p_parasitized is None) == (r.error is not None)
        assert r.ok or r.prediction(0.5) is None


def test_probabilities_match_the_model_on_the_same_pixels(mixed_files, tiny_classifier):
    """Batching and threading must not mix up which probability belongs to which file."""
    good = [i for i in mixed_files if i.path.name.startswith("cell")]
    results = score_all(mixed_files, tiny_classifier, batch_size=4, decode_workers=3)
    by_path = {r.path: r.p_parasitized for r in results}
    direct = tiny_classifier.predict(np.stack([load_for_model(i.path, 32) for i in good]))
    np.testing.assert_allclose([by_path[i.path] for i in good], direct, atol=1e-5)


def test_progress_counts_increase_to_the_total(mixed_files, tiny_classifier):
    calls: list[tuple[int, int | None]] = []
    score_all(mixed_files, tiny_classifier, batch_size=4, progress=lambda d, t: calls.append((d, t)))
    done = [d for d, _ in calls]
    assert done == sorted(set(done)) and done[-1] == len(mixed_files)
    assert {t for _, t in calls} == {len(mixed_files)}
    assert len(calls) == 4  # 14 files in batches of 4


def test_progress_total_is_none_for_a_stream(mixed_files, tiny_classifier):
    calls = []
    results = score_all(iter(mixed_files), tiny_classifier, batch_size=5, progress=lambda d, t: calls.append((d, t)))
    assert len(results) == len(mixed_files)
    assert calls[-1] == (len(mixed_files), None)


def test_cancel_from_progress_stops_early_and_keeps_results(tmp_path, tiny_classifier):
    rng = np.random.default_rng(0)
    cell = write_rgb(tmp_path / "c.png", synthetic_cell(rng, True, 40))
    items = [ImageItem(cell)] * 40
    cancel = threading.Event()
    seen: list[int] = []

    def progress(done: int, total: int | None) -> None:
        seen.append(done)
        cancel.set()  # the user pressed Stop after the first batch

    chunks = list(score(items, tiny_classifier, batch_size=4, prefetch=1, progress=progress, cancel=cancel))
    assert seen == [4]
    assert len(chunks) == 1 and len(chunks[0]) == 4
    assert all(r.ok for r in chunks[0])
    assert not _worker_threads()


def test_cancel_before_start_scores_nothing(mixed_files, tiny_classifier):
    cancel = threading.Event()
    cancel.set()
    assert score_all(mixed_files, tiny_classifier, cancel=cancel) == []


def test_closing_the_generator_early_joins_its_threads(tmp_path, tiny_classifier):
    """A consumer that stops reading (a closed window) must not leave decoders running."""
    cell = write_rgb(tmp_path / "c.png", synthetic_cell(np.random.default_rng(0), False, 40))
    gen = score([ImageItem(cell)] * 60, tiny_classifier, batch_size=2, prefetch=1)
    first = next(gen)
    assert len(first) == 2
    assert any(name == "score-producer" for name in _worker_threads())
    gen.close()
    assert not _worker_threads()


def test_prefetch_bounds_how_far_decoding_runs_ahead(tmp_path, tiny_classifier, monkeypatch):
    """Memory stays flat: while the consumer holds a batch, decoding stops a fixed distance ahead."""
    import queue
    import types

    from malaria_gui.engine import scorer

    blocked = threading.Event()

    class WatchedQueue(queue.Queue):
        def put(self, item, block=True, timeout=None):
            try:
                super().put(item, block, timeout)
            except queue.Full:
                blocked.set()  # the producer is waiting for room: it has stopped decoding
                raise

    monkeypatch.setattr(scorer, "queue", types.SimpleNamespace(Queue=WatchedQueue, Full=queue.Full, Empty=queue.Empty))
    cell = write_rgb(tmp_path / "c.png", synthetic_cell(np.random.default_rng(0), False, 40))
    decoded: list[Path] = []
    real = scorer.load_checked
    monkeypatch.setattr(scorer, "load_checked", lambda path, size: decoded.append(path) or real(path, size))

    gen = score([ImageItem(cell)] * 200, tiny_classifier, batch_size=2, prefetch=1, decode_workers=1)
    next(gen)  # the consumer now holds batch 1 and reads no further
    assert blocked.wait(timeout=60), "the producer never filled the queue"
    # Batch 1 (held), batch 2 (queued) and batch 3 (waiting for room): 6 of 200 files decoded.
    assert len(decoded) == 6
    gen.close()


def test_decoder_failure_of_any_kind_costs_one_file(tmp_path, tiny_classifier, monkeypatch):
    from malaria_gui.engine import scorer

    good = write_rgb(tmp_path / "a.png", synthetic_cell(np.random.default_rng(0), True, 40))
    bad = write_rgb(tmp_path / "b.png", synthetic_cell(np.random.default_rng(1), True, 40))
    real = scorer.load_checked

    def flaky(path, size):
        if path == bad:
            raise RuntimeError("decoder bug")
        return real(path, size)

    monkeypatch.setattr(scorer, "load_checked", flaky)
    results = score_all([ImageItem(good), ImageItem(bad), ImageItem(good)], tiny_classifier)
    assert [r.ok for r in results] == [True, False, True]
    assert "decoder bug" in results[1].error


def test_empty_input(tiny_classifier):
    assert score_all([], tiny_classifier) == []


def test_labelled_folder_end_to_end(labelled_folder, tiny_classifier):
    items = find_images([labelled_folder])
    results = score_all(items, tiny_classifier)
    assert len(results) == 12 and all(r.ok for r in results)
    assert sorted(r.truth for r in results) == ["Parasitized"] * 6 + ["Uninfected"] * 6


def test_batch_hook_sees_each_readable_file_s_pixels_beside_its_result(mixed_files, tiny_classifier):
    """The window makes thumbnails from the hook's pixels: pixels[k] must be results[good[k]]'s."""
    seen = []

    def hook(pixels, good, results):
        assert len(pixels) == len(good)
        for k, i in enumerate(good):
            assert results[i].ok
            expected = load_for_model(results[i].path, tiny_classifier.input_size)
            seen.append((results[i].path.name, np.array_equal(pixels[k], expected)))
        assert all(not results[i].ok for i in set(range(len(results))) - set(good))

    results = [r for chunk in score(mixed_files, tiny_classifier, batch_size=4, on_batch=hook) for r in chunk]
    assert sorted(name for name, _ in seen) == sorted(r.path.name for r in results if r.ok)
    assert all(same for _, same in seen)
