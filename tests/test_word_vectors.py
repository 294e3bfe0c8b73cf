"""Word vectors stored at ingest (issue 11's first-time cost): the table is exact, append-only and safe
to read while it grows, and a question reads stored words instead of embedding them."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from sourcechat.word_vectors import DIM, WordVectorStore
from tests.conftest import copy_sources, make_settings


def _unit(n: int, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.mark.unit
def test_the_table_returns_what_was_appended_and_skips_words_it_holds(tmp_path):
    settings = make_settings(tmp_path)
    store, reader = WordVectorStore(settings), WordVectorStore(settings)
    assert reader.lookup(["tide"]) == {} and len(reader) == 0
    first = _unit(3)
    store.append(["tide", "harbour", "kettle"], first)
    got = reader.lookup(["kettle", "tide", "absent"])
    assert set(got) == {"kettle", "tide"}
    assert np.array_equal(got["kettle"], first[2]) and np.array_equal(got["tide"], first[0])
    store.append(["tide", "marathon"], _unit(2, seed=1))  # "tide" is held: only "marathon" is added
    assert len(reader) == 4
    assert np.array_equal(reader.lookup(["tide"])["tide"], first[0])
    assert reader.missing(["tide", "bridge"]) == ["bridge"]


@pytest.mark.unit
def test_an_append_cut_short_is_overwritten_not_misread(tmp_path):
    """Vectors go in before their words: rows past the last word (a crash between the two writes) are
    never read, and the next append writes over them."""
    settings = make_settings(tmp_path)
    store = WordVectorStore(settings)
    store.append(["alpha"], _unit(1))
    with open(store.folder / "vectors.f32", "ab") as fh:  # a vector whose word never got written
        fh.write(_unit(1, seed=9).tobytes())
    fresh = _unit(1, seed=2)
    store.append(["beta"], fresh)
    reader = WordVectorStore(settings)
    assert np.array_equal(reader.lookup(["beta"])["beta"], fresh[0])
    assert (store.folder / "vectors.f32").stat().st_size == 2 * DIM * 4


@pytest.mark.unit
def test_readers_never_see_a_word_without_its_vector_while_it_grows(tmp_path):
    settings = make_settings(tmp_path)
    writer, reader = WordVectorStore(settings), WordVectorStore(settings)
    vectors = _unit(400)
    errors: list[str] = []

    def read() -> None:
        for _ in range(300):
            for word, vector in reader.lookup([f"w{i}" for i in range(400)]).items():
                if not np.array_equal(vector, vectors[int(word[1:])]):
                    errors.append(word)

    thread = threading.Thread(target=read)
    thread.start()
    for i in range(0, 400, 20):
        writer.append([f"w{j}" for j in range(i, i + 20)], vectors[i:i + 20])
    thread.join()
    assert not errors and len(reader) == 400


def test_ingest_stores_the_words_and_a_question_reads_them_without_embedding(tmp_path):
    from ingest import run_ingest
    from rag.evidence import VectorCache
    from sourcechat.store import embeddings
    from sourcechat.text import paraphrase_words

    settings = make_settings(tmp_path)
    copy_sources(settings.sources_dir)
    run_ingest(settings)
    store = WordVectorStore(settings)
    vocabulary = set()
    for path in settings.sources_dir.iterdir():
        vocabulary |= paraphrase_words(path.read_text(encoding="utf-8"))
    assert len(store) >= 0.95 * len(vocabulary) and not store.missing(["lyrics", "argument", "relationship"])
    stored = len(store)
    run_ingest(settings)  # nothing changed: nothing embedded, nothing appended
    assert len(store) == stored

    sample = sorted(vocabulary)[::50]
    computed = np.asarray(embeddings(settings).embed_documents(sample), dtype=np.float32)
    read = np.stack([store.lookup([w])[w] for w in sample])
    assert np.allclose(read, computed, atol=1e-4)  # the very vectors question time would compute

    class Forbidden:
        def embed_documents(self, texts):
            raise AssertionError(f"embedded at question time: {texts[:5]}")

    cache = VectorCache(settings, embedder=Forbidden())
    assert np.allclose(cache.vectors(sample), computed, atol=1e-4)
