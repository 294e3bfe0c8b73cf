"""The CI gate: the frozen test split (eval/test.jsonl), asked of the four articles plus eval/articles/,
through the chat's own chain, must keep its quality (see README, Eval)."""

from __future__ import annotations

import json
import subprocess

from eval.harness import SPLITS, run_eval
from eval.metrics import GATE
from tests.conftest import ROOT


def test_test_split_passes_the_gate(indexed, tmp_path, record_property):
    out = tmp_path / "eval"
    code = run_eval(indexed, {"test": SPLITS["test"]}, out, gate=True)
    metrics = json.loads((out / "metrics.json").read_text())
    # printed at the end of the run by tests/conftest.py (a property reaches pytest-xdist's main process)
    record_property("eval metrics (test)", json.dumps({k: v for k, v in metrics["test"]["sourcechat"].items()
                                                       if k not in {"reliability", "by_kind"}}))
    assert metrics["gate"]["split"] == "test"
    assert metrics["gate"]["passed"], metrics["gate"]["failures"]
    assert code == 0
    assert set(GATE) <= set(metrics["test"]["sourcechat"])
    assert (out / "report.md").read_text().count("Reliability") == 1


def test_question_sets_measure_what_users_meet():
    splits = {name: [json.loads(line) for line in path.read_text().splitlines() if line] for name, path in SPLITS.items()}
    every = [q for qs in splits.values() for q in qs]
    assert len(splits["dev"] + splits["test"]) >= 300
    assert sum(not q["answerable"] for q in every) >= 50
    assert sum(q["answerable"] and q["kind"] != "factual" for q in every) >= 60
    new_articles = {p.name for p in (ROOT / "eval" / "articles").iterdir()}
    assert len(new_articles) >= 4 and {p.rsplit(".", 1)[1] for p in new_articles} >= {"md", "html", "pdf", "txt"}
    for name in new_articles:
        assert sum(name in q["sources"] for q in every) >= 12, name
    cited = {s for q in every for s in q["sources"]}
    assert {p.name for p in (ROOT / "sources").glob("*.txt")} <= cited
    assert len({q["id"] for q in every}) == len(every)  # no question in two splits


def test_test_split_is_frozen_in_one_commit_before_the_answerer_changed():
    log = subprocess.run(["git", "log", "--format=%H", "--", "eval/test.jsonl"], cwd=ROOT, capture_output=True, text=True)
    if log.returncode != 0 or not log.stdout.strip():
        return  # not a git checkout (an installed copy): nothing to check
    assert len(log.stdout.split()) == 1
