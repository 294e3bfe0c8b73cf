"""Alignment of a candidate span with the question's predicate and the role the question asks about.

"When was the film *recorded*?" asks for the time of a recording: in "the short film was released
worldwide on September 1", the date belongs to *released*, so it answers another question. "*Who*
produced the track?" asks for the producer, the subject of *produced*; in "J.Lbs, who produced the track
with Emile Haynie", the subject is J.Lbs and Haynie is a co-agent. Both read off spaCy's dependency parse:

- a span's **slots**: the verbs it is an argument of and its role there (subject, object, oblique), found
  by climbing from the span's head through appositions, conjuncts, compounds and number modifiers; a
  relative clause about the span ("J.Lbs, who produced...") makes it that clause's subject; the agent of a
  passive ("produced by X") is a subject;
- the question's **role**: the role of its wh-word (or of the noun a "which"/"how many" phrase asks about).

The features (`predicate`, `role`) are weighed with the others in `rag.answer.FEATURES`; nothing here is
keyed to a word list beyond the parser's own labels.
"""

from __future__ import annotations

from dataclasses import dataclass

from rag.text import parse_syntax
from sourcechat.text import fold, stem

SUBJECT, OBJECT, OBLIQUE = "subject", "object", "oblique"

_CLIMB = {"appos", "conj", "compound", "flat", "nummod", "quantmod", "nmod", "amod"}  # the span stands for its head
_ROLE_OF_DEP = {"nsubj": SUBJECT, "csubj": SUBJECT, "nsubjpass": OBJECT, "dobj": OBJECT, "attr": OBJECT,
                "oprd": OBJECT, "dative": OBJECT, "npadvmod": OBLIQUE, "advmod": OBLIQUE, "pobj": OBLIQUE}
_WH = {"who", "whom", "whose", "what", "which", "when", "where", "how"}
_VERB = {"VERB", "AUX"}


@dataclass(frozen=True)
class Slot:
    verb: str  # the verb's text, folded (for similarity) ...
    verb_stem: str  # ... and its stem (for identity)
    role: str


def span_head(doc, start: int, end: int):
    """The span's syntactic head (its root in the parse), or None when it covers no token."""
    span = doc.char_span(start, end, alignment_mode="expand")
    return span.root if span is not None and len(span) else None


def _is_passive(verb) -> bool:
    return any(c.dep_ in {"auxpass", "nsubjpass"} for c in verb.children)


def _slot_of(token) -> Slot | None:
    """The verb this token is an argument of, and its role there."""
    for _ in range(6):
        if token.dep_ in _CLIMB and token.head.i != token.i:
            token = token.head
        else:
            break
    dep, head = token.dep_, token.head
    if dep == "pobj" and head.dep_ in {"prep", "agent"}:
        verb = head.head
        for _ in range(2):  # "shot in one take, back *on* March 15": the adverb's verb
            if verb.pos_ in _VERB or verb.dep_ not in {"advmod", "prep", "npadvmod"} or verb.head.i == verb.i:
                break
            verb = verb.head
        if verb.pos_ not in _VERB:
            return None
        by_agent = head.dep_ == "agent" or (fold(head.text) == "by" and _is_passive(verb))
        return Slot(fold(verb.text), stem(fold(verb.lemma_)), SUBJECT if by_agent else OBLIQUE)
    role_here = _ROLE_OF_DEP.get(dep)
    if role_here is None or head.pos_ not in _VERB or head.i == token.i:
        return None
    return Slot(fold(head.text), stem(fold(head.lemma_)), role_here)


def span_slots(doc, start: int, end: int, head=None) -> list[Slot]:
    """The (verb, role) pairs a span of the sentence fills (`head`: its `span_head`, when already found)."""
    head = head if head is not None else span_head(doc, start, end)
    if head is None:
        return []
    slots = []
    slot = _slot_of(head)
    if slot:
        slots.append(slot)
    # "J.Lbs, who produced the track": the relative clause's subject is the span itself
    anchor = head
    for _ in range(3):
        if anchor.dep_ in {"conj", "appos", "compound"} and anchor.head.i != anchor.i:
            anchor = anchor.head
        else:
            break
    for t in [head] + ([anchor] if anchor is not head else []):
        for child in t.children:
            if child.dep_ == "relcl" and child.pos_ in _VERB:
                wh = [c for c in child.children if fold(c.text) in {"who", "which", "that"}]
                if wh:
                    role = _ROLE_OF_DEP.get(wh[0].dep_, OBLIQUE)
                    slots.append(Slot(fold(child.text), stem(fold(child.lemma_)), role))
            if child.dep_ == "acl" and child.pos_ in _VERB:  # "a song written by X": the span is its object
                slots.append(Slot(fold(child.text), stem(fold(child.lemma_)), OBJECT if child.tag_ == "VBN" else SUBJECT))
    return slots


def question_role(question: str) -> str | None:
    """The role the wh-word (or the noun it asks about) plays in the question: subject, object or oblique."""
    doc = parse_syntax(question)
    wh = next((t for t in doc if fold(t.text) in _WH), None)
    if wh is None:
        return None
    if fold(wh.text) in {"when", "where"}:
        return OBLIQUE
    if fold(wh.text) == "how" and wh.head.pos_ not in {"NOUN", "PROPN"} and wh.head.head.pos_ not in {"NOUN", "PROPN"}:
        return None  # "how long does it take": the measure may be an object or an adjunct
    token = wh
    if wh.dep_ in {"det", "amod", "advmod", "poss"} and wh.head.i != wh.i:  # "which engineer", "how many runners"
        token = wh.head
        if token.dep_ == "amod" and token.head.i != token.i:  # "how *many* runners"
            token = token.head
    if token.dep_ == "pobj":
        return SUBJECT if fold(token.head.text) == "by" else OBLIQUE
    return _ROLE_OF_DEP.get(token.dep_)


__all__ = ["OBJECT", "OBLIQUE", "SUBJECT", "Slot", "question_role", "span_head", "span_slots"]
