"""The fast tier (`make test-fast`): question analysis, span extraction, sentence splitting, settings and
metrics, with no index, no server and no browser. spaCy's small model is the only model loaded."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from eval.metrics import compute_metrics, contains_answer, normalise
from ingest.chunk import split_sentences
from rag.kinds import ANY, DATE, DURATION, MONEY, NUMBER, PERSON, PLACE, RANK, TIME
from rag.question import analyse, focus_nouns
from rag.spans import spans
from sourcechat.settings import Settings

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("question,form,first_kind", [
    ("When was the bridge built?", "factual", DATE),
    ("How many people attended the race?", "factual", NUMBER),
    ("How much did the rebuild cost?", "factual", MONEY),
    ("How long is the song?", "factual", DURATION),
    ("At what time does the museum open?", "factual", TIME),
    ("Who mastered the song?", "factual", PERSON),
    ("Where did the runner place in 2023?", "factual", RANK),  # a position, where a verb ranks
    ("Where did the band come from?", "factual", PLACE),
    ("Why did the council close the bridge?", "why", ANY),
    ("Is the song about domestic violence?", "yesno", ANY),
    ("Summarize the marathon report.", "summarize", ANY),
    ("How have residents reacted to the fare changes?", "opinion", ANY),  # a perfect tense reacts as much
    ("How has the bridge been repaired?", "how", ANY),
])
def test_form_and_expected_kind_come_from_the_wording(question, form, first_kind):
    info = analyse(question)
    assert info.form == form and info.expects[0] == first_kind, info.kind_reason


@pytest.mark.parametrize("question,form", [
    # the main clause inverts its auxiliary and subject; the wh-word belongs to a clause inside it
    ("Does the person who helps me work my plot have to be a resident?", "yesno"),  # a relative clause
    ("Did Brennvik reveal what the company is now valued at?", "yesno"),  # a complement clause
    ("After the cooling-off period, can a member get a refund?", "yesno"),  # a fronted phrase before the auxiliary
    ("What did the company reveal?", "factual"),  # the wh-word is the main clause's own object
    ("Which company did the person who helps me work for?", "factual"),
    ("Can you tell me how many people attended?", "factual"),  # a request to the assistant asks for the number
    ("Is it known who designed the bridge?", "factual"),
    ('Will Pritchard, who disliked the song, writes for which newspaper?', "factual"),  # "Will" is a name here
])
def test_a_yes_no_question_is_known_by_its_structure(question, form):
    info = analyse(question)
    assert info.form == form
    if form == "yesno":  # the embedded wh-word names no kind of answer
        assert info.expects == (ANY,), info.kind_reason


@pytest.mark.parametrize("question,focus", [
    ("Which architecture award did the museum building win?", "award"),  # not cut at the "a" of "award"
    ("What is the name of the mayor's wife?", "wife"),  # the name of what
    ("Which city hosted the sessions?", "city"),
    # the phrase's plural head, tagged in the whole question (alone, "seal pups" reads as a noun and a verb)
    ("How many grey seal pups were counted on the estuary in 2023?", "pups"),
    ("How many seasonal workers did the cooperative employ?", "workers"),
    ("Which record labels released the song?", "labels"),
    ("How much does the kettle cost?", None),  # "cost" is the verb, not a noun "much" determines
])
def test_focus_noun_is_the_head_of_the_wh_phrase(question, focus):
    if focus is None:
        assert not focus_nouns(question)
        return
    assert focus_nouns(question)[-1] == focus


def test_a_kind_by_meaning_is_a_preference_not_a_requirement():
    similar = lambda word, protos: [0.9 if p == "person" else 0.1 for p in protos]  # noqa: E731
    info = analyse("Which character does she play?", similarity=similar)
    assert info.expects == (PERSON, ANY) and not info.typed and "preferred" in info.kind_reason


@pytest.mark.parametrize("sentence,whole,kind", [
    ("The rebuild will cost $4.2 million over two years.", "$4.2 million", MONEY),
    ("Some 86,000 spectators lined the route.", "86,000", NUMBER),
    ("Works will take 18 months.", "18 months", DURATION),
    ("The shop is open 9:00 to 20:00 daily.", "9:00 to 20:00", TIME),
    ("Langat won in 2:07:41 on a cool morning.", "2:07:41", DURATION),
    ("Blue Hours: Cobalt Glass 1700–1900 runs until 11 January 2026.", "1700–1900", DATE),
    ("He has been away for the last five years.", "five years", DURATION),
    ("Soils were sampled on 11 and 12 October 2023, after the hay cut.", "11 and 12 October 2023", DATE),
    ("The count took place on 14, 15 and 16 August 2023.", "14, 15 and 16 August 2023", DATE),
    ("Mean July air temperatures range from 12–18 °C.", "12–18 °C", NUMBER),  # a range with its unit
    ("Cores were taken from 0–10 cm depth; you will need 4–5 lemons.", "0–10 cm", NUMBER),
    ("Stocking rates were averaged over 2019–2023.", "2019–2023", DATE),  # years stay a date
])
def test_values_stay_whole(sentence, whole, kind):
    found = [(s.text, s.kind) for s in spans(sentence)]
    assert any(whole in text and k == kind for text, k in found), found
    pieces = [t for t, k in found if t != whole and t in whole and k in {NUMBER, DATE, DURATION}]
    assert not pieces, pieces  # "4" of "$4.2 million", "000" of "86,000"


def test_a_relative_date_is_not_a_duration():
    assert all(s.kind != DURATION for s in spans("The album dropped this year to acclaim."))


def test_an_older_year_is_a_date_when_a_year_preposition_leads_it():
    found = {s.text: s.kind for s in spans("The chandelier was made in 1889 with 1200 crystal drops.")}
    assert found.get("1889") == DATE and found.get("1200") == NUMBER, found


def test_a_type_word_names_the_answer_only_in_the_wh_phrase():
    """"how *long*" asks for a duration; in "why did it take so long" the word is one to find."""
    assert [t.pos for t in analyse("How long is the song?").terms if t.word == "long"] == ["TYPE"]
    assert [t.pos for t in analyse("Why did the refit take so long?").terms if t.word == "long"] != ["TYPE"]


def test_irregular_verb_forms_share_the_base_form_stem():
    from sourcechat.text import stem

    assert stem("wrote") == stem("write") and stem("won") == stem("win") and stem("paid") == stem("pay")


def test_hard_wrapped_paragraphs_split_into_sentences_with_exact_offsets():
    text = ("The council voted 7-2 on Tuesday to replace the\nbridge, which carries 14,000 vehicles a day.\n"
            "Works start in March.\n\n## Cost\n\nThe project is estimated at\n$38.6 million.\n")
    sentences = [text[a:b] for a, b in split_sentences(text)]
    assert any("7-2" in s and "14,000 vehicles" in s for s in sentences), sentences
    assert any(s.startswith("The project") and s.rstrip().endswith("$38.6 million.") for s in sentences), sentences
    assert all(s == s.strip() and s for s in sentences)


def test_a_pdf_tables_cell_lines_do_not_hide_that_the_prose_is_hard_wrapped():
    """A PDF's table read one cell a line ("455", "5.1 ± 0.1") is many short lines; the prose around it is
    still wrapped at one width, and a sentence broken at a line end ("Okafor et" / "al., 2021") is one."""
    prose = ("Earlier work in lowland pastures found that microbial biomass fell as stocking rates rose (Okafor et\n"
             "al., 2021), whereas a study of alpine meadows reported the largest microbial pool at intermediate\n"
             "grazing, which is the pattern this study set out to test across the four upland sites we chose.\n")
    filler = ("The meadows differ mainly in grazing, and stocking rates were averaged over five years from the\n"
              "farm records kept by each of the four farms, which were checked against the grazing licences.\n")
    cells = "Site\nElevation\nSoil pH\n" + "".join(f"Meadow {n}\n{300 + n}\n5.{n} ± 0.1\n" for n in range(6))
    text = prose + filler * 3 + "\nTable 1. Soil properties.\n" + cells
    sentences = [text[a:b] for a, b in split_sentences(text)]
    assert any("(Okafor et\nal., 2021), whereas" in s for s in sentences), sentences


def test_settings_read_the_prefix_and_refuse_bad_values(monkeypatch):
    monkeypatch.setenv("SOURCECHAT_TOP_K", "7")
    assert Settings(_env_file=None).top_k == 7
    monkeypatch.setenv("SOURCECHAT_TOP_K", "0")
    with pytest.raises(ValidationError):
        Settings(_env_file=None)


def test_metrics_score_short_answers_passages_and_refusals():
    questions = [
        {"id": "a", "question": "q", "answers": ["Emerson Mancini"], "sources": ["w.txt"], "answerable": True},
        {"id": "b", "question": "q", "answers": ["1:41:37"], "sources": ["m.md"], "answerable": True},
        {"id": "c", "question": "q", "answers": [], "sources": [], "answerable": False},
    ]
    cite = lambda src: [{"n": 1, "source": src, "quote": "x", "start": 0, "end": 1}]  # noqa: E731
    results = {
        "a": {"answer": "Emerson Mancini", "text": "Emerson Mancini [1]", "refused": False, "citations": cite("w.txt"),
              "confidence": 0.9},
        "b": {"answer": "", "text": "I found related passages ... won in 1:41:37", "refused": False,
              "citations": cite("m.md"), "confidence": 0.4},
        "c": {"answer": "", "text": "The sources don't say", "refused": True, "citations": [], "confidence": 0.0},
    }
    m = compute_metrics(questions, results)
    assert m["answer_accuracy"] == 0.5 and m["answer_in_reply"] == 1.0 and m["refusal_accuracy"] == 1.0
    assert m["confidently_wrong"] == 0.0 and m["false_refusal_rate"] == 0.0
    assert contains_answer("It was Emerson Mancini.", ["emerson mancini"]) and normalise("The  Cost!") == "cost"


def test_chunk_metadata_round_trips_through_the_contract():
    from sourcechat.contracts import ChunkMeta

    meta = ChunkMeta(source="a.md", title="A", chunk=0, start=0, end=120, n_chunks=2,
                     sentences=ChunkMeta.encode_sentences([(0, 40), (41, 120)]))
    stored = meta.to_chroma()
    assert all(isinstance(v, (str, int, float, bool)) for v in stored.values())  # Chroma takes scalars only
    back = ChunkMeta.from_chroma({**stored, "added_by_a_later_version": 1})
    assert back == meta and back.sentence_spans() == [(0, 40), (41, 120)]
    with pytest.raises(ValidationError):
        ChunkMeta.from_chroma({"source": "a.md"})  # a chunk without offsets is refused, not half-read


def test_the_answer_contract_defines_the_json_shape():
    from sourcechat.contracts import Answer, Citation

    cite = Citation(n=1, source="a.md", title="A", quote="It rained.", start=0, end=10)
    extractive = Answer(question="q", answer="rain", text="rain [1]", citations=[cite], confidence=0.9).to_dict()
    assert set(extractive) == {"question", "answer", "text", "refused", "citations", "retrieved", "kind",
                               "confidence", "reason"}
    assert extractive["citations"][0]["verified"] is True
    generated = Answer(question="q", text="t", answerer="llamacpp", tokens=3).to_dict()
    assert generated["answerer"] == "llamacpp" and "fallback" in generated
    with pytest.raises(ValidationError):
        Citation(n=1, source="a.md", title="A", quote="x", start=0, end=1, page=3)  # no field outside the contract


def test_the_shared_cache_is_bounded_and_safe_under_threads():
    import threading

    from sourcechat.lru import LRU

    cache: LRU[int, int] = LRU(100)
    errors: list[Exception] = []

    def work(offset: int) -> None:
        try:
            for i in range(2000):
                cache.put_many([(offset + i, i)])
                found = cache.get_many([offset + i, offset + i - 50])
                assert found.get(offset + i, i) == i  # what a lookup returns stays valid after evictions
        except Exception as exc:  # noqa: BLE001 - collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n * 10_000,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(cache) == 100


def test_an_unmarked_reply_is_attributed_only_to_evidence_that_supports_it():
    """A model that drops its [n] markers: each claim is attributed to the evidence sentence that supports
    it (an inferred citation); a claim nothing supports gets none."""
    import numpy as np

    from rag.verify import verify_reply

    evidence = ["The song was mastered by Mike Bozzi at Bernie Grundman Mastering.",
                "It debuted at number 16 on the Billboard Hot 100."]
    unrelated = lambda texts: np.eye(len(texts), 8)  # noqa: E731  orthogonal vectors: only words can support
    check = verify_reply("Mike Bozzi mastered the song at Bernie Grundman Mastering.", evidence, unrelated)
    assert check.verified == {1: True} and check.inferred == [1]
    check = verify_reply("The song won a Grammy for its producer.", evidence, unrelated)
    assert not check.any_verified and not check.inferred and check.unsupported()


def _turns(*questions: str) -> list[dict]:
    return [m for q in questions for m in ({"role": "user", "content": q}, {"role": "assistant", "content": "…"})]


@pytest.mark.parametrize("question,earlier,borrowed", [
    # the follow-up brings its own predicate: only the earlier question's subject is borrowed, not "released"
    ("Who mastered the song?", "When was We Cry Together released?", "cry together"),
    ("And the producer?", "Who mastered We Cry Together?", "cry together"),
    # "do it" stands in for the earlier predicate: it is borrowed too
    ("Where did he do it?", "Who mastered We Cry Together?", "mastered cry together"),
    # a question that names its own subject borrows nothing, however short
    ("What is the capital of France?", "Who mastered the song?", ""),
    ("Who is Dave Free?", "When was We Cry Together released?", ""),
    # "And ..." continues the earlier question even when it names something of its own
    ("And the Pitchfork review?", "Who reviewed We Cry Together for Rolling Stone?", "cry together rolling stone"),
])
def test_a_follow_up_borrows_what_it_points_back_to(question, earlier, borrowed):
    from rag.condense import condense_question

    condensed = condense_question(question, _turns(earlier))
    assert condensed.borrowed == borrowed
    assert condensed.query == (f"{question} ({borrowed})" if borrowed else question)


@pytest.mark.parametrize("a,b,same_fact", [
    ("May 2022", "May 13, 2022", True),  # the same date, said less precisely
    ("2022", "2022-05-13", True),
    ("May 2022", "2022-05-13", True),
    ("$4.2 million", "4.2 million dollars", True),
    ("May 13, 2022", "September 1, 2022", False),
    ("5:41", "five-minute", False),
    ("16", "97", False),
    ("2019-14-22", "2019", True),  # a code shaped like a date (no month 14) is compared by its parts, no error
    ("two-year", "2 years", True),  # one quantity, in words or digits, with or without a hyphen
    ("five years", "5-year", True),
    ("six-month", "12 weeks", False),
    ("zero years", "0 years", True),  # "zero" is a number like the others (it had raised: 0 read as missing)
])
def test_a_less_precise_value_is_compatible_with_the_precise_one(a, b, same_fact):
    from rag.answer import compatible

    assert compatible(a, b) is same_fact and compatible(b, a) is same_fact


def test_a_section_number_is_not_a_value():
    from rag.spans import spans

    assert "3" not in {s.text for s in spans("3. THE MILLBROOK COLD STORE")}
    # a clause's number: "6.1" and "4.3" were short answers to how-many questions about terms and conditions
    assert "6.1" not in {s.text for s in spans("6.1 A Member may freeze their membership twice in any 12-month "
                                               "period.")}
    assert "4.3" not in {s.text for s in spans("4.3(a) The Club may close its facilities for maintenance.")}
    assert "6.1 million" in {s.text for s in spans("6.1 million people used the ferry in 2024.")}
    assert ("12", NUMBER) in {(s.text, s.kind) for s in spans("12 people came to the opening.")}


def test_the_focus_of_how_many_ends_at_a_preposition():
    assert focus_nouns("How many weeks behind schedule was the opening of the cold store?") == ["weeks"]


def test_a_cited_publication_keeps_its_whole_name():
    info = analyse("Why does the Wayfarer Atlas guide recommend the museum?")
    source = [t for t in info.terms if t.pos == "SOURCE"]
    assert [t.word for t in source] == ["wayfarer", "atlas"] and source[-1].name == ("wayfarer", "atlas")


@pytest.mark.parametrize("question,request_verb", [
    ("Describe the design of the new bridge.", "describe"),
    ("Tell me about the museum's glass collection.", "tell"),
    ("Explain why the ferry fares went up.", "explain"),
])
def test_the_verb_that_makes_a_request_is_not_a_term(question, request_verb):
    """"*Describe* the music": the answer's sentences need not say "described" (a critic's sentence that
    did had won for it); the rest of the question stays."""
    words = [t.word for t in analyse(question).terms]
    assert request_verb not in words and len(words) >= 2, words


def test_a_question_is_read_without_entities_and_with_the_same_syntax():
    """Questions are parsed without the entity recogniser (half a parse's cost); their tags, dependencies
    and lemmas are those of a full parse."""
    from rag.text import nlp, parse_syntax

    question = "Which engineer mixed the song with Derek Ali at Tarzana in 2021?"
    light, full = parse_syntax(question), nlp()(question)
    assert not light.ents and full.ents
    assert [(t.tag_, t.dep_, t.head.i, t.lemma_) for t in light] == [(t.tag_, t.dep_, t.head.i, t.lemma_) for t in full]


def test_a_quoted_name_is_a_title_not_a_person():
    """The tagger calls the song "Valentine" a person; the quotation marks round the whole name say it is a
    title, so "Who wrote 'June'?" cannot be answered with the other song's name. A person named outside quotes,
    and a nickname quoted inside a name, keep the tagger's kind."""
    from rag.kinds import WORK

    sentence = ('The song contains samples of "June" written by Florence Welch, and "Valentine" written by '
                'Gary Peacock and performed by Peacock, Art Lande and Eliot Zigmund.')
    found = {(s.text, s.kind) for s in spans(sentence)}
    assert ("Valentine", WORK) in found and ("Valentine", PERSON) not in found
    assert ("June", WORK) in found and ("Gary Peacock", PERSON) in found and ("Florence Welch", PERSON) in found
    nick = {(s.text, s.kind) for s in spans('It was mixed by Derek "MixedByAli" Ali at Larrabee Studios.')}
    assert any(kind == PERSON and "Derek" in text for text, kind in nick)


@pytest.mark.parametrize("question, offered", [
    ("Was the song released in 2022 or 2023?", ["2022", "2023"]),
    ("Did Kendrick Lamar or Taylour Paige write the song?", ["Kendrick Lamar", "Taylour Paige"]),
    ("Does We Cry Together have a proper hook or chorus?", []),  # common nouns: a yes/no question about either
    ("Did the council approve the plan or not?", []),
])
def test_a_choice_offers_values_or_names(question, offered):
    from rag.question import alternatives

    found = alternatives(question)
    assert [value for value, _ in found] == offered
    for value, claim in found:  # each claim is the question with that value alone
        assert value in claim and " or " not in claim


@pytest.mark.parametrize("question, sentence, verdict", [
    ("Can a 15-year-old hire a bike?", "You need to be at least 16 years old to hire a bike.", "no"),
    ("Can a 17-year-old hire a bike?", "You need to be at least 16 years old to hire a bike.", "yes"),
    ("Can the rack carry 1,500 kg?", "The rack holds up to 2,000 kg.", "yes"),
    ("Is the crossing 30 minutes?", "Crossings take under 25 minutes.", "no"),
    ("Can the rack carry 30 kg?", "The rack does not hold more than 25 kg.", None),  # negated: not read
    ("Can the rack carry 30 kg?", "The rack holds up to 25 litres.", None),  # another unit
])
def test_a_bound_in_the_sentence_decides_a_yes_no_about_a_value(question, sentence, verdict):
    from rag.answer import bound_verdict

    found = bound_verdict(question, sentence)
    assert (found[0] if found else None) == verdict


@pytest.mark.parametrize("question,focus,kind,text,agrees", [
    ("How many desks will the library have?", "desks", NUMBER, "roughly 600 metres", False),  # a count, not a length
    ("How many desks will the library have?", "desks", NUMBER, "60", True),
    ("How many crew members work aboard?", "crew", MONEY, "£2.6 million", False),
    ("How much money did the trust give?", "money", DURATION, "11,400 hours", False),
    ("How much money did the trust give?", "money", MONEY, "$1.2 million", True),
    ("How many hours did volunteers give?", "hours", NUMBER, "combined 11,400 hours", True),
    ("How many square kilometres does it cover?", "kilometres", NUMBER, "1,850 square kilometres", True),
    ("How much water can it treat?", "water", NUMBER, "6.5 million gallons", True),  # a substance: any measure
    ("What is the capacity of the pack?", "capacity", NUMBER, "48 liters", True),  # not a how-many question
    ("At what temperature was the soil incubated?", "temperature", NUMBER, "20 g", False),  # the focus names one
    ("At what temperature was the soil incubated?", "temperature", NUMBER, "22 °C", True),
    ("How much does the AeroDry 20 weigh when full?", None, NUMBER, "3.5 L", False),  # a volume is no weight
    ("How much does the AeroDry 20 weigh when full?", None, NUMBER, "11.8 kg", True),
    ("How tall is the Gannet Skerry tower?", None, NUMBER, "38 metres", True),
    ("How tall is the Gannet Skerry tower?", None, NUMBER, "18 nautical miles", True),  # a length, though not a height
    ("How tall is the Gannet Skerry tower?", None, NUMBER, "3.5 L", False),
])
def test_a_value_of_another_dimension_does_not_answer_how_many(question, focus, kind, text, agrees):
    from rag.kinds import measures_agree

    assert measures_agree(question, focus, kind, text) is agrees


def test_a_name_wrapped_across_a_line_is_one_span():
    """spaCy reads a newline as a token of its own; a hard-wrapped name is still one name, and the offsets
    still point into the sentence as written."""
    sentence = "Its waiting room, fitted out by Harlow &\nPeck Joinery, has 40 seats."
    found = {s.text: s for s in spans(sentence)}
    assert "Harlow & Peck Joinery" in found
    span = found["Harlow & Peck Joinery"]
    assert sentence[span.start:span.end] == "Harlow &\nPeck Joinery"


@pytest.mark.unit
def test_an_html_page_keeps_its_byline_dateline_and_fact_box_but_not_a_sidebars_authors():
    """trafilatura leaves bylines and an article's own boxes out of the text; the page's own lines are kept
    (readers ask who wrote it, when, and what the verdict box says); a related-posts sidebar's authors are
    another article's."""
    from ingest.load import parse_html

    page = ("<html><head><title>Pier reopens</title></head><body><nav><a href='/'>Home</a></nav><main><article>"
            "<h1>Pier reopens after two years</h1><p class='byline'>By Mira Okonkwo, Transport Editor</p>"
            "<p class='dateline'><time datetime='2024-06-04'>4 June 2024</time></p>"
            "<p>The pier at Osterby reopened on Tuesday after a refit that cost $4.2 million and took two years."
            " Residents queued from dawn to walk its full length for the first time since 2022.</p>"
            "<aside class='facts'><p>Cost: $4.2 million</p><p>Length: 310 metres</p></aside>"
            "<aside class='more'><a href='/a'>Ferry timetable changes</a> <a href='/b'>Bridge vote</a></aside>"
            "<p>The harbour master said the new steel piles should last a century.</p>"
            "<section class='comments'><p class='comment-author'>Dave from Osterby</p><p>Great news!</p></section>"
            "</article>"
            "<aside><h3>Related</h3><p class='author'>By Someone Else</p></aside></main></body></html>")
    text = parse_html("pier.html", page.encode()).text
    lines = text.splitlines()
    assert lines[0] == "Pier reopens after two years"
    assert lines[1:3] == ["By Mira Okonkwo, Transport Editor", "4 June 2024"]
    assert "Someone Else" not in text and "Dave from Osterby" not in text and "$4.2 million" in text
    # a box of the article's own facts is kept where it stands; a box of links to other stories is not
    assert lines[lines.index("Cost: $4.2 million") + 1] == "Length: 310 metres"
    assert "Ferry timetable" not in text


@pytest.mark.unit
def test_a_name_made_a_modifier_still_answers_as_a_name():
    """"the Utrecht-based maker": Utrecht answers where it is based; "Utrecht-based" itself answers nothing."""
    found = {(s.text, s.kind) for s in spans("Brevello, the Utrecht-based appliance maker, launched the kettle in "
                                              "the United States in January 2025.")}
    assert ("Utrecht", PLACE) in found
    assert not any(text.endswith("-based") for text, _ in found)


@pytest.mark.unit
def test_a_byline_is_no_headline_and_its_name_is_a_name():
    """A byline's capitals are a name and a job title, not a Title Case headline's: the name is a span."""
    from rag.spans import is_byline

    line = "By Priya Halvorsen · Senior Gear Editor · Published April 9, 2024"
    assert is_byline(line) and is_byline("Posted on 18 June 2025 by Ingrid Solberg, lead maintainer")
    assert ("Priya Halvorsen", PERSON) in {(s.text, s.kind) for s in spans(line)}
    assert not is_byline("By Tuesday evening, 6,000 homes were still without power.")
    assert not is_byline("By 2030 the line will be electrified.")
