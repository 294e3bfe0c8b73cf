"""What the answering side keeps in memory about the collection: a view (Snapshot) swapped, never rebuilt in place.

Chroma answers the dense queries; this holds the lexical side (BM25 over the same chunks), the sentence
table that citations quote from, and each article's text, reassembled from its chunks' offsets so the
index stays self-contained (it works the same against a Chroma server).

Scale (issue 11): Chroma is read in pages (no SQLite variable limit); each article's derived data (text,
sentences, their stems, BM25 tokens) is kept per (source, content hash) and reused by the next view, so a
change re-reads and re-tokenises only the changed articles; the new view is built in the background while
questions are answered from the current one, and swapped in under a lock held only for the assignment.
A view keeps in memory only what every question or change needs of each article (its name, title, chunk
ids, the collection's counts and the BM25 postings); an article's text, sentences, stems and tokens stay in
its saved view file and are read when a question touches it (`Article`, `ArticleStore`).
"""

from __future__ import annotations

import atexit
import contextvars
import hashlib
import itertools
import logging
import math
import pickle
import re
import sys
import threading
import time
import weakref
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, NamedTuple

import numpy as np

from rag.lexical import ArticleTokens, LexicalIndex, Segment
from rag.spelling import LayeredSpelling, SpellingIndex
from sourcechat.contracts import ChunkMeta, chunk_version
from sourcechat.errors import UserError
from sourcechat.files import atomic_file, write_atomic
from sourcechat.lru import LRU
from sourcechat.settings import Settings
from sourcechat.store import (
    current_generation,
    get_all,
    on_generation_change,
    open_collection,
)
from sourcechat.text import content_stems, fold, words

log = logging.getLogger(__name__)

FOLDED_ARTICLES = 512  # articles whose folded text a view keeps (Snapshot.folded_text)
_PUNCTUATED = re.compile(r"""[.!?…:;,]["'”’)\]_*]*$""")  # closing quotes, brackets and emphasis may follow
_ITEM = re.compile(r"^\s*(?:[-–—*•+|]|\d{1,3}[.)]\s)|:\s")  # a list item, table row or "key: value" line


def is_section_heading(text: str) -> bool:
    """A line that heads a section: a few words, no closing punctuation, not a list item, table row or
    "key: value" line (articles' markup is gone by now: "How the men's race unfolded", "Opening hours")."""
    stripped = text.strip()
    return bool(stripped) and len(stripped.split()) <= 10 and "\n" not in stripped \
        and not _PUNCTUATED.search(stripped) and not _ITEM.search(stripped)


# the articles' data one question has read (Article.read), for the question's duration (CorpusIndex.pinned)
_QUESTION_READS: contextvars.ContextVar[dict | None] = contextvars.ContextVar("question_reads", default=None)
ARTICLES_IN_MEMORY = 2048  # articles whose full data (ArticleData, ~85 KB each) a process keeps (ArticleStore)


class Sentence(NamedTuple):
    """One sentence of an article (a tuple: loading a saved article builds ~40 of them, 7× faster than a
    dataclass's per-field state)."""

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

    key: tuple[str, str]  # (source, versions of its chunk ids): a changed article gets a new key
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

    def __init__(self, articles: dict[str, Article]):
        self._articles = articles

    def get(self, chunk_id: str, default=None):
        article = self._articles.get(chunk_version(chunk_id)[0])
        return default if article is None else article.data.sentences_by_chunk.get(chunk_id, default)

    def __getitem__(self, chunk_id: str) -> list[Sentence]:
        found = self.get(chunk_id)
        if found is None:
            raise KeyError(chunk_id)
        return found

    def __contains__(self, chunk_id: str) -> bool:
        return self.get(chunk_id) is not None


class Article:
    """What a view keeps in memory of one article: its name, title, dates and chunk ids (a few hundred
    bytes). The rest, ArticleData (text, sentences, stems, BM25 tokens: ~100 KB), stays in its saved view
    file and is read through the process's ArticleStore when a question or a change needs it. Reads like
    an ArticleInfo (`text`, `sentences`, `position`)."""

    __slots__ = ("key", "source", "title", "n_chunks", "ingested_at", "origin", "content_hash", "ids",
                 "_store", "_held")

    def __init__(self, data: ArticleData, store: ArticleStore, held: bool = False):
        info = data.info
        self.key = data.key
        self.source, self.title, self.n_chunks = info.source, info.title, info.n_chunks
        self.ingested_at, self.origin, self.content_hash = info.ingested_at, info.origin, info.content_hash
        self.ids = tuple(data.ids)
        self._store = store
        self._held = data if held else None  # data that could not be saved to disk stays in memory

    def record(self) -> tuple:
        """What a saved view (ViewCheckpoint) keeps of this article."""
        return (self.key, self.source, self.title, self.n_chunks, self.ingested_at, self.origin,
                self.content_hash, self.ids)

    @classmethod
    def restored(cls, record: tuple, store: ArticleStore) -> Article:
        article = cls.__new__(cls)
        (article.key, article.source, article.title, article.n_chunks, article.ingested_at, article.origin,
         article.content_hash, article.ids) = record
        article._store, article._held = store, None
        return article

    @property
    def held(self) -> bool:
        """Its data is only in memory (it could not be saved to disk)."""
        return self._held is not None

    @property
    def data(self) -> ArticleData:
        return self.read()

    def read(self, keep: bool = True) -> ArticleData:
        """The full data; `keep=False` leaves the store's LRU as it is (a build's pass over many articles).
        Within a question (`CorpusIndex.pinned`) an article read once is read from the question's own table:
        a question reads its ~15 articles' data ~1,000 times, and each read through the store's LRU took
        its lock."""
        if self._held is not None:
            return self._held
        if not keep:
            return self._store.load(self.source, self.key)
        reads = _QUESTION_READS.get()
        if reads is None:
            return self._store.get(self)
        found = reads.get(self.key)
        if found is None:
            found = reads[self.key] = self._store.get(self)
        return found

    @property
    def text(self) -> str:
        return self.data.info.text

    @property
    def sentences(self) -> list[Sentence]:
        return self.data.info.sentences

    @property
    def position(self) -> dict[int, int]:
        return self.data.info.position


class _ChunkMetas(Sequence):
    """The view's chunk metadata in `ids` order, read from each chunk's article when asked for."""

    def __init__(self, ids: list[str], articles: dict[str, Article]):
        self._ids, self._articles = ids, articles

    def __len__(self) -> int:
        return len(self._ids)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self._ids)))]
        chunk_id = self._ids[i]
        data = self._articles[chunk_version(chunk_id)[0]].data
        return data.metadatas[data.ids.index(chunk_id)]


class ArticleStore:
    """One process's full article data (ArticleData) for all its views: the ARTICLES_IN_MEMORY articles read
    most recently in an LRU, any other read from its saved view file when asked for (~0.4 ms), or from Chroma
    if the file is gone. Keys are article versions (`_key`), so views of different generations share it."""

    def __init__(self, settings: Settings, capacity: int | None = None):
        self.settings = settings
        self.views = ViewStore(settings)
        self._recent: LRU[tuple[str, str], ArticleData] = LRU(capacity or ARTICLES_IN_MEMORY)

    def offer(self, data: ArticleData) -> None:
        self._recent.put_many([(data.key, data)])

    def get(self, article: Article) -> ArticleData:
        found = self._recent.get_many([article.key]).get(article.key)
        if found is None:
            found = self._fetch(article.source, article.key)
            self.offer(found)
        return found

    def load(self, source: str, key: tuple[str, str]) -> ArticleData:
        """Without keeping it (a rebuild's pass over every article must not flush what questions use)."""
        return self._recent.get_many([key]).get(key) or self._fetch(source, key)

    def _fetch(self, source: str, key: tuple[str, str]) -> ArticleData:
        """From its saved file, else from Chroma (and saved again)."""
        found = self.views.load({source: key}).get(source)
        if found is None:
            found = _read_articles(open_collection(self.settings), [source]).get(source)
            if found is None or found.key != key:
                raise UserError(f"{source} changed while this question was answered: ask again")
            self.views.save({source: found})
        return found


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


class Idf(Mapping[str, float]):
    """BM25's idf of each stem over the collection's sentences, computed from the counts when a question looks
    a stem up: a change no longer builds a table of every stem (10k synthetic articles: 1.0 s of a 3.5 s
    add). The counts are the view's own (a change copies them), so the values never move under a question."""

    __slots__ = ("_df", "_n")

    def __init__(self, sentence_df: Counter, n_sentences: int):
        self._df, self._n = sentence_df, n_sentences

    def _of(self, df: int) -> float:
        return math.log(1 + (self._n - df + 0.5) / (df + 0.5))

    def __getitem__(self, stem: str) -> float:
        df = self._df.get(stem)
        if not df:
            raise KeyError(stem)
        return self._of(df)

    def get(self, stem: str, default: Any = None) -> Any:
        df = self._df.get(stem)
        return self._of(df) if df else default

    def __iter__(self) -> Iterator[str]:
        return iter(self._df)

    def __len__(self) -> int:
        return len(self._df)

    def highest(self, default: float) -> float:
        """The largest idf: the rarest stem's (idf falls as the count rises)."""
        return self._of(min(self._df.values())) if self._df else default


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
    metadatas: Sequence[ChunkMeta]  # in `ids` order, read from the chunk's article when asked for
    articles: dict[str, Article]
    sentences_by_chunk: Any  # chunk id → list[Sentence] (a mapping with .get)
    lexical: LexicalIndex | None  # BM25 over the chunks, in `ids` order
    idf: Idf
    article_df: Counter  # stem → number of articles that use it
    topic: frozenset = frozenset()  # stems most titles share (the collection's subject): weak evidence
    totals: Totals = field(default_factory=Totals, repr=False)
    store: ArticleStore | None = field(default=None, repr=False)  # where `articles` read their full data
    retired: frozenset = frozenset()  # keys of the articles that left at this view's change (files kept one more)

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
        self.unknown_idf = self.idf.highest(default=5.0) + 1.0  # weight of a word no sentence uses
        self._title_stems: dict[str, frozenset] = {}
        self._folded: LRU[str, str] = LRU(FOLDED_ARTICLES)
        self._headings: LRU[str, tuple[int, ...]] = LRU(FOLDED_ARTICLES)

    def _index(self, sentence: Sentence) -> int | None:
        article = self.articles.get(sentence.source)
        return None if article is None else article.position.get(sentence.start)

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
    def _data(self, source: str) -> ArticleData | None:
        article = self.articles.get(source)
        return None if article is None else article.data

    def sentence_stems(self, sentence: Sentence) -> frozenset:
        data, idx = self._data(sentence.source), self._index(sentence)
        if data is None or idx is None or data.info.sentences[idx].end != sentence.end:
            return frozenset(content_stems(sentence.text))
        return frozenset(data.sentence_stems[idx])

    def context_stems(self, sentence: Sentence) -> frozenset:
        """Stems of `neighbours(sentence)` (words never span the spaces it joins sentences with) and of the
        heading of its section: "Gebreyes took third", under "How the men's race unfolded", is about the
        men's race although neither it nor its neighbours say so."""
        data, idx = self._data(sentence.source), self._index(sentence)
        if data is None or idx is None:
            return self.sentence_stems(sentence)
        near = range(max(0, idx - 1), min(len(data.sentence_stems), idx + 2))
        heading = self.section_heading(sentence.source, idx)
        return frozenset(s for i in ([heading, *near] if heading is not None else near)
                         for s in data.sentence_stems[i])

    def section_heading(self, source: str, idx: int) -> int | None:
        """The index of the heading over sentence `idx` of an article (the nearest line before it that is a
        heading: short, unpunctuated, not a list item or table row), or None."""
        heads = self._headings.get_many([source]).get(source)
        if heads is None:
            current, found = -1, []
            for n, s in enumerate(self.articles[source].sentences):
                found.append(current)
                if n and is_section_heading(s.text):
                    current = n
            heads = tuple(found)
            self._headings.put_many([(source, heads)])
        return heads[idx] if 0 <= idx < len(heads) and heads[idx] >= 0 else None

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
        return set(self.totals.word_df)

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
        return self.articles[source].data.words

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
    key = _key(source, ids)
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
        key=key, info=info,
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


def _group_rows(got: dict[str, list]) -> dict[str, tuple[list, list, list]]:
    grouped: dict[str, tuple[list, list, list]] = {}
    for cid, doc, meta in zip(got["ids"], got["documents"], map(ChunkMeta.from_chroma, got["metadatas"])):
        rows = grouped.setdefault(meta.source, ([], [], []))
        rows[0].append(cid)
        rows[1].append(doc)
        rows[2].append(meta)
    return grouped


def _key(source: str, ids: Iterable[str]) -> tuple[str, str]:
    """An article's key: its name and the versions its chunk ids carry (two while a replacement is written)."""
    return (source, "+".join(sorted({chunk_version(cid)[1] for cid in ids})))


def _article_keys(collection) -> dict[str, tuple[str, str]]:
    """source → key of every article in the index, from the ids of each article's chunk 0, read in pages.
    Ids only: with their metadata the read took 5–8× longer (10k articles: 1.6 s against 0.2 s), and every
    change to the collection makes this read."""
    ids: dict[str, list[str]] = {}
    for cid in get_all(collection, [], where={"chunk": 0})["ids"]:
        ids.setdefault(chunk_version(cid)[0], []).append(cid)
    return {source: _key(source, chunk_ids) for source, chunk_ids in ids.items()}


SOURCES_PER_READ = 200  # articles fetched per `$in` filter


def _read_articles(collection, sources: list[str]) -> dict[str, ArticleData]:
    out: dict[str, ArticleData] = {}
    for i in range(0, len(sources), SOURCES_PER_READ):
        batch = sources[i:i + SOURCES_PER_READ]
        where = {"source": {"$in": batch}} if len(batch) > 1 else {"source": batch[0]}
        for source, (ids, docs, metas) in _group_rows(get_all(collection, ["documents", "metadatas"], where)).items():
            out[source] = _article_data(source, ids, docs, metas)
    return out


UNREADABLE = (OSError, EOFError, pickle.UnpicklingError, AttributeError, TypeError, ValueError, ImportError,
              KeyError)  # what reading a saved file (ViewStore, ViewCheckpoint) may raise when it is stale or cut short
VIEW_FORMAT = 7  # bump when ArticleData or what it derives changes: older files are then ignored


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
            except UNREADABLE:
                continue
            if isinstance(data, ArticleData) and data.key == key:
                out[source] = data  # its strings are shared within the file; not interned: a
                # question's load would spend more on sys.intern than on unpickling
        return out

    def save(self, data: dict[str, ArticleData]) -> bool:
        """False when the files could not be written: the caller then keeps the data in memory."""
        try:
            for item in data.values():
                write_atomic(self._path(item.key), pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL))
        except OSError as exc:  # a read-only or full disk: the view holds the data itself
            log.warning("view data not saved: %s", exc)
            return False
        return True

    def forget(self, keys: Iterable[tuple[str, str]]) -> None:
        """Drop the files of these article versions."""
        for key in keys:
            try:
                self._path(key).unlink(missing_ok=True)
            except OSError as exc:
                log.warning("view data not removed: %s", exc)

    def prune(self, keys: Iterable[tuple[str, str]]) -> None:
        """Drop files of article versions not in `keys`."""
        if not self.folder.is_dir():
            return
        live = {self._path(key).name for key in keys}
        for path in self.folder.glob("*.pkl"):
            if path.name not in live:
                path.unlink(missing_ok=True)


def build_snapshot(settings: Settings, generation: str, previous: Snapshot | None = None,
                   saved_views: bool = True, keep: Callable[[Segment], Segment] | None = None) -> Snapshot:
    """The view at `generation`: unchanged articles are taken from `previous`, then from the saved view
    data (ViewStore; `saved_views=False` ignores it, as the scale benchmark's full build does), the rest
    read from Chroma (and saved for the next start). Each article's full data passes through once, to count
    it into the totals and BM25, and then stays on disk (ArticleStore). `keep`: what becomes of each new BM25
    segment (ViewCheckpoint.keep saves it and maps it from disk)."""
    keep = keep or (lambda segment: segment)
    collection = open_collection(settings)
    keys = _article_keys(collection)
    store = previous.store if previous is not None and previous.store is not None else ArticleStore(settings)
    before = previous.articles if previous is not None else {}
    kept = {s: a for s, a in before.items() if keys.get(s) == a.key}
    incremental = previous is not None and previous.lexical is not None and bool(kept)
    if not incremental:
        kept = {}
    totals = previous.totals.copy() if incremental and previous is not None else Totals()
    articles: dict[str, Article] = {}
    counts = Counter[str]()
    new_words: set[str] = set()

    def arrive() -> Iterator[ArticleTokens]:
        """The articles not kept, in Chroma's order, counted in as they come; their BM25 tokens."""
        for data, held, how in _obtain(store, collection, [s for s in keys if s not in kept], keys, saved_views):
            counts[how] += 1
            totals.apply(data, +1)
            if incremental and previous is not None:
                new_words.update(w for w in data.words if w not in previous.totals.word_df)
            articles[data.info.source] = Article(data, store, held)
            store.offer(data)
            yield (_lexical_key(data), list(data.ids), data.tokens)

    left = [a for s, a in before.items() if s not in kept]
    gone: set[str] = set()
    if incremental:
        added = list(arrive())
        for old in left:
            data = old.read(keep=False)
            totals.apply(data, -1)
            gone.update(data.words)
    else:
        added = []
    order = {s: i for i, s in enumerate(keys)}

    def everything(only: Collection[str] | None = None) -> Iterator[ArticleTokens]:
        for article in current.values():
            if only is None or _lexical_key(article) in only:
                data = article.read(keep=False)
                yield (_lexical_key(data), list(data.ids), data.tokens)

    if incremental and previous is not None and previous.lexical is not None:  # the changed articles only
        current = _in_order({**kept, **articles}, order)
        ids = [cid for a in current.values() for cid in a.ids]
        lexical = previous.lexical.updated({_lexical_key(a) for a in left}, added, ids, everything, keep)
    else:  # every article, streamed: one's full data at a time in memory beyond the store's LRU
        segment = keep(Segment.build(arrive()))
        current = _in_order(articles, order)
        ids = [cid for a in current.values() for cid in a.ids]
        lexical = LexicalIndex.of(segment, ids)
    seed = None
    if incremental and previous is not None and "spelling" in previous.__dict__:  # layer on its spelling index
        seed = (previous.spelling, {w for w in gone if w not in totals.word_df}, new_words)
    # the previous view may still be answering a question: the files of articles that leave go at the next
    # change; a change drops only those of the previous one, a full build every file no view uses
    live = {a.key for a in current.values()}
    if incremental and previous is not None:
        store.views.forget(previous.retired - live)
    else:
        store.views.prune(live | {a.key for a in before.values()})
    log.info("view %s: %d articles (%d read, %d loaded, %d reused)", generation[:8], len(current),
             counts["read"], counts["loaded"], len(kept))
    snapshot = _assemble(generation, current, totals, ids, lexical, store)
    snapshot.spelling_seed = seed
    snapshot.retired = frozenset(a.key for a in left) - live
    return snapshot


def _in_order(articles: dict[str, Article], order: dict[str, int]) -> dict[str, Article]:
    return {s: articles[s] for s in sorted(articles, key=order.__getitem__)}


def _obtain(store: ArticleStore, collection, sources: list[str], keys: dict[str, tuple[str, str]],
            saved_views: bool) -> Iterator[tuple[ArticleData, bool, str]]:
    """(data, held in memory, "loaded" or "read") of each of `sources` still in the index, in order: from its
    saved file, else read from Chroma in batches and saved (held in memory if it could not be saved)."""
    for i in range(0, len(sources), SOURCES_PER_READ):
        batch = sources[i:i + SOURCES_PER_READ]
        saved = store.views.load({s: keys[s] for s in batch}) if saved_views else {}
        read = _read_articles(collection, [s for s in batch if s not in saved])
        held = not store.views.save(read) if read else False
        for source in batch:
            if source in saved:
                yield saved[source], False, "loaded"
            elif source in read:
                yield read[source], held, "read"


def _lexical_key(data: ArticleData | Article) -> str:
    return f"{data.key[0]}\0{data.key[1]}"


def _assemble(generation: str, articles: dict[str, Article], totals: Totals, ids: list[str],
              lexical: LexicalIndex, store: ArticleStore) -> Snapshot:
    idf = Idf(totals.sentence_df, totals.n_sentences)
    topic = frozenset(t for t, c in totals.title_df.items() if len(articles) >= 2 and c >= len(articles) / 2)
    return Snapshot(generation, ids, _ChunkMetas(ids, articles), articles, _ChunkSentences(articles), lexical,
                    idf, totals.article_df, topic, totals=totals, store=store)


def load_snapshot(settings: Settings, saved_views: bool = True) -> Snapshot:
    """A whole view: from the saved per-article data where it exists, else read from Chroma (in pages)."""
    return build_snapshot(settings, current_generation(settings), saved_views=saved_views)


SAVE_DELAY_S = 2.0  # a new view is saved this long after it is swapped in (CorpusIndex._save_views)
SAVE_SLICE = 20_000  # items per pickled slice of a saved view (ViewCheckpoint.save)
CHECKPOINT_FORMAT = 2  # bump when what ViewCheckpoint saves changes: older files are then ignored
STALE_SEGMENT_S = 600  # a segment file no saved view names is deleted once it is this old (another
# process may have just written it for a view it has not saved yet)


class ViewCheckpoint:
    """The whole view saved under `index_dir/checkpoint/`, so a restart loads it instead of building it again.

    Without it a restart passed every article's saved data through the totals and BM25 again: 72 s at 30k
    articles, ~4 min at 100k. The BM25 segments are written once each, as memory-mapped .npy files (postings
    read from the page cache, not held in the process); `view.pkl` holds the rest: each article's name, key
    and chunk ids, the collection's counts, which chunks of each segment are alive. A serving process saves
    it after each new view, in the background; at start it loads the newest one and catches up on the
    articles changed since, as any change would (`CorpusIndex`). Derived data only: a file that cannot be
    read, or a catch-up that fails, means a full build, never a wrong view. Pickle, for the reason ViewStore
    gives."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.folder = settings.index_dir / "checkpoint"
        self.file = self.folder / "view.pkl"

    def keep(self, segment: Segment) -> Segment:
        """Save a newly built segment and return it mapped from its files (itself if it could not be saved)."""
        if not segment.chunk_ids:
            return segment
        try:
            segment.save(self.folder)
            return Segment.open(self.folder, segment.name)
        except (OSError, ValueError, pickle.PickleError) as exc:
            log.warning("BM25 segment not saved: %s", exc)
            return segment

    def save(self, snap: Snapshot) -> bool:
        """Write `snap`; False when it cannot be (an article held only in memory, no disk space).

        The article list and each count table are written as a series of pickled slices of SAVE_SLICE items,
        not one pickle: pickling holds the GIL, and one pickle of the counts held it for 0.35 s at 10k articles
        (~4 s at 100k), during which no question in the process advanced. Between slices the other threads run."""
        if snap.lexical is None or any(a.held for a in snap.articles.values()):
            return False
        header = {"format": CHECKPOINT_FORMAT, "view_format": VIEW_FORMAT, "generation": snap.generation,
                  "lexical": snap.lexical.state(), "retired": snap.retired, "n_sentences": snap.totals.n_sentences}
        totals = snap.totals
        try:
            for part in snap.lexical.parts:
                part.segment.save(self.folder)  # nothing to do unless `keep` could not save it
            with atomic_file(self.file) as out:
                pickle.dump(header, out, protocol=pickle.HIGHEST_PROTOCOL)
                sections: list[Iterable] = [(a.record() for a in snap.articles.values()), totals.sentence_df.items(),
                                            totals.article_df.items(), totals.title_df.items(), totals.word_df.items()]
                for section in sections:
                    items = iter(section)
                    while chunk := list(itertools.islice(items, SAVE_SLICE)):
                        pickle.dump(chunk, out, protocol=pickle.HIGHEST_PROTOCOL)
                        time.sleep(0)  # let a question's thread have the GIL
                    pickle.dump([], out)  # the section's end
        except OSError as exc:
            log.warning("view not saved: %s", exc)
            return False
        self._prune({part.segment.name for part in snap.lexical.parts})
        log.info("view %s saved", snap.generation[:8])
        return True

    @staticmethod
    def _sections(file, n: int) -> Iterator[list]:
        for _ in range(n):
            section: list = []
            while chunk := pickle.load(file):
                section.extend(chunk)
            yield section

    def load(self, store: ArticleStore) -> Snapshot | None:
        """The saved view (of whatever generation it was saved at), or None when there is none that can be read."""
        try:
            with self.file.open("rb") as file:
                header = pickle.load(file)
                if not isinstance(header, dict) or header.get("format") != CHECKPOINT_FORMAT \
                        or header.get("view_format") != VIEW_FORMAT:
                    return None
                records, *counts = self._sections(file, 5)
            segments = {name: Segment.open(self.folder, name) for name, *_ in header["lexical"]}
            articles = {record[1]: Article.restored(record, store) for record in records}
            ids = [cid for article in articles.values() for cid in article.ids]
            lexical = LexicalIndex.from_state(header["lexical"], segments)
        except UNREADABLE as exc:
            if not (isinstance(exc, FileNotFoundError) and exc.filename == str(self.file)):  # none saved: silent
                log.warning("saved view not read (%s): building it", str(exc))  # (not exc: its frames)
            return None
        if lexical.n_docs != len(ids):
            log.warning("saved view not read (its BM25 counts %d chunks, its articles %d): building it",
                        lexical.n_docs, len(ids))
            return None
        tables = []
        for items in counts:
            table = Counter[str]()
            dict.update(table, items)  # the saved counts as they were, not added up
            tables.append(table)
        totals = Totals(tables[0], header["n_sentences"], tables[1], tables[2], tables[3])
        snap = _assemble(header["generation"], articles, totals, ids, lexical, store)
        snap.retired = header["retired"]
        return snap

    def _prune(self, live: set[str]) -> None:
        now = time.time()
        for path in self.folder.iterdir():
            if path == self.file or path.name.split(".", 1)[0] in live:  # (a dot-file: a save cut short)
                continue
            try:
                if now - path.stat().st_mtime > STALE_SEGMENT_S:
                    path.unlink(missing_ok=True)
            except OSError as exc:
                log.warning("old BM25 segment file not removed: %s", exc)


_OPEN_INDEXES: weakref.WeakSet[CorpusIndex] = weakref.WeakSet()  # flushed at exit (CorpusIndex.flush)


@atexit.register
def _save_at_exit() -> None:
    for index in list(_OPEN_INDEXES):
        index.flush()


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
        self.checkpoint = ViewCheckpoint(settings)
        self._to_save: Snapshot | None = None  # the newest view not saved yet (ViewCheckpoint)
        self._saver: threading.Thread | None = None
        on_generation_change(settings, weakref.WeakMethod(self.follow))
        _OPEN_INDEXES.add(self)

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
        reads = _QUESTION_READS.set({})
        try:
            yield self._pinned.get()
        finally:
            _QUESTION_READS.reset(reads)
            self._pinned.reset(token)

    def refresh(self) -> Snapshot:
        """Build the current generation's view (reusing the unchanged articles) and swap it in."""
        with self._build_lock:
            generation = current_generation(self.settings)
            snap = self._snapshot
            if snap is not None and snap.generation == generation:
                return snap
            if snap is None:
                new, changed = self._restore(generation)
            else:
                new, changed = self._catch_up(generation, snap), True
            with self._lock:
                self._snapshot = new
                if changed:
                    self._save_later(new)
            return new

    def _restore(self, generation: str) -> tuple[Snapshot, bool]:
        """A process's first view: the saved one, brought up to date with the articles changed since it was
        saved; a full build when there is none or the catch-up fails. (view, whether it differs from the saved one)"""
        saved = self.checkpoint.load(ArticleStore(self.settings))
        if saved is not None and saved.generation == generation \
                and _article_keys(open_collection(self.settings)) == {s: a.key for s, a in saved.articles.items()}:
            log.info("view %s loaded as saved", generation[:8])  # (the keys: Chroma's own folder replaced by hand)
            return saved, False
        if saved is not None:
            return self._catch_up(generation, saved), True
        return build_snapshot(self.settings, generation, keep=self.checkpoint.keep), True

    def _catch_up(self, generation: str, previous: Snapshot) -> Snapshot:
        """`previous` brought up to `generation`; a full build when that fails: an article that left has no
        data left to subtract (its saved file gone and not written again, a read-only disk, and its chunks
        gone from Chroma), or a saved view that does not fit the collection."""
        try:
            return build_snapshot(self.settings, generation, previous, keep=self.checkpoint.keep)
        except Exception as exc:
            log.warning("catching up from the previous view failed (%s): building it whole", str(exc))
        return build_snapshot(self.settings, generation, keep=self.checkpoint.keep)

    def _save_later(self, snap: Snapshot) -> None:
        """Save `snap` in the background (called under `_lock`); while a save runs, only the newest view
        waiting is saved after it."""
        self._to_save = snap
        if self._saver is None:
            self._saver = threading.Thread(target=self._save_views, name="view-saver", daemon=True)
            self._saver.start()

    def _save_views(self) -> None:
        while True:
            time.sleep(SAVE_DELAY_S)  # the questions that follow a change first; a burst of changes, one save
            with self._lock:
                snap, self._to_save = self._to_save, None
                if snap is None:
                    self._saver = None
                    return
            try:
                self.checkpoint.save(snap)
            except Exception:  # derived data: the next start builds what it cannot load
                log.exception("saving the view failed")

    def flush(self) -> None:
        """Save the newest view not saved yet, now, in this thread: at exit, so that a command that built a
        view and ends (`sourcechat ask`) leaves it for the next one instead of dropping it with the saver."""
        with self._lock:
            snap, self._to_save = self._to_save, None
        if snap is not None:
            try:
                self.checkpoint.save(snap)
            except Exception as exc:  # derived data, at exit: the next start builds what it cannot load
                log.warning("saving the view at exit failed: %s", exc)

    def saved(self) -> None:
        """Wait until the views built so far are saved (tests, benchmarks)."""
        while True:
            with self._lock:
                saver = self._saver
            if saver is None:
                return
            saver.join()

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
