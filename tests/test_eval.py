"""Each metric on small hand-made results, and the harness end to end on a tiny question set."""

from __future__ import annotations

import json

import pytest

from eval.harness import load_questions
from eval.metrics import compute_metrics, gate_failures, normalise
from sourcechat.errors import UserError
from tests.conftest import cli

Q = [
    {"id": "a", "question": "When?", "answers": ["May 13, 2022"], "sources": ["w.txt"], "answerable": True},
    {"id": "b", "question": "Who?", "answers": ["Dave Free"], "sources": ["w.txt"], "answerable": True},
    {"id": "c", "question": "Where?", "answers": ["Santa Monica"], "sources": ["w.txt"], "answerable": True},
    {"id": "d", "question": "UK peak?", "answers": [], "sources": [], "answerable": False},
    {"id": "e", "question": "Budget?", "answers": [], "sources": [], "answerable": False},
]


def result(answer, source, quote, refused=False, ranks=("w.txt",), latency=100.0):
    return {"answer": answer, "text": f"{answer}\n“{quote}” [1]", "refused": refused,
            "citations": [{"n": 1, "source": source, "title": "T", "quote": quote, "start": 0, "end": len(quote)}],
            "retrieved": [{"source": s, "chunk_id": f"{s}:{i}", "rank": i + 1, "score": 0.1}
                          for i, s in enumerate(ranks)], "latency_ms": latency}


@pytest.mark.unit
def test_metrics_on_hand_made_results():
    results = {
        "a": result("May 13, 2022", "w.txt", "released on May 13, 2022.", latency=50),
        # right answer, wrong article cited, retrieved second
        "b": result("Dave Free", "x.txt", "Dave Free suggested Paige.", ranks=("x.txt", "w.txt"), latency=150),
        # "c" is missing: counts as a failure
        "d": result("", "w.txt", "nearest", refused=True, latency=80),
        "e": result("100", "w.txt", "Hot 100", latency=70),  # should have refused
    }
    m = compute_metrics(Q, results)
    assert m["answer_accuracy"] == pytest.approx(2 / 3, abs=1e-3)
    assert m["citation_precision"] == 0.5
    assert m["quote_support"] == 1.0
    assert m["recall_at_k"] == pytest.approx(2 / 3, abs=1e-3)
    assert m["mrr"] == pytest.approx((1 + 0.5 + 0) / 3, abs=1e-3)
    assert m["refusal_accuracy"] == 0.5
    assert m["false_refusal_rate"] == pytest.approx(1 / 3, abs=1e-3)  # the missing record
    assert m["missing"] == 1
    assert m["latency_p50_ms"] == 80.0 and m["latency_p95_ms"] == 150.0
    assert m["answer_length_chars"] == pytest.approx((12 + 9) / 2)
    assert any(f.startswith("answer_accuracy") for f in gate_failures(m, {"answer_accuracy": (">=", 0.9)}))
    assert not gate_failures(m, {"answer_accuracy": (">=", 0.6)})


@pytest.mark.unit
def test_refused_answerable_question_scores_nothing_and_lenient_reads_text():
    results = {"a": result("", "w.txt", "released on May 13, 2022.", refused=True),
               "b": result("Free", "w.txt", "Dave Free suggested Paige.")}
    m = compute_metrics(Q[:2], results)
    assert m["answer_accuracy"] == 0.0 and m["lenient_accuracy"] == 0.5 and m["false_refusal_rate"] == 0.5


@pytest.mark.unit
def test_normalise_ignores_case_punctuation_and_articles():
    assert normalise("The Hollywood Reporter!") == normalise("hollywood   reporter")
    assert normalise("Mr. Morale & the Big Steppers") == "mr morale and big steppers"


@pytest.mark.parametrize("content,needle", [
    ("", "no questions"),
    ("{not json}\n", "line 1: not JSON"),
    ('{"id": "x", "question": "q", "answers": ["a"], "sources": []}\n', "line 1: missing field 'answerable'"),
    ('{"id": "x", "question": "q", "answers": "a", "sources": [], "answerable": true}\n', "must be a list"),
])
def test_bad_question_files_name_the_line(tmp_path, content, needle):
    path = tmp_path / "q.jsonl"
    path.write_text(content)
    with pytest.raises(UserError, match=needle):
        load_questions(path)


def test_eval_command_writes_results_and_reports(indexed, tmp_path):
    questions = tmp_path / "q.jsonl"
    questions.write_text("\n".join(json.dumps(q) for q in [
        {"id": "m", "question": "Who mastered the song?", "answers": ["Emerson Mancini"],
         "sources": ["001_ac7605141e2d40cd.txt"], "answerable": True},
        {"id": "u", "question": "What was the budget of the short film?", "answers": [], "sources": [],
         "answerable": False},
    ]))
    out = tmp_path / "out"
    # --no-articles: these questions are about the four sources; the gate's test asks eval/articles/ too
    run = cli(["eval", "--questions", str(questions), "--out", str(out), "--baseline", "--no-articles"], indexed)
    assert run.returncode == 0, run.stderr
    records = json.loads((out / "results.json").read_text())["q"]
    assert [r["id"] for r in records] == ["m", "u"]
    assert records[0]["result"]["answer"] == "Emerson Mancini" and records[1]["result"]["answer"] == ""
    metrics = json.loads((out / "metrics.json").read_text())["q"]
    assert metrics["sourcechat"]["answer_accuracy"] == 1.0
    assert metrics["sourcechat"]["unanswerable_no_short_answer"] == 1.0
    assert metrics["baseline"]["refusal_accuracy"] == 0.0
    for name in ("report.md", "report.html", "latency.png"):
        assert (out / name).stat().st_size > 0
    assert "Answer accuracy" in (out / "report.md").read_text() and "CI gate" in run.stdout
    bad = cli(["eval", "--questions", str(tmp_path / "missing.jsonl")], indexed)
    assert bad.returncode == 2 and "cannot read question file" in bad.stderr


def test_a_follow_up_is_asked_with_the_turns_before_it():
    """eval/followups.jsonl's `history` reaches `ask` as the web chat passes a conversation; a question
    without one is asked alone."""
    from eval.harness import run_questions

    seen = run_questions([{"id": "a", "question": "When did it open?", "history": ["Who built the bridge?"]},
                          {"id": "b", "question": "Who built the bridge?"}],
                         lambda question, history: {"question": question, "history": history}, "follow-ups")
    assert seen["a"] == {"question": "When did it open?",
                         "history": [{"role": "user", "content": "Who built the bridge?"}]}
    assert seen["b"] == {"question": "Who built the bridge?", "history": []}
