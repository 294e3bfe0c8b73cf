"""Condense a follow-up with the conversation, without an LLM.

"When did it come out?" after "Who sings We Cry Together with Kendrick?" leans on the earlier question
for its subject. A follow-up that points back (it, they, that...), opens as a continuation ("And ...",
"What about ..."), or names almost nothing and no name, is
searched together with words of the last question that named something: its arguments (nouns, names,
numbers), since the follow-up brings its own predicate ("Who mastered the song?" asks about mastering, not
about the earlier question's releasing; "And the producer?" about producing), or all its content words
when the follow-up's verb stands in for the earlier one ("Where did he *do* it?").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.text import parse_syntax
from sourcechat.text import QUESTION_WORDS, STOPWORDS, words

_POINTERS = re.compile(r"\b(it|its|it's|they|them|their|he|him|his|she|her|this|that|those|these|there|"
                       r"the song|the track|the album|the film|the video)\b", re.I)


# a follow-up that opens like this continues the earlier question, whatever it names ("And the Pitchfork one?")
_CONTINUES = re.compile(r"^\W*(and|what about|how about)\b", re.I)

# verbs that stand in for the earlier question's predicate rather than state one ("did he *do* it")
_PRO_VERBS = frozenset({"do", "happen"})


def _content_words(text: str) -> list[str]:
    return [w for w in words(text) if w not in STOPWORDS and w not in QUESTION_WORDS]


def _pro_verb(doc) -> bool:
    return any(t.pos_ == "VERB" and t.lemma_.lower() in _PRO_VERBS for t in doc)


def _names_something(doc) -> bool:
    return any(t.pos_ == "PROPN" or t.like_num for t in doc)


def _arguments(text: str) -> list[str]:
    """The content words of a question's arguments: nouns, names, numbers, and capitalised words past the
    first (a title such as "We Cry Together" is tagged as a clause)."""
    kept = " ".join(t.text for t in parse_syntax(text) if t.pos_ in {"NOUN", "PROPN", "NUM"} or t.like_num
                    or (t.i > 0 and t.text[:1].isupper()))
    return _content_words(kept)


def _user_turns(history: list) -> list[str]:
    """User messages from Gradio-style history: message dicts, or (user, bot) pairs."""
    turns = []
    for item in history:
        if isinstance(item, dict):
            if item.get("role") == "user" and isinstance(item.get("content"), str):
                turns.append(item["content"])
        elif isinstance(item, (list, tuple)) and item and isinstance(item[0], str):
            turns.append(item[0])
    return turns


@dataclass(frozen=True)
class Condensed:
    """The query to retrieve with, and the words it borrowed from earlier turns (which guide scoring but
    never block an answer), kept as a field rather than recovered by slicing the query."""
    query: str
    borrowed: str = ""

    def chain_input(self, question: str, k: int) -> dict:
        return {"question": question, "query": self.query, "borrowed": self.borrowed, "k": k}


def condense_question(question: str, history: list) -> Condensed:
    """The question itself, or the question plus the earlier subject when it points back ("it", "she")."""
    turns = _user_turns(history)
    if not turns:
        return Condensed(question)
    own = _content_words(question)
    doc = parse_syntax(question)
    if not _POINTERS.search(question) and not _CONTINUES.match(question) and (len(own) >= 3 or _names_something(doc)):
        return Condensed(question)
    borrow = _content_words if _pro_verb(doc) else _arguments
    for earlier in reversed(turns):
        extra = [w for w in dict.fromkeys(borrow(earlier)) if w not in own]
        if extra:
            return Condensed(f"{question} ({' '.join(extra)})", " ".join(extra))
    return Condensed(question)
