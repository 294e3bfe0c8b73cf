"""Sentence vectors computed at ingest, one small file per article version, read back at question time.

Evidence selection compares the question with every sentence of the retrieved chunks (embedded as
"title: sentence"). Embedding them at question time made a first-time question 5–20× the bare retrieval
(issue 11). Ingest now embeds them with the chunks and writes `index_dir/sentence_vectors/<source>-<hash>-<title>.f32`:
a little header, the sentences' start offsets and their float32 vectors. Why files and not a second Chroma
collection: a question reads the sentences of ~16 chunks by article, never searches them by vector, and
Chroma would keep an HNSW graph of millions of sentence vectors in memory for nothing; a file per article
version is written before its chunks and removed after they are replaced, so it follows the index's safety
rules, and a reader reads only the articles it needs (RSS stays flat; the page cache does the rest).
float32, not float16: the stored vector must score exactly as the one computed at question time.
At 100k articles (~40 sentences each, 384 dimensions): 100k × 40 × 1.5 KB ≈ 6 GB on disk, ~0 in RSS.
A missing file (an index from before, another machine sharing a Chroma server) just means the sentences
are embedded at question time as before.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from sourcechat.contracts import article_version, chunk_version
from sourcechat.files import write_atomic
from sourcechat.settings import Settings

log = logging.getLogger(__name__)

DIM = 384
_MAGIC = 0x53563031  # "SV01"
_CACHE_FILES = 512  # articles' vectors kept in memory (about 60 KB each)


def vectors_dir(settings: Settings) -> Path:
    return settings.index_dir / "sentence_vectors"


def _short(text: str, n: int) -> str:
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:n]


def vector_file(settings: Settings, source: str, content_hash: str, title: str) -> Path:
    """One file per (article, content, title): a replaced article's new vectors never overwrite the old ones."""
    return vectors_dir(settings) / f"{_short(source, 16)}-{article_version(content_hash)}-{_short(title, 8)}.f32"


def write_vectors(path: Path, starts: list[int], vectors: np.ndarray) -> None:
    """Write atomically (a temporary file renamed), so a reader never sees half a file."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    header = np.array([_MAGIC, len(starts), vectors.shape[1] if len(starts) else DIM], dtype=np.int64)
    write_atomic(path, header.tobytes() + np.asarray(starts, dtype=np.int64).tobytes() + vectors.tobytes())


def read_vectors(path: Path) -> tuple[dict[int, int], np.ndarray] | None:
    """start offset → row, and the vectors; None when the file is missing or not one of ours."""
    try:
        raw = path.read_bytes()
    except OSError:
        return None
    header = np.frombuffer(raw[:24], dtype=np.int64) if len(raw) >= 24 else None
    if header is None or int(header[0]) != _MAGIC:
        return None
    n, dim = int(header[1]), int(header[2])
    if len(raw) != 24 + 8 * n + 4 * n * dim:
        return None
    starts = np.frombuffer(raw[24:24 + 8 * n], dtype=np.int64)
    vectors = np.frombuffer(raw[24 + 8 * n:], dtype=np.float32).reshape(n, dim)
    return {int(s): i for i, s in enumerate(starts)}, vectors


def remove_vectors(settings: Settings, source: str, content_hash: str) -> None:
    """Drop every file of one article version (any title)."""
    folder = vectors_dir(settings)
    if folder.is_dir():
        for path in folder.glob(f"{_short(source, 16)}-{article_version(content_hash)}-*.f32"):
            path.unlink(missing_ok=True)


def sentence_key(title: str, sentence: str) -> str:
    """What a sentence is embedded as: with its article's title, as chunks are, so that the name of the
    article's subject, shared by all its sentences, does not decide which of them matches."""
    return f"{title}: {sentence}" if title else sentence


class SentenceVectorReader:
    """Reads articles' sentence-vector files for a question, keeping the recently used ones in memory."""

    def __init__(self, settings: Settings):
        self.settings = settings
        # keyed by (source, version, title): a file's name (two hashes and a Path) is built only to read it,
        # not on each of the ~70 lookups a question makes
        self._files: OrderedDict[tuple[str, str, str], tuple[dict[int, int], np.ndarray] | None] = OrderedDict()
        self._lock = threading.Lock()

    def lookup(self, chunk_id: str, title: str, start: int) -> np.ndarray | None:
        """The stored vector of the sentence at `start` of the article version `chunk_id` belongs to."""
        source, version = chunk_version(chunk_id)
        if not version:
            return None
        found = self._load((source, version, title))
        if found is None:
            return None
        row = found[0].get(start)
        return None if row is None else found[1][row]

    def _load(self, key: tuple[str, str, str]) -> tuple[dict[int, int], np.ndarray] | None:
        with self._lock:
            if key in self._files:
                self._files.move_to_end(key)
                return self._files[key]
        found = read_vectors(vector_file(self.settings, *key))
        with self._lock:
            self._files[key] = found
            while len(self._files) > _CACHE_FILES:
                self._files.popitem(last=False)
        return found
