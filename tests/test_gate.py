"""The CI gate: the eval set through the chat's own chain must keep its quality (see README, Eval)."""

from __future__ import annotations

import json
from pathlib import Path

from eval.harness import run_eval
from eval.metrics import GATE
from tests.conftest import ROOT


def test_eval_set_passes_the_gate(indexed, tmp_path, capsys):
    out = tmp_path / "eval"
    code = run_eval(indexed, ROOT / "eval" / "questions.jsonl", out, gate=True)
    metrics = json.loads((out / "metrics.json").read_text())
    with capsys.disabled():
        print("\neval metrics:", json.dumps(metrics["sourcechat"]))
    assert metrics["gate"]["passed"], metrics["gate"]["failures"]
    assert code == 0
    assert set(GATE) <= set(metrics["sourcechat"])
    questions = [json.loads(line) for line in (ROOT / "eval" / "questions.jsonl").read_text().splitlines() if line]
    assert len(questions) >= 60 and sum(not q["answerable"] for q in questions) >= 10
    sources = {s for q in questions for s in q["sources"]}
    assert sources == {p.name for p in (ROOT / "sources").glob("*.txt")}  # every article is covered
