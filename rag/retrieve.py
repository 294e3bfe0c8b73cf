"""Retrieve: dense (Chroma, cosine) + lexical (BM25) candidates, fused by reciprocal rank."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from rag.index import CorpusIndex
from sourcechat.settings import Settings
from sourcechat.store import embeddings, open_collection, paged_get


class ChunkVectors:
    """The chunk vectors of a view, normalised, one row per chunk in the view's order: what an exact dense
    search multiplies. Read from Chroma once per chunk (a new view reads only the chunks it adds; the rest
    are copied from the previous matrix) and kept for the latest view only: one matrix in memory."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._generation: str | None = None
        self._row: dict[str, int] = {}  # chunk id → its row of `_matrix`
        self._matrix = np.zeros((0, 0), np.float32)

    def matrix(self, snap, store) -> np.ndarray:
        with self._lock:
            if self._generation != snap.generation:
                fetched: dict[str, np.ndarray] = {}
                missing = [i for i in snap.ids if i not in self._row]
                for page in paged_get(store, include=["embeddings"], ids=missing) if missing else ():
                    for chunk_id, vector in zip(page["ids"], page["embeddings"]):
                        v = np.asarray(vector, dtype=np.float32)
                        fetched[chunk_id] = v / (np.linalg.norm(v) or 1.0)
                dim = self._matrix.shape[1] if self._row else len(next(iter(fetched.values()), ()))
                rows = [self._matrix[self._row[i]] if i in self._row else fetched.get(i, np.zeros(dim, np.float32))
                        for i in snap.ids]
                self._matrix = np.stack(rows) if rows and dim else np.zeros((0, 0), np.float32)
                self._row = {i: n for n, i in enumerate(snap.ids) if i in self._row or i in fetched}
                self._generation = snap.generation
            return self._matrix

    def search(self, snap, store, vector: list[float], n: int) -> list[tuple[str, float]]:
        """The `n` chunks nearest `vector` by cosine, exactly: (chunk id, cosine distance), ties by position."""
        matrix = self.matrix(snap, store)
        if not len(matrix):
            return []
        query = np.asarray(vector, dtype=np.float32)
        sims = matrix @ (query / (np.linalg.norm(query) or 1.0))
        n = min(n, len(sims))
        nearest = np.argpartition(-sims, n - 1)[:n] if n < len(sims) else np.arange(len(sims))
        order = sorted(nearest.tolist(), key=lambda i: (-float(sims[i]), i))
        return [(snap.ids[i], 1.0 - float(sims[i])) for i in order]


class Fused(NamedTuple):
    """One candidate chunk of a search: its fused (reciprocal rank) score, cosine similarity and BM25 score."""

    chunk_id: str
    score: float
    dense: float
    bm25: float


class HybridRetriever(BaseRetriever):
    """Chroma similarity and BM25 each propose candidates; reciprocal rank fusion orders them.

    Each returned Document carries `rank`, `score` (fused), `dense` (cosine similarity) and `bm25`
    in its metadata, so evidence selection and the eval can see why a chunk was picked.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    settings: Settings
    corpus: CorpusIndex
    store: Any = None
    k: int = 6
    vectors: ChunkVectors | None = None

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return self.retrieve(query, self.embed(query), self.k)

    def embed(self, query: str) -> list[float]:
        return embeddings(self.settings).embed_query(query)

    def retrieve(self, query: str, vector: list[float], k: int, candidates: int | None = None) -> list[Document]:
        """The `k` best chunks by fused rank; `candidates` (default: the setting) per retriever."""
        return list(itertools.islice(self.documents(self.ranked(query, vector, candidates)), k))

    def searched(self, candidates: int | None = None) -> int:
        """How many candidates each retriever proposes for `candidates` (the setting at least; at most the
        collection)."""
        return min(max(self.settings.candidates_k, candidates or 0), len(self.corpus.snapshot().ids))

    def ranked(self, query: str, vector: list[float], candidates: int | None = None) -> list[Fused]:
        """Every candidate of both retrievers, best fused rank first: one search, whose documents
        `documents` builds only as far as a caller reads (near-copy collapsing reads further than k)."""
        n = self.searched(candidates)
        if n == 0:
            return []
        if self.store is None:
            self.store = open_collection(self.settings)
        # ids and distances only: the view already holds every chunk's text and metadata, and fetching
        # them from Chroma for 50 candidates cost 3-4x the search itself (issue 11: warm ask / bare)
        snap = self.corpus.snapshot()
        if len(snap.ids) <= self.settings.exact_search_chunks:
            if self.vectors is None:
                self.vectors = ChunkVectors()
            dense = self.vectors.search(snap, self.store, vector, n)
        else:
            found = self.store.query(query_embeddings=[vector], n_results=n, include=["distances"])
            dense = list(zip(found["ids"][0], (found["distances"] or [[]])[0]))
        lexical = self.corpus.bm25_search(query, n)
        fused: dict[str, float] = {}
        dense_sim: dict[str, float] = {}
        bm25_score: dict[str, float] = {}
        for rank, (chunk_id, distance) in enumerate(dense):
            fused[chunk_id] = fused.get(chunk_id, 0.0) + 1.0 / (self.settings.rrf_k + rank + 1)
            dense_sim[chunk_id] = 1.0 - distance
        for rank, (chunk_id, score) in enumerate(lexical):
            fused[chunk_id] = fused.get(chunk_id, 0.0) + 1.0 / (self.settings.rrf_k + rank + 1)
            bm25_score[chunk_id] = score
        ordered = sorted(fused, key=lambda c: fused[c], reverse=True)
        return [Fused(c, fused[c], dense_sim.get(c, 0.0), bm25_score.get(c, 0.0)) for c in ordered]

    def documents(self, ranking: list[Fused]) -> Iterator[Document]:
        """The ranking's chunks as Documents, in order, built one at a time (rank: the fused position)."""
        snap = self.corpus.snapshot()
        for rank, hit in enumerate(ranking, start=1):
            if not snap.has(hit.chunk_id):  # written after this snapshot; picked up at the next one
                continue
            i = snap.position(hit.chunk_id)
            meta = dict(snap.metadatas[i].to_chroma(), rank=rank, score=hit.score, dense=hit.dense, bm25=hit.bm25)
            yield Document(id=hit.chunk_id, page_content=snap.document(i), metadata=meta)
