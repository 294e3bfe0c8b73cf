"""Collapse near-duplicate passages among the retrieved chunks, before evidence selection.

When many articles share a passage (edited copies, syndicated reprints), retrieval fills its top k with
copies of one chunk: the answerer then sees the same sentence many times with near-identical rivals and
little else, and refuses. Here chunks whose normalised word 3-gram sets overlap by Jaccard ≥ `threshold`
count as one; the best-ranked copy stays (its `duplicates` metadata says how many it stands for), and
the search is widened (4x at a time) until `k` distinct chunks are found or the candidates run out.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Protocol

from langchain_core.documents import Document

from sourcechat.contracts import Retrieved
from sourcechat.text import words

log = logging.getLogger(__name__)

SHINGLE_WORDS = 3
THRESHOLD = 0.8  # an edited copy (a word or two changed per chunk) scores ≥ 0.9; overlapping chunks < 0.3
WIDEN = 4  # when copies crowd out distinct chunks, retrieve 4x as many candidates and collapse again...
MAX_CANDIDATES = 1024  # ...up to the whole collection or this many: 100 copies of a 23-chunk article still
# leave 16 distinct chunks in the first 1,024 fused candidates, and the widest query costs about 0.3 s


class Retriever(Protocol):
    def searched(self, candidates: int | None = None) -> int: ...

    def ranked(self, query: str, vector: list[float], candidates: int | None = None) -> list: ...

    def documents(self, ranking: list) -> Iterable[Document]: ...


def shingles(text: str, n: int = SHINGLE_WORDS) -> frozenset[int]:
    """Hashes of the word n-grams of the folded text (case, accents and punctuation ignored)."""
    tokens = words(text)
    if len(tokens) < n:
        return frozenset({hash(tuple(tokens))})
    return frozenset(hash(tuple(tokens[i:i + n])) for i in range(len(tokens) - n + 1))


def jaccard(a: frozenset[int], b: frozenset[int]) -> float:
    if not a or not b:
        return 0.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


def near_copy(a: frozenset[int], b: frozenset[int], threshold: float) -> bool:
    """Jaccard ≥ threshold; the size ratio bounds it from above, so most pairs skip the intersection."""
    if min(len(a), len(b)) < threshold * max(len(a), len(b)):
        return False
    return jaccard(a, b) >= threshold


def collapse_near_duplicates(docs: Iterable[Document], k: int, threshold: float = THRESHOLD,
                             memo: dict[str | None, frozenset[int]] | None = None) -> list[Document]:
    """The first `k` chunks (in rank order) that are not near-copies of a better-ranked one, re-ranked 1..n.
    `memo`: shingles by chunk id, kept across one question's widenings (each widening reads the same top
    chunks again)."""
    kept: list[tuple[Document, frozenset[int]]] = []
    copies: list[int] = []
    memo = {} if memo is None else memo
    for doc in docs:
        grams = memo.get(doc.id) if doc.id is not None else None
        if grams is None:
            grams = shingles(doc.page_content)
            if doc.id is not None:
                memo[doc.id] = grams
        match = next((i for i, (_, other) in enumerate(kept) if near_copy(grams, other, threshold)), None)
        if match is not None:
            copies[match] += 1
            continue
        if len(kept) == k:
            break
        kept.append((doc, grams))
        copies.append(0)
    out = []
    for rank, ((doc, _), n) in enumerate(zip(kept, copies), start=1):
        out.append(Document(id=doc.id, page_content=doc.page_content,
                            metadata={**doc.metadata, "rank": rank, "duplicates": n}))
    return out


def retrieve_distinct(retriever: Retriever, query: str, vector: list[float], k: int,
                      threshold: float = THRESHOLD) -> list[Document]:
    """Retrieve `k` chunks that are not near-copies of one another, widening the search if needed. One
    search's fused ranking is read as far as the collapse needs (its documents built lazily); a wider
    search runs only when that ranking is used up."""
    memo: dict[str | None, frozenset[int]] = {}
    candidates = None
    while True:
        searched = retriever.searched(candidates)
        ranking = retriever.ranked(query, vector, candidates)
        kept = collapse_near_duplicates(retriever.documents(ranking), k, threshold, memo)
        if len(kept) >= k or searched >= retriever.searched(MAX_CANDIDATES):  # the widest search, or all
            break
        candidates = min(searched * WIDEN, MAX_CANDIDATES)
    collapsed = sum(Retrieved.of(d).duplicates for d in kept)
    if collapsed:
        log.debug("collapsed %d near-duplicate chunks into %d", collapsed, len(kept))
    return kept
