"""What the answering side keeps in memory about the collection: a view (Snapshot) swapped, never rebuilt in place.

Chroma answers the dense queries; this holds the lexical side (BM25 over the same chunks), the sentence
table that citations quote from, and each article's text, reassembled from its chunks' offsets so the
index stays self-contained (it works the same against a Chroma server).

Scale (issue 11): Chroma is read in pages (no SQLite variable limit); each article's derived data (text,
sentences, their stems, BM25 tokens) is kept per (source, content hash) and reused by the next view, so a
change re-reads and re-tokenises only the changed articles; the new view is built in the background while
questions are answered from the current one, and swapped in under a lock held only for the assignment.
"""

from __future__ import annotations

import contextvars
import hashlib
import logging
import math
import pickle
import sys
import threading
import weakref
from collections import Counter
from collections.abc import Collection, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from rag.lexical import ArticleTokens, LexicalIndex
from rag.spelling import LayeredSpelling, SpellingIndex
from rag.text import content_stems, fold, words
from sourcechat.contracts import ChunkMeta
from sourcechat.files import write_atomic
from sourcechat.lru import LRU
from sourcechat.settings import Settings
from sourcechat.store import (
    current_generation,
    get_all,
    on_generation_change,
    open_collection,
)

log = logging.getLogger(__name__)

FOLDED_ARTICLES = 512  # articles whose folded text a view keeps (Snapshot.folded_text)


@dataclass(frozen=True, slots=True)
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
    content_hash: str = ""
    position: dict[int, int] = field(default_factory=dict, repr=False)  # sentence start → index in sentences


@dataclass
class ArticleData:
    """Everything one article contributes to a view, derived once and reused while its content is unchanged."""

    key: tuple[str, str]  # (source, content hashes): a changed article gets a new key
    info: ArticleInfo
    ids: list[str]
    metadatas: list[ChunkMeta]
    sentences_by_chunk: dict[str, list[Sentence]]
    tokens: list[list[str]]  # BM25 tokens of each chunk (title + text)
    # stems and words as sorted tuples of shared strings: ~5× less memory than frozensets of per-article
    # copies; the few a question reads become sets then (Snapshot.sentence_stems)
    sentence_stems: list[tuple[str, ...]]  # content stems of each sentence, aligned with info.sentences
    stems: tuple[str, ...]  # content stems of title + text (article document frequency)
    title_stems: tuple[str, ...]
    words: tuple[str, ...]  # words longer than two letters (spelling vocabulary)


class _ChunkSentences:
    """chunk id → its sentences, looked up through the article (ids are `source::hash::n`): no global table."""

    def __init__(self, articles: dict[str, ArticleData]):
        self._articles = articles

    def get(self, chunk_id: str, default=None):
        data = self._articles.get(chunk_id.rsplit("::", 2)[0])
        return default if data is None else data.sentences_by_chunk.get(chunk_id, default)

    def __getitem__(self, chunk_id: str) -> list[Sentence]:
        found = self.get(chunk_id)
        if found is None:
            raise KeyError(chunk_id)
        return found

    def __contains__(self, chunk_id: str) -> bool:
        return self.get(chunk_id) is not None


@dataclass
class Totals:
    """Collection-wide counts, updated by subtracting the articles that left and adding those that came."""

    sentence_df: Counter = field(default_factory=Counter)  # stem → sentences that use it
    n_sentences: int = 0
    article_df: Counter = field(default_factory=Counter)  # stem → articles that use it
    title_df: Counter = field(default_factory=Counter)
    word_df: Counter = field(default_factory=Counter)  # word → articles that use it

    def copy(self) -> Totals:
        return Totals(Counter(self.sentence_df), self.n_sentences, Counter(self.article_df),
                      Counter(self.title_df), Counter(self.word_df))

    def apply(self, data: ArticleData, sign: int) -> None:
        for stems in data.sentence_stems:
            _add(self.sentence_df, stems, sign)
        self.n_sentences += sign * len(data.sentence_stems)
        _add(self.article_df, data.stems, sign)
        _add(self.title_df, data.title_stems, sign)
        _add(self.word_df, data.words, sign)


def _add(counter: Counter, keys, sign: int) -> None:
    for key in keys:
        value = counter[key] + sign
        if value > 0:
            counter[key] = value
        else:
            del counter[key]


@dataclass
class Snapshot:
    generation: str
    ids: list[str]
    metadatas: list[ChunkMeta]
    articles: dict[str, ArticleInfo]
    sentences_by_chunk: Any  # chunk id → list[Sentence] (a mapping with .get)
    lexical: LexicalIndex | None  # BM25 over the chunks, in `ids` order
    idf: dict[str, float]
    article_df: Counter  # stem → number of articles that use it
    topic: frozenset = frozenset()  # stems most titles share (the collection's subject): weak evidence
    data: dict[str, ArticleData] = field(default_factory=dict, repr=False)
    totals: Totals = field(default_factory=Totals, repr=False)

    def position(self, chunk_id: str) -> int:
        return self._pos[chunk_id]

    def document(self, i: int) -> str:
        """The text of chunk `i` (in `ids` order): a slice of its article's text, which holds every chunk's
        characters at their offsets (Chroma's copy is the same string), so the view keeps the text once."""
        meta = self.metadatas[i]
        return self.articles[meta.source].text[meta.start:meta.end]

    def has(self, chunk_id: str) -> bool:
        return chunk_id in self._pos

    def __post_init__(self) -> None:
        self._pos = {cid: i for i, cid in enumerate(self.ids)}
        self.unknown_idf = max(self.idf.values(), default=5.0) + 1.0  # weight of a word no sentence uses
        self._title_stems: dict[str, frozenset] = {}
        self._folded: LRU[str, str] = LRU(FOLDED_ARTICLES)

    def _index(self, sentence: Sentence) -> int | None:
        return self.articles[sentence.source].position.get(sentence.start)

    def following(self, sentence: Sentence) -> Sentence | None:
        """The next sentence of the same article, or None at its end."""
        article = self.articles[sentence.source]
        idx = self._index(sentence)
        return article.sentences[idx + 1] if idx is not None and idx + 1 < len(article.sentences) else None

    def preceding(self, sentence: Sentence) -> Sentence | None:
        """The previous sentence of the same article, or None at its start."""
        article = self.articles[sentence.source]
        idx = self._index(sentence)
        return article.sentences[idx - 1] if idx else None

    def neighbours(self, sentence: Sentence) -> str:
        """The sentence with the one before and after it, for coverage checks."""
        article = self.articles[sentence.source]
        idx = self._index(sentence)
        if idx is None:
            return sentence.text
        return " ".join(s.text for s in article.sentences[max(0, idx - 1):idx + 2])

    # --- stems computed at load, read by evidence selection (same values as content_stems of the text) ---
    def sentence_stems(self, sentence: Sentence) -> frozenset:
        data, idx = self.data.get(sentence.source), self._index(sentence)
        if data is None or idx is None or data.info.sentences[idx].end != sentence.end:
            return frozenset(content_stems(sentence.text))
        return frozenset(data.sentence_stems[idx])

    def context_stems(self, sentence: Sentence) -> frozenset:
        """Stems of `neighbours(sentence)`: words never span the spaces it joins sentences with."""
        data, idx = self.data.get(sentence.source), self._index(sentence)
        if data is None or idx is None:
            return self.sentence_stems(sentence)
        return frozenset(s for stems in data.sentence_stems[max(0, idx - 1):idx + 2] for s in stems)

    def title_stems(self, title: str) -> frozenset:
        found = self._title_stems.get(title)
        if found is None:
            found = self._title_stems[title] = frozenset(content_stems(title))
        return found

    def folded_text(self, source: str) -> str:
        """fold() of an article's text, kept for the FOLDED_ARTICLES articles questions read most recently
        (a copy per article for the view's life would double the text it holds)."""
        found = self._folded.get_many([source])
        if source in found:
            return found[source]
        folded = fold(self.articles[source].text)
        self._folded.put_many([(source, folded)])
        return folded

    @cached_property
    def corpus_text(self) -> str:
        """Every article's folded text, joined: built only for a question word that is not a word of the
        vocabulary ("r&b"), which is rare."""
        return " ".join(fold(a.text) for a in self.articles.values())

    @cached_property
    def corpus_words(self) -> set[str]:
        if self.data:
            return set(self.totals.word_df)
        return {w for a in self.articles.values() for w in self.article_words(a.source)}

    @cached_property
    def spelling(self) -> SpellingIndex | LayeredSpelling:
        """Close-spelling lookups over the collection's words (exactly difflib's answer, without the scan):
        layered on the previous view's index when one was built and only a few words changed."""
        if self.spelling_seed is not None:
            previous, gone, new = self.spelling_seed
            self.spelling_seed = None
            layered = LayeredSpelling.following(previous, gone, new)
            if layered is not None:
                return layered
        return SpellingIndex(self.corpus_words)

    def article_words(self, source: str) -> Collection[str]:
        if source in self.data:
            return self.data[source].words
        if source not in self._article_words:
            self._article_words[source] = {w for w in words(self.articles[source].text) if len(w) > 2}
        return self._article_words[source]

    _article_words: dict = field(default_factory=dict, repr=False)
    # (the previous view's spelling index, words that left the vocabulary, words that came): see `spelling`
    spelling_seed: tuple | None = field(default=None, repr=False)


# --- building a view ---------------------------------------------------------------------------------


def _article_data(source: str, ids: list[str], documents: list[str], metadatas: list[ChunkMeta]) -> ArticleData:
    """One article's rows (chunks) → its text (reassembled from offsets), sentences, stems and tokens."""
    rows = sorted(range(len(ids)), key=lambda i: metadatas[i].start)
    length = max(metadatas[i].end for i in rows)
    buffer = [" "] * length
    for i in rows:
        start = metadatas[i].start
        buffer[start:start + len(documents[i])] = documents[i]
    text = "".join(buffer)
    first = metadatas[rows[0]]
    hashes = "+".join(sorted({m.content_hash for m in metadatas}))
    info = ArticleInfo(source, first.title, text, first.n_chunks, first.ingested_at, first.origin,
                       content_hash=hashes)
    seen: set[int] = set()
    sentences_by_chunk: dict[str, list[Sentence]] = {}
    for i in rows:
        spans = metadatas[i].sentence_spans()
        chunk_sentences = [Sentence(source, s, e, text[s:e], ids[i]) for s, e in spans]
        sentences_by_chunk[ids[i]] = chunk_sentences
        for sentence in chunk_sentences:
            if sentence.start not in seen:
                seen.add(sentence.start)
                info.sentences.append(sentence)
    info.sentences.sort(key=lambda s: s.start)
    info.position = {s.start: i for i, s in enumerate(info.sentences)}
    return ArticleData(
        key=(source, hashes), info=info,
        ids=[ids[i] for i in rows], metadatas=_shared_metadata([metadatas[i] for i in rows]),
        sentences_by_chunk=sentences_by_chunk,
        tokens=[_shared(content_stems(f"{metadatas[i].title} {documents[i]}")) for i in rows],
        sentence_stems=[_sorted_shared(content_stems(s.text)) for s in info.sentences],
        stems=_sorted_shared(content_stems(info.title + " " + info.text)),
        title_stems=_sorted_shared(content_stems(info.title)),
        words=_sorted_shared(w for w in words(text) if len(w) > 2),
    )


_PER_ARTICLE = ("source", "title", "content_hash", "file_hash", "ingested_at", "origin", "chunker")


def _shared_metadata(metadatas: list[ChunkMeta]) -> list[ChunkMeta]:
    """The article's chunks repeat its name, title, hashes and dates: one string each, not one per chunk."""
    return [m.model_copy(update={k: sys.intern(getattr(m, k)) for k in _PER_ARTICLE}) for m in metadatas]


def _shared(strings: Iterable[str]) -> list[str]:
    """One string object per distinct stem or word across the whole view (sys.intern), not one per use:
    at 1,000 articles the copies were about a third of the view's memory."""
    return [sys.intern(x) for x in strings]


def _sorted_shared(strings: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(set(_shared(strings))))


def _reshared(data: ArticleData) -> ArticleData:
    """Unpickled data shares strings within its own file only: share them with the rest of the view."""
    data.sentence_stems = [tuple(_shared(s)) for s in data.sentence_stems]
    data.tokens = [_shared(t) for t in data.tokens]
    data.stems, data.title_stems, data.words = (tuple(_shared(x)) for x in (data.stems, data.title_stems, data.words))
    return data


def _group_rows(got: dict[str, list]) -> dict[str, tuple[list, list, list]]:
    grouped: dict[str, tuple[list, list, list]] = {}
    for cid, doc, meta in zip(got["ids"], got["documents"], map(ChunkMeta.from_chroma, got["metadatas"])):
        rows = grouped.setdefault(meta.source, ([], [], []))
        rows[0].append(cid)
        rows[1].append(doc)
        rows[2].append(meta)
    return grouped


def _article_keys(collection) -> dict[str, tuple[str, str]]:
    """source → (source, content hashes) of every article in the index: chunk 0 of each, read in pages."""
    hashes: dict[str, set[str]] = {}
    for meta in map(ChunkMeta.from_chroma, get_all(collection, ["metadatas"], where={"chunk": 0})["metadatas"]):
        hashes.setdefault(meta.source, set()).add(meta.content_hash)
    return {source: (source, "+".join(sorted(h))) for source, h in hashes.items()}


SOURCES_PER_READ = 200  # articles fetched per `$in` filter


def _read_articles(collection, sources: list[str]) -> dict[str, ArticleData]:
    out: dict[str, ArticleData] = {}
    for i in range(0, len(sources), SOURCES_PER_READ):
        batch = sources[i:i + SOURCES_PER_READ]
        where = {"source": {"$in": batch}} if len(batch) > 1 else {"source": batch[0]}
        for source, (ids, docs, metas) in _group_rows(get_all(collection, ["documents", "metadatas"], where)).items():
            out[source] = _article_data(source, ids, docs, metas)
    return out


VIEW_FORMAT = 4  # bump when ArticleData or what it derives changes: older files are then ignored


class ViewStore:
    """Each article's derived data (ArticleData) saved under `index_dir/views/`, one file per (source,
    content hashes), so a process that starts (or follows a change) reads it instead of re-reading the
    article's chunks from Chroma and re-tokenising them: about 5× less work per article. Files are written
    atomically by whichever process first derives the data; a file that cannot be read (older format, cut
    short) counts as absent. Pickle, because the data is the app's own, in the index folder next to Chroma's
    own files: whoever can write there already controls the index."""

    def __init__(self, settings: Settings):
        self.folder = settings.index_dir / "views"

    def _path(self, key: tuple[str, str]) -> Path:
        digest = hashlib.sha1(f"{VIEW_FORMAT}\0{key[0]}\0{key[1]}".encode("utf-8", "surrogatepass")).hexdigest()
        return self.folder / f"{digest}.pkl"

    def load(self, keys: dict[str, tuple[str, str]]) -> dict[str, ArticleData]:
        out: dict[str, ArticleData] = {}
        for source, key in keys.items():
            try:
                data = pickle.loads(self._path(key).read_bytes())
            except (OSError, EOFError, pickle.UnpicklingError, AttributeError, TypeError, ValueError, ImportError):
                continue
            if isinstance(data, ArticleData) and data.key == key:
                out[source] = _reshared(data)
        return out

    def save(self, data: dict[str, ArticleData]) -> None:
        try:
            for item in data.values():
                write_atomic(self._path(item.key), pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL))
        except OSError as exc:  # a read-only or full disk costs speed at the next start, nothing else
            log.warning("view data not saved: %s", exc)

    def prune(self, keys: dict[str, tuple[str, str]]) -> None:
        """Drop files of article versions no longer in the index."""
        if not self.folder.is_dir():
            return
        live = {self._path(key).name for key in keys.values()}
        for path in self.folder.glob("*.pkl"):
            if path.name not in live:
                path.unlink(missing_ok=True)


def build_snapshot(settings: Settings, generation: str, previous: Snapshot | None = None,
                   saved_views: bool = True) -> Snapshot:
    """The view at `generation`: unchanged articles are taken from `previous`, then from the saved view
    data (ViewStore; `saved_views=False` ignores it, as the scale benchmark's full build does), the rest
    read from Chroma (and saved for the next start)."""
    collection = open_collection(settings)
    keys = _article_keys(collection)
    reuse = previous.data if previous is not None else {}
    kept = {s: d for s, d in reuse.items() if keys.get(s) == d.key}
    views = ViewStore(settings)
    saved = views.load({s: k for s, k in keys.items() if s not in kept}) if saved_views else {}
    read = _read_articles(collection, [s for s in keys if s not in kept and s not in saved])
    views.save(read)
    views.prune(keys)  # a build follows a change (or a start): drop the versions that left
    fresh = {**saved, **read}
    data = {s: kept.get(s) or fresh[s] for s in keys if s in kept or s in fresh}  # Chroma's order, as before
    seed = None
    if previous is not None and previous.data:
        totals = previous.totals.copy()
        gone: set[str] = set()
        new: set[str] = set()
        for source, old in reuse.items():
            if data.get(source) is not old:
                totals.apply(old, -1)
                gone.update(old.words)
        for source in fresh:
            if source in data:
                totals.apply(data[source], +1)
                new |= {w for w in data[source].words if w not in previous.totals.word_df}
        if "spelling" in previous.__dict__:  # the previous view built its spelling index: layer on it
            seed = (previous.spelling, {w for w in gone if w not in totals.word_df}, new)
    else:
        totals = Totals()
        for d in data.values():
            totals.apply(d, +1)
    log.info("view %s: %d articles (%d read, %d loaded, %d reused)", generation[:8], len(data), len(read),
             len(saved), len(kept))
    ids = [cid for d in data.values() for cid in d.ids]

    def everything() -> list[ArticleTokens]:
        return [(_lexical_key(d), d.ids, d.tokens) for d in data.values()]

    if previous is not None and previous.lexical is not None:  # the changed articles only (rag.lexical)
        removed = {_lexical_key(old) for source, old in reuse.items() if data.get(source) is not old}
        added: list[ArticleTokens] = [(_lexical_key(data[s]), data[s].ids, data[s].tokens) for s in fresh if s in data]
        lexical = previous.lexical.updated(removed, added, ids, everything)
    else:
        lexical = LexicalIndex.build(everything(), ids)
    snapshot = _assemble(generation, data, totals, ids, lexical)
    snapshot.spelling_seed = seed
    return snapshot


def _lexical_key(data: ArticleData) -> str:
    return f"{data.key[0]}\0{data.key[1]}"


def _assemble(generation: str, data: dict[str, ArticleData], totals: Totals, ids: list[str],
              lexical: LexicalIndex) -> Snapshot:
    metadatas = [meta for d in data.values() for meta in d.metadatas]
    n = totals.n_sentences
    idf = {t: math.log(1 + (n - df + 0.5) / (df + 0.5)) for t, df in totals.sentence_df.items()}
    topic = frozenset(t for t, c in totals.title_df.items() if len(data) >= 2 and c >= len(data) / 2)
    articles = {s: d.info for s, d in data.items()}
    return Snapshot(generation, ids, metadatas, articles, _ChunkSentences(data), lexical, idf,
                    totals.article_df, topic, data=data, totals=totals)


def load_snapshot(settings: Settings, saved_views: bool = True) -> Snapshot:
    """A whole view: from the saved per-article data where it exists, else read from Chroma (in pages)."""
    return build_snapshot(settings, current_generation(settings), saved_views=saved_views)


def top_k(scores: np.ndarray, k: int) -> list[int]:
    """Positions of the `k` highest positive scores, best first, ties by position: a partial selection,
    not a sort of the whole collection (that sort was ~8 ms a question at 130k chunks)."""
    positive = np.flatnonzero(scores > 0)
    if len(positive) > k > 0:
        threshold = np.partition(scores[positive], len(positive) - k)[len(positive) - k]
        above = positive[scores[positive] > threshold]
        tied = positive[scores[positive] == threshold][:k - len(above)]
        positive = np.concatenate([above, tied])
    elif k <= 0:
        return []
    order = np.lexsort((positive, -scores[positive]))
    return [int(i) for i in positive[order]]


class CorpusIndex:
    """Thread-safe holder of the current view.

    When an ingest bumps the generation, the next question starts building the new view in the background
    and is answered from the current one; the view is swapped when ready. A writer in this process (the
    chat's Articles tab) waits for the new view at the end of its ingest, so its next answer sees the change.
    Only the very first view is built in the request path (there is nothing to answer from before it)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._lock = threading.Lock()  # guards the swap and the builder thread handle only
        self._build_lock = threading.Lock()  # one build at a time
        self._snapshot: Snapshot | None = None
        self._builder: threading.Thread | None = None
        self._pinned: contextvars.ContextVar[Snapshot | None] = contextvars.ContextVar("view", default=None)
        on_generation_change(settings, weakref.WeakMethod(self.follow))

    def snapshot(self) -> Snapshot:
        pinned = self._pinned.get()
        if pinned is not None:
            return pinned
        snap = self._snapshot
        if snap is None:
            return self.refresh()
        if snap.generation != current_generation(self.settings):
            self._refresh_in_background()
        return snap

    @contextmanager
    def pinned(self):
        """Within this block (and the LCEL threads it starts, which copy the context) every `snapshot()`
        is the same view, so one question never mixes two views when a swap happens mid-answer."""
        token = self._pinned.set(self.snapshot())
        try:
            yield self._pinned.get()
        finally:
            self._pinned.reset(token)

    def refresh(self) -> Snapshot:
        """Build the current generation's view (reusing the unchanged articles) and swap it in."""
        with self._build_lock:
            generation = current_generation(self.settings)
            snap = self._snapshot
            if snap is not None and snap.generation == generation:
                return snap
            new = build_snapshot(self.settings, generation, previous=snap)
            with self._lock:
                self._snapshot = new
            return new

    def follow(self) -> None:
        """After a write in this process: swap in the new view now (a view not yet loaded waits for a question)."""
        if self._snapshot is not None:
            self.refresh()

    def _refresh_in_background(self) -> None:
        with self._lock:
            if self._builder is not None and self._builder.is_alive():
                return
            self._builder = threading.Thread(target=self._background, name="view-builder", daemon=True)
            self._builder.start()

    def _background(self) -> None:
        try:
            self.refresh()
        except Exception:  # the current view keeps answering; the next question retries
            log.exception("building the new view failed")

    def wait(self) -> Snapshot:
        """The view of the current generation, waiting for a build under way (tests, benchmarks)."""
        return self.refresh()

    def invalidate(self) -> None:
        with self._lock:
            self._snapshot = None

    def bm25_search(self, query: str, k: int, snap: Snapshot | None = None) -> list[tuple[str, float]]:
        snap = snap or self.snapshot()
        tokens = content_stems(query)
        if snap.lexical is None or not tokens:
            return []
        scores = snap.lexical.scores(tokens, len(snap.ids))
        if scores is None:
            return []
        return [(snap.ids[i], float(scores[i])) for i in top_k(scores, k)]
