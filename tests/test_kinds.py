"""Each question kind on a collection the answerer was never tuned on: a hard-wrapped Markdown story and
a reader's letter that disagrees with it on one figure (tests/data/), beside the four articles."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.conftest import ROOT, cli, indexed_copy

DATA = ROOT / "tests" / "data"
STORY = "ferry-service.md"
LETTER = "ferry-letter.txt"


@pytest.fixture(scope="module")
def ferry(tmp_path_factory, indexed):
    from ingest import run_ingest

    settings = indexed_copy(indexed, tmp_path_factory.mktemp("ferry"))
    for f in DATA.iterdir():
        shutil.copy(f, settings.sources_dir / f.name)
    report = run_ingest(settings)
    assert report.added == 2 and report.unchanged == 4 and not report.failed
    return settings


@pytest.fixture(scope="module")
def ferry_assistant(ferry):
    from rag import Assistant

    return Assistant(ferry)


def test_hard_wrapped_markdown_keeps_a_number_with_its_subject(ferry, ferry_assistant):
    """"attended by\\n3,200 residents" is one sentence, so the count answers the question about residents."""
    result = ferry_assistant.ask("How many residents attended the first crossing of the Lakeside ferry?")
    assert result["kind"] == "factual" and not result["refused"]
    assert result["answer"] == "3,200"
    from ingest.load import load_article

    first = result["citations"][0]
    assert "attended by\n3,200 residents" in first["quote"]  # one sentence across the line break
    article = load_article(ferry.sources_dir / STORY).text  # offsets point into the article's text
    assert article[first["start"]:first["end"]] == first["quote"]


@pytest.mark.parametrize("question,expected", [
    ("How many passengers did the Lakeside ferry carry in its first month back?", "86,000"),
    ("What percentage cut in fuel use does the transport authority want for the ferry?", "40%"),
    ("What hours does the Lakeside ferry run?", "9:00 to 20:00"),
    ("When did the ferry Aurelia return to service?", "4 June 2024"),
])
def test_numbers_money_times_and_ranges_stay_whole(ferry_assistant, question, expected):
    result = ferry_assistant.ask(question)
    assert result["answer"] == expected, result["text"]
    assert result["confidence"] >= 0.5 and result["citations"][0]["source"] == STORY


def test_a_wrapped_name_and_a_count_of_the_asked_thing(ferry_assistant):
    """"Harlow &\\nPeck Joinery" is one name though the line breaks inside it; "how many seats" is answered
    with the count of seats, never with "150 metres", a value of another dimension in the same sentence."""
    result = ferry_assistant.ask("Which firm fitted out the waiting room of the new pier?")
    assert result["answer"] == "Harlow & Peck Joinery", result["text"]
    result = ferry_assistant.ask("How many seats does the waiting room have?")
    assert "150" not in result["answer"], result["text"]
    assert result["answer"] in {"40", ""} and "40 seats" in result["text"], result["text"]


def test_money_span_is_whole(ferry_assistant):
    from rag.spans import spans

    found = {(s.text, s.kind) for s in spans("The refit cost $4.2 million and the ferry carried 86,000 people in 18 months.")}
    assert ("$4.2 million", "MONEY") in found and ("86,000", "NUMBER") in found and ("18 months", "DURATION") in found
    assert not {t for t, _ in found} & {"4", "000", "2", "18"}


def test_reference_numbers_and_numeric_dates_stay_whole():
    """A reference number or a date written with slashes is one value: "041" of "PO 2023/041" answered
    "what is the purchase order number" (a number cut into pieces)."""
    from rag.spans import spans

    def values(sentence: str) -> set[tuple[str, str]]:
        return {(s.text, s.kind) for s in spans(sentence) if s.kind in {"NUMBER", "DATE"}}

    order = values("An official purchase order (PO 2023/041) will follow by Friday.")
    assert ("PO 2023/041", "NUMBER") in order and not {t for t, _ in order} & {"041", "2023", "2023/041"}
    assert ("24/00153/FUL", "NUMBER") in values("Planning application 24/00153/FUL was approved on appeal.")
    hearing = values("The hearing was held on 12/03/2025 in Leeds.")
    assert ("12/03/2025", "DATE") in hearing and not {t for t, _ in hearing} & {"12", "03", "2025"}
    assert ("12/03/2025", "NUMBER") not in hearing  # a date, never a count: "how much" took "15/05/2025"
    assert ("2024/25", "DATE") in values("The 2024/25 season starts in August.")



def test_clock_times_with_a_dot_and_durations_in_milliseconds_stay_whole():
    """"10.30am" and "4.17am" are times of day, kept whole even inside the tagger's wider date ("10.30am every
    Tuesday"); "2.9 milliseconds" and "4.1 ms" are durations, not the bare numbers "2.9" and "4.1". A date's day
    numbers and a range of days stay pieces of the date."""
    from rag.spans import spans

    def values(sentence: str) -> set[tuple[str, str]]:
        return {(s.text, s.kind) for s in spans(sentence) if s.kind in {"NUMBER", "DATE", "TIME", "DURATION"}}

    assert ("10.30am", "TIME") in values("Story time for under-fives is held at 10.30am every Tuesday.")
    assert ("4.17am", "TIME") in values("Mount Teralo erupted at 4.17am local time on Sunday.")
    search = values("A typical search now returns in 2.9 milliseconds, down from 4.1 ms.")
    assert {("2.9 milliseconds", "DURATION"), ("4.1 ms", "DURATION")} <= search
    assert not {t for t, _ in search} & {"2.9", "4.1"}
    storm = values("The storm struck on Saturday 18 January and Sunday 19 January.")
    assert not {t for t, _ in storm} & {"18", "19"}
    assert not {t for t, _ in values("The trial was heard from 3 to 6 February 2025.")} & {"3 to 6", "3", "6"}


def test_conflicting_sources_give_each_value_with_its_citation(ferry_assistant):
    result = ferry_assistant.ask("How much did the Lakeside ferry refit cost?")
    assert "$4.2 million" in result["answer"] and "$5.0 million" in result["answer"], result["text"]
    assert "differ" in result["text"]
    assert {c["source"] for c in result["citations"]} == {STORY, LETTER}


@pytest.mark.parametrize("question,verdict,needle", [
    ("Do children under 12 travel free on the Lakeside ferry?", "Yes", "children under 12 travel free"),
    ("Does the Lakeside ferry run until midnight?", "The sources don't settle it", None),
])
def test_yes_no_question_gets_a_verdict_and_the_deciding_sentence(ferry_assistant, question, verdict, needle):
    result = ferry_assistant.ask(question)
    assert result["kind"] == "yesno" and result["answer"] == verdict, result["text"]
    assert result["citations"]
    if needle:
        assert needle in " ".join(result["citations"][0]["quote"].split())


def test_why_question_gets_cited_sentences_not_a_fragment(ferry_assistant):
    result = ferry_assistant.ask("Why did the transport authority close the old pier at Osterby?")
    assert result["kind"] == "why" and not result["refused"]
    assert 1 <= len(result["citations"]) <= 3
    assert "timber piles had rotted" in result["text"]
    assert len(result["answer"]) > 40  # sentences, not a one-word span


def test_a_heading_that_matches_stands_for_the_section_under_it(ferry_assistant):
    """"## Why the refit took so long" matches the question best, but a heading answers nothing: the
    reply quotes the section's first sentences instead."""
    result = ferry_assistant.ask("Why did the refit of the Lakeside ferry take so long?")
    assert result["kind"] == "why" and not result["refused"]
    quotes = [" ".join(c["quote"].split()) for c in result["citations"]]
    assert "Why the refit took so long" not in quotes
    assert any("corrosion in the hull" in q for q in quotes), result["text"]


def test_a_word_the_collection_never_uses_does_not_refuse_a_factual_question(ferry_assistant):
    """"price tag" is in no article, yet the refit's cost is stated: the reply holds it, it is not refused."""
    result = ferry_assistant.ask("What was the price tag of the Aurelia's refit?")
    assert result["refused"] is False, result["text"]
    assert "$4.2 million" in result["text"]


def test_summarize_request_gives_an_extractive_summary_of_that_article(ferry_assistant):
    result = ferry_assistant.ask("Summarize the Lakeside ferry refit article")
    assert result["kind"] == "summarize" and not result["refused"]
    assert 3 <= len(result["citations"]) <= 4
    assert {c["source"] for c in result["citations"]} == {STORY}
    starts = [c["start"] for c in result["citations"]]
    assert starts == sorted(starts)  # in article order
    assert all(c["quote"].rstrip()[-1] in ".!?" for c in result["citations"])  # sentences, not headings


def _record_embeddings(monkeypatch) -> list[list[str]]:
    """The texts of every embedding call the answerer makes from now on (the real model still embeds them)."""
    from rag.evidence import VectorCache

    embedded: list[list[str]] = []
    real = VectorCache.vectors

    def recording(self, texts):
        embedded.append(list(texts))
        return real(self, texts)

    monkeypatch.setattr(VectorCache, "vectors", recording)
    return embedded


def test_a_summary_request_looks_only_at_the_articles_its_search_found(ferry_assistant, monkeypatch):
    """Which article a summary request names is judged among the articles its search found, not by comparing
    it with every title in the collection (O(collection) a request: 100,000 titles at scale)."""
    titles = {a.title for a in ferry_assistant.corpus.snapshot().articles.values()}
    embedded = _record_embeddings(monkeypatch)
    result = ferry_assistant.ask("Summarize the Lakeside ferry refit article")
    assert {c["source"] for c in result["citations"]} == {STORY}
    assert len(titles) == 6 and not any(set(texts) >= titles for texts in embedded)


def test_a_summary_of_one_aspect_gives_the_sentences_about_it(ferry_assistant):
    """"Summarize the ferry's new pier" asks about one aspect: the summary holds the sentences on it, which a
    summary of the whole story leaves out; a request for the whole article names no aspect."""
    from rag.question import summary_aspect

    whole = ferry_assistant.ask("Summarize the Lakeside ferry refit article")
    assert not any("pier" in c["quote"] or "corrosion" in c["quote"] for c in whole["citations"]), whole["text"]
    pier = ferry_assistant.ask("Summarize the Lakeside ferry's new pier.")
    assert pier["kind"] == "summarize" and {c["source"] for c in pier["citations"]} == {STORY}
    assert any("new steel pier" in c["quote"] for c in pier["citations"]), pier["text"]
    why = ferry_assistant.ask("Summarize why the Lakeside ferry refit took so long.")
    assert any("corrosion in the hull" in c["quote"] for c in why["citations"]), why["text"]
    assert summary_aspect("Summarize how the Aurelia's refit was paid for.", "Lakeside ferry returns") == \
        "how the aurelia's refit was paid for"
    assert summary_aspect("Summarize the Lakeside ferry refit article", "Lakeside ferry returns") is None
    assert summary_aspect("Give me an overview of the encyclopedia entry on the song", "We Cry Together") is None
    assert summary_aspect("Summarize the results of the trial", "Migraine pill trial") == "the results of the trial"
    # a document's part, after "about"/"on": the aspect, when it says more than its title; a name after "on"
    # is where the document appeared
    assert summary_aspect("Summarize the story about the ferry's new waiting room.", "Lakeside ferry returns") == \
        "the ferry's new waiting room"
    assert summary_aspect("Summarize the article about the Lakeside ferry.", "Lakeside ferry returns") is None
    assert summary_aspect("Summarize the review on Pitchfork.", "We Cry Together") is None
    room = ferry_assistant.ask("Summarize the Lakeside ferry story about its new waiting room.")
    assert any("waiting room" in c["quote"] for c in room["citations"]), room["text"]


def test_a_describe_request_gets_up_to_three_sentences_about_the_thing(ferry_assistant):
    """A describe (or how) request: the best sentence and the one after it, then, while there is room, the
    story's sentences about as close in meaning to what is asked as the best one (SENTENCE_FLOOR), all
    cited, in article order; nothing less related pads the reply."""
    service = ferry_assistant.ask("Describe the Lakeside ferry service.")
    assert service["kind"] == "describe" and len(service["citations"]) == 3, service["text"]
    starts = [c["start"] for c in service["citations"]]
    assert starts == sorted(starts) and {c["source"] for c in service["citations"]} == {STORY}
    pier = ferry_assistant.ask("Describe the new pier at Osterby.")
    quotes = [c["quote"] for c in pier["citations"]]
    assert any("new steel pier" in q for q in quotes) and any("waiting room" in q for q in quotes), pier["text"]
    assert len(quotes) == 2, pier["text"]  # the refit's cost, which names Osterby, is not about the pier


def test_a_summary_request_quoting_an_article_summarises_that_article(ferry_assistant):
    """The request's words fit the story's title best, but it quotes the letter: the quote names the article."""
    result = ferry_assistant.ask('Summarize the Lakeside ferry refit article that says "far more than the town was '
                                 'promised".')
    assert result["kind"] == "summarize" and {c["source"] for c in result["citations"]} == {LETTER}, result["text"]


@pytest.mark.parametrize("question,answer,needle", [
    ("Did the Aurelia return to service in 2023 or 2024?", "2024", "4 June 2024"),
    ("Does a crossing take 25 or 40 minutes?", "25", "Crossing time: 25 minutes"),
])
def test_a_question_offering_two_values_is_answered_with_the_one_stated(ferry_assistant, question, answer, needle):
    """"In 2023 or 2024?" asks which, not whether: each value is a yes/no claim of its own."""
    result = ferry_assistant.ask(question)
    assert result["kind"] == "choice" and result["answer"] == answer, result["text"]
    assert needle in " ".join(result["citations"][0]["quote"].split())
    assert f"offered '{answer}': yes" in ferry_assistant.explain(question)  # --explain gives each value's verdict


def test_a_yes_no_claim_with_another_value_than_its_sentence_is_a_no(ferry_assistant):
    """The sentence that states the release gives 2022: "released in 2020?" is a no, although the sentence
    before it (the intro teased in 2020) has that year."""
    result = ferry_assistant.ask("Was We Cry Together released in 2020?")
    assert result["kind"] == "yesno" and result["answer"] == "No", result["text"]
    assert "May 13, 2022" in result["citations"][0]["quote"]


def test_a_summary_of_a_subject_no_article_covers_is_refused(ferry_assistant):
    """The closest article is no summary of a subject it never mentions; a subject it does mention, named in
    other words than its title, still gets one."""
    result = ferry_assistant.ask("Summarize the article about the volcano eruption")
    assert result["kind"] == "summarize" and result["refused"] is True and not result["citations"]
    assert ferry_assistant.ask("Give me a summary of the piece on the ferry refit")["refused"] is False


def test_low_confidence_falls_back_to_passages(ferry):
    """Above the threshold a span is shown; below it the reply shows the passages, answer empty, not refused."""
    from rag import Assistant
    from rag.answerers import PASSAGES_PREFIX

    strict = Assistant(ferry.model_copy(update={"min_confidence": 0.999}))
    result = strict.ask("How many residents attended the first crossing of the Lakeside ferry?")
    assert result["answer"] == "" and result["refused"] is False
    assert result["text"].startswith(PASSAGES_PREFIX)
    assert any("3,200 residents" in c["quote"] for c in result["citations"])
    assert 0 < result["confidence"] < 0.999


def test_the_passages_may_quote_a_sentence_next_to_one_already_quoted(ferry):
    """The sentence after (or before) the best match is often the one that answers; it is no repeat of it.
    It had been skipped because it lies within the shown sentence's context (its neighbours)."""
    from rag import Assistant

    strict = Assistant(ferry.model_copy(update={"min_confidence": 0.999}))
    result = strict.ask("What drive replaced the diesel engines?")
    quotes = [c["quote"] for c in result["citations"]]
    assert result["answer"] == "" and len(quotes) == 3, quotes
    assert quotes[0].startswith("Engineers replaced the diesel engines")
    assert any(q.startswith("The yard found corrosion in the hull") for q in quotes[1:]), quotes


def test_the_passages_quote_a_section_under_its_heading_not_the_heading(ferry):
    """"Why the refit took so long" matches the question's words and states nothing: the first sentence of
    its section is quoted in its place."""
    from rag import Assistant

    strict = Assistant(ferry.model_copy(update={"min_confidence": 0.999}))
    result = strict.ask("How many seats does the waiting room have?")
    quotes = [c["quote"] for c in result["citations"]]
    assert result["answer"] == "" and len(quotes) == 3, quotes
    assert "Why the refit took so long" not in quotes
    assert any(q.startswith("The yard found corrosion in the hull") for q in quotes), quotes


def test_a_part_of_a_whole_counts_the_noun_too(ferry_assistant):
    """"9 of the 14 new lifeboats": 9 counts lifeboats as much as 14 does, and it is what the crew trains on."""
    result = ferry_assistant.ask("How many lifeboats does the crew train on?")
    assert result["answer"] == "9", result["text"]
    assert ferry_assistant.ask("How many new lifeboats does the ferry have?")["answer"] == "14"


def test_who_wrote_the_article_is_answered_from_its_byline(ferry_assistant):
    """"_By Mira Okonkwo, transport desk._" says who wrote the story without the verb: the byline states it."""
    result = ferry_assistant.ask("Who wrote the article about the Lakeside ferry's return?")
    assert result["citations"] and "Mira Okonkwo" in result["citations"][0]["quote"], result["text"]
    assert result["answer"] in {"", "Mira Okonkwo"}


def test_a_question_the_new_article_cannot_answer_is_not_answered_from_another(ferry_assistant):
    result = ferry_assistant.ask("Who captains the Lakeside ferry Aurelia?")
    assert result["answer"] == "", result["text"]


def test_explain_shows_kind_features_and_reason(ferry):
    run = cli(["ask", "How many passengers did the Lakeside ferry carry in its first month back?", "--explain"], ferry)
    assert run.returncode == 0, run.stderr
    assert "86,000" in run.stdout
    assert "--- explain ---" in run.stdout and "expects: NUMBER" in run.stdout
    assert "winner: “86,000”" in run.stdout and "runner-up:" in run.stdout
    assert "evidence +" in run.stdout and "kind +" in run.stdout  # the feature contributions
    fallback = cli(["ask", "Who captains the Lakeside ferry Aurelia?", "--explain", "--json"], ferry)
    payload = json.loads(fallback.stdout)
    assert payload["answer"] == "" and "outcome:" in payload["explain"] and payload["reason"]
    assert {"kind", "confidence"} <= set(payload)


@pytest.mark.unit
def test_question_kinds_are_detected_from_the_question_alone():
    from rag.question import analyse

    assert analyse("Why did the council close the bridge?").form == "why"
    assert analyse("Is the song about domestic violence?").form == "yesno"
    assert analyse("Summarize the kettle review").form == "summarize"
    assert analyse("How did critics react to the film?").form == "opinion"
    assert analyse("What is the film about?").form == "describe"
    assert analyse("How long is We Cry Together?").expects[0] == "DURATION"
    assert analyse("Where did it debut on the chart?").expects[0] == "RANK"
    assert analyse("Which borough hosts the race?").expects == ("PLACE",)
    assert analyse("What is the total price tag of the bridge?").expects[0] == "MONEY"


def test_a_date_of_another_event_is_not_a_conflict(ferry_assistant):
    """Shot on March 15, 2020; released on September 1, 2022: two facts, not two sources disagreeing on one.
    The release sentence does not say "shot", so its date is no conflict (it had read "the sources differ")."""
    result = ferry_assistant.ask("On what date was the short film shot?")
    assert "differ" not in result["text"], result["text"]
    assert "March 15, 2020" in result["text"] and result["answer"] in {"", "March 15, 2020"}


def test_two_dates_in_one_article_are_two_events_not_sources_that_differ(ferry_assistant):
    """The Wikipedia article gives the song's release (May 13, 2022) and its short film's (September 1,
    2022): one article telling of two events, which had read "The sources differ"."""
    result = ferry_assistant.ask("When did We Cry Together come out?")
    assert "differ" not in result["text"], result["text"]
    from rag.answer import canonical

    assert result["answer"] == "" or canonical(result["answer"]) == canonical("May 13, 2022"), result["text"]
    assert "September 1, 2022" not in result["answer"]


def test_a_question_about_something_no_article_mentions_gets_no_value(ferry_assistant):
    """"How long is the warranty?" of articles that never mention a warranty: the infobox line "Length: 5:41"
    matches only the question's type ("how long"); it had been the answer, at confidence 0.85."""
    result = ferry_assistant.ask("How long is the warranty?")
    assert result["answer"] == "" and "5:41" not in result["text"].split("\n")[0], result["text"]


def test_a_sentence_is_read_with_the_heading_of_its_section(ferry_assistant):
    """Under "## Why the refit took so long", "Engineers replaced the diesel engines..." is about the refit
    though neither it nor its neighbours say "refit": the heading's words are part of its context."""
    from rag.index import is_section_heading
    from sourcechat.text import content_stems, stem

    snap = ferry_assistant.corpus.snapshot()
    article = snap.articles[STORY]
    n = next(i for i, s in enumerate(article.sentences) if s.text.startswith("Engineers replaced"))
    heading = snap.section_heading(STORY, n)
    assert heading is not None and article.sentences[heading].text == "Why the refit took so long"
    assert stem("refit") not in content_stems(snap.neighbours(article.sentences[n]))
    assert stem("refit") in snap.context_stems(article.sentences[n])
    assert snap.section_heading(STORY, 2) is None  # the opening paragraphs come before any heading
    assert not any(is_section_heading(t) for t in ("- Crew: 6", "Member farms: 84", "1. Samwel Langat (KEN)",
                                                     "The ferry now runs every day from 9:00 to 20:00."))


def test_a_publication_the_articles_never_name_is_not_answered_for(ferry_assistant):
    """A question that cites a publication ("the Nordlys Gazette report") is about that publication's
    article; the ferry story never names it, so its date is not given as the Gazette's."""
    plain = ferry_assistant.ask("When did the Aurelia return to service?")
    cited = ferry_assistant.ask("When did the Nordlys Gazette report say the Aurelia returned to service?")
    assert plain["answer"] == "4 June 2024", plain["text"]
    assert cited["answer"] == "", cited["text"]


def test_a_yes_needs_the_quality_the_question_asserts(ferry_assistant):
    """"Is the ferry's new hybrid drive quiet?": the sentence names the hybrid drive but says nothing of how
    quiet it is (nor anything close in meaning), so it settles nothing; it had answered "Yes" for naming it."""
    result = ferry_assistant.ask("Is the Lakeside ferry's new hybrid drive quiet?")
    assert result["answer"] == "The sources don't settle it", result["text"]
    assert "hybrid drive" in result["text"]  # the closest sentence is shown
    plain = ferry_assistant.ask("Do children under 12 travel free on the Lakeside ferry?")
    assert plain["answer"] == "Yes", plain["text"]  # a quality the sentence states still gets its verdict
    # "new" is in the story, but of the pier ("a new steel pier"), never of the ferry
    other = ferry_assistant.ask("Is the Aurelia a new ferry?")
    assert other["answer"] == "The sources don't settle it", other["text"]


RACE = ("# Harbour 10K\n\nIn the women's race, Ayelech Worku of Ethiopia pulled clear of defending champion Mercy Chebet "
        "on the Tidewater Bridge. Worku won in 31:05. Chebet, who won here in 2024, finished second in 31:40, 35 seconds "
        "behind. The race director, Paul Onyango, said the bridge had decided the race.\n")


def test_a_person_named_in_full_once_is_a_person_by_surname_too(fresh, tmp_path):
    """The tagger labels a name by its sentence alone and calls "Chebet" a place in "Chebet, who won here in
    2024, finished second"; another evidence sentence calls "Mercy Chebet" a person, so the surname is a
    person's and answers a "who" question (given in full)."""
    from ingest import run_ingest
    from rag import Assistant

    path = tmp_path / "harbour-10k.md"
    path.write_text(RACE, encoding="utf-8")
    assert run_ingest(fresh, [str(path)]).added == 1
    explained = Assistant(fresh).explain("Who finished second in the women's race?")
    winner = next(line for line in explained.splitlines() if line.startswith("winner:"))
    assert "Mercy Chebet" in winner and "PERSON" in winner, explained


def _with_notes(settings, folder, notes: dict[str, str]):
    """An assistant on the collection with these short articles (name → text) ingested beside it."""
    from ingest import run_ingest
    from rag import Assistant

    paths = []
    for name, text in notes.items():
        (folder / name).write_text(text, encoding="utf-8")
        paths.append(str(folder / name))
    assert run_ingest(settings, paths).added == len(paths)
    return Assistant(settings)


def _verdicts(assistant, cases: list[tuple[str, str, str]]) -> None:
    """Each (question, verdict, words its deciding sentence holds): a yes/no reply with that verdict, citing it."""
    for question, verdict, needle in cases:
        result = assistant.ask(question)
        assert result["kind"] == "yesno" and result["answer"] == verdict, (question, result["text"])
        assert needle in " ".join(result["citations"][0]["quote"].split()), (question, result["text"])


KEEPER_NOTES = ("# Notes on the keeper\n\nAfter he retired, the keeper settled in a cottage on Quay Row, where he kept bees "
                "and wrote an unpublished memoir about his thirty winters on the rock.\n\nThe rescue team's running costs "
                "are met by donations: it gets nothing from the county council.\n")
BOARD_NOTES = "# Harbour board\n\nThe harbour board's accounts for 1935 were published in March 1936.\n"


def test_a_yes_no_question_is_answered_no_by_a_negating_word_or_prefix(fresh, tmp_path):
    """"an *unpublished* memoir" says no to "was his memoir published?", as "it gets *nothing* from the county
    council" says no to "does the council pay for it?"; and the prefix works the other way round: "were the
    accounts *unpublished*?" is a no when they "were published"."""
    assistant = _with_notes(fresh, tmp_path, {"keeper-notes.md": KEEPER_NOTES, "board-notes.md": BOARD_NOTES})
    _verdicts(assistant, [("Was the keeper's memoir published?", "No", "unpublished memoir"),
                          ("Does the county council pay the rescue team's running costs?", "No",
                           "nothing from the county council"),
                          ("Were the harbour board's 1935 accounts unpublished?", "No", "were published")])


def test_a_describe_or_summary_request_on_a_long_article_embeds_a_shortlist_not_every_sentence(fresh, tmp_path,
                                                                                             monkeypatch):
    """A describe request compares the article's other sentences with what is asked, and a summary compares
    them with the article's gist: the vectors stored at ingest shortlist DESCRIBE_SHORTLIST or
    SUMMARY_SHORTLIST of them, and only those are embedded as they read (a long article's 300 sentences had
    cost a first-time question ~0.4 s). The sentences about the thing still come back."""
    from ingest import run_ingest
    from rag import Assistant
    from rag.answer import DESCRIBE_SHORTLIST, SUMMARY_SHORTLIST

    towns = [f"{a}{b}" for a in ("Ard", "Bel", "Car", "Dun", "Els", "Fair", "Glen", "Har") for b in ("ton", "ford", "by", "wick",
                                                                                                   "mere", "stead", "holm")]
    filler = " ".join(f"The market in {town} opens at {7 + n % 3} o'clock and sells {n + 12} kinds of cheese."
                      for n, town in enumerate(towns))
    text = ("# Market towns of the north\n\n" + filler + "\n\nThe clock tower in Selby is a square stone tower "
            "built in 1862. Its clock face is four metres across and its bell weighs two tonnes.\n")
    path = tmp_path / "market-towns.md"
    path.write_text(text, encoding="utf-8")
    assert run_ingest(fresh, [str(path)]).added == 1
    assistant = Assistant(fresh)
    sentences = {s.text for s in assistant.corpus.snapshot().articles[path.name].sentences}
    assert len(sentences) > SUMMARY_SHORTLIST + 10
    embedded = _record_embeddings(monkeypatch)
    result = assistant.ask("Describe the clock tower in Selby.")
    assert result["kind"] == "describe" and any("bell weighs two tonnes" in c["quote"] for c in result["citations"]), \
        result["text"]
    assert max((len(sentences & set(texts)) for texts in embedded), default=0) <= DESCRIBE_SHORTLIST
    embedded.clear()
    summary = assistant.ask("Summarize the article about market towns of the north.")
    assert summary["kind"] == "summarize" and {c["source"] for c in summary["citations"]} == {path.name}, summary["text"]
    assert max((len(sentences & set(texts)) for texts in embedded), default=0) <= SUMMARY_SHORTLIST


TRIAL_NOTES = ("# Grazing trial\n\nThe decline was best described by a linear model; adding a quadratic term did not "
               "improve the fit.\n\n## Visiting\n\nCan I bring my dog to the open day?\n\nSorry, dogs are not allowed "
               "anywhere on the site.\n\n## Membership\n\nA member may cancel early if the member moves home to an "
               "address more than 25 miles from the club.\n")


def test_yes_no_verdicts_from_a_denial_an_faq_answer_and_a_bound(fresh, tmp_path):
    """A denial says no to a narrower claim ("did not improve the fit" of "improve the model of the *microbial*
    decline"); an FAQ's question states nothing, the sentence after it answers; a bound the sentence sets ("more
    than 25 miles") decides a value the question names (40 miles) that the article never states."""
    assistant = _with_notes(fresh, tmp_path, {"trial-notes.md": TRIAL_NOTES})
    _verdicts(assistant, [
        ("Did adding a quadratic term improve the model of the microbial decline?", "No", "did not improve the fit"),
        ("Can I bring my dog to the open day?", "No", "dogs are not allowed"),
        ("Can a member who moves house 40 miles away cancel early?", "Yes", "more than 25 miles")])
