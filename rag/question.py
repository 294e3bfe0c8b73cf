"""What a question asks for: its form (a short fact, sentences, yes/no, a summary), the kind of short
answer it expects, and the terms the evidence must cover.

The kind comes from the question's own wh-phrase (`kinds.WH_CUES`), else from its focus noun ("which
*architect*", "what is the *cost* of") compared by meaning with each kind's prototype nouns, so nouns no
table lists still find their kind. Nothing here is keyed to a particular question.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from rag.kinds import (
    ANY,
    CHOICE,
    DOCUMENT_NOUNS,
    FACTUAL,
    FOCUS_MARGIN,
    FOCUS_SIMILARITY,
    FORMS,
    KINDS,
    SUMMARIZE,
    VALUE_KINDS,
    WH_CUES,
    YESNO,
    Form,
    form_named,
)
from rag.text import parse_syntax
from sourcechat.text import QUESTION_WORDS, STOPWORDS, content_stems, fold, stem, words

# Words that only say which kind of answer is wanted; the evidence need not repeat them.
_TYPE_WORDS = set("""year date day month decade time number position rank place many much long name called
named title kind type person people amount total""".split())

# Words for the source itself ("the essay says..."): they point at the article, not at its content.
_META_WORDS = set("essay article articles piece post blog text author source sources page passage according "
                  "report review guide story explainer writer".split())

# Phrasal verbs the articles write as one word: searched and scored as that word too.
_PHRASAL = [(r"\b(come|came|comes|coming) out\b|\bdrop(ped)?\b|\bput out\b", "released"),
            (r"\bhow long (is|was|does|did)\b", "length")]

_FOCUS_AFTER_WH = re.compile(
    r"\b(?:which|what|whose|how many|how much)\s+((?:[a-z&'’-]+\s+){0,3}?[a-z'’-]+)(?=\s+(?:is|was|are|were|did|does|"
    r"do|has|have|had|will|would|can|could|of|in|on|at|for|from|by|to|does|did|the|a|an|that|it|he|she|they|"
    r"we|you|\w+(?:ed|s))\b|\?|$)")
_FOCUS_COPULA = re.compile(r"^(?:what|which|who)\s+(?:is|was|are|were)\s+(?:the|a|an)\s+(?:(?:name|title)\s+of\s+(?:the|a|an)\s+)?((?:[a-z-]+\s+){0,2}?[a-z-]+)\s+(?:of|for|in|at|on|to|that|behind|where|which|who)\b")
_FOCUS_NAME = re.compile(r"^(?:name|list|give|identify)\s+(?:the|a|an)\s+(?:[a-z-]+\s+){0,2}?([a-z-]+)\b")


@dataclass(frozen=True)
class Term:
    word: str
    stem: str
    pos: str
    required: bool  # the evidence must cover it (a name, a thing, an action): else answering would guess
    name: tuple[str, ...] = ()  # SOURCE: the words of the publication's whole name ("wayfarer", "atlas")


@dataclass(frozen=True)
class QuestionInfo:
    text: str
    form: str  # kinds.FORMS name: factual, why, describe, how, opinion, yesno, summarize
    expects: tuple[str, ...]  # kinds of short answer, best first; (ANY,) when the wording does not say
    terms: tuple[Term, ...]
    focus: str | None = None  # the noun that names the answer's kind ("city" in "which city")
    kind_reason: str = ""  # why these kinds: shown by --explain
    names_a_proper: bool = False  # "which Grammy": one of a named family, not a common noun phrase
    alternatives: tuple[tuple[str, str], ...] = ()  # CHOICE: (each value offered, the yes/no claim with it alone)

    @property
    def expansion(self) -> str:
        """Words the articles would use for the question's phrasing ("released" for "came out")."""
        return " ".join(t.word for t in self.terms if t.pos == "EXPAND")

    @property
    def vocabulary(self) -> list[str]:
        """The question's words that answering compares by meaning (paraphrase checks, the predicate's
        verb, the focus noun): embedded with the question when the collection never used them."""
        own = [t.word for t in self.terms if t.pos in {"VERB", "NOUN", "ADJ"}]
        return own + ([fold(self.focus)] if self.focus else [])

    @property
    def stems(self) -> set[str]:
        """What evidence should contain: every term but those that only name the answer's kind."""
        return {t.stem for t in self.terms if t.pos not in {"TYPE", "KIND"}}

    @property
    def kind_stems(self) -> set[str]:
        return {t.stem for t in self.terms if t.pos == "KIND"}

    @property
    def typed(self) -> bool:
        """The wording names the kind (a wh-phrase or a listed noun): other kinds are not acceptable."""
        return ANY not in self.expects


Similarity = Callable[[str, list[str]], list[float]]  # word, prototypes → cosine similarities


def summary_aspect(question: str, title: str) -> str | None:
    """What a summary request asks about when it asks about one aspect of the article rather than the whole:
    a wh-clause ("summarize *how the renovation is being paid for*") or an object whose head noun is neither
    a kind of document ("the *essay* that...") nor a word of the article's title ("the 2025 Port Orrin
    *Marathon*"): "the *disruption* the eruption caused to travel", "the *results* of the trial". None for a
    request for the whole article."""
    q = fold(question).strip().rstrip("?.! ")
    cue = next((m for c in form_named(SUMMARIZE).cues if (m := re.search(c, q))), None)
    rest = re.sub(r"^\W*(?:of|on|about|for)?\s*", "", q[cue.end():] if cue else q)
    if not rest or re.match(r"[\"“']", rest):
        return None  # nothing further, or a quoted title
    if re.match(r"(how|what|why|where|when|who|which)\b", rest):
        return rest
    chunks = list(parse_syntax(rest).noun_chunks)  # the object's head: its first noun phrase's
    if not chunks:
        return None
    root = chunks[0].root
    naming = set(content_stems(title))
    if re.search(rf"\b{re.escape(root.text[:1].upper() + root.text[1:])}\b", question):
        return None  # a name ("the Wayfarer *Atlas* guide"), not an aspect
    if root.lemma_ in DOCUMENT_NOUNS or fold(root.text) in DOCUMENT_NOUNS:
        # "the FAQ *about keeping hens and bees*", "the report *on the 2025 club championship*": what follows
        # the document is an aspect when it says more than one thing the article's title does not (a request
        # for "the article about the Riverside Bridge" asks for the whole of the article so titled, and "the
        # entry on *the song*" names the article's subject in a word)
        about = re.search(r"\b(about|on|regarding|concerning)\s+(.+)$", rest[chunks[0].end_char:])
        if about and len(set(content_stems(about.group(2))) - naming - DOCUMENT_NOUNS) >= 2:
            written = re.search(re.escape(about.group(2)), question, re.I)
            if about.group(1) == "on" and written and re.fullmatch(r"(?:(?:the|a|an)\s+)?[A-Z][\w'’&.-]*(?:\s+[A-Z][\w'’&.-]*)*", written.group(0)):
                return None  # "the review on *Pitchfork*": where it appeared
            return about.group(2)
        return None
    if stem(fold(root.text)) in naming:
        return None
    return rest


def question_form(question: str) -> Form:
    q = fold(question).strip()
    return next(f for f in FORMS if any(re.search(c, q) for c in f.cues) or (f.inverted and inverted_polar(question)))


_WH = QUESTION_WORDS - {"name", "named"}  # the wh-words ("name the architect" is a request, no wh-word)
_CLAUSE = frozenset({"relcl", "ccomp", "acl", "advcl", "xcomp", "csubj"})  # a clause inside the main one


def inverted_polar(question: str) -> bool:
    """A yes/no question by its structure, wherever its wh-words are: the main clause puts an auxiliary before
    its subject ("*Can* a member ... cancel?", "After the cooling-off period, *can* an Annual Member get a
    refund?") and every wh-word belongs to a clause inside it ("the person *who* helps me", "reveal *what* the
    company is valued at"). A request to the assistant ("can *you* tell me how many ...") or about what is known
    ("is *it* known who ...") asks for the embedded answer, so it is not one."""
    doc = parse_syntax(question)
    root = next((t for t in doc if t.dep_ == "ROOT"), None)
    if root is None:
        return False
    subject = next((c for c in root.children if c.dep_ in {"nsubj", "nsubjpass", "expl"}), None)
    if subject is None or fold(subject.text) in {"you", "it"}:
        return False
    before = subject.left_edge.i
    inverted = [c.i for c in root.children if c.dep_ in {"aux", "auxpass"} and c.pos_ == "AUX" and c.i < before]
    inverted += [root.i] if root.pos_ == "AUX" and root.i < before else []
    if not inverted:
        return False
    # a wh-word before the auxiliary leads the question ("At *what* time does it open?"); one after it asks
    # within the main clause unless a clause inside it holds it
    return not any(fold(t.text) in _WH and (t.i < min(inverted) or _clause_of(t).i == root.i) for t in doc)


def _clause_of(token):
    """The head of the clause a token belongs to: the first clausal dependent on its way up, else the root."""
    while token.head.i != token.i:  # spaCy makes a new Token object on each access: compare positions
        if token.dep_ in _CLAUSE:
            return token
        token = token.head
    return token


def wh_kinds(question: str) -> tuple[tuple[str, ...], str] | None:
    """Kinds the wh-phrase itself names: the earliest cue in the question wins."""
    q = fold(question).strip()
    found = [(m.start(), i, kinds, pattern) for i, (pattern, kinds) in enumerate(WH_CUES) if (m := re.search(pattern, q))]
    if not found:
        return None
    _, _, kinds, pattern = min(found)
    return kinds, f"wh-phrase /{pattern[:40]}/"


def focus_nouns(question: str) -> list[str]:
    """The nouns that name what is asked for, head last: "which *city*", "what is the *cost* of", "name the
    *architect*", "the total *price* *tag*". Capitalised words are names, never the focus."""
    q = question.strip().rstrip("?")
    original_words = set(re.findall(r"\b[A-Z][\w'’-]*", q[1:]))
    folded = fold(q)
    for pattern in (_FOCUS_COPULA, _FOCUS_NAME, _FOCUS_AFTER_WH):
        m = pattern.search(folded)
        if m:
            phrase = [w for w in m.group(1).split() if w.capitalize() not in original_words and w not in original_words]
            parsed = _wh_noun_phrase(question, original_words) if pattern is _FOCUS_AFTER_WH else []
            if parsed:
                phrase, nouns = [w for w, _ in parsed], [w for w, noun in parsed if noun and w not in STOPWORDS]
            elif not phrase:
                return []
            else:
                doc = parse_syntax(" ".join(phrase))
                # the phrase ends at a preposition: "how many *weeks* behind schedule" counts weeks
                cut = next((t.i for t in doc if t.pos_ == "ADP" and t.i > 0), len(doc))
                nouns = [t.text for t in doc[:cut] if t.pos_ in {"NOUN", "PROPN"} and t.text not in STOPWORDS]
            measures = [n for n in nouns[:-1] if any(n in KINDS[k].prototypes for k in VALUE_KINDS)]
            if measures:
                return measures[:1]  # "what *number* track", "which *year* group": the measure is asked for
            if nouns and nouns[-1] == "name":
                named = _named_noun(folded, original_words)  # "the name of Lamar's *wife*": the wife is asked for
                return [named] if named else nouns
            return nouns or ([phrase[-1]] if phrase[-1] not in STOPWORDS else [])
    return []


def _wh_noun_phrase(question: str, names: set[str]) -> list[tuple[str, bool]]:
    """The noun phrase the wh-word determines, read from the parse of the whole question, as (word, is a noun
    there): "how many *grey seal pups* were counted", "what *soil pH* was recorded". Tagged alone, a phrase's
    plural head reads as a verb ("seal *pups*") and "soil ph" as one noun, and the pattern ends a phrase at any
    word ending in -s. [] when the wh-word determines no noun ("what did she say"). The question as asked: the
    same parse its terms are read from (`question_terms`), one parse a question."""
    doc = parse_syntax(question)
    for token in doc:
        if fold(token.text) not in {"which", "what", "whose", "many", "much"}:
            continue
        head = token.head
        if token.dep_ not in {"det", "amod", "nummod", "poss", "advmod"} or head.i <= token.i \
                or head.pos_ not in {"NOUN", "PROPN"} or head.tag_.startswith("VB") \
                or any(t.pos_ in {"AUX", "VERB", "ADP", "PRON", "DET", "SCONJ"} for t in doc[token.i + 1:head.i]):
            continue  # "how much does it *cost*": a verb the tagger took for a noun; "how many of the ..."
        phrase = [(fold(t.text), t.pos_ in {"NOUN", "PROPN"}) for t in doc[token.i + 1:head.i + 1]]
        return [(w, noun) for w, noun in phrase if w.capitalize() not in names and w not in names
                and re.search(r"\w", w)]
    return []


def _named_noun(folded: str, names: set[str]) -> str | None:
    """The common noun a "name of ..." phrase is about ("the name of Lamar's wife" → wife)."""
    m = re.search(r"\bname of (.+)$", folded)
    if not m:
        return None
    rest = [w for w in m.group(1).split() if w.capitalize() not in names and w not in names]
    doc = parse_syntax(" ".join(rest))
    return next((t.text for t in doc if t.pos_ == "NOUN" and t.text not in STOPWORDS
                 and not (t.i + 1 < len(doc) and doc[t.i + 1].tag_ == "POS")), None)  # not the possessor


def focus_noun(question: str) -> str | None:
    nouns = focus_nouns(question)
    return nouns[-1] if nouns else None


def kinds_for_focus(focus: str, similarity: Similarity | None) -> tuple[tuple[str, ...], str] | None:
    """The kinds whose prototypes the focus noun means: listed words first, then embedding similarity."""
    word = focus.lower()
    listed = [k.name for k in KINDS.values() if word in k.prototypes or word.rstrip("s") in k.prototypes]
    if listed:
        return tuple(listed), f"focus noun '{focus}' is a prototype of {listed[0]}"
    if similarity is None:
        return None
    best: list[tuple[float, str]] = []
    for kind in KINDS.values():
        if kind.prototypes:
            sims = similarity(word, list(kind.prototypes))
            best.append((max(sims), kind.name))
    best.sort(reverse=True)
    # a clear winner only: single-word similarities are noisy, and an unclear noun is better left untyped
    if best and best[0][0] >= FOCUS_SIMILARITY and (len(best) < 2 or best[0][0] - best[1][0] >= FOCUS_MARGIN):
        # a kind by meaning is a preference, not a requirement: single-word similarity misleads often enough
        # ("character" ~ person) that other spans stay eligible
        return (best[0][1], ANY), (f"focus noun '{focus}' ~ {best[0][1]} prototypes (similarity {best[0][0]:.2f}): "
                                   "preferred, not required")
    return None


def expected_kinds(question: str, similarity: Similarity | None = None) -> tuple[tuple[str, ...], str, str | None]:
    """(kinds, why, focus noun): the wh-phrase's kinds first, narrowed by a focus noun that names one of them;
    else the focus noun's kinds; else ANY."""
    nouns = focus_nouns(question)
    focus = nouns[-1] if nouns else None
    cue = wh_kinds(question)
    by_focus = None
    for noun in reversed(nouns):  # the head first, then its modifiers: "price *tag*" → "*price*"
        by_focus = kinds_for_focus(noun, similarity)
        if by_focus:
            focus = noun
            break
    if cue and cue[0] != (ANY,) and by_focus and cue[0][0] in {"PERSON", "PLACE"} and by_focus[0][0] in cue[0]:
        # "who ... which company": the cue's kinds, the noun's first
        return (by_focus[0][0],) + tuple(k for k in cue[0] if k != by_focus[0][0]), by_focus[1], focus
    if cue:
        return cue[0], cue[1], focus
    if by_focus:
        return by_focus[0], by_focus[1], focus
    verb = _kind_verb(question)
    if verb:  # "what does the workshop *cost*": the verb names the measure
        return (verb[1], ANY), f"verb '{verb[0]}' is a prototype of {verb[1]}: preferred, not required", focus
    return (ANY,), "no wh-phrase or focus noun names a kind", focus


def _kind_verb(question: str) -> tuple[str, str] | None:
    """The verb a do-question ends on, when a kind lists it among its prototypes ("what does the workshop
    *cost*?"); else None."""
    m = re.match(r"^(?:what|which)\b.*\b(?:do|does|did|will|would)\b.*\b([a-z]+)\W*$", fold(question).strip())
    if not m:
        return None
    last = m.group(1)
    for kind in KINDS.values():
        if last in kind.prototypes or last.rstrip("s") in kind.prototypes:
            return last, kind.name
    return None


def _in_wh_phrase(token, doc, reach: int = 3) -> bool:
    """The word follows a wh-word closely ("how long", "what kind of", "in which year"): it names the
    answer's type there, and is an ordinary word elsewhere."""
    return any(fold(t.text) in {"what", "which", "how", "whose"} for t in doc[max(0, token.i - reach):token.i])


def _term(token, part: str, s: str, focus_stem: str | None, doc) -> Term | None:
    """What one question word is: the answer's kind, the source's name, a type word, or a term to find."""
    if focus_stem and s == focus_stem and token.pos_ != "PROPN":
        return Term(part, s, "KIND", False)  # "which *studio*": names the answer's kind
    if part in _META_WORDS:
        return None
    if token.pos_ == "PROPN" and any(fold(t.text) in _META_WORDS for t in doc[token.i + 1:token.i + 3]):
        first = token.i
        while first > 0 and doc[first - 1].pos_ == "PROPN":
            first -= 1
        name = tuple(fold(t.text) for t in doc[first:token.i + 1])
        return Term(part, s, "SOURCE", False, name)  # "the *Wayfarer Atlas* guide": names the publication
    if part in _TYPE_WORDS and _in_wh_phrase(token, doc):
        return Term(part, s, "TYPE", False)  # "how *long*", "in what *year*"; not "why did it take so long"
    return Term(part, s, token.pos_, token.pos_ in {"PROPN", "NOUN", "NUM", "VERB", "ADJ"})


def _requests(token) -> bool:
    """The imperative that opens a request ("*Describe* the design", "*Tell* me about", "*List* the prizes")
    asks the assistant for something: it is not a word the answer's sentence should contain."""
    return token.is_sent_start and token.tag_ == "VB" and token.dep_ == "ROOT"


def question_terms(question: str, focus: str | None, context: str = "") -> list[Term]:
    """The question's words as terms (stemmed, once each), its phrasal expansions, and borrowed context words."""
    doc = parse_syntax(question)
    terms: list[Term] = []
    seen: set[str] = set()
    focus_stem = stem(focus) if focus else None
    for token in doc:
        word = fold(token.text).strip("'’\"“”-")
        if not re.search(r"\w", word) or word in STOPWORDS or word in QUESTION_WORDS or _requests(token):
            continue
        for part in word.split("-"):
            if (len(part) < 3 and token.pos_ != "PROPN" and not part.isdigit()) or part in STOPWORDS:
                continue
            s = stem(part)
            if s not in seen:
                seen.add(s)
                term = _term(token, part, s, focus_stem, doc)
                if term:
                    terms.append(term)
    for pattern, word in _PHRASAL:
        if re.search(pattern, fold(question)) and stem(word) not in seen:
            terms.append(Term(word, stem(word), "EXPAND", False))
    for word in words(context):
        if word not in STOPWORDS and word not in QUESTION_WORDS and stem(word) not in seen:
            seen.add(stem(word))
            terms.append(Term(word, stem(word), "CONTEXT", False))
    return terms


def _offers_a_value(span) -> bool:
    """A value or a name: what a choice offers ("2022", "Taylour Paige", "May"), not a common noun or a
    quality ("hook or chorus", "liver or heart problems": a yes/no question about either)."""
    return any(t.like_num or t.pos_ in {"PROPN", "NUM"} or any(ch.isdigit() for ch in t.text) for t in span)


def alternatives(question: str) -> tuple[tuple[str, str], ...]:
    """A yes/no question that offers two values or names joined by "or" ("Was it released in 2022 or
    2023?", "Did Lamar or Paige write it?") as (each value, the question with that value alone); () when it
    offers none ("or not", common nouns)."""
    doc = parse_syntax(question)
    for tok in doc:
        if tok.lower_ != "or" or tok.dep_ != "cc":
            continue
        conj = next((c for c in tok.head.children if c.dep_ == "conj" and c.i > tok.i), None)
        if conj is None or any(t.lower_ == "not" for t in conj.subtree):
            return ()
        a = doc[tok.head.left_edge.i:tok.i]
        b = doc[conj.left_edge.i:conj.right_edge.i + 1]
        if not (len(a) and len(b) and _offers_a_value(a) and _offers_a_value(b)):
            return ()
        a_start, b_start, b_end = a.start_char, b.start_char, b.end_char
        first = question[a_start:tok.idx].strip(" ,")
        second = question[b_start:b_end]
        return ((first, question[:tok.idx].rstrip(" ,") + question[b_end:]),
                (second, question[:a_start] + question[b_start:]))
    return ()


def analyse(question: str, context: str = "", similarity: Similarity | None = None) -> QuestionInfo:
    """`context`: words a follow-up borrows from the conversation; they guide scoring, never block it.
    `similarity`: word-embedding similarity, for focus nouns no kind lists."""
    form = question_form(question)
    expects, reason, focus = expected_kinds(question, similarity)
    terms = question_terms(question, focus, context)
    after_wh = re.search(r"\b(?:[Ww]hich|[Ww]hat)\s+(\S+)", question)
    names_a_proper = bool(after_wh and after_wh.group(1)[:1].isupper())
    if form.name != FACTUAL and form.name != YESNO:
        expects = (ANY,)
    elif form.name == YESNO and _WH & set(words(question)):  # "does the person *who* helps me ...": not asked
        expects, reason = (ANY,), "a yes/no question: its wh-word is inside a clause of its own"
    offered = alternatives(question) if form.name == YESNO else ()
    return QuestionInfo(question, CHOICE if offered else form.name, expects, tuple(terms), focus, reason,
                        names_a_proper, offered)
