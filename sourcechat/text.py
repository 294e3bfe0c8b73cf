"""Words, stems and folding: the vocabulary ingest and rag share.

Ingest stores the vectors of a text's paraphrase words (sourcechat.word_vectors) and rag looks them up, so
both must cut a text into words the same way; retrieval, evidence and answering compare stems and folded
strings made here. The spaCy pipeline that reads questions and sentences is rag's own (rag.text)."""

from __future__ import annotations

import json
import re
import threading
import unicodedata
from functools import lru_cache
from pathlib import Path

import Stemmer

_stemmer = Stemmer.Stemmer("english")
_stem_lock = threading.Lock()

STOPWORDS = frozenset("""
a about above after again against all am an and any are aren't as at be because been before being below
between both but by can could did didn't do does doesn't doing don't down during each few for from further
had has have having he her here hers herself him himself his how i if in into is isn't it it's its itself
just me more most my myself no nor not now of off on once only or other our ours out over own same she
should so some such than that that's the their theirs them themselves then there these they this those
through to too under until up very was wasn't we were what when where which while who whom whose why will
with would you your yours s t also ever get got go goes went come came make made give gave take took
say said tell told one ones thing things way kind according
""".split())

QUESTION_WORDS = frozenset("what which who whom whose when where why how name named".split())

# a number with separators is one word ("14:00", "10,600", "6.1"), as a question writes it: in pieces, the
# "10" of "at 10:00" matched "10,600" in the next column
_NUMBER = r"\d+(?:[.,:]\d+)+"
_WORD = re.compile(_NUMBER + r"|[\w][\w'’\-]*")
_SEPARATED_NUMBER = re.compile(_NUMBER)


_QUOTES_DASHES = {ord("’"): "'", ord("‘"): "'", ord("“"): '"', ord("”"): '"', ord("–"): "-", ord("—"): "-"}


class _FoldTable(dict):
    """str.translate's table for `fold`: combining marks → dropped, curly quotes and dashes → ASCII.

    Filled lazily (a code point is looked up once per process), so it covers all of Unicode without a
    1.1M-entry build at import; one C-level translate replaces a Python generator over every character."""

    def __missing__(self, code: int):
        value = None if unicodedata.combining(chr(code)) else _QUOTES_DASHES.get(code, code)
        self[code] = value
        return value


_FOLD_TABLE = _FoldTable()


def fold(text: str) -> str:
    """Lower-case, strip accents and unify quotes/dashes, for comparing strings across sources."""
    if text.isascii():  # NFKD leaves ASCII as it is, and no ASCII character is a mark, quote or dash here
        return text.lower()
    return unicodedata.normalize("NFKD", text).translate(_FOLD_TABLE).lower()


def words(text: str) -> list[str]:
    return [w for w in (t.strip("'’-") for t in _WORD.findall(fold(text))) if w]


def paraphrase_words(text: str) -> set[str]:
    """The words of a text that paraphrase checks may compare a question word with (rag.evidence): ingest
    stores their vectors (sourcechat.word_vectors) so a first-time question need not embed them. A value
    ("20:00", "6.1") is no paraphrase of a word: to the embedding model "midnight" is close to "20:00"."""
    return {w for w in words(text) if len(w) > 2 and w not in STOPWORDS and not _SEPARATED_NUMBER.fullmatch(w)}


# Irregular verb forms → their base ("wrote" → "write", "won" → "win"): questions ask "who did X write" of
# articles that say "X wrote", and a stemmer cannot join the two. Data from spaCy's lemmatizer exceptions.
_IRREGULAR: dict[str, str] = json.loads((Path(__file__).with_name("irregular_verbs.json")).read_text())["verbs"]


@lru_cache(maxsize=50000)
def stem(word: str) -> str:
    word = re.sub(r"'s$", "", word)
    word = _IRREGULAR.get(word, word)
    with _stem_lock:
        return _stemmer.stemWord(word)


@lru_cache(maxsize=200_000)
def _word_stems(word: str, keep_question_words: bool) -> tuple[str, ...]:
    """One word's content stems (none for a stop word; one per part of a hyphenated word), cached:
    loading a collection stems each distinct word once instead of at every occurrence."""
    if word in STOPWORDS or (word in QUESTION_WORDS and not keep_question_words):
        return ()
    return tuple(stem(part) for part in word.split("-") if part and part not in STOPWORDS)


def content_stems(text: str, keep_question_words: bool = False) -> list[str]:
    """Stems of the words that carry meaning: what BM25 indexes and coverage checks compare."""
    return [s for w in words(text) for s in _word_stems(w, keep_question_words)]
