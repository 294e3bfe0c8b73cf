"""Knowledge as data: what forms a question takes, and which kinds of span answer it.

Two registries, one entry per line, so a newcomer changes behaviour by editing a table:

- `FORMS`: the shape of reply a question wants (a short span, 1–3 sentences, yes/no, a summary), found by
  the question's own cues.
- `KINDS`: the kind of short answer (a date, an amount of money, a person...). A kind is found from the
  question's wh-phrase (`WH_CUES`) or, for "which/what <noun>", from the noun's *meaning*: its embedding
  similarity to each kind's prototype nouns, so "which architect" asks for a person and "which borough" for a
  place although neither word is listed anywhere. `accepts` says which span kinds may answer it and how
  well: a date question never takes a noun phrase.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

# --- reply forms ------------------------------------------------------------------------------------

FACTUAL, DESCRIBE, WHY, HOW, OPINION, YESNO, SUMMARIZE, CHOICE = (
    "factual", "describe", "why", "how", "opinion", "yesno", "summarize", "choice")


@dataclass(frozen=True)
class Form:
    name: str
    cues: tuple[str, ...]  # regexes over the folded question; the first form with a match wins
    short: bool  # the reply leads with a short span (factual, yes/no) rather than sentences
    sentence_cues: tuple[str, ...] = ()  # words that mark a sentence as answering this form ("because")
    # also chosen by the question's structure: its main clause puts an auxiliary before the subject and any
    # wh-word sits in a clause inside it ("*Does* the person *who* helps me have to ...?"), which a cue over
    # the words cannot tell from a wh-question (`rag.question.inverted_polar`)
    inverted: bool = False


# the imperative that asks for a description; what follows it is what to describe (`decide_describe`)
DESCRIBE_REQUEST = r"^(describe|explain|tell me about|outline)\b"

FORMS: tuple[Form, ...] = (
    Form(SUMMARIZE, (r"^(please )?(summari[sz]e|sum up|recap|give (me )?(a |an )?(summary|overview|recap|tl;?dr))\b",
                     r"^(what are|list) the (main|key) (points|takeaways)\b", r"^tl;?dr\b"), short=False),
    Form(WHY, (r"\bwhy\b", r"\bwhat (is|was|were) the (reason|motivation|purpose)s?\b", r"\bfor what reason\b",
               r"\bwhat (made|led|prompted|motivated|caused|drove)\b"), short=False,
         sentence_cues=("because", "so that", "in order to", "wanted", "reason", "meant to", "to show", "due to",
                        "since", "so ", "inspired", "purpose", "aimed", "goal", "hoped")),
    Form(OPINION, (r"\bhow (did|do|does|was|were|is|are|has|have|had) .*\b(react|respond|receive|rate|review|judge|feel|view|"
                   r"see|regard|perceive|like)\w*\b", r"\bwhat did .* (think|say|feel|write|make) (of|about)\b",
                   r"\b(opinion|verdict|reception|critics?|reviewers?)\b.*\?$", r"\bwhat (do|does|did) .* think\b",
                   r"\bhow well (was|were|is|did)\b"), short=False,
         sentence_cues=("praised", "called", "described", "wrote", "said", "criticised", "criticized", "love",
                        "best", "worst", "masterclass", "disturbing", "brilliant", "recommend", "verdict",
                        "impressive", "disappointing", "felt", "opinion", "review")),
    Form(HOW, (r"^how (did|do|does|was|were|is|are|has|have|had|can|could)\b(?! .*\b(many|much|long|old|far|big|tall|high|"
               r"deep|wide|heavy|fast|large|often)\b)",), short=False,
         sentence_cues=("by ", "through", "using", "started", "began", "recorded", "made", "built", "process")),
    Form(DESCRIBE, (r"\bwhat (is|was|are|were) .* about\b", DESCRIBE_REQUEST,
                    r"\bwhat happens\b", r"\bwhat (does|did) .* (show|depict|portray|explore|cover|deal with|"
                    r"discuss|describe|examine)\b", r"\bwhat is .* like\b", r"\bwhat is the (story|plot|premise|theme)"),
         short=False),
    Form(YESNO, (r"^(is|are|was|were|do|does|did|has|have|had|can|could|will|would|should|must)\b(?!.*\b(who|what|"
                 r"when|where|which|how many|how much)\b)",), short=True, inverted=True),
    Form(FACTUAL, (r".",), short=True),
    # a yes/no question offering two values or names ("Was it released in 2022 or 2023?") asks which: found
    # by its parse (rag.question.alternatives), not by a cue, so it has none and no wording selects it here
    Form(CHOICE, (), short=True),
)


# What a summary request may name as its object without asking about one aspect of it: "summarize the
# *essay* that...", "an overview of the encyclopedia *entry*" (against "summarize the *results* of the trial").
DOCUMENT_NOUNS = frozenset({
    "article", "story", "essay", "review", "report", "guide", "entry", "explainer", "update", "piece", "post",
    "page", "document", "notice", "release", "faq", "interview", "profile", "feature", "column", "editorial",
    "text", "paper", "letter", "statement", "announcement", "coverage", "write-up", "source", "sources",
})


def form_named(name: str) -> Form:
    return next(f for f in FORMS if f.name == name)


# --- answer kinds -----------------------------------------------------------------------------------

DATE, TIME, DURATION, MONEY, PERCENT, NUMBER, RANK = "DATE", "TIME", "DURATION", "MONEY", "PERCENT", "NUMBER", "RANK"
PERSON, ORG, PLACE, WORK, GROUP, NAME, PHRASE, ANY = (
    "PERSON", "ORG", "PLACE", "WORK", "GROUP", "NAME", "PHRASE", "ANY")
VALUE_KINDS = frozenset({DATE, TIME, DURATION, MONEY, PERCENT, NUMBER, RANK})

_MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
_MON = r"(?:Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\.?"
# numbers written as words, and their values (spans match them; rag.answer.canonical reads "two-year" as 2)
NUMBER_WORDS = {w: n for n, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split())} | {"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60,
                                                      "hundred": 100}
_WORDNUM = "(?:" + "|".join(w for w in NUMBER_WORDS if w != "zero") + "|a dozen|dozens of)"
_NUM = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
_SCALE = r"(?:\s?(?:million|billion|trillion|thousand|bn|m|k)\b)?"
_UNIT_TIME = (r"(?:milliseconds?|microseconds?|ms|µs|seconds?|secs?|minutes?|mins?|hours?|hrs?|days?|weeks?|months?|"
              r"years?|decades?|centuries)")
_CLOCK = r"\d{1,2}(?:[:.]\d{2})?\s?(?:[ap]\.?m\.?|h)?"


@dataclass(frozen=True)
class Kind:
    name: str
    prototypes: tuple[str, ...] = ()  # nouns that ask for this kind ("which *city*")
    labels: tuple[str, ...] = ()  # spaCy entity labels that give spans of this kind
    patterns: tuple[str, ...] = ()  # regexes that give spans of this kind (maximal: "$4.2 million", not "4")
    accepts: dict[str, float] = field(default_factory=dict)  # span kind → how well it answers this kind


KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind(DATE, ("date", "year", "day", "month", "decade", "season", "century", "anniversary", "birthday"),
         ("DATE",),
         (rf"\b(?:(?:{_MONTHS}|{_MON}) \d{{1,2}}(?:st|nd|rd|th)?,? \d{{4}}|\d{{1,2}}(?:st|nd|rd|th)? (?:of )?(?:{_MONTHS}|{_MON}),? \d{{4}}"
          rf"|\d{{4}}-\d{{2}}-\d{{2}}|(?:early |late |mid-)?(?:{_MONTHS})(?: of)? \d{{4}}|(?:{_MONTHS}) \d{{1,2}}(?:st|nd|rd|th)?)\b",
          r"\b(?:19|20)\d{2}s?(?:\s?[–-]\s?(?:19|20)?\d{2}|/(?:19|20)?\d{2})?\b(?!/\d)", r"\b1\d{3}\s?[–-]\s?(?:1\d|20)\d{2}\b",
          r"\b\d{1,2}/\d{1,2}/(?:19|20)?\d{2}\b(?!/\d)",  # "12/03/2025", "2024/25": whole, as written
          # days listed under one month: "11 and 12 October 2023", "14, 15 and 16 August", "May 3 and 4, 2024"
          rf"\b\d{{1,2}}(?:st|nd|rd|th)?(?:, \d{{1,2}}(?:st|nd|rd|th)?)*,? (?:and|&) \d{{1,2}}(?:st|nd|rd|th)? "
          rf"(?:of )?(?:{_MONTHS}|{_MON})(?:,? (?:and|&) \d{{1,2}}(?:st|nd|rd|th)? (?:of )?(?:{_MONTHS}|{_MON}))*"
          rf"(?:,? \d{{4}})?\b",
          rf"\b(?:{_MONTHS}|{_MON}) \d{{1,2}}(?:st|nd|rd|th)?(?:, \d{{1,2}}(?:st|nd|rd|th)?)*,? (?:and|&) "
          rf"\d{{1,2}}(?:st|nd|rd|th)?(?:,? \d{{4}})?\b",
          r"\b(?:Q[1-4]|(?:first|second|third|fourth) quarter) (?:of )?(?:19|20)\d{2}\b"),
         {DATE: 1.0}),
    Kind(TIME, ("time", "hour", "clock", "o'clock", "opening hours", "deadline"), ("TIME",),
         (rf"\b{_CLOCK}\s?(?:to|until|till|-|–)\s?{_CLOCK}\b",
          r"\b\d{1,2}(?:[:.]\d{2})?\s?[ap]\.?m\.?(?=\W|$)", r"(?<![:\d])(?:[01]?\d|2[0-3]):[0-5]\d\b(?!:)", r"\b(?:noon|midnight)\b"),
         {TIME: 1.0, DURATION: 0.8, DATE: 0.4}),  # "the winning time": a clock reading or an elapsed time
    Kind(DURATION, ("duration", "length", "runtime", "period", "lifespan", "term", "span", "time taken"), (),
         (rf"\b(?:{_NUM}|{_WORDNUM}|half an?)(?:\s?(?:and a half|to|-|–)\s?{_NUM})?[- ]{_UNIT_TIME}\b",
          r"\b\d{1,2}:\d{2}:\d{2}\b", r"\b\d{1,2}:\d{2}\b(?! ?[ap]\.?m)"),
         {DURATION: 1.0, TIME: 0.6, NUMBER: 0.3}),
    Kind(MONEY, ("cost", "price", "budget", "amount", "fee", "sum", "revenue", "salary", "funding", "money",
                 "fine", "profit", "sales", "income", "spending", "investment", "turnover", "earnings", "wage"),
         ("MONEY",),
         (rf"(?:[$€£¥]|US\$|A\$|C\$)\s?{_NUM}{_SCALE}",
          rf"\b{_NUM}{_SCALE}\s?(?:dollars|euros|pounds|yen|USD|EUR|GBP|CHF|kr|NOK|SEK|DKK)\b"),
         {MONEY: 1.0, NUMBER: 0.3}),
    Kind(PERCENT, ("percentage", "percent", "share", "proportion", "rate", "margin", "ratio", "growth"),
         ("PERCENT",), (rf"\b{_NUM}\s?(?:%|per ?cent\b|percentage points?\b)",),
         {PERCENT: 1.0, NUMBER: 0.4}),
    Kind(NUMBER, ("number", "count", "quantity", "total", "figure", "population", "size", "attendance",
                  "capacity", "weight", "distance", "height", "depth", "temperature", "speed", "score"),
         ("CARDINAL", "QUANTITY"),
         (rf"\b(?!(?:1[89]|20)\d\d\s?[–-])(?:{_NUM}\s?[–-]\s?)?{_NUM}{_SCALE}(?:\s?(?:km|kilometres|kilometers|miles|metres|meters|m³|m²|m|cm|mm|kg|g|mg|tonnes|tons|lbs?|"
          rf"feet|ft|inches|litres|liters|ml|mL|L|°[CF]|degrees(?: Celsius| Fahrenheit)?|watts|W|kW|kWh|mAh|GB|TB|MB|"
          rf"mph|km/h|hectares|acres|square (?:metres|meters|feet|miles)|dB(?:\(A\))?|Hz|kHz|V|kV|kPa|ppm)"
          # a rate keeps its "per": "20 L/day", "150 m³/h"
          rf"(?:/(?:day|d|h|hr|hour|min|s|week|month|year|yr|m²|m³|kg|ha|L))?(?!\w))?", rf"\b{_WORDNUM}\b",
          r"\b(?:[A-Z]{1,4} ?)?\d+(?:/\d+)+(?:/[A-Z]{1,5}\b)?\b"),  # a reference number ("PO 2023/041", "24/00153"): whole
         {NUMBER: 1.0, MONEY: 0.8, PERCENT: 0.8, DURATION: 0.7, RANK: 0.5}),
    Kind(RANK, ("position", "rank", "ranking", "place", "spot", "chart", "finish", "seed", "track number"),
         ("ORDINAL",), (r"(?:\bnumber |#|No\. ?)\d+\b", r"\b\d+(?:st|nd|rd|th)\b",
                        r"\b(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|last)\b"),
         {RANK: 1.0, NUMBER: 0.8}),
    Kind(PERSON, ("person", "man", "woman", "people", "actor", "actress", "producer", "director", "architect",
                  "engineer", "executive", "officer", "mayor", "spokesperson", "critic", "writer", "author",
                  "singer", "rapper", "artist", "scientist", "researcher", "founder", "chairman", "manager",
                  "winner", "runner", "athlete", "coach", "player", "reviewer", "journalist", "partner", "wife",
                  "husband", "minister", "councillor", "curator", "designer", "leader", "chef", "doctor"),
         ("PERSON",), (), {PERSON: 1.0, NAME: 0.6, ORG: 0.4}),
    Kind(ORG, ("company", "organisation", "organization", "magazine", "publication", "newspaper", "outlet",
               "label", "firm", "agency", "team", "club", "brand", "manufacturer", "supplier", "contractor",
               "university", "institute", "charity", "council", "department", "website", "network", "bank",
               "sponsor", "retailer", "group", "party", "committee", "school"),
         ("ORG",), (), {ORG: 1.0, NAME: 0.6, WORK: 0.4, PERSON: 0.3}),
    Kind(PLACE, ("city", "town", "country", "place", "location", "venue", "state", "region", "neighbourhood",
                 "neighborhood", "street", "studio", "village", "island", "district", "county", "province",
                 "borough", "site", "building", "theater", "theatre", "stadium", "port", "river", "area"),
         ("GPE", "LOC", "FAC"), (), {PLACE: 1.0, ORG: 0.5, NAME: 0.6}),
    Kind(WORK, ("song", "album", "film", "movie", "book", "title", "product", "model", "work", "track",
                "series", "show", "single", "novel", "video", "podcast", "record", "painting", "exhibit",
                "exhibition", "event", "award", "prize", "programme", "program", "project", "device", "sample"),
         ("WORK_OF_ART", "EVENT", "PRODUCT", "LAW"), (r"[“\"]([^”\"]{1,80}?)[”\"]",),
         {WORK: 1.0, NAME: 0.7, ORG: 0.3}),
    Kind(GROUP, (), ("NORP", "LANGUAGE"), (), {GROUP: 1.0}),
    Kind(ANY, (), (), (), {PHRASE: 0.8, NAME: 0.6, WORK: 0.6, PERSON: 0.5, ORG: 0.5, PLACE: 0.5, GROUP: 0.5,
                           DATE: 0.3, NUMBER: 0.3, MONEY: 0.3, PERCENT: 0.3, DURATION: 0.3, RANK: 0.3, TIME: 0.3}),
)}

# The question's own wh-phrase: the first cue found in it decides (before any focus noun).
WH_CUES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (r"\b(what|which) (kind|type|sort|genre|style)s? of\b", (ANY,)),
    (r"\bhow much\b(?= .*\b(cost|pay|paid|spend|spent|charge|raise|raised|earn|price|worth|fund)\w*\b|\s+(money|cash))",
     (MONEY, NUMBER)),
    (r"\bhow much\b", (NUMBER, MONEY, PERCENT)),
    (r"\bhow many\b", (NUMBER,)),
    (r"\bhow long\b", (DURATION, NUMBER)),
    (r"\bhow (old|far|big|tall|high|deep|wide|heavy|fast|large|hot|cold|often)\b", (NUMBER, DURATION)),
    (r"\b(what|which) (percentage|percent|proportion|share)\b|\bby how much\b", (PERCENT, NUMBER)),
    (r"\b(at )?what time\b|\bwhat hours?\b|\bopening hours\b", (TIME,)),
    (r"\bwhere\b(?=.*\b(chart|charts|list|ranking|rankings|table|standings|race|leaderboard|tracklist)\b)", (RANK, NUMBER)),
    # "where did she finish / place / peak": a position first, a place if the sentence has none
    (r"\bwhere (did|does|do|will|was|were|is)\b(?=.*\b(place|placed|finish|finished|rank|ranked|peak|peaked|land|landed|"
     r"chart|charted)\b)", (RANK, NUMBER, PLACE)),
    (r"^when\b|\bwhen (was|were|did|is|does|do|will|has|had)\b|\bsince when\b", (DATE, TIME)),
    (r"\b(who|whom|whose)\b", (PERSON, ORG)),
    (r"^where\b|\bwhere\b", (PLACE, ORG)),
)

# A focus noun counts as a kind's when its embedding is at least this similar to one of the prototypes.
FOCUS_SIMILARITY = 0.52
FOCUS_MARGIN = 0.06  # ...and this much more similar than to any other kind's

# --- what a value measures -------------------------------------------------------------------------
# A value with a unit measures one dimension ("600 metres" a length, "£2.6 million" money). The noun a
# how-many/how-much question measures ("how many *desks*", "how much *money*") names a dimension too, or none
# (a count of things). A value of another dimension never answers it: "how many desks" is not "600 metres",
# "how much money" not "11,400 hours", "how many crew members" not "£2.6 million". A bare number (no unit)
# is left to the ranker.
UNITS: dict[str, tuple[str, ...]] = {
    "time": ("second", "sec", "minute", "min", "hour", "hr", "day", "week", "month", "year", "decade", "century",
             "centuries", "time", "duration"),
    "length": ("km", "kilometre", "kilometer", "mile", "metre", "meter", "m", "cm", "mm", "feet", "foot", "ft",
               "inch", "inches", "distance"),
    "mass": ("kg", "kilogram", "g", "gram", "tonne", "ton", "lb", "lbs", "weight"),
    "volume": ("litre", "liter", "l", "ml", "gallon", "volume"),
    "area": ("hectare", "acre", "square", "area"),
    "money": ("money", "cash", "dollar", "euro", "pound", "yen", "cost", "price", "funding", "fee", "budget",
              "revenue", "profit", "salary", "income", "investment", "spending"),
    "percent": ("percent", "percentage", "proportion", "share"),
    "temperature": ("°c", "°f", "degree", "celsius", "fahrenheit", "kelvin", "temperature"),
}
# the nouns that name a dimension itself, not a unit of it: "what *temperature*", "which *distance*"
_DIMENSION_NOUNS = frozenset({"temperature", "weight", "distance", "volume", "area", "price", "cost", "fee",
                              "budget", "salary", "duration", "percentage", "proportion"})
_DIMENSION_OF_KIND = {MONEY: "money", PERCENT: "percent", DURATION: "time"}
# the words of a question that name the dimension it measures when no focus noun does ("how much does it *weigh*",
# "how *tall* is the tower"): "how long" and "how far" are left out, a time as often as a length ("how far ahead")
_DIMENSION_CUES: tuple[tuple[str, str], ...] = (
    (r"\bweigh(?:s|ed|ing)?\b|\bhow heavy\b", "mass"),
    (r"\bhow (?:tall|high|deep|wide)\b", "length"),
    (r"\bhow (?:hot|cold|warm)\b", "temperature"),
)


def unit_dimension(word: str) -> str | None:
    """The dimension a unit word measures ("metres": length), or None."""
    w = word.lower().rstrip(".")
    for dim, words in UNITS.items():
        if any(w == u or w == u + "s" or w == u + "es" for u in words):
            return dim
    return None


def value_dimension(kind: str, text: str) -> str | None:
    """What a value span measures: its kind's dimension (money, a percentage, a duration), or the unit word
    it ends with ("600 metres": length); None for a bare number."""
    if kind in _DIMENSION_OF_KIND:
        return _DIMENSION_OF_KIND[kind]
    if kind == NUMBER:
        words = text.split()
        first = next((n for n, w in enumerate(words) if any(ch.isdigit() for ch in w)), None)
        unit = [w for w in words[first + 1:] if w.lower() not in _SCALE_WORDS] if first is not None else []
        if unit:
            return unit_dimension(unit[0])
    return None


_SCALE_WORDS = frozenset({"million", "billion", "trillion", "thousand", "bn", "m", "k"})


@lru_cache(maxsize=1024)  # asked of every candidate span of a question: read once per question
def measured_dimension(question: str, focus: str | None) -> str | None:
    """The dimension a how-many/how-much question measures: the focus noun's ("how many *hours*": time; "how
    much *money*": money), or "count" for how many of a noun that is no unit ("how many *desks*"); without a focus
    noun, the word that names one ("how much does it *weigh*": mass); None when the question does not say (how
    much of a substance: "how much *water*")."""
    if not focus:
        return next((dim for cue, dim in _DIMENSION_CUES if re.search(cue, question.lower())), None)
    if not re.search(r"\bhow (many|much)\b", question.lower()):
        # "at what *temperature*", "what *distance*": a focus noun that names a dimension asks for a value of it
        return unit_dimension(focus) if focus.lower() in _DIMENSION_NOUNS else None
    dim = unit_dimension(focus)
    if dim == "length" and re.search(r"\bsquare\b", question.lower()):
        return "area"  # "how many square kilometres"
    if dim:
        return dim
    return "count" if re.search(r"\bhow many\b", question.lower()) else None


def measures_agree(question: str, focus: str | None, kind: str, text: str) -> bool:
    """False when the value measures another dimension than the question asks for (see UNITS)."""
    asked = measured_dimension(question, focus)
    if asked is None or kind not in VALUE_KINDS:
        return True
    said = value_dimension(kind, text)
    return said is None or said == asked
