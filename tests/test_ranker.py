"""The candidate ranker's parts (fast tier): dependency alignment of a span with the question, the
filters that keep the question's own words and quoted remarks out of the answers, a kind named by the
question's verb, and the fitting in eval/calibrate.py (a conditional logit whose weights keep their sign)."""

from __future__ import annotations

import numpy as np
import pytest

from eval.calibrate import fit_ranker
from eval.metrics import crisp_answer
from rag.align import OBJECT, OBLIQUE, SUBJECT, question_role, span_slots
from rag.answer import FEATURES, _said_in_question, answer_share, feature_weights
from rag.kinds import ANY, MONEY, WORK
from rag.question import expected_kinds
from rag.spans import spans
from rag.text import parse

pytestmark = pytest.mark.unit


def _slots(sentence: str, span: str):
    start = sentence.index(span)
    return {(s.verb_stem, s.role) for s in span_slots(parse(sentence), start, start + len(span))}


def test_a_span_knows_the_verb_it_is_an_argument_of_and_its_role():
    s = "Lamar wrote the song alongside J.Lbs, who produced the track with Emile Haynie."
    assert ("write", SUBJECT) in _slots(s, "Lamar")
    assert ("produc", SUBJECT) in _slots(s, "J.Lbs")  # a relative clause about the span: its subject
    assert ("produc", OBLIQUE) in _slots(s, "Emile Haynie")
    assert ("master", SUBJECT) in _slots("The track was mastered by Emerson Mancini.", "Emerson Mancini")  # agent
    assert ("recommend", OBJECT) in _slots("Dave Free recommended Taylour Paige for the part.", "Taylour Paige")
    # a date behind an adverb belongs to the verb the adverb modifies
    assert {slot[0] for slot in _slots("The visual was shot in one take, back on March 15, 2020.", "March 15, 2020")} \
        == {"shoot"}


@pytest.mark.parametrize("question,role", [
    ("Who recommended Taylour Paige for the part?", SUBJECT),
    ("How many runners started the marathon?", SUBJECT),
    ("When was the film shot?", OBLIQUE),
    ("Where was the song mixed?", OBLIQUE),
    ("How long does the tram take?", None),  # the measure may be an object or an adjunct
])
def test_the_question_says_which_role_it_asks_about(question, role):
    assert question_role(question) == role


def test_a_span_the_question_already_says_is_never_the_answer():
    question = "Who co-produced the track along with the Alchemist, Bekon and J.Lbs?"
    assert _said_in_question("J.Lbs", question) and _said_in_question("the Alchemist", question)
    assert not _said_in_question("Emile Haynie", question)
    assert not _said_in_question("Bek", question)  # whole words only


def test_a_quoted_remark_is_not_a_title():
    works = {s.text for s in spans('Lamar says, "Why R&B singers don\'t feature on each other songs then?" '
                                   'before "June" plays.') if s.kind == WORK}
    assert "June" in works and not any("feature" in w for w in works)


def test_a_verb_that_names_a_measure_sets_the_expected_kind_as_a_preference():
    kinds, reason, _ = expected_kinds("What does the Friday paperweight workshop cost?")
    assert kinds == (MONEY, ANY) and "cost" in reason
    assert expected_kinds("What was the course record?")[0] == (ANY,)  # a noun at the end is not a verb


def test_crisp_labels_accept_the_answer_and_little_more():
    assert crisp_answer("Dave Free", ["Dave Free", "Free"])
    assert crisp_answer("Free and Lamar", ["Free"])  # 3 words for a 1-word answer: allowed
    assert not crisp_answer("Lamar's manager Dave Free recommended", ["Free"])
    assert not crisp_answer("Emile Haynie", ["Dave Free"])


def test_the_ranker_fit_finds_the_informative_feature_and_keeps_signs():
    rng = np.random.default_rng(0)
    groups = []
    for _ in range(80):  # 5 candidates per question; the right one has the highest "good" value
        good = rng.random(5)
        noise = rng.random(5)
        right = [bool(i == int(good.argmax())) for i in range(5)]
        groups.append(([{"good": float(g), "noise": float(n), "penalty": float(n)} for g, n in zip(good, noise)], right))
    w = fit_ranker(groups, ["good", "noise", "penalty"], steps=300, signs={"good": 1.0, "penalty": -1.0})
    assert w["good"] > 3 * abs(w["noise"])
    assert w["penalty"] <= 0.0  # a penalty is never fitted into a bonus


def test_fitted_weights_cover_every_feature_and_shares_are_probabilities():
    weights = feature_weights()
    assert set(weights) == set(FEATURES)
    assert answer_share([], "x") == 0.0


def _scored(answer: str, score: float):
    from rag.answer import Candidate

    c = Candidate(span=None, evidence=None, features={}, answer=answer)  # type: ignore[arg-type]
    c.__dict__["score"] = score  # the cached property, set: the share reads only scores and answers
    return c


def test_a_lone_weak_candidate_does_not_hold_all_the_probability():
    """"None of these spans" has a score of its own (NULL_SCORE): a lone candidate had a share of 1.0 however
    weak it was, and lone winners were shown as sure and wrong 6 times in 16 on the sets never tuned on."""
    from rag.answer import NULL_SCORE

    assert answer_share([_scored("two", NULL_SCORE - 2)], "two") < 0.2
    assert answer_share([_scored("Dante", NULL_SCORE + 4)], "Dante") > 0.95
    shares = [answer_share([_scored("a", 12.0), _scored("b", 11.0), _scored("a", 9.0)], x) for x in ("a", "b")]
    assert 0 < sum(shares) < 1 and shares[0] > shares[1]  # the rest goes to "none of them"


def test_confidence_is_calibrated_on_folds_that_split_by_article():
    """A ranker fitted on an article's other questions learns its layout: held-out folds are whole articles."""
    from eval.calibrate import article_folds

    questions = [{"sources": [a]} for a in "AAAAABBBCCD"] + [{"sources": []}, {}]
    folds = article_folds(questions, 3)
    by_article: dict[str, set[int]] = {}
    for q, k in zip(questions, folds):
        if q.get("sources"):
            by_article.setdefault(q["sources"][0], set()).add(k)
    assert all(len(ks) == 1 for ks in by_article.values())
    assert len({next(iter(ks)) for ks in by_article.values()}) == 3  # the articles spread over the folds
