"""Spans: every part of a sentence that could be a short answer, each with its kind.

Sources of spans, all driven by the `KINDS` registry: spaCy entities (by label), the kinds' patterns
(maximal, so "$4.2 million", "86,000", "18 months" and "9:00 to 20:00" stay whole), quoted titles,
capitalised names spaCy did not type, noun phrases (whole constituents: "the state of the world"), and the
values of "Key: value" lines and table cells. A span inside a wider value span of the same sentence is
dropped: "4" of "$4.2 million" is never an answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from rag.kinds import DATE, DURATION, KINDS, NAME, NUMBER, ORG, PERSON, PHRASE, PLACE, TIME, VALUE_KINDS, WORK
from rag.text import parse
from sourcechat.contracts import CELL_LABEL

_INFOBOX = re.compile(r"^\s*[-*•]?\s*([A-Za-z][\w ()/]{1,40}?)\s*(?::|\|)\s+(.+)$")
_LIST_PAIR = re.compile(r"^\s*[-*•]\s*([A-Z][\w .()/'’]{1,40}?)\s+[–—]\s+(.+)$")  # "- Brandon Blatz – mixing"
_CAPITALISED = re.compile(r"\b[A-Z][\w'’.&-]*(?:\s+(?:(?:of|and|&|de|van|von|der|du|la|le)\s+)?(?:the\s+)?[A-Z][\w'’.&-]*){0,5}\b")


@dataclass(frozen=True)
class Span:
    text: str
    kind: str
    start: int  # character offsets in the sentence
    end: int
    origin: str  # "entity", "pattern", "name", "phrase", "layout": shown by --explain


@lru_cache(maxsize=1)
def _label_kind() -> dict[str, str]:
    return {label: kind.name for kind in KINDS.values() for label in kind.labels}


@lru_cache(maxsize=1)
def _compiled() -> list[tuple[re.Pattern, str]]:
    return [(re.compile(p), kind.name) for kind in KINDS.values() for p in kind.patterns]


def is_headline(sentence: str) -> bool:
    """A Title Case Headline: its capitals say nothing about which words are names. A byline is none: its
    capitals are a name and a job title."""
    tokens = re.findall(r"[A-Za-z][\w'’-]*", sentence)
    return len(tokens) >= 4 and sum(t[0].isupper() for t in tokens) >= 0.8 * len(tokens) and not is_byline(sentence)


# a byline says who wrote the article without a verb: "By Tamsin Oduya, Senior Editor", "Posted on 18 June 2025
# by Ingrid Solberg, lead maintainer"; a name of two to four capitalised words, then the line's end or a separator
_BYLINE = re.compile(r"^[\W_]*(?:(?i:written|words|reported|posted|published)\b[^.\n]{0,40}?\s)?(?i:by)\s+"
                     r"[A-Z][\w'’.-]+(?:\s+[A-Z][\w'’.-]+){1,3}\s*(?:$|[,.·|•–—-])")


def is_byline(sentence: str) -> bool:
    """A byline line ("By Priya Halvorsen · Senior Gear Editor · Published April 9, 2024")."""
    return len(sentence) <= 160 and bool(_BYLINE.match(sentence))


def _strip(text: str, start: int) -> tuple[str, int]:
    """Drop leading articles/possessives and trailing punctuation (and a table row's cell bars), keeping
    offsets right."""
    bars = len(text) - len(text.lstrip("| "))
    text, start = text[bars:], start + bars
    m = re.match(r"(?i)(?:the|a|an|this|that|these|those|his|her|their|its|our|my|your)\s+", text)
    if m:
        text, start = text[m.end():], start + m.end()
    stripped = text.rstrip(" ,.;:!?|")
    stripped = re.sub(r"['’]s$", "", stripped)
    return stripped, start


_COUNT = r"\d|\b(an?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|several|few|many|" \
         r"fifteen|twenty|thirty|forty|fifty|hundred|half|couple|dozen)\b"  # a duration counts its units


_YEAR_BEFORE = re.compile(r"\b(in|since|by|from|until|till|of|circa|c\.|around|before|after|year)\s*$", re.I)


def _is_year(text: str, before: str) -> bool:
    """A bare year: 1900–2099 anywhere; an older four-digit number when a year's preposition leads it
    ("made in 1889", "since 1536"), since "1200 panels" is a count."""
    return bool(re.fullmatch(r"(?:19|20)\d\d", text)
                or (re.fullmatch(r"1\d\d\d", text) and _YEAR_BEFORE.search(before)))


_MODIFIER = re.compile(r"-[a-z]+ed$")  # a name made a modifier: "Utrecht-based", "Alchemist-produced"


def _entities(doc, headline: bool) -> list[Span]:
    found = []
    for ent in doc.ents:
        kind = _label_kind().get(ent.label_)
        if not kind or (headline and kind in {PERSON, ORG, PLACE}):
            continue
        text, start = _strip(ent.text, ent.start_char)
        if kind == NUMBER and _is_year(text, doc.text[:start]):
            kind = DATE
        if kind in {TIME, DATE} and re.search(r"\b(seconds?|minutes?|hours?|days?|weeks?|months?|years?|decades?)\b", text) \
                and not re.search(r"\d{4}|\b(ago|later|earlier)\b", text) and re.search(_COUNT, text):
            kind = DURATION  # the tagger's TIME/DATE for "two to three hours", "four years" (not "this year")
        if text:
            found.append(Span(text, kind, start, start + len(text), "entity"))
    return found


def _is_speech(text: str) -> bool:
    """Quoted words that are a remark, not a title: a clause with a comma or a question/exclamation mark,
    or longer than titles run ("Why R&B bitches don't feature on each other songs then?")."""
    return bool(re.search(r"[,?!;…]", text)) or len(text.split()) > 8


def _patterns(sentence: str) -> list[Span]:
    found = []
    for pattern, kind in _compiled():
        for m in pattern.finditer(sentence):
            group = 1 if m.groups() else 0
            if kind == WORK and _is_speech(m.group(group)):
                continue
            text = m.group(group).strip(" ,.;:")
            if text:
                start = m.start(group) + m.group(group).find(text)
                if kind == NUMBER and _is_year(text, sentence[:start]):
                    kind_here = DATE  # a bare year is a date, not a count
                else:
                    kind_here = kind
                found.append(Span(text, kind_here, start, start + len(text), "pattern"))
    # a date written in figures ("15/05/2025") is a date, not a reference number or a count, as a bare year is
    dates = {(s.start, s.end) for s in found if s.kind == DATE}
    return [s for s in found if not (s.kind == NUMBER and (s.start, s.end) in dates)]


def _names(sentence: str, headline: bool) -> list[Span]:
    if headline:
        return []
    found = []
    for m in _CAPITALISED.finditer(sentence):
        text = m.group().strip(" ,.;:")
        if m.start() == 0 and " " not in text:
            continue  # a capital that only starts the sentence says nothing
        if re.fullmatch(r"(The|A|An|In|On|At|It|He|She|They|We|I|But|And|This|That)", text):
            continue
        start = m.start()
        if m.start() == 0 and is_byline(sentence) and text.startswith("By "):
            text, start = text[3:], start + 3  # "By Priya Halvorsen": the capital only starts the line
        found.append(Span(text, NAME, start, start + len(text), "name"))
    return found


def _phrases(doc) -> list[Span]:
    """Noun phrases, widened to the whole constituent with its prepositional tail ("the state of the world")."""
    found = []
    for chunk in doc.noun_chunks:
        if chunk.root.pos_ == "PRON":
            continue
        end_tok = chunk.end
        # take an "of ..." tail: "the state of the world", "a pair of headphones"
        if end_tok < len(doc) and doc[end_tok].lower_ == "of":
            tail = [t for t in doc[end_tok].subtree]
            if tail and tail[-1].i - chunk.start < 10:
                end_tok = tail[-1].i + 1
        span = doc[chunk.start:end_tok]
        text, start = _strip(span.text, span.start_char)
        if text:
            found.append(Span(text, PHRASE, start, start + len(text), "phrase"))
    return found


def _layout(sentence: str) -> list[Span]:
    """Values of "- Key: value" lines and table cells, as written in infoboxes and spec tables."""
    found = []
    m = _INFOBOX.match(sentence) or _LIST_PAIR.match(sentence)
    if m and len(m.group(2).strip()) < 120:
        value = m.group(2).strip()
        kind = NAME if value[:1].isupper() or value[:1].isdigit() else PHRASE  # "mixing assistance" names no one
        found.append(Span(value, kind, m.start(2), m.start(2) + len(value), "layout"))
    for _, start, end in _cells(sentence):
        value = sentence[start:end]
        found.append(Span(value, NAME, start, end, "layout"))
    return found


def _cells(sentence: str) -> list[tuple[str | None, int, int]]:
    """The cells of a table row as (column name, value start, value end); the name is None where the
    row does not carry one."""
    if not sentence.lstrip().startswith("|"):
        return []
    out: list[tuple[str | None, int, int]] = []
    offset = 0
    for cell in sentence.split("|"):
        if cell.strip() and not re.fullmatch(r"[\s:-]+", cell):
            start = offset + (len(cell) - len(cell.lstrip()))
            text = cell.strip()
            label = CELL_LABEL.match(text)  # a cell written with its column's name
            key = label.group(1) if label and len(text) > label.end() else None
            skip = label.end() if label is not None and key else 0
            out.append((key, start + skip, start + len(text)))
        offset += len(cell) + 1
    if len(out) == 2 and out[1][0] is None:  # "| Capacity | 48 liters |": the first cell names the second
        out[1] = (sentence[out[0][1]:out[0][2]], out[1][1], out[1][2])
    return out


def infobox_key(sentence: str) -> str | None:
    m = _INFOBOX.match(sentence) or _LIST_PAIR.match(sentence)
    return m.group(1) if m else None


def table_cell(sentence: str, start: int) -> tuple[str | None, int, int] | None:
    """The table cell a span starting at `start` is in, as (column name, value start, value end); None
    when the sentence is no table row."""
    return next((cell for cell in _cells(sentence) if cell[1] <= start < cell[2]), None)


def row_keys(sentence: str) -> list[str]:
    """The column names a table row's cells carry ("| Area: Dale | Customers at peak: 22,800 | …"); empty for
    anything else."""
    return [key for key, _, _ in _cells(sentence) if key]


def value_key(sentence: str, start: int) -> str | None:
    """The key a span starting at `start` is the value of: a "Key: value" line's key, or the column name of
    the table cell it is in; None when it is in neither's value."""
    cell = table_cell(sentence, start)
    if cell is not None:
        return cell[0]
    key = infobox_key(sentence)
    return key if key is not None and start >= sentence.find(key) + len(key) else None


def spans(sentence: str) -> list[Span]:
    """Every candidate answer span of the sentence, deduplicated, value spans kept whole."""
    return list(_spans_cached(sentence))


@lru_cache(maxsize=20_000)
def _spans_cached(sentence: str) -> tuple[Span, ...]:
    """The spans of one sentence, computed once per process: evidence sentences recur across questions."""
    return tuple(_find_spans(sentence))


# the number that opens a numbered item, section heading or clause ("3. THE MILLBROOK COLD STORE", "2) Costs",
# "6.1 A Member may freeze", "4.3(a) The Club"): a multi-level number before a capital is a clause's, not a value
_ENUMERATOR = re.compile(r"\s*(?:(\d{1,2})[.)]\s+(?=\S)|(\d{1,2}(?:\.\d{1,3})+)\.?(?:\([a-z]{1,3}\))?\s+(?=[A-Z(]))")


def _own_value(span: Span, wider: Span) -> bool:
    """A time of day or a duration that names its unit ("10.30am", "2.9 milliseconds"), found by a pattern inside
    the tagger's span of another kind: a value of its own, not a piece of the date."""
    return (span.origin == "pattern" and wider.origin == "entity" and span.kind in {TIME, DURATION}
            and wider.kind != span.kind and bool(re.search(r"\d", span.text)) and bool(re.search(r"[a-zµ]\.?$", span.text)))


def _find_spans(sentence: str) -> list[Span]:
    doc = parse(sentence)
    headline = is_headline(sentence)
    patterns = _patterns(sentence)
    # a pattern knows a value's kind better than the tagger: "2:07:41" is a duration, not a cardinal; and
    # quotation marks round a whole name make it a title ("Valentine", a song the tagger calls a person)
    titles = {(p.start, p.end) for p in patterns if p.kind == WORK}
    entities = [e for e in _entities(doc, headline) if (e.start, e.end) not in titles
                and not any(p.start <= e.start and e.end <= p.end and e.kind in VALUE_KINDS for p in patterns)]
    found = patterns + entities
    values = [s for s in found if s.kind in VALUE_KINDS]
    # a value span inside a wider value span is a piece of it ("4" of "$4.2 million", "000" of "86,000"); a clock
    # time or a duration with its unit is whole inside the tagger's wider date ("10.30am" of "10.30am every Tuesday")
    found = [s for s in found if not any(v.start <= s.start and s.end <= v.end and (v.end - v.start) > (s.end - s.start)
                                         and not _own_value(s, v) for v in values)]
    names = _names(sentence, headline)
    # a typed entity that a capitalised span widens ("Morale" of "Mr. Morale & the Big Steppers") takes the span
    widened = []
    for s in found:
        if s.kind in {PERSON, ORG, PLACE, WORK}:
            wider = [n for n in names if n.start <= s.start and s.end <= n.end and len(n.text) > len(s.text)
                     and not re.search(r" (and|of) |['’]s ", n.text) and not _MODIFIER.search(n.text)]
            if wider:
                w = max(wider, key=lambda n: len(n.text))
                s = Span(w.text, s.kind, w.start, w.end, s.origin)
        widened.append(s)
    found = widened + [n for n in names if not any(v.start <= n.start and n.end <= v.end for v in values)]
    found += _phrases(doc) + _layout(sentence)
    typed_extents = {(s.start, s.end) for s in found if s.kind not in {NAME, PHRASE}}
    found = [s for s in found if not (s.kind == NAME and s.origin == "name" and (s.start, s.end) in typed_extents)]
    marker = _ENUMERATOR.match(sentence)
    cells = [(start, end) for _, start, end in _cells(sentence)]  # a table row: answers are inside one cell's value
    out: dict[tuple[int, int, str], Span] = {}
    for s in found:
        if cells and not any(start <= s.start and s.end <= end for start, end in cells):
            continue
        if _MODIFIER.search(s.text):  # "Alchemist-produced" modifies; it does not answer (its name, "Alchemist", may)
            continue
        if marker and (s.start, s.end) in {marker.span(1), marker.span(2)}:  # "3. THE COLD STORE": a list's or section's number
            continue
        out.setdefault((s.start, s.end, s.kind), s)
    return list(out.values())


__all__ = ["Span", "infobox_key", "is_byline", "is_headline", "row_keys", "spans", "table_cell", "value_key"]
