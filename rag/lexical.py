"""BM25 over the collection's chunks, updated per changed article instead of re-indexed (issue 11).

bm25s precomputes every (chunk, term) score at indexing time, so any change meant indexing the whole
collection again: 1 s at 1,000 articles, 10 s at 10,000, in the path between an upload and its first answer.
This index keeps postings (chunk, term frequency) in immutable *segments*, as Lucene does: a change adds
one small segment for the new articles and marks the chunks of removed ones dead in a copy of their
segment's mask; the scores are computed at question time from the live counts (N, document frequency,
average length), so they are exactly those of a fresh bm25s index over the same chunks (Lucene variant,
k1 1.5, b 0.75, float32 accumulation in query-token order; `tests/test_lexical.py` compares them). Small
segments are merged once there are more than MAX_SEGMENTS; everything is rebuilt into one segment only
when a quarter of the indexed chunks are dead.
"""

from __future__ import annotations

import math
import pickle
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from sourcechat.files import atomic_file

K1, B = 1.5, 0.75
ArticleTokens = tuple[str, Sequence[str], Sequence[Sequence[str]]]  # (article key, chunk ids, chunk tokens)
MAX_SEGMENTS = 8
MAX_DEAD_SHARE = 0.25


@dataclass(frozen=True)
class Segment:
    """Postings of some articles' chunks, by term (CSC layout); never changed after it is built."""

    sources: tuple[str, ...]  # article keys ("source\0content hashes": a new version is another article)
    ranges: dict[str, tuple[int, int]]  # article key → its chunks' local rows [start, end)
    chunk_ids: tuple[str, ...]
    vocab: dict[str, int]
    indptr: np.ndarray  # term id → slice of rows/tf
    rows: np.ndarray  # int32 local chunk rows
    tf: np.ndarray  # float32 term frequencies
    lengths: np.ndarray  # int64 tokens per chunk
    name: str = field(default_factory=lambda: uuid.uuid4().hex, compare=False)  # its files' name

    ARRAYS = ("indptr", "rows", "tf", "lengths")

    def save(self, folder: Path) -> None:
        """Write the segment to `folder` (once: a segment never changes): its postings as .npy files, then
        the rest as a pickle whose presence says the files are whole."""
        if (folder / f"{self.name}.pkl").exists():
            return
        for array in self.ARRAYS:
            with atomic_file(folder / f"{self.name}.{array}.npy") as out:
                np.save(out, getattr(self, array), allow_pickle=False)
        with atomic_file(folder / f"{self.name}.pkl") as out:
            pickle.dump((self.sources, self.ranges, self.chunk_ids, self.vocab), out, protocol=pickle.HIGHEST_PROTOCOL)

    @classmethod
    def open(cls, folder: Path, name: str) -> Segment:
        """A saved segment, its postings memory-mapped: the pages a question reads come from the page cache
        and can be given back, instead of every posting sitting in the process's own memory."""
        sources, ranges, chunk_ids, vocab = pickle.loads((folder / f"{name}.pkl").read_bytes())
        indptr, rows, tf, lengths = (np.load(folder / f"{name}.{array}.npy", mmap_mode="r", allow_pickle=False)
                                     for array in cls.ARRAYS)
        segment = cls(sources, ranges, chunk_ids, vocab, indptr, rows, tf, lengths, name=name)
        if len(segment.indptr) != len(vocab) + 1 or len(segment.lengths) != len(chunk_ids) \
                or len(segment.rows) != len(segment.tf) or len(segment.rows) != int(segment.indptr[-1]):
            raise ValueError(f"segment {name} does not match its postings")
        return segment

    @classmethod
    def build(cls, articles: Iterable[ArticleTokens]) -> Segment:
        """`articles`: (article key, chunk ids, token lists of those chunks)."""
        sources: list[str] = []
        ranges: dict[str, tuple[int, int]] = {}
        chunk_ids: list[str] = []
        vocab: dict[str, int] = {}
        term_col: list[int] = []
        row_col: list[int] = []
        tf_col: list[int] = []
        lengths: list[int] = []
        for source, ids, token_lists in articles:
            start = len(chunk_ids)
            for cid, tokens in zip(ids, token_lists):
                row = len(chunk_ids)
                chunk_ids.append(cid)
                lengths.append(len(tokens))
                counts: dict[str, int] = {}
                for token in tokens:
                    counts[token] = counts.get(token, 0) + 1
                for token, count in counts.items():
                    term_col.append(vocab.setdefault(token, len(vocab)))
                    row_col.append(row)
                    tf_col.append(count)
            sources.append(source)
            ranges[source] = (start, len(chunk_ids))
        terms = np.asarray(term_col, dtype=np.int64)
        order = np.argsort(terms, kind="stable")  # by term, rows ascending within a term
        indptr = np.zeros(len(vocab) + 1, dtype=np.int64)
        np.cumsum(np.bincount(terms, minlength=len(vocab)), out=indptr[1:])
        return cls(tuple(sources), ranges, tuple(chunk_ids), vocab, indptr,
                   np.asarray(row_col, dtype=np.int32)[order], np.asarray(tf_col, dtype=np.float32)[order],
                   np.asarray(lengths, dtype=np.int64))


@dataclass(frozen=True)
class _Live:
    """A segment as one view sees it: which of its chunks are alive, and where they sit in the view."""

    segment: Segment
    alive: np.ndarray | None  # bool per local row; None = all alive
    n_alive: int
    alive_length: int
    positions: np.ndarray  # local row → position in the view's chunk list (-1: dead)


class LexicalIndex:
    """One view's BM25: live segments plus the totals the scores need. Immutable; `updated` makes the next."""

    def __init__(self, parts: list[_Live]):
        self.parts = parts
        self.n_docs = sum(p.n_alive for p in parts)
        self.total_length = sum(p.alive_length for p in parts)

    # --- building ---------------------------------------------------------------------------------

    @staticmethod
    def _live(segment: Segment, dead: set[str], position: dict[str, int]) -> _Live:
        alive = None
        if any(s in dead for s in segment.sources):
            alive = np.ones(len(segment.chunk_ids), dtype=bool)
            for source in segment.sources:
                if source in dead:
                    start, end = segment.ranges[source]
                    alive[start:end] = False
        positions = np.fromiter((position.get(c, -1) for c in segment.chunk_ids), dtype=np.int64,
                                count=len(segment.chunk_ids))
        if alive is None:
            return _Live(segment, None, len(segment.chunk_ids), int(segment.lengths.sum()), positions)
        return _Live(segment, alive, int(alive.sum()), int(segment.lengths[alive].sum()), positions)

    def state(self) -> list[tuple[str, np.ndarray | None, int, int, np.ndarray]]:
        """What a saved view needs besides the segments' own files: each part's segment name, live mask,
        counts and positions."""
        return [(p.segment.name, p.alive, p.n_alive, p.alive_length, p.positions) for p in self.parts]

    @classmethod
    def from_state(cls, state: list[tuple[str, np.ndarray | None, int, int, np.ndarray]],
                   segments: dict[str, Segment]) -> LexicalIndex:
        parts = []
        for name, alive, n_alive, alive_length, positions in state:
            segment = segments[name]
            if len(positions) != len(segment.chunk_ids) or (alive is not None and len(alive) != len(positions)):
                raise ValueError(f"segment {name} does not match the saved view")
            parts.append(_Live(segment, alive, n_alive, alive_length, positions))
        return cls(parts)

    @classmethod
    def build(cls, articles: Iterable[ArticleTokens],
              order: Sequence[str]) -> LexicalIndex:
        """From scratch: one segment. `order`: the view's chunk ids, in the order scores are returned."""
        return cls.of(Segment.build(articles), order)

    @classmethod
    def of(cls, segment: Segment, order: Sequence[str]) -> LexicalIndex:
        """An index of one segment, built from a stream of articles before their order was known."""
        position = {cid: i for i, cid in enumerate(order)}
        return cls([cls._live(segment, set(), position)]) if segment.chunk_ids else cls([])

    def updated(self, removed: set[str], added: Sequence[ArticleTokens],
                order: Sequence[str], everything: Callable[..., Iterable[ArticleTokens]],
                keep: Callable[[Segment], Segment] = lambda segment: segment) -> LexicalIndex:
        """The next view's index: `removed` articles' chunks dead, `added` in a new segment (article keys,
        so a changed article is a removed one plus an added one). `everything`: a callable giving every
        live article's (key, ids, tokens), for a full rebuild; `everything(keys)`: those articles only, for a
        merge (the view reads them from disk). `keep`: what becomes of each new segment (saved and
        memory-mapped, in a serving process). Dead articles are tracked per
        segment: an article removed and later added again is dead in its old segment, alive in its new one."""
        position = {cid: i for i, cid in enumerate(order)}
        segments = [p.segment for p in self.parts]
        dead: list[set[str]] = []
        for part in self.parts:
            gone = set()
            if part.alive is not None:
                for key in part.segment.sources:
                    start, end = part.segment.ranges[key]
                    if not part.alive[start:end].any():
                        gone.add(key)
            gone |= {key for key in removed if key in part.segment.ranges}
            dead.append(gone)
        if added:
            segments.append(keep(Segment.build(added)))
            dead.append(set())
        indexed = sum(len(seg.chunk_ids) for seg in segments)
        dead_chunks = sum(seg.ranges[k][1] - seg.ranges[k][0] for seg, gone in zip(segments, dead) for k in gone)
        if indexed and dead_chunks / indexed > MAX_DEAD_SHARE:
            return LexicalIndex.of(keep(Segment.build(everything())), order)
        if len(segments) > MAX_SEGMENTS:  # merge all but the largest segment, keeping only live articles
            largest = max(range(len(segments)), key=lambda i: len(segments[i].chunk_ids))
            small = {k for i, seg in enumerate(segments) if i != largest for k in seg.sources if k not in dead[i]}
            merged = keep(Segment.build(everything(small)))
            segments, dead = [segments[largest], merged], [dead[largest], set()]
        return LexicalIndex([self._live(seg, gone, position) for seg, gone in zip(segments, dead) if seg.chunk_ids])

    # --- scoring ----------------------------------------------------------------------------------

    def scores(self, tokens: list[str], n_positions: int) -> np.ndarray | None:
        """BM25 score of every chunk of the view (float32, in the view's order) for the query `tokens`
        (duplicates count twice, as in bm25s); None when no token is in the live collection."""
        gathered: list[tuple[list[tuple[np.ndarray, np.ndarray, np.ndarray]], int]] = []
        for token in tokens:
            found = []
            for part in self.parts:
                term = part.segment.vocab.get(token)
                if term is None:
                    continue
                lo, hi = part.segment.indptr[term], part.segment.indptr[term + 1]
                rows, tf = part.segment.rows[lo:hi], part.segment.tf[lo:hi]
                if part.alive is not None:
                    keep = part.alive[rows]
                    rows, tf = rows[keep], tf[keep]
                if len(rows):
                    found.append((part.positions[rows], tf, part.segment.lengths[rows]))
            gathered.append((found, sum(len(f[1]) for f in found)))
        if not any(df for _, df in gathered):
            return None
        average = np.float64(self.total_length) / self.n_docs  # as bm25s: the mean of the chunk lengths
        out = np.zeros(n_positions, dtype=np.float32)
        for found, df in gathered:  # in query order: float32 sums as bm25s accumulates them
            if not df:
                continue
            idf = np.float32(math.log(1 + (self.n_docs - df + 0.5) / (df + 0.5)))  # bm25s keeps idf in float32
            for positions, tf, lengths in found:
                tfc = tf / (K1 * ((1 - B) + B * lengths / average) + tf)
                np.add.at(out, positions, (idf * tfc).astype(np.float32))
        return out
