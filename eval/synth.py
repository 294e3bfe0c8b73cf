"""A synthetic collection of any size, without re-embedding text: copies of already embedded articles.

Each copy is a template article (one of those already in the collection) under a new name and content
hash, with a share of its words swapped for made-up words of the same length (so every offset, sentence
span and citation stays valid while the vocabulary grows as a real collection's would) and a little noise
on its vectors. Used by `python -m eval.bench --scale N` and by the 40k-chunk test.
"""

from __future__ import annotations

import hashlib
import logging
import random
import re

import numpy as np

from sourcechat.sentence_vectors import read_vectors, vector_file, write_vectors
from sourcechat.settings import Settings
from sourcechat.store import PAGE_SIZE, bump_generation, get_all, open_collection
from sourcechat.text import paraphrase_words
from sourcechat.word_vectors import WordVectorStore

log = logging.getLogger(__name__)

_WORD = re.compile(r"[A-Za-z]{4,}")
_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _made_up(word: str, rng: random.Random) -> str:
    """A pronounceable-enough word of the same length and the same initial capital."""
    out = "".join(rng.choice(_LETTERS) for _ in word)
    return out.capitalize() if word[:1].isupper() else out


def _swap_words(text: str, swaps: dict[str, str]) -> str:
    return _WORD.sub(lambda m: swaps.get(m.group(0), m.group(0)), text)


def templates(settings: Settings) -> dict[str, dict[str, list]]:
    """The collection's articles as templates: source → {ids, documents, metadatas, embeddings} in chunk order."""
    got = get_all(open_collection(settings), ["documents", "metadatas", "embeddings"])
    out: dict[str, dict[str, list]] = {}
    for row in zip(got["ids"], got["documents"], got["metadatas"], got["embeddings"]):
        entry = out.setdefault(row[2]["source"], {"ids": [], "documents": [], "metadatas": [], "embeddings": []})
        for key, value in zip(("ids", "documents", "metadatas", "embeddings"), row):
            entry[key].append(value)
    for entry in out.values():
        order = sorted(range(len(entry["ids"])), key=lambda i: entry["metadatas"][i]["chunk"])
        for key in entry:
            entry[key] = [entry[key][i] for i in order]
    return out


def add_copies(settings: Settings, n_articles: int, swap_share: float = 0.15, noise: float = 0.02,
               seed: int = 0, start: int = 0, bump: bool = True) -> int:
    """Add `n_articles` synthetic articles (numbered from `start`) to the collection; returns the chunks written.

    `swap_share`: the share of each copy's distinct words replaced by made-up ones (0 = exact copies)."""
    from ingest.pipeline import _chunk_ids

    rng = random.Random(seed + start)
    nprng = np.random.default_rng(seed + start)
    pool = templates(settings)
    names = sorted(s for s in pool if not s.startswith("synth_"))
    collection = open_collection(settings)
    batch: dict[str, list] = {"ids": [], "documents": [], "metadatas": [], "embeddings": []}
    made_up: set[str] = set()
    written = 0
    for i in range(start, start + n_articles):
        template = pool[names[i % len(names)]]
        source = f"synth_{i:07d}.txt"
        content_hash = hashlib.sha256(source.encode()).hexdigest()
        vocabulary = sorted({w for d in template["documents"] for w in _WORD.findall(d)})
        swaps = {w: _made_up(w, rng) for w in vocabulary if rng.random() < swap_share}
        ids = _chunk_ids(source, content_hash, len(template["ids"]))
        vectors = np.asarray(template["embeddings"], dtype=np.float32)
        vectors = vectors + nprng.normal(0.0, noise, vectors.shape).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        first = template["metadatas"][0]
        title = f"{_swap_words(first['title'], swaps)} ({i})"
        made_up.update(paraphrase_words(title))
        _copy_sentence_vectors(settings, template, source, content_hash, title, nprng, noise)
        for cid, doc, meta, vector in zip(ids, template["documents"], template["metadatas"], vectors):
            batch["ids"].append(cid)
            batch["documents"].append(_swap_words(doc, swaps))
            made_up.update(paraphrase_words(batch["documents"][-1]))  # "xqzt's", "well-xqzt" too
            batch["metadatas"].append({**meta, "source": source, "title": title, "content_hash": content_hash,
                                       "file_hash": content_hash, "origin": "synthetic"})
            batch["embeddings"].append(vector)
        if len(batch["ids"]) >= PAGE_SIZE:
            _store_made_up_words(settings, made_up, nprng)
            written += _flush(collection, batch)
    _store_made_up_words(settings, made_up, nprng)
    written += _flush(collection, batch)
    if bump:
        bump_generation(settings)
    return written


def _copy_sentence_vectors(settings: Settings, template: dict[str, list], source: str, content_hash: str,
                           title: str, nprng: np.random.Generator, noise: float) -> None:
    """The template's sentence vectors (stored at ingest), with the same noise, under the copy's name."""
    first = template["metadatas"][0]
    stored = read_vectors(vector_file(settings, first["source"], first["content_hash"], first["title"]))
    if stored is None:
        return
    positions, vectors = stored
    vectors = vectors + nprng.normal(0.0, noise, vectors.shape).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    starts = sorted(positions, key=lambda p: positions[p])
    write_vectors(vector_file(settings, source, content_hash, title), starts, vectors)


def _store_made_up_words(settings: Settings, made_up: set[str], nprng: np.random.Generator) -> None:
    """Made-up words go into the word table as ingest would put them (sourcechat.word_vectors), with random
    unit vectors (a made-up word means nothing, so it paraphrases nothing). Every copy makes up its own
    words, so the vocabulary grows linearly with the collection: a pessimistic stand-in for real text."""
    store = WordVectorStore(settings)
    new = store.missing(made_up)  # the real words are stored already: only made-up ones are new
    if new:
        vectors = nprng.normal(0.0, 1.0, (len(new), 384)).astype(np.float32)
        store.append(new, vectors / np.linalg.norm(vectors, axis=1, keepdims=True))
    made_up.clear()


def _flush(collection, batch: dict[str, list]) -> int:
    n = len(batch["ids"])
    if n:
        collection.add(ids=batch["ids"], documents=batch["documents"], metadatas=batch["metadatas"],
                       embeddings=np.stack(batch["embeddings"]))
        for value in batch.values():
            value.clear()
    return n
