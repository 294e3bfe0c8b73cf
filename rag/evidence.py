"""Select evidence: score the sentences of the retrieved chunks, and check that they cover the question.

A one-topic corpus defeats score thresholds (a question the articles cannot answer still looks like
them), so refusal rests on coverage: the names, numbers and key words of the question must be present in
the evidence, literally or as a close paraphrase ("suggested" for "recommended").
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from langchain_core.documents import Document

from rag.index import Sentence, Snapshot
from rag.question import QuestionInfo, Term
from rag.spans import is_byline
from sourcechat.contracts import Retrieved
from sourcechat.lru import LRU
from sourcechat.sentence_vectors import SentenceVectorReader, sentence_key
from sourcechat.settings import Settings
from sourcechat.store import embeddings
from sourcechat.text import content_stems, fold, paraphrase_words, stem
from sourcechat.word_vectors import WordVectorStore


@dataclass
class Evidence:
    sentence: Sentence
    title: str
    context: str  # the sentence with its neighbours, for coverage
    dense: float
    lexical: float
    chunk_rank: int
    score: float = 0.0


class VectorCache:
    """Embeddings of sentences and single words, computed once per process (they recur across questions)."""

    MAX_VECTORS = 100_000  # about 150 MB of 384-float vectors

    def __init__(self, settings: Settings, embedder=None):
        self.settings = settings
        self._embedder = embedder  # anything with embed_documents; default: the process's model
        self._cache: LRU[str, np.ndarray] = LRU(self.MAX_VECTORS)
        self._stored: SentenceVectorReader | None = None
        self._words = WordVectorStore(settings)

    def _known(self, texts: list[str]) -> tuple[dict[str, np.ndarray], list[str]]:
        """The vectors of `texts` already known (cached, or single words in the table ingest stored:
        sourcechat.word_vectors), and the texts still to embed."""
        found = self._cache.get_many(dict.fromkeys(texts))
        missing = [t for t in dict.fromkeys(texts) if t not in found]
        if missing:
            stored = self._words.lookup(t for t in missing if " " not in t)
            if stored:
                found.update(stored)
                self._cache.put_many(stored.items())
                missing = [t for t in missing if t not in stored]
        return found, missing

    def _embed(self, texts: list[str]) -> list[np.ndarray]:
        model = self._embedder or embeddings(self.settings)
        return [np.asarray(v, dtype=np.float32) for v in model.embed_documents(texts)]

    def vectors(self, texts: list[str]) -> np.ndarray:
        """One row per text. The rows come from a lookup this call owns, so another thread evicting
        entries meanwhile cannot make it fail."""
        found, missing = self._known(texts)
        if missing:
            computed = self._embed(missing)
            found.update(zip(missing, computed))
            self._cache.put_many(zip(missing, computed))
        return np.stack([found[t] for t in texts]) if texts else np.zeros((0, 384), np.float32)

    def embed_query(self, query: str, alongside: list[str]) -> list[float]:
        """The query's vector (not cached: a question asked again is embedded again), computed in one model
        call with the words `alongside` not yet known, which are cached: a first-time question's own words
        that the collection never uses ("debate", "scream") had each cost a model call of their own later."""
        _, missing = self._known(alongside)
        computed = self._embed([query] + missing)
        self._cache.put_many(zip(missing, computed[1:]))
        return computed[0].tolist()


    def sentence_vectors(self, items: list[tuple[str, Sentence]]) -> np.ndarray:
        """Vectors of (title, sentence) pairs as `vectors([sentence_key(...)])` gives them: read from the
        vectors stored at ingest when the article version has them, embedded (and cached) otherwise."""
        if self._stored is None:
            self._stored = SentenceVectorReader(self.settings)
        rows: list[np.ndarray | None] = [self._stored.lookup(s.chunk_id, title, s.start) for title, s in items]
        missing = [sentence_key(title, s.text) for (title, s), row in zip(items, rows) if row is None]
        computed = iter(self.vectors(missing)) if missing else iter(())
        out = [row if row is not None else next(computed) for row in rows]
        return np.stack(out) if out else np.zeros((0, 384), np.float32)

    def similarity(self, word: str, others: list[str]) -> list[float]:
        """Cosine similarity of one word or phrase to each of `others` (embeddings are normalised)."""
        vectors = self.vectors([word] + others)
        return [float(v) for v in vectors[1:] @ vectors[0]]


TITLE_WEIGHT = 0.25  # a question word that is in the article's own title names the article, not the sentence


def term_weight(snap: Snapshot, stem: str, title_stems: frozenset | set = frozenset()) -> float:
    """A term's weight as evidence for one sentence: rare words weigh more; words of the sentence's own
    article title (or the whole collection's subject) weigh little, since every sentence there shares them."""
    weight = snap.idf.get(stem, snap.unknown_idf)
    return weight * TITLE_WEIGHT if stem in snap.topic or stem in title_stems else weight


RELATION_WEIGHT = 1.5  # the question's verb is the relation asked about; names are shared by many sentences


class Paraphrases:
    """How close in meaning each question word is to each word of the candidate sentences, for one question:
    one matrix product over the words of all its candidate sentences, instead of one per sentence (a warm
    question checked ~170 sentence-word lists one at a time)."""

    def __init__(self, cache: VectorCache, question_words: list[str], sentences: Iterable[str]):
        self.words_of = {text: candidate_words(text) for text in sentences} if question_words else {}
        vocabulary = sorted({w for found in self.words_of.values() for w in found})
        found = cache.vectors(list(dict.fromkeys(question_words)) + vocabulary)
        asked = dict.fromkeys(question_words)
        sims = found[len(asked):] @ found[:len(asked)].T if vocabulary else np.zeros((0, len(asked)), np.float32)
        self._sims = {w: dict(zip(vocabulary, sims[:, n].tolist())) for n, w in enumerate(asked)}
        self._cache = cache

    def has(self, word: str, candidates: list[str], threshold: float) -> bool:
        known = self._sims.get(word)
        if known is None or any(c not in known for c in candidates):
            return _has_paraphrase(word, candidates, self._cache, threshold)
        return any(known[c] >= threshold for c in candidates)


def candidate_words(sentence: str) -> list[str]:
    """The words of a sentence that the lexical match checks a missing question word against: the
    paraphrase vocabulary's (`sourcechat.text.paraphrase_words`) of four letters or more."""
    return list(_candidate_words(sentence))


@lru_cache(maxsize=32_768)  # a question's ~70 candidate sentences recur across questions (~1.6 ms a question)
def _candidate_words(sentence: str) -> tuple[str, ...]:
    return tuple(sorted(w for w in paraphrase_words(sentence) if len(w) > 3))


def lexical_overlap(info: QuestionInfo, snap: Snapshot, sentence: str, context: str,
                    cache: VectorCache | None = None, threshold: float = 1.0, title: str = "",
                    shared: dict[str, float] | None = None,
                    stems: tuple[frozenset, frozenset] | None = None,
                    paraphrases: Paraphrases | None = None) -> float:
    """idf-weighted share of the question's terms found in the sentence (half weight: its neighbours;
    0.7: a close paraphrase in the sentence, "suggested" for "recommended"; a word a follow-up borrowed
    also counts when its article's title has it). `stems`: the sentence's and
    the context's stems when the view has them precomputed (the same sets as content_stems of the texts)."""
    terms = [t for t in info.terms if t.pos not in {"TYPE", "KIND"}]
    if not terms:
        return 0.0
    in_sentence, in_context = stems or (set(content_stems(sentence)), set(content_stems(context)))
    title_stems = snap.title_stems(title)
    sentence_words = None
    total = got = 0.0
    for term in terms:
        weight = term_weight(snap, term.stem, title_stems) * (RELATION_WEIGHT if term.pos == "VERB" else 1.0)
        weight *= 1.0 - 0.6 * (shared or {}).get(term.stem, 0.0)
        total += weight
        if term.stem in in_sentence or (term.pos == "CONTEXT" and term.stem in title_stems):
            got += weight  # a word borrowed for "it" or "the song" names the referent: its article's title does
        elif term.stem in in_context:
            got += 0.5 * weight
        elif cache is not None and term.pos in {"VERB", "NOUN", "ADJ"}:
            if sentence_words is None:
                sentence_words = (paraphrases.words_of.get(sentence) if paraphrases is not None else None) \
                    or candidate_words(sentence)
            if paraphrases.has(term.word, sentence_words, threshold) if paraphrases is not None \
                    else _has_paraphrase(term.word, sentence_words, cache, threshold):
                got += 0.7 * weight
    bonus = sum(0.5 * term_weight(snap, t.stem) for t in info.terms if t.pos == "KIND" and t.stem in in_sentence)
    return min(1.0, (got + bonus) / total)  # a sentence that names the asked kind ("actress X") is on topic


def select_evidence(info: QuestionInfo, docs: list[Document], query_vector: list[float], snap: Snapshot,
                    cache: VectorCache, limit: int = 12, paraphrase: float = 0.62) -> list[Evidence]:
    """The best sentences of the retrieved chunks, best first, one entry per sentence."""
    pool: dict[tuple[str, int], tuple] = {}
    for doc in docs:
        for sentence in snap.sentences_by_chunk.get(doc.id, []):
            pool.setdefault((sentence.source, sentence.start), (sentence, doc))
    # a question word that most candidate sentences share does not choose between them
    pool_stems = [snap.sentence_stems(s) for s, _ in pool.values()]
    shared = {t.stem: sum(t.stem in p for p in pool_stems) / len(pool_stems) for t in info.terms} if pool_stems else {}
    paraphrases = Paraphrases(cache, [t.word for t in info.terms if t.pos in {"VERB", "NOUN", "ADJ"}],
                              (s.text for s, _ in pool.values()))
    by_key: dict[tuple[str, int], Evidence] = {}
    for key, (sentence, doc) in pool.items():
        context = snap.neighbours(sentence)
        meta = Retrieved.of(doc)
        by_key[key] = Evidence(sentence, meta.title, context, 0.0,
                               lexical_overlap(info, snap, sentence.text, context, cache, paraphrase, meta.title, shared,
                                               (stated_stems(snap, sentence), snap.context_stems(sentence)),
                                               paraphrases),
                               meta.rank)
    items = list(by_key.values())
    if not items:
        return []
    vectors = cache.sentence_vectors([(e.title, e.sentence) for e in items])
    sims = vectors @ np.asarray(query_vector, dtype=np.float32)
    for evidence, sim in zip(items, sims):
        evidence.dense = float(sim)
        evidence.score = 0.45 * evidence.dense + 0.55 * evidence.lexical + 0.02 / evidence.chunk_rank
    items.sort(key=lambda e: e.score, reverse=True)
    return items[:limit]


def _close_spelling(word: str, snap: Snapshot, within: Collection[str] | None = None) -> bool:
    """A word of the collection (or of `within`, one article's words) is spelled within difflib ratio 0.85;
    the view's bigram index gives difflib's answer without scanning the vocabulary."""
    return len(word) >= 5 and snap.spelling.has_close(word, 0.85, within)


def _evidence_context_stems(evidence: Evidence, snap: Snapshot) -> frozenset:
    """Stems of the evidence's context, from the view when it is the sentence or its neighbours."""
    if evidence.context == evidence.sentence.text:
        return snap.sentence_stems(evidence.sentence)
    if evidence.context == snap.neighbours(evidence.sentence):
        return snap.context_stems(evidence.sentence)
    return frozenset(content_stems(evidence.context))


def uncovered_terms(info: QuestionInfo, evidence: Evidence, snap: Snapshot, cache: VectorCache,
                    settings: Settings, whole_claim: bool = False) -> list[Term]:
    """The question's terms that the evidence cannot stand for; any one of them means "don't answer".

    - a name or number must be in the evidence's article (a misspelling is forgiven): "which Hollywood
      producer" is not answered from an article that never says Hollywood; nor a question that cites a
      publication ("the *Kestrel* 48 review") from an article whose text, title and file name have no word
      of its name (a site's name is often only in the page's chrome, so one word is enough);
    - with `whole_claim` (a yes/no verdict asserts everything the question says), a word the whole
      collection never uses must be paraphrased in the evidence ("suggested" for "recommended"), judged by
      embedding similarity; a question that asks for a value does not need it: on dev a common noun missing
      from the evidence ("surname", "infobox", "price tag") was a paraphrase 13 times in 14, so the lexical
      score weighs it and confidence decides between a short answer and the passages;
    - other words may be missing from the sentence: the collection uses them, and scoring weighs them.
    """
    context = f"{evidence.title} {evidence.context}"
    context_stems = snap.title_stems(evidence.title) | _evidence_context_stems(evidence, snap)
    article = snap.articles[evidence.sentence.source]
    article_words = snap.article_words(evidence.sentence.source)
    missing: list[Term] = []
    for term in info.terms:
        if term.pos == "SOURCE":  # "the *Kestrel* review": the evidence's article is that review, or names it
            if not any(stem(w) in context_stems or w in snap.folded_text(article.source) or w in fold(article.source)
                       for w in term.name or (term.word,)):
                missing.append(term)
            continue
        if not term.required or term.stem in context_stems:
            continue
        if term.pos in {"PROPN", "NUM"} or term.word[:1].isdigit():
            if term.word not in snap.folded_text(article.source) and not _close_spelling(term.word, snap, article_words):
                if re.fullmatch(r"(19|20)\d\d", term.word) and not re.search(r"\b(19|20)\d\d\b", article.text):
                    continue  # a year the article never states (it names no year at all): implied, not contradicted
                missing.append(term)
            continue
        if term.pos in {"ADJ", "ADV"} or term.pos == "VERB" or not whole_claim or (
                term.stem in snap.article_df or _close_spelling(term.word, snap)
                or (not term.word.isalnum() and term.word in snap.corpus_text)):  # "r&b"
            continue  # the collection uses the word, or it is an action/quality that is often paraphrased
        candidates = sorted(paraphrase_words(context))  # the vocabulary ingest stored vectors for
        if not _has_paraphrase(term.word, candidates, cache, settings.synonym_similarity):
            missing.append(term)
    return missing


def asks_of_nothing_known(info: QuestionInfo, snap: Snapshot) -> bool:
    """Every word the question asks about is one the collection never uses ("How long is the *warranty*?"
    of articles that never mention one): then, as for a yes/no claim, the evidence must paraphrase them, or
    a sentence that matches only the question's type ("Length: 5:41") would answer it."""
    own = [t for t in info.terms if t.required and t.pos not in {"TYPE", "KIND", "EXPAND", "CONTEXT", "SOURCE"}]
    return bool(own) and all(t.stem not in snap.article_df and not _close_spelling(t.word, snap) for t in own)


def _has_paraphrase(word: str, candidates: list[str], cache: VectorCache, threshold: float) -> bool:
    if not candidates:
        return False
    vectors = cache.vectors([word] + candidates)
    sims = vectors[1:] @ vectors[0]
    return float(sims.max()) >= threshold


_REFERS_BACK = re.compile(r"^\W*(it|its|he|his|she|her|they|their|this|these|those|the latter|the former)\b", re.I)


_BYLINE_STATES = frozenset(stem(w) for w in ("write", "wrote", "written", "writer", "author", "authored", "report",
                                             "reported", "reporter"))


def stated_stems(snap: Snapshot, sentence: Sentence) -> frozenset:
    """The stems a sentence states: its own, and the previous sentence's when it opens by referring back
    ("The new ferry was named Marisol. *Its* captain is Ingrid Holm": the captain is the ferry's); a byline
    states that its name wrote the article."""
    stems = snap.sentence_stems(sentence)
    if is_byline(sentence.text):
        stems = stems | _BYLINE_STATES
    current: Sentence | None = sentence
    for _ in range(3):  # "The ferry was named Marisol. It carries 200 passengers. Its captain is...": a chain
        if current is None or not _REFERS_BACK.match(current.text):
            break
        current = snap.preceding(current)
        if current is not None:
            stems = stems | snap.sentence_stems(current)
    return stems


def relation_coverage(info: QuestionInfo, evidence: Evidence, snap: Snapshot, cache: VectorCache,
                      threshold: float = 0.55) -> float:
    """Share (by weight) of the question's relation words, its verbs and common nouns other than the
    article's own title words, that the sentence states or closely paraphrases. "Who directed the film?"
    answered from a sentence that never says directed (or made, shot...) is a guess."""
    title_stems = snap.title_stems(evidence.title) | snap.topic
    terms = [t for t in info.terms if t.pos in {"VERB", "NOUN", "ADJ"} and t.stem not in title_stems]
    if not terms:
        return 1.0
    in_sentence = stated_stems(snap, evidence.sentence)
    sentence_words = None
    total = got = 0.0
    for term in terms:
        weight = term_weight(snap, term.stem)
        total += weight
        if term.stem in in_sentence:
            got += weight
            continue
        if sentence_words is None:
            sentence_words = candidate_words(evidence.sentence.text)
        if _has_paraphrase(term.word, sentence_words, cache, threshold):
            got += 0.8 * weight
    return got / total
