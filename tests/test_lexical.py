"""The segmented BM25 (rag/lexical.py) scores exactly as a fresh bm25s index over the same live chunks,
after any sequence of additions, removals, new versions, merges and rebuilds."""

from __future__ import annotations

import random

import bm25s
import numpy as np
import pytest

from rag.lexical import MAX_SEGMENTS, LexicalIndex

pytestmark = pytest.mark.unit

VOCAB = [f"w{i}" for i in range(300)]


def _article(rng: random.Random, key: str) -> tuple[str, list[str], list[list[str]]]:
    n = rng.randint(1, 6)
    ids = [f"{key}::{i}" for i in range(n)]
    # Zipf-like: a few words in most chunks, many rare ones; repeats inside a chunk
    tokens = [[VOCAB[min(int(rng.paretovariate(1.2)) - 1, len(VOCAB) - 1)] for _ in range(rng.randint(1, 40))]
              for _ in ids]
    return key, ids, tokens


def _expected(live: dict[str, tuple[str, list[str], list[list[str]]]], query: list[str]):
    order = [cid for _, ids, _ in live.values() for cid in ids]
    corpus = [t for _, _, tokens in live.values() for t in tokens]
    reference = bm25s.BM25()
    reference.index(corpus, show_progress=False)
    known = [t for t in query if t in reference.vocab_dict]
    return order, (reference.get_scores(known) if known else None)


def _check(index: LexicalIndex, live: dict, rng: random.Random) -> None:
    for _ in range(15):
        query = rng.sample(VOCAB[:60], rng.randint(1, 4)) + (["absent"] if rng.random() < 0.2 else [])
        if rng.random() < 0.3:
            query.append(query[0])  # a repeated query word counts twice, as in bm25s
        order, expected = _expected(live, query)
        got = index.scores(query, len(order))
        if expected is None:
            assert got is None
        else:
            assert got is not None and np.array_equal(got, expected), query


def test_a_fresh_index_scores_as_bm25s():
    rng = random.Random(1)
    live = {f"a{i}": _article(rng, f"a{i}") for i in range(80)}
    order = [cid for _, ids, _ in live.values() for cid in ids]
    _check(LexicalIndex.build(list(live.values()), order), live, rng)


def test_updates_merges_and_rebuilds_score_as_a_fresh_index():
    rng = random.Random(2)
    live = {f"a{i}": _article(rng, f"a{i}") for i in range(60)}
    order = [cid for _, ids, _ in live.values() for cid in ids]
    index = LexicalIndex.build(list(live.values()), order)
    counter = 1000
    kinds_seen = set()
    graveyard: list = []
    came_back = 0
    for step in range(3 * MAX_SEGMENTS):
        removed: set[str] = set()
        added = []
        old_versions = {}
        for key in rng.sample(sorted(live), rng.randint(0, 3)):  # removals and new versions
            removed.add(key)
            old = old_versions[key] = live.pop(key)
            if rng.random() < 0.5:
                counter += 1
                new_key = f"{key.split('~')[0]}~{counter}"
                live[new_key] = _article(rng, new_key)
                added.append(live[new_key])
            del old
        if graveyard and rng.random() < 0.4:  # an article removed earlier comes back unchanged (same key)
            key, article = graveyard.pop()
            if key not in live:
                live[key] = article
                added.append(article)
                came_back += 1
        for key in removed:
            graveyard.append((key, old_versions[key]))
        for _ in range(rng.randint(0, 3)):  # brand-new articles
            counter += 1
            live[f"n{counter}"] = _article(rng, f"n{counter}")
            added.append(live[f"n{counter}"])
        order = [cid for _, ids, _ in live.values() for cid in ids]
        index = index.updated(removed, added, order, lambda only=None: [a for a in live.values() if only is None or a[0] in only])
        kinds_seen.add(len(index.parts))
        assert len(index.parts) <= MAX_SEGMENTS + 1
        _check(index, live, rng)
    assert max(kinds_seen) > 2 and min(kinds_seen) <= 2  # segments accumulated, then were merged
    assert came_back > 0


def test_removing_most_articles_rebuilds_and_still_scores_exactly():
    rng = random.Random(3)
    live = {f"a{i}": _article(rng, f"a{i}") for i in range(40)}
    index = LexicalIndex.build(list(live.values()), [c for _, ids, _ in live.values() for c in ids])
    gone = set(sorted(live)[:25])
    for key in gone:
        del live[key]
    order = [c for _, ids, _ in live.values() for c in ids]
    index = index.updated(gone, [], order, lambda only=None: [a for a in live.values() if only is None or a[0] in only])
    assert len(index.parts) == 1 and index.parts[0].alive is None  # rebuilt: no dead chunks kept
    _check(index, live, rng)


def test_a_layered_spelling_index_answers_as_difflib_on_the_new_vocabulary():
    import difflib

    from rag.spelling import LayeredSpelling, SpellingIndex

    rng = random.Random(4)
    letters = "aeioustrnlc"

    def word() -> str:
        return "".join(rng.choice(letters) for _ in range(rng.randint(3, 9)))

    vocabulary = {word() for _ in range(12000)}
    index: SpellingIndex | LayeredSpelling = SpellingIndex(vocabulary)
    layered = 0
    for _ in range(4):
        gone = set(rng.sample(sorted(vocabulary), 40))
        new = {word() for _ in range(40)} | set(rng.sample(sorted(gone), 10))  # some words come back
        vocabulary = (vocabulary - gone) | new
        following = LayeredSpelling.following(index, gone - new, new)
        assert following is not None
        index, layered = following, layered + 1
        assert len(index) == len(vocabulary)
        for probe in [word() for _ in range(60)] + rng.sample(sorted(new), 5) + rng.sample(sorted(gone), 5):
            expected = bool(difflib.get_close_matches(probe, vocabulary, n=1, cutoff=0.85))
            assert index.has_close(probe) == expected, probe
    assert layered == 4
    assert LayeredSpelling.following(index, set(), {word() + "x" for _ in range(2000)}) is None  # too much: rebuild


def test_top_k_is_the_full_sort_cut_at_k_with_ties_by_position():
    from rag.index import top_k

    rng = np.random.default_rng(5)
    for _ in range(200):
        scores = rng.choice([0.0, 0.5, 1.0, 1.5, 2.0, 3.25], size=rng.integers(1, 60)).astype(np.float32)
        k = int(rng.integers(0, 70))
        expected = sorted((i for i in range(len(scores)) if scores[i] > 0), key=lambda i: (-scores[i], i))[:k]
        assert top_k(scores, k) == expected
