"""What a question asks for: the kind of answer expected, and the terms the evidence must cover."""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.text import QUESTION_WORDS, STOPWORDS, fold, parse, stem

# Kinds of short answer. A question expects one or more; "ANY" when its wording does not say.
DATE, NUMBER, DURATION, PERSON, ORG, PLACE, WORK, KEY, ANY = (
    "DATE", "NUMBER", "DURATION", "PERSON", "ORG", "PLACE", "WORK", "KEY", "ANY")

_PEOPLE = (r"person|people|critic|producer|rapper|actress|actor|artist|engineer|writer|journalist|reviewer|"
           r"partner|wife|husband|collaborator|musician|singer|director|author|narrator|host|songwriter|"
           r"co-?star|woman|man|girlfriend|friend|character|producers|critics|engineers|moderator")
_ORGS = (r"publication|magazine|outlet|newspaper|paper|label|labels|company|collective|site|website|"
         r"network|organi[sz]ation|agency|platform|newspaper|chart|award|studio|studios|band")
_PLACES = r"city|country|place|theater|theatre|neighbou?rhood|state|town|venue|location"
_WORKS = (r"song|songs|album|film|track|tracks|movie|podcast|video|book|single|novel|title|concept|term|"
          r"phrase|novella|show|series|record|beat")

_RULES: list[tuple[str, tuple[str, ...]]] = [
    (r"^(in |on |by )?(what|which) (year|date|day|month|decade)|^when\b|what time\b", (DATE,)),
    (r"\bhow long\b", (DURATION, NUMBER)),
    (r"\bhow many|\bhow much|\bwhat (number|position|rank|place) |\bwhich (number|position|rank)|"
     r"\bpeak(ed)? at\b|\bwhat (track )?number\b|\bnumber of\b|\bposition\b", (NUMBER,)),
    (r"\bwhat key\b|\bwhich key\b|\bkey (is|was) (it|the song)", (KEY,)),
    (rf"\b(who|whom|whose)\b|\b(which|what) ({_PEOPLE})\b", (PERSON, ORG)),
    (rf"\b(which|what) ({_ORGS})\b", (ORG, PERSON, WORK)),
    (rf"^where\b|\bwhere\b|\b(which|what) ({_PLACES})\b|\bin what (city|town|country)", (PLACE, ORG)),
    (rf"\b(which|what) ({_WORKS})\b|\bwhat is the (name|title) of\b|\bcalled\b|\btitled\b", (WORK,)),
]

# Words that only say which kind of answer is wanted; the evidence need not repeat them.
_TYPE_WORDS = set("""year date day month decade time number position rank place many much long name called
named title kind type person people song track album record""".split())


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

    @property
    def stems(self) -> set[str]:
        return {t.stem for t in self.terms}


def expected_kinds(question: str) -> tuple[str, ...]:
    q = fold(question).strip()
    for pattern, kinds in _RULES:
        if re.search(pattern, q):
            return kinds
    return (ANY,)


def analyse(question: str) -> QuestionInfo:
    doc = parse(question)
    terms: list[Term] = []
    seen: set[str] = set()
    for token in doc:
        word = fold(token.text).strip("'’\"“”-")
        if not re.search(r"\w", word) or word in STOPWORDS or word in QUESTION_WORDS:
            continue
        for part in word.split("-"):
            if not part or part in STOPWORDS:
                continue
            s = stem(part)
            if s in seen:
                continue
            seen.add(s)
            required = token.pos_ in {"PROPN", "NOUN", "NUM", "VERB", "ADJ"} and part not in _TYPE_WORDS
            terms.append(Term(part, s, token.pos_, required))
    return QuestionInfo(question, expected_kinds(question), tuple(terms))
