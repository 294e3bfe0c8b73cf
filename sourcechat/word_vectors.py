"""Word vectors computed at ingest: one append-only table of the collection's words, read at question time.

Paraphrase checks ("suggested" for "recommended") compare a question word with every word of each candidate
sentence by embedding similarity. Embedding those words at question time made a first-time question
15–17× the bare retrieval at 200 articles (issue 11): the sentence vectors were already stored, but ~25 new
words per question were not. A word's vector does not depend on its article, so ingest embeds each word
the collection has not seen before, once, and appends it here:

- `index_dir/word_vectors/vectors.f32`: float32 rows of DIM values, in the order the words were added;
- `index_dir/word_vectors/words.txt`: one word per line, line i ↔ row i.

Vectors are appended before their words, and a reader counts rows by complete lines, so a reader never
sees a word without its vector; an append cut short leaves rows past the last word, which the next append
overwrites. Words are never removed (an article's removal leaves its words: harmless, and the table stays
append-only). Cost: the vocabulary grows sub-linearly with the collection (Heaps' law); at 100k articles of
news-like text, roughly 0.5–1M words × 1.5 KB ≈ 0.75–1.5 GB on disk, memory-mapped (only the rows a
question touches are read), plus the word → row dict (~100 MB per million words) in each reader.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from sourcechat.settings import Settings

log = logging.getLogger(__name__)

DIM = 384
_ROW = DIM * 4


def words_dir(settings: Settings) -> Path:
    return settings.index_dir / "word_vectors"


class WordVectorStore:
    """The table of stored word vectors: `lookup` for readers (any thread), `append` for ingest."""

    def __init__(self, settings: Settings):
        self.folder = words_dir(settings)
        self._rows: dict[str, int] = {}
        self._words_size = 0  # bytes of words.txt already read
        self._vectors: np.ndarray | None = None
        self._lock = threading.Lock()

    @property
    def _words(self) -> Path:
        return self.folder / "words.txt"

    @property
    def _vector_file(self) -> Path:
        return self.folder / "vectors.f32"

    def _refresh(self) -> None:
        """Read the words added since the last call (one stat when nothing changed). Caller holds the lock."""
        try:
            size = self._words.stat().st_size
        except OSError:
            return
        if size == self._words_size:
            return
        if size < self._words_size:  # the table was removed and started again (a new index): read it afresh
            self._rows, self._words_size = {}, 0
        with open(self._words, "rb") as fh:
            fh.seek(self._words_size)
            tail = fh.read(size - self._words_size)
        complete = tail[: tail.rfind(b"\n") + 1]  # a line still being written waits for the next call
        for word in complete.decode("utf-8").splitlines():
            self._rows.setdefault(word, len(self._rows))
        self._words_size += len(complete)
        self._vectors = np.memmap(self._vector_file, dtype=np.float32, mode="r", shape=(len(self._rows), DIM)) \
            if self._rows else None

    def __len__(self) -> int:
        with self._lock:
            self._refresh()
            return len(self._rows)

    def lookup(self, words: Iterable[str]) -> dict[str, np.ndarray]:
        """The stored vectors of those of `words` the table holds (copies: safe after the file grows)."""
        with self._lock:
            self._refresh()
            rows, vectors = self._rows, self._vectors
            found = {w: rows[w] for w in words if w in rows}
        if not found or vectors is None:
            return {}
        return {w: np.array(vectors[r]) for w, r in found.items()}

    def missing(self, words: Iterable[str]) -> list[str]:
        with self._lock:
            self._refresh()
            return sorted({w for w in words if w not in self._rows})

    def append(self, words: list[str], vectors: np.ndarray) -> None:
        """Add words (not yet stored) and their vectors. Processes serialise on a file lock."""
        if not words:
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(words), DIM)
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            with self._lock:  # what other processes appended: only the file's new tail is read
                self._refresh()
                known = self._rows
                n_stored = len(known)
                fresh = [(w, v) for w, v in zip(words, vectors) if w not in known and "\n" not in w]
            fresh = list({w: (w, v) for w, v in fresh}.values())
            if not fresh:
                return
            with open(self._vector_file, "ab+") as fh:
                fh.truncate(n_stored * _ROW)  # rows past the last word: an append cut short
                fh.seek(n_stored * _ROW)
                fh.write(np.stack([v for _, v in fresh]).tobytes())
                fh.flush()
                os.fsync(fh.fileno())
            with open(self._words, "a", encoding="utf-8") as fh:
                fh.write("".join(f"{w}\n" for w, _ in fresh))
        log.info("word vectors: %d new words stored (%d in all)", len(fresh), n_stored + len(fresh))
