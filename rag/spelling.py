"""Is a word a misspelling of a word the collection uses? A bigram index answers without scanning the vocabulary.

The answer is exactly difflib's (`get_close_matches(word, vocabulary, cutoff=0.85)` is non-empty): the
index only narrows the words difflib's ratio is computed for, by two bounds that no match can break:

- length: ratio = 2·M/(L+l) ≤ 2·min(L, l)/(L+l), so a word of a very different length cannot reach the cutoff;
- shared bigrams: M matching characters leave at most d = L+l−2M ≤ (1−cutoff)(L+l) insertions and deletions
  between the two words; each one breaks at most two of the query's bigrams, so a match shares at least
  B − 2d of the query's B distinct bigrams. When that bound is not positive, every word of that length is checked.
"""

from __future__ import annotations

import bisect
import difflib
import logging
import math
import threading
from collections.abc import Collection, Iterable

import numpy as np

log = logging.getLogger(__name__)


def _bigrams(word: str) -> set[str]:
    return {word[i:i + 2] for i in range(len(word) - 1)}


class SpellingIndex:
    """Built once per view of the collection; `has_close` costs about the same at any vocabulary size."""

    def __init__(self, vocabulary: Iterable[str]):
        by_length: dict[int, list[str]] = {}
        for word in set(vocabulary):
            by_length.setdefault(len(word), []).append(word)
        self._words = {n: sorted(ws) for n, ws in by_length.items()}
        self._postings: dict[tuple[str, int], np.ndarray] = {}
        for n, ws in self._words.items():
            lists: dict[str, list[int]] = {}
            for i, w in enumerate(ws):
                for gram in _bigrams(w):
                    lists.setdefault(gram, []).append(i)
            for gram, ids in lists.items():
                self._postings[(gram, n)] = np.asarray(ids, dtype=np.int32)
        self._memo: dict[tuple[str, float], tuple[str, ...]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return sum(len(ws) for ws in self._words.values())

    def contains(self, word: str) -> bool:
        words = self._words.get(len(word))
        if not words:
            return False
        i = bisect.bisect_left(words, word)
        return i < len(words) and words[i] == word

    def matches(self, word: str, cutoff: float = 0.85) -> tuple[str, ...]:
        """Every vocabulary word whose difflib ratio with `word` is at least `cutoff` (memoised)."""
        key = (word, cutoff)
        with self._lock:
            hit = self._memo.get(key)
        if hit is not None:
            return hit
        found = tuple(self._scan(word, cutoff))
        with self._lock:
            if len(self._memo) > 50_000:
                self._memo.clear()
            self._memo[key] = found
        return found

    def has_close(self, word: str, cutoff: float = 0.85, within: Collection[str] | None = None) -> bool:
        """difflib.get_close_matches(word, vocabulary or `within`, n=1, cutoff) is not empty
        (`within` must be a subset of the indexed vocabulary)."""
        found = self.matches(word, cutoff)
        return bool(found) if within is None else any(w in within for w in found)

    def _scan(self, word: str, cutoff: float) -> list[str]:
        size = len(word)
        grams = _bigrams(word)
        matcher = difflib.SequenceMatcher()
        matcher.set_seq2(word)
        out: list[str] = []
        for n in self._lengths(size, cutoff):
            for candidate in self._candidates(word, grams, n, cutoff):
                matcher.set_seq1(candidate)
                if matcher.real_quick_ratio() >= cutoff and matcher.quick_ratio() >= cutoff \
                        and matcher.ratio() >= cutoff:
                    out.append(candidate)
        return out

    def _lengths(self, size: int, cutoff: float) -> list[int]:
        """Lengths l with 2·min(size, l)/(size+l) ≥ cutoff (with a margin for rounding; ratio decides)."""
        if size == 0 or cutoff <= 0:
            return sorted(self._words)
        low = math.floor(size * cutoff / (2 - cutoff)) - 1
        high = math.ceil(size * (2 - cutoff) / cutoff) + 1
        return [n for n in range(max(1, low), high + 1) if n in self._words]

    def _candidates(self, word: str, grams: set[str], n: int, cutoff: float) -> list[str]:
        words = self._words[n]
        edits = math.floor((1 - cutoff) * (len(word) + n) + 1e-9)
        need = len(grams) - 2 * edits
        if need <= 0:
            return words  # the bound says nothing: check every word of this length
        arrays = [self._postings[(g, n)] for g in grams if (g, n) in self._postings]
        if not arrays:
            return []
        counts = np.bincount(np.concatenate(arrays), minlength=len(words))
        return [words[i] for i in np.flatnonzero(counts >= need)]


REBUILD_SHARE = 0.1  # layered changes beyond this share of the base vocabulary: index the vocabulary afresh


class LayeredSpelling:
    """The next view's spelling index without re-indexing the vocabulary: the previous base, minus the
    words no article uses any more, plus a small index of the words that are new. Same answers as a
    SpellingIndex over the new vocabulary (difflib's), at the cost of one extra small lookup."""

    def __init__(self, base: SpellingIndex, removed: frozenset[str], added: frozenset[str]):
        self.base, self.removed, self.added = base, removed, added
        self.extra = SpellingIndex(added)

    @classmethod
    def following(cls, previous: SpellingIndex | LayeredSpelling, gone: set[str], new: set[str]
                  ) -> SpellingIndex | LayeredSpelling | None:
        """The index after `gone` words left the vocabulary and `new` ones came; None when the layers
        grew past REBUILD_SHARE (the caller builds a fresh index from the vocabulary)."""
        base = previous.base if isinstance(previous, LayeredSpelling) else previous
        removed = set(previous.removed) if isinstance(previous, LayeredSpelling) else set()
        added = set(previous.added) if isinstance(previous, LayeredSpelling) else set()
        added -= gone
        removed |= {w for w in gone if base.contains(w)}
        removed -= new
        added |= {w for w in new if not base.contains(w)}
        if len(removed) + len(added) > REBUILD_SHARE * max(len(base), 1000):
            return None
        return cls(base, frozenset(removed), frozenset(added))

    def __len__(self) -> int:
        return len(self.base) - len(self.removed) + len(self.added)

    def matches(self, word: str, cutoff: float = 0.85) -> tuple[str, ...]:
        found = self.base.matches(word, cutoff)
        if self.removed:
            found = tuple(w for w in found if w not in self.removed)
        return found + self.extra.matches(word, cutoff) if self.added else found

    def has_close(self, word: str, cutoff: float = 0.85, within: Collection[str] | None = None) -> bool:
        found = self.matches(word, cutoff)
        return bool(found) if within is None else any(w in within for w in found)
