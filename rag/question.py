"""What a question asks for: the kind of answer expected, and the terms the evidence must cover."""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.text import QUESTION_WORDS, STOPWORDS, fold, parse, stem, words

# Kinds of short answer. A question expects one or more, best first; "ANY" when its wording does not say.
DATE, NUMBER, RANK, DURATION, PERSON, ORG, PLACE, WORK, KEY, ANY = (
    "DATE", "NUMBER", "RANK", "DURATION", "PERSON", "ORG", "PLACE", "WORK", "KEY", "ANY")

_PEOPLE = (r"person|people|critic|producer|rapper|actress|actor|artist|engineer|writer|journalist|reviewer|"
           r"partner|wife|husband|collaborator|musician|singer|director|author|narrator|host|songwriter|"
           r"co-?star|woman|man|girlfriend|friend|character|producers|critics|engineers|moderator")
_ORGS = (r"publication|magazine|outlet|newspaper|paper|label|labels|company|collective|site|website|"
         r"network|organi[sz]ation|agency|platform|chart|award|band")
_TOWNS = r"city|country|state|town|neighbou?rhood"
_PLACES = rf"{_TOWNS}|place|theater|theatre|venue|location|studio|studios"
_WORKS = (r"song|songs|album|film|track|tracks|movie|podcast|video|book|single|novel|title|concept|term|"
          r"phrase|novella|show|series|record|beat|work|composition|line")

_MOD = r"(?:(?!(?:is|was|are|were|did|does|do|has|have|of|the)\b)[a-z&'’.-]+ ){0,2}?"  # up to two words between "which" and its noun: "which *disgraced* producer"

_RULES: list[tuple[str, tuple[str, ...]]] = [
    (r"\b(what|which) (kind|type|sort)s? of\b", (ANY,)),  # asks for a description, not a name
    (r"\b(what|which) (year|date|day|month|decade)|^when\b|\bwhen (was|were|did|is|does)\b|what time\b", (DATE,)),
    (r"\bhow long\b", (DURATION, NUMBER)),
    (r"\bhow many|\bhow much|\bnumber of\b", (NUMBER,)),
    (r"\bwhat (number|position|rank|place)\b|\bwhich (number|position|rank)\b|\bpeak(ed)? at\b|"
     r"\b(track|chart) (number|position)\b|\bposition\b|^where\b(?=.*\b(land|landed|rank|chart|peak)\w*\b)",
     (RANK, NUMBER)),
    (r"\bwhat key\b|\bwhich key\b|\bkey (is|was) (it|the song)", (KEY,)),
    (rf"\b(who|whom|whose)\b|\b(which|what) {_MOD}({_PEOPLE})\b", (PERSON, ORG)),
    (rf"\b(which|what) {_MOD}({_ORGS})\b", (ORG, WORK)),
    (rf"\b(which|what) {_MOD}({_TOWNS})\b", (PLACE,)),
    (rf"^where\b|\bwhere\b|\b(which|what) {_MOD}({_PLACES})\b", (PLACE, ORG)),
    (rf"\b(which|what) {_MOD}({_WORKS})\b|\bwhat is the (name|title) of\b|\bcalled\b|\btitled\b", (WORK,)),
]

# Words that only say which kind of answer is wanted; the evidence need not repeat them.
_TYPE_WORDS = set("""year date day month decade time number position rank place many much long name called
named title kind type person people""".split())

# Words for the source itself ("the essay says..."): they point at the article, not at its content.
_META_WORDS = set("essay article articles piece post blog text author source sources page passage".split())

# Phrasal verbs the articles write as one word: searched and scored as that word too.
_PHRASAL = [(r"\b(come|came|comes|coming) out\b|\bdrop(ped)?\b", "released"),
            (r"\bcome[s]? (right )?after\b|\bfollows?\b", "before"),
            (r"\bhow long (is|was|does|did) (it|the song|the track)\b", "length")]


@dataclass(frozen=True)
class Term:
    word: str
    stem: str
    pos: str
    required: bool  # the evidence must cover it (a name, a thing, an action): else answering would guess


@dataclass(frozen=True)
class QuestionInfo:
    text: str
    expects: tuple[str, ...]
    terms: tuple[Term, ...]
    names_a_thing: bool = False  # "which song": asks for a named thing, never a date or a count
    names_a_proper: bool = False  # "which Grammy": asks for one of a named family, not a common noun phrase

    @property
    def expansion(self) -> str:
        """Words the articles would use for the question's phrasing ("released" for "came out")."""
        return " ".join(t.word for t in self.terms if t.pos == "EXPAND")

    @property
    def stems(self) -> set[str]:
        """What evidence should contain: every term but those that only name the answer's kind."""
        return {t.stem for t in self.terms if t.pos not in {"TYPE", "KIND"}}

    @property
    def kind_stems(self) -> set[str]:
        return {t.stem for t in self.terms if t.pos == "KIND"}


def expected_kinds(question: str) -> tuple[str, ...]:
    """The kinds the question's own wh-phrase asks for: the first one in it ("which website ... who won")."""
    q = fold(question).strip()
    found = [(m.start(), i, kinds) for i, (pattern, kinds) in enumerate(_RULES) if (m := re.search(pattern, q))]
    return min(found)[2] if found else (ANY,)


_KIND_OF_NOUN = [(_PEOPLE, (PERSON, ORG)), (_ORGS, (ORG, WORK)), (_TOWNS, (PLACE,)), (_PLACES, (PLACE, ORG)),
                 (_WORKS, (WORK,))]


def _wh_heads(doc) -> set[int]:
    """Tokens that a which/what determiner modifies ("which *newspaper*"): they name the answer's kind."""
    return {t.head.i for t in doc if t.lower_ in {"which", "what", "whose"} and t.dep_ == "det"}


def analyse(question: str, context: str = "") -> QuestionInfo:
    """`context`: words a follow-up borrows from the conversation; they guide scoring, never block it."""
    doc = parse(question)
    terms: list[Term] = []
    seen: set[str] = set()
    heads = _wh_heads(doc)
    expects = expected_kinds(question)
    for i in heads:
        if expects == (ANY,):
            for pattern, kinds in _KIND_OF_NOUN:
                if re.fullmatch(pattern, doc[i].lower_):
                    expects = kinds
    kind_nouns = set()
    for m in re.finditer(r"\b(which|what)((?: [a-z&'’.-]+){1,3})", fold(question)):
        noun = next((w for w in m.group(2).split() if any(re.fullmatch(p, w) for p, _ in _KIND_OF_NOUN)), None)
        if noun:
            kind_nouns.add(noun)
    for token in doc:
        is_kind = token.pos_ != "PROPN" and (token.i in heads or token.lower_ in kind_nouns) and any(
            re.fullmatch(pattern, token.lower_) for pattern, _ in _KIND_OF_NOUN)
        word = fold(token.text).strip("'’\"“”-")
        if not re.search(r"\w", word) or word in STOPWORDS or word in QUESTION_WORDS:
            continue
        for part in word.split("-"):
            if (len(part) < 3 and token.pos_ != "PROPN" and not part.isdigit()) or part in STOPWORDS:
                continue
            s = stem(part)
            if s in seen:
                continue
            seen.add(s)
            if is_kind:  # "which *studio*": names the answer's kind; the answer may carry it
                terms.append(Term(part, s, "KIND", False))
                continue
            if part in _META_WORDS:
                continue
            if part in _TYPE_WORDS:
                terms.append(Term(part, s, "TYPE", False))
                continue
            terms.append(Term(part, s, token.pos_, token.pos_ in {"PROPN", "NOUN", "NUM", "VERB", "ADJ"}))
    for pattern, word in _PHRASAL:
        if re.search(pattern, fold(question)) and stem(word) not in seen:
            terms.append(Term(word, stem(word), "EXPAND", False))
    for word in words(context):
        if word not in STOPWORDS and word not in QUESTION_WORDS and stem(word) not in seen:
            seen.add(stem(word))
            terms.append(Term(word, stem(word), "CONTEXT", False))
    names_a_thing = bool(re.match(r"\s*(in |on |at |for |by |from )?(which|what) (?!(is|was|are|were|did|does|do|has|"
                                  r"have|had|can|could|would|will|might|should|happens?|happened)\b)\w+", fold(question)))
    after_wh = re.search(r"\b(?:[Ww]hich|[Ww]hat)\s+(\S+)", question)
    names_a_proper = bool(after_wh and after_wh.group(1)[:1].isupper())
    return QuestionInfo(question, expects, tuple(terms), names_a_thing, names_a_proper)
