"""Answer: the default, offline, extractive answerer.

It never writes a word the sources do not hold: the short answer is a span of a cited sentence (a date,
a number, a name, a title...), the reply quotes that sentence, and when no evidence covers the question
it refuses and shows the nearest passages instead.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from rag.evidence import Evidence, VectorCache, uncovered_terms
from rag.index import Snapshot
from rag.question import ANY, DATE, DURATION, KEY, NUMBER, ORG, PERSON, PLACE, RANK, WORK, QuestionInfo
from rag.text import content_stems, fold, parse, stem
from sourcechat.settings import Settings

GROUP = "GROUP"  # nationalities and other groups ("American"): never a person, place or organisation
PHRASE = "PHRASE"  # a noun phrase: an answer only when the question names no kind
_LABEL_KIND = {
    "DATE": DATE, "TIME": DURATION, "CARDINAL": NUMBER, "ORDINAL": RANK, "QUANTITY": NUMBER,
    "PERCENT": NUMBER, "MONEY": NUMBER, "PERSON": PERSON, "ORG": ORG, "NORP": GROUP, "GPE": PLACE,
    "LOC": PLACE, "FAC": PLACE, "WORK_OF_ART": WORK, "EVENT": WORK, "PRODUCT": WORK,
}
_MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
_CARDINAL_WORDS = "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty"
_ORDINAL_WORDS = "first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth"
_NUMBER_WORDS = f"{_CARDINAL_WORDS}|{_ORDINAL_WORDS}"
_PATTERNS: list[tuple[str, str]] = [
    (rf"\b(?:(?:{_MONTHS}) \d{{1,2}}, \d{{4}}|\d{{4}}-\d{{2}}-\d{{2}}|(?:{_MONTHS})(?: of)? \d{{4}})\b", DATE),
    (r"\b(?:19|20)\d{2}(?:[–-](?:19|20)\d{2})?\b", DATE),
    (r"\b\d{1,2}:\d{2}\b", DURATION),
    (rf"\b(?:\d+|{_NUMBER_WORDS}|more than \d+(?: straight)?)[- ](?:minutes?|years?|weeks?|days?|hours?|seconds?)\b",
     DURATION),
    (r"(?:\bnumber |#)\d+\b", RANK),
    (r"\b\d+(?:st|nd|rd|th)\b", RANK),
    (r"\b(?!(?:19|20)\d\d\b)\d+\b", NUMBER),
    (rf"\b(?:{_CARDINAL_WORDS})\b", NUMBER),
    (rf"\b(?:{_ORDINAL_WORDS})\b", RANK),
    (r"[“\"]([^”\"]{1,80}?)[”\"]", WORK),
    (r"[“\"]([A-Z][^”\"]{0,60}?)[.!?]?$", WORK),  # a title whose closing quote the site dropped
    (r"\bkey of ([A-G](?:[- ](?:flat|sharp))? (?:major|minor))", KEY),
    (r"\b[A-Z][\w'’.&-]*(?:\s+(?:(?:of|and|&)\s+)?(?:the\s+)?[A-Z][\w'’.&-]*){0,5}\b(?![\w'’]* [A-Z])", ANY),
]
_INFOBOX = re.compile(r"^\s*[-*•]?\s*([A-Za-z][\w ]{1,30}):\s*(.+)$")


@dataclass
class Candidate:
    text: str
    kind: str
    start: int
    end: int
    bonus: float = 0.0


def _is_headline(sentence: str) -> bool:
    """A Title Case Headline: its capitals say nothing about which words are names."""
    tokens = re.findall(r"[A-Za-z][\w'’-]*", sentence)
    return len(tokens) >= 4 and sum(t[0].isupper() for t in tokens) >= 0.8 * len(tokens)


def _entity_candidates(doc, sentence: str, headline: bool) -> list[Candidate]:
    found = []
    for ent in doc.ents:
        kind = _LABEL_KIND.get(ent.label_)
        if not kind or (kind in {PERSON, ORG, PLACE} and headline):
            continue
        text = re.sub(r"^(the|a|an) ", "", ent.text, flags=re.I) if kind in {DATE, NUMBER, RANK} else ent.text
        if kind == NUMBER and re.fullmatch(r"(19|20)\d\d", text):
            kind = DATE
        if kind in {PERSON, ORG} and re.match(r"\s*&\s*(the\s+)?[A-Z]", sentence[ent.end_char:]):
            kind = WORK  # "Mr. Morale" of "Mr. Morale & the Big Steppers" is a title, not a person
        text = re.sub(r"['’]s$", "", text.strip(" ,.;:"))
        found.append(Candidate(text, kind, ent.start_char, ent.start_char + len(text)))
    return found


def _pattern_candidates(sentence: str, headline: bool) -> list[Candidate]:
    found = []
    for pattern, kind in _PATTERNS:
        if kind == ANY and headline:
            continue
        for match in re.finditer(pattern, sentence):
            group = 1 if match.groups() else 0
            text = match.group(group).strip(" ,.;:")
            if not text or (kind == ANY and match.start() == 0 and " " not in text):
                continue  # a capital that only starts the sentence says nothing
            bonus = 0.15 if kind in {WORK, KEY} else 0.0
            found.append(Candidate(text, kind, match.start(group), match.end(group), bonus))
    return found


def _phrase_candidates(doc) -> list[Candidate]:
    """Noun phrases ("tap dancing", "a small house"): answers that no entity type names."""
    found = []
    for chunk in doc.noun_chunks:
        text = re.sub(r"^(the|a|an|this|that|his|her|their|its) ", "", chunk.text, flags=re.I).strip(" ,.;:")
        text = re.sub(r"^[A-Z][\w.-]*['’]s ", "", text)  # "Dante's Inferno" → "Inferno": the owner is not the thing
        if text and chunk.root.pos_ != "PRON":
            start = chunk.start_char + chunk.text.find(text)
            found.append(Candidate(text, PHRASE, start, start + len(text)))
    return found


def _layout_candidates(sentence: str) -> list[Candidate]:
    """Values of "- Key: value" lines and table cells, as written in infoboxes and charts."""
    found = []
    infobox = _INFOBOX.match(sentence)
    if infobox:
        found.append(Candidate(infobox.group(2).strip(), ANY, infobox.start(2), infobox.end(2), 0.2))
    if sentence.startswith("|"):
        offset = 0
        for cell in sentence.split("|"):
            if cell.strip():
                start = sentence.index(cell, offset)
                found.append(Candidate(cell.strip(), ANY, start, start + len(cell)))
            offset += len(cell) + 1
    return found


def candidates(sentence: str) -> list[Candidate]:
    """Every span of the sentence that could be a short answer, with its kind."""
    doc = parse(sentence)
    headline = _is_headline(sentence)
    found = _widen_entities(_entity_candidates(doc, sentence, headline) + _pattern_candidates(sentence, headline))
    typed = [c for c in found if c.kind in {DATE, NUMBER, RANK, DURATION, GROUP}]
    found = [c for c in found if c.kind != ANY or not any(t.start <= c.start and c.end <= t.end for t in typed)]
    found += _phrase_candidates(doc) + _layout_candidates(sentence)
    return [c for c in found if not re.search(r"-[a-z]+ed$", c.text)]  # "Alchemist-produced" modifies


def _widen_entities(found: list[Candidate]) -> list[Candidate]:
    """spaCy often clips a title or name ("Morale" of "Mr. Morale & the Big Steppers"): an entity inside a
    longer capitalised span takes that span, unless the span joins several ("X and Y", "X of Y", "X's Y")."""
    spans = [c for c in found if c.kind == ANY and not re.search(r" (and|of) |['’]s ", c.text)]
    out = []
    for c in found:
        if c.kind not in {ANY, PHRASE}:
            wider = [s for s in spans if s.start <= c.start and c.end <= s.end and len(s.text) > len(c.text)]
            if wider:
                w = max(wider, key=lambda s: len(s.text))
                c = Candidate(w.text, c.kind, w.start, w.end, c.bonus)
        out.append(c)
    return out


def _term_positions(sentence: str, info: QuestionInfo, idf: dict[str, float],
                    topic: frozenset = frozenset()) -> list[tuple[int, float]]:
    """Where the question's terms occur in the sentence, each with its weight (rare words weigh more)."""
    folded = fold(sentence)
    positions = []
    for term in info.terms:
        if term.pos in {"TYPE", "KIND"}:
            continue
        weight = idf.get(term.stem, 6.0) * (0.25 if term.stem in topic else 1.0)
        for match in re.finditer(re.escape(term.stem[:max(4, len(term.stem) - 1)]), folded):
            positions.append((match.start(), weight))
    return positions


def score_candidate(candidate: Candidate, info: QuestionInfo, sentence: str, positions: list[tuple[int, float]],
                    topic: set[str]) -> float | None:
    """How well a span answers the question; None when it cannot (wrong kind, or it repeats the question)."""
    expects = info.expects
    stems = [s for s in content_stems(candidate.text, keep_question_words=True) if len(s) > 1]
    kind_words = info.kind_stems
    named = {t.stem for t in info.terms if t.pos == "PROPN"}
    owner = re.match(r"([A-Z][\w.-]*)['’]s (.+)$", candidate.text)
    if owner and stem(fold(owner.group(1))) in named:  # "Dante's Inferno" when asked about Dante's work
        candidate = Candidate(owner.group(2), candidate.kind, candidate.end - len(owner.group(2)), candidate.end,
                              candidate.bonus)
        stems = [s for s in content_stems(candidate.text, keep_question_words=True) if len(s) > 1]
    if named & set(stems) and len(named & set(stems)) / len(stems) >= 0.5:
        return None  # mostly what the question names, so not what it asks for ("Grammy Awards")
    if candidate.kind == PHRASE and expects != (ANY,):
        return None  # a bare noun phrase answers only questions that name no kind
    if kind_words & set(stems):
        kind_score = 1.2  # "Larrabee Studios" when asked which studio: the span names its own kind
    elif expects == (ANY,):
        if info.names_a_thing and candidate.kind in {DATE, NUMBER, RANK, DURATION}:
            return None
        if info.names_a_proper and candidate.kind == PHRASE:
            return None  # "which Grammy": a name is wanted, not "nominations"
        kind_score = 0.6 if candidate.kind == PHRASE else 0.4
    elif candidate.kind in expects:
        kind_score = 1.0 if candidate.kind == expects[0] else 0.7
    elif candidate.kind == ANY:
        # a capitalised span spaCy did not type: a title or company may look like anything, but a person
        # or place it missed is a single odd word ("Sounwave", "Compton"), not "Mr. Morale & the Big Steppers"
        odd_name = " " not in candidate.text and expects[0] in {PERSON, PLACE}
        kind_score = 0.25 if expects[0] in {ORG, WORK} or odd_name else None
    else:
        kind_score = None
    if kind_score is None:
        return None
    if not stems and candidate.kind not in {NUMBER, RANK, DATE, DURATION}:
        return None
    known = info.stems | topic | kind_words
    if stems and all(s in known for s in stems):
        return None  # it repeats the question or names the collection's subject
    overlap = sum(1 for s in stems if s in info.stems) / len(stems) if stems else 0.0
    if overlap >= 0.6:
        return None
    score = kind_score + candidate.bonus - 0.3 * overlap
    if positions:
        total = sum(w for _, w in positions)
        near = sum(w * math.exp(-min(abs(p - candidate.start), abs(p - candidate.end)) / 40) for p, w in positions)
        score += 0.5 * near / total
    before = fold(sentence[max(0, candidate.start - 30):candidate.start])
    apposed = re.search(r"(\w+)\s*[,:]?\s*[\"'(]?\s*$", before)
    if kind_words and apposed and stem(apposed.group(1)) in kind_words:
        score += 0.3  # "the album, Mr. Morale…", "the song “June”": the span follows the kind it is
    infobox = _INFOBOX.match(sentence)
    if infobox and candidate.start >= infobox.start(2) and set(content_stems(infobox.group(1))) & info.stems:
        score += 0.6  # "- Released: 2022-05-13" when asked when it was released
    if candidate.kind == DATE:
        if re.search(r"\byear\b", fold(info.text)):
            score += 0.2 if re.fullmatch(r"\d{4}", candidate.text) else 0.0
        else:  # "when"/"what date": the most specific date wins ("May 13, 2022" over "May")
            score += 0.15 * bool(re.search(r"\d{4}", candidate.text)) + 0.1 * bool(re.search(r"\b\d{1,2}\b", candidate.text))
    score -= 0.002 * len(candidate.text)
    return score


def full_name(text: str, article: str) -> str:
    """"Paige" → "Taylour Paige" when the article names her in full: a short answer, but a whole name."""
    if not re.fullmatch(r"[A-Z][\w'’.-]+", text):
        return text
    names = re.findall(rf"\b((?:[A-Z][\w'’.-]+ ){{1,2}}){re.escape(text)}\b", article)
    names = [n.strip() for n in names if not re.search(r"\b(The|A|An|In|On|At|And|But|When|If|As)\b", n)]
    return f"{max(names, key=names.count)} {text}" if names else text


@dataclass
class Choice:
    evidence: Evidence
    answer: str
    start: int  # of the answer span within the sentence
    score: float


def choose_answer(info: QuestionInfo, evidence: list[Evidence], snap: Snapshot, cache: VectorCache,
                  settings: Settings, depth: int = 6) -> tuple[Choice | None, list[str]]:
    """The best (sentence, span) among evidence that covers the question; else the terms it lacked."""
    best: Choice | None = None
    lacking: list[str] = []
    for item in evidence[:depth]:
        if item.score < settings.min_evidence:
            break
        missing = uncovered_terms(info, item, snap, cache, settings)
        if missing:
            lacking = lacking or [t.word for t in missing]
            continue
        sentence = item.sentence.text
        positions = _term_positions(sentence, info, snap.idf, snap.topic)
        topic = set(content_stems(item.title)) | set(snap.topic)
        for candidate in candidates(sentence):
            score = score_candidate(candidate, info, sentence, positions, topic)
            if score is None:
                continue
            total = item.score + 0.5 * score
            if best is None or total > best.score:
                answer = candidate.text
                if candidate.kind in {PERSON, ORG, ANY}:
                    answer = full_name(answer, snap.articles[item.sentence.source].text)
                best = Choice(item, answer, candidate.start, total)
        if best is None and info.expects == (ANY,):
            best = Choice(item, sentence, 0, item.score)
    return best, ([] if best else lacking)
