"""Verified citations: check a generated reply against the numbered evidence the model was given.

A model's `[n]` is a claim, not a fact. Each reply sentence is checked:
  1. every marker must name evidence that was given (an `[n]` beyond it is *invalid*, never a citation);
  2. a quoted span (“…” or "…", three words or more) must occur in the cited sentence, after normalising
     case, accents, quotes and punctuation;
  3. the sentence must be supported by what it cites: lexically (the share of its content-word stems
     found in the cited sentence) or by meaning (cosine of the bundled MiniLM embeddings) with some
     lexical overlap; thresholds below, fitted by `python -m eval.calibrate_verify`;
  4. evidence that reads as an instruction to the model ("ignore previous instructions…") supports
     nothing: article text is data, and a reply that obeys it is not backed by the sources.
A citation `[n]` is verified when a sentence that cites it explicitly passes 2–4 against sentence n.
A sentence without a marker is checked against everything the reply cites (a short answer line above
its quoted sentence, typically). A reply with no marker at all (small models often drop them) has each
claim attributed to the evidence sentence that supports it best, if one passes 2–4: that citation is
*inferred* (marked so), verified by the same thresholds, never invented for an unsupported claim.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Callable, Sequence

import numpy as np

from sourcechat.text import content_stems, fold

# Fitted on the collection by `python -m eval.calibrate_verify` (README, "What verified means"): a
# sentence is supported by an evidence sentence when at least LEXICAL_SUPPORT of its content stems occur
# there, or when their embeddings' cosine is at least SEMANTIC_SUPPORT and at least LEXICAL_FLOOR of its
# stems occur there. Fit (2,964 pairs from the 477 sentences of sources/ + eval/articles/ and dev's
# answers): 99.6% of right citations accepted, 2.9% of wrong ones (at most 3% allowed). The right pairs are
# clauses and short answers, not paraphrases, so a paraphrase needs a high cosine: a conservative choice.
LEXICAL_SUPPORT = 0.67
SEMANTIC_SUPPORT = 0.80
LEXICAL_FLOOR = 0.0
MIN_QUOTE_WORDS = 3

INSTRUCTION_PATTERNS = [re.compile(p, re.I) for p in (  # text that addresses the model, not the reader
    r"\b(ignore|disregard|forget|override)\b.{0,30}\b(instructions?|prompts?|rules|directions|above|context)\b",
    r"\b(system|developer) (prompt|message|instructions?)\b",
    r"\byou are (now |no longer )?(an? )?(ai|assistant|language model|chatbot|llm)\b",
    r"\b(answer|reply|respond|say|output)\b.{0,20}\b(only|just|exactly|always)\b.{0,20}\b(with|word)\b",
    r"\b(always|only) (answer|reply|respond)\b",
    r"\bnew instructions?\b",
)]

_MARKER = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")
_QUOTE = re.compile(r"“([^”]+)”|\"([^\"]+)\"")
_SPLIT = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"”’)])|(?<=\]))\s+(?=[A-Z“\"‘(])")


def is_instruction(text: str) -> bool:
    return any(p.search(text) for p in INSTRUCTION_PATTERNS)


def normalise(text: str) -> str:
    """Case, accents, quotes, dashes and punctuation aside, for finding a quote in a sentence."""
    return " ".join(re.sub(r"[^\w]+", " ", fold(text)).split())


def split_reply(reply: str) -> list[str]:
    """Reply sentences: lines, then sentence ends (a marker after the full stop stays with its sentence)."""
    return [s.strip() for line in reply.splitlines() for s in _SPLIT.split(line) if s.strip()]


def markers(sentence: str) -> list[int]:
    return [int(n) for group in _MARKER.findall(sentence) for n in re.split(r"\s*[,;]\s*", group)]


def strip_markers(sentence: str) -> str:
    return re.sub(r"\s+([.,;:!?])", r"\1", " ".join(_MARKER.sub(" ", sentence).split()))


def quotes(sentence: str) -> list[str]:
    found = [a or b for a, b in _QUOTE.findall(sentence)]
    return [q for q in found if len(q.split()) >= MIN_QUOTE_WORDS]


def lexical_support(claim: str, evidence: str) -> float:
    """The share of the claim's content stems that occur in the evidence sentence."""
    stems = set(content_stems(claim))
    return len(stems & set(content_stems(evidence))) / len(stems) if stems else 0.0


@dataclass
class SentenceCheck:
    text: str
    cites: list[int]  # valid markers in the sentence (empty: checked against the reply's citations)
    invalid: list[int]  # markers that point at no evidence
    supported: bool
    lexical: float = 0.0
    semantic: float = 0.0
    reason: str = ""
    inferred: int | None = None  # the evidence this unmarked claim was attributed to


@dataclass
class Verification:
    sentences: list[SentenceCheck] = field(default_factory=list)
    verified: dict[int, bool] = field(default_factory=dict)  # each valid [n] cited → verified or not
    invalid: list[int] = field(default_factory=list)
    instructions: list[int] = field(default_factory=list)  # evidence numbers that read as instructions
    inferred: list[int] = field(default_factory=list)  # citations attributed to an unmarked reply

    @property
    def any_verified(self) -> bool:
        return any(self.verified.values())

    def unsupported(self) -> list[str]:
        return [s.text for s in self.sentences if not s.supported]

    def to_json(self) -> dict:
        return {"sentences": [asdict(s) for s in self.sentences], "invalid_citations": self.invalid,
                "instruction_evidence": self.instructions,
                "verified_citations": sorted(n for n, ok in self.verified.items() if ok),
                "inferred_citations": self.inferred,
                "thresholds": {"lexical": LEXICAL_SUPPORT, "semantic": SEMANTIC_SUPPORT, "lexical_floor": LEXICAL_FLOOR}}


Vectors = Callable[[list[str]], np.ndarray]  # texts → L2-normalised embeddings (VectorCache.vectors)


class Verifier:
    """Checks one reply against the evidence texts it was given (1-based, as numbered in the prompt)."""

    def __init__(self, evidence: Sequence[str], vectors: Vectors):
        self.evidence = list(evidence)
        self.vectors = vectors
        self.instructions = [n for n, text in enumerate(self.evidence, start=1) if is_instruction(text)]

    def support(self, claim: str, numbers: list[int]) -> tuple[bool, float, float, int | None]:
        """Best support of the claim among the numbered evidence: (supported, lexical, semantic, which)."""
        usable = [n for n in numbers if n not in self.instructions]
        if not usable:
            return False, 0.0, 0.0, None
        lexical = [lexical_support(claim, self.evidence[n - 1]) for n in usable]
        vecs = self.vectors([claim] + [self.evidence[n - 1] for n in usable])
        semantic = [float(v) for v in vecs[1:] @ vecs[0]]
        scored = [(lex >= LEXICAL_SUPPORT or (sem >= SEMANTIC_SUPPORT and lex >= LEXICAL_FLOOR), lex, sem, n)
                  for lex, sem, n in zip(lexical, semantic, usable)]
        best = max(scored, key=lambda s: (s[0], s[1] + s[2]))
        return best[0], round(best[1], 3), round(best[2], 3), best[3]

    def quotes_found(self, sentence: str, numbers: list[int]) -> bool:
        texts = [normalise(self.evidence[n - 1]) for n in numbers if n not in self.instructions]
        return all(any(normalise(q) in t for t in texts) for q in quotes(sentence))

    def check(self, sentence: str, reply_cites: list[int]) -> SentenceCheck:
        found = markers(sentence)
        valid = [n for n in dict.fromkeys(found) if 1 <= n <= len(self.evidence)]
        invalid = [n for n in dict.fromkeys(found) if not 1 <= n <= len(self.evidence)]
        claim = strip_markers(sentence)
        against = valid or reply_cites
        if not content_stems(claim):
            return SentenceCheck(sentence, valid, invalid, True, reason="no claim")
        if not against:
            return SentenceCheck(sentence, valid, invalid, False, reason="cites no evidence that was given")
        if not self.quotes_found(sentence, against):
            return SentenceCheck(sentence, valid, invalid, False, reason="quoted words are not in the cited sentence")
        ok, lex, sem, _ = self.support(claim, against)
        reason = "" if ok else ("cites only text that reads as an instruction"
                                if all(n in self.instructions for n in against) else "not supported by what it cites")
        return SentenceCheck(sentence, valid, invalid, ok, lex, sem, reason)

    def attribute(self, sentence: str) -> SentenceCheck:
        """An unmarked claim in a reply without markers: the evidence that supports it best, if any does."""
        claim = strip_markers(sentence)
        if not content_stems(claim):
            return SentenceCheck(sentence, [], [], True, reason="no claim")
        everything = list(range(1, len(self.evidence) + 1))
        ok, lex, sem, best = self.support(claim, everything)
        if ok and best is not None and self.quotes_found(sentence, [best]):
            return SentenceCheck(sentence, [], [], True, lex, sem, inferred=best)
        return SentenceCheck(sentence, [], [], False, lex, sem, reason="cites nothing, and no evidence sentence supports it")

    def verify(self, reply: str) -> Verification:
        sentences = split_reply(reply)
        reply_cites = list(dict.fromkeys(n for s in sentences for n in markers(s) if 1 <= n <= len(self.evidence)))
        result = Verification(instructions=list(self.instructions))
        unmarked = not any(markers(s) for s in sentences)
        for sentence in sentences:
            if unmarked:
                check = self.attribute(sentence)
                result.sentences.append(check)
                if check.inferred is not None:
                    result.verified[check.inferred] = True
                    result.inferred += [check.inferred] if check.inferred not in result.inferred else []
                continue
            check = self.check(sentence, reply_cites)
            result.sentences.append(check)
            result.invalid += [n for n in check.invalid if n not in result.invalid]
            for n in check.cites:
                ok = (check.supported and n not in self.instructions and self.quotes_found(sentence, [n])
                      and self.support(strip_markers(sentence), [n])[0])
                result.verified[n] = result.verified.get(n, False) or ok
        return result


def verify_reply(reply: str, evidence: Sequence[str], vectors: Vectors) -> Verification:
    """Entry point: the reply's sentences and citations checked against the evidence given."""
    return Verifier(evidence, vectors).verify(reply)
