"""What the answering side keeps in memory about the collection, rebuilt only when the collection changes.

Chroma answers the dense queries; this holds the lexical side (BM25 over the same chunks), the sentence
table that citations quote from, and each article's text, reassembled from its chunks' offsets so the
index stays self-contained (it works the same against a Chroma server).
"""

from __future__ import annotations

import json
import math
import threading
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property

import bm25s
import numpy as np

from rag.text import content_stems, fold, words
from sourcechat.settings import Settings
from sourcechat.store import current_generation, open_collection


@dataclass(frozen=True)
class Sentence:
    source: str
    start: int
    end: int
    text: str
    chunk_id: str


@dataclass
class ArticleInfo:
    source: str
    title: str
    text: str
    n_chunks: int
    ingested_at: str
    origin: str = ""
    sentences: list[Sentence] = field(default_factory=list)


@dataclass
class Snapshot:
    generation: str
    ids: list[str]
    documents: list[str]
    metadatas: list[dict]
    articles: dict[str, ArticleInfo]
    sentences_by_chunk: dict[str, list[Sentence]]
    bm25: bm25s.BM25 | None
    idf: dict[str, float]
    article_df: Counter  # stem → number of articles that use it
    topic: frozenset = frozenset()  # stems most titles share (the collection's subject): weak evidence

    def position(self, chunk_id: str) -> int:
        return self._pos[chunk_id]

    def has(self, chunk_id: str) -> bool:
        return chunk_id in self._pos

    def __post_init__(self) -> None:
        self._pos = {cid: i for i, cid in enumerate(self.ids)}
        self.unknown_idf = max(self.idf.values(), default=5.0) + 1.0  # weight of a word no sentence uses
        self._sentence_index = {(a.source, s.start): i for a in self.articles.values()
                                for i, s in enumerate(a.sentences)}

    def following(self, sentence: Sentence) -> Sentence | None:
        """The next sentence of the same article, or None at its end."""
        article = self.articles[sentence.source]
        idx = self._sentence_index.get((sentence.source, sentence.start))
        return article.sentences[idx + 1] if idx is not None and idx + 1 < len(article.sentences) else None

    def neighbours(self, sentence: Sentence) -> str:
        """The sentence with the one before and after it, for coverage checks."""
        article = self.articles[sentence.source]
        idx = self._sentence_index.get((sentence.source, sentence.start))
        if idx is None:
            return sentence.text
        return " ".join(s.text for s in article.sentences[max(0, idx - 1):idx + 2])

    @cached_property
    def corpus_text(self) -> str:
        return " ".join(fold(a.text) for a in self.articles.values())

    @cached_property
    def corpus_words(self) -> set[str]:
        return {w for a in self.articles.values() for w in self.article_words(a.source)}

    def article_words(self, source: str) -> set[str]:
        if source not in self._article_words:
            self._article_words[source] = {w for w in words(self.articles[source].text) if len(w) > 2}
        return self._article_words[source]

    _article_words: dict = field(default_factory=dict, repr=False)


def _rebuild_articles(ids, documents, metadatas) -> tuple[dict[str, ArticleInfo], dict[str, list[Sentence]]]:
    by_source: dict[str, list[int]] = {}
    for i, meta in enumerate(metadatas):
        by_source.setdefault(meta["source"], []).append(i)
    articles: dict[str, ArticleInfo] = {}
    sentences_by_chunk: dict[str, list[Sentence]] = {}
    for source, rows in by_source.items():
        rows.sort(key=lambda i: metadatas[i]["start"])
        length = max(metadatas[i]["end"] for i in rows)
        buffer = [" "] * length
        for i in rows:
            start = metadatas[i]["start"]
            buffer[start:start + len(documents[i])] = documents[i]
        text = "".join(buffer)
        first = metadatas[rows[0]]
        info = ArticleInfo(source, first["title"], text, first["n_chunks"], first["ingested_at"], first.get("origin", ""))
        seen: set[int] = set()
        for i in rows:
            spans = json.loads(metadatas[i].get("sentences") or "[]")
            chunk_sentences = [Sentence(source, s, e, text[s:e], ids[i]) for s, e in spans]
            sentences_by_chunk[ids[i]] = chunk_sentences
            for sentence in chunk_sentences:
                if sentence.start not in seen:
                    seen.add(sentence.start)
                    info.sentences.append(sentence)
        info.sentences.sort(key=lambda s: s.start)
        articles[source] = info
    return articles, sentences_by_chunk


def load_snapshot(settings: Settings) -> Snapshot:
    generation = current_generation(settings)
    collection = open_collection(settings)
    got = collection.get(include=["documents", "metadatas"])
    ids, documents, metadatas = got["ids"], got["documents"], got["metadatas"]
    articles, sentences_by_chunk = _rebuild_articles(ids, documents, metadatas)
    bm25 = None
    tokens = [content_stems(f"{m['title']} {d}") for d, m in zip(documents, metadatas)]
    if ids:
        bm25 = bm25s.BM25()
        bm25.index(tokens, show_progress=False)
    sentence_df: Counter = Counter()
    n_sentences = 0
    for info in articles.values():
        for sentence in info.sentences:
            sentence_df.update(set(content_stems(sentence.text)))
            n_sentences += 1
    idf = {t: math.log(1 + (n_sentences - df + 0.5) / (df + 0.5)) for t, df in sentence_df.items()}
    article_df: Counter = Counter()
    for info in articles.values():
        article_df.update(set(content_stems(info.title + " " + info.text)))
    title_df: Counter = Counter()
    for info in articles.values():
        title_df.update(set(content_stems(info.title)))
    topic = frozenset(t for t, n in title_df.items() if len(articles) >= 2 and n >= len(articles) / 2)
    return Snapshot(generation, ids, documents, metadatas, articles, sentences_by_chunk, bm25, idf, article_df, topic)


class CorpusIndex:
    """Thread-safe holder of the current Snapshot; reloads it when an ingest bumped the generation."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None

    def snapshot(self) -> Snapshot:
        generation = current_generation(self.settings)
        with self._lock:
            if self._snapshot is None or self._snapshot.generation != generation:
                self._snapshot = load_snapshot(self.settings)
            return self._snapshot

    def invalidate(self) -> None:
        with self._lock:
            self._snapshot = None

    def bm25_search(self, query: str, k: int) -> list[tuple[str, float]]:
        snap = self.snapshot()
        tokens = content_stems(query)
        if snap.bm25 is None or not tokens:
            return []
        vocab = snap.bm25.vocab_dict
        tokens = [t for t in tokens if t in vocab]
        if not tokens:
            return []
        k = min(k, len(snap.ids))
        scores = snap.bm25.get_scores(tokens)
        order = np.argsort(-scores)[:k]
        return [(snap.ids[i], float(scores[i])) for i in order if scores[i] > 0]
