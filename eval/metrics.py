"""Metrics: pure functions of (questions, results), so they can be tested on hand-made records.

A question without a result record counts as a failure everywhere it could have scored.
"""

from __future__ import annotations

import re
import statistics
import unicodedata
from typing import Any

GATE = {  # metric → (comparison, threshold): what `make test` demands
    "answer_accuracy": (">=", 0.90),
    "citation_precision": (">=", 0.95),
    "refusal_accuracy": (">=", 0.80),
    "false_refusal_rate": ("<=", 0.05),
}


def normalise(text: str) -> str:
    """Compare answers the way a reader would: no case, accents, punctuation or leading articles."""
    text = unicodedata.normalize("NFKD", text or "")
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    text = text.replace("’", "'").replace("&", " and ")
    text = re.sub(r"[^\w\s]", " ", text)
    text = re.sub(r"\b(the|a|an)\b", " ", text)
    return " ".join(text.split())


def contains_answer(text: str, accepted: list[str]) -> bool:
    hay = f" {normalise(text)} "
    return any(f" {normalise(a)} " in hay for a in accepted if normalise(a))


def _ratio(hits: int, total: int) -> float | None:
    return round(hits / total, 4) if total else None


def article_ranks(result: dict) -> list[str]:
    """Retrieved articles in rank order, each once."""
    seen: list[str] = []
    for item in sorted(result.get("retrieved", []), key=lambda r: r["rank"]):
        if item["source"] not in seen:
            seen.append(item["source"])
    return seen


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return round(ordered[index], 1)


def judge(question: dict, result: dict | None) -> dict[str, Any]:
    """Per-question verdicts, the rows of the report."""
    answerable = question["answerable"]
    if result is None:
        return {"id": question["id"], "missing": True, "answerable": answerable, "refused": None,
                "correct": False, "lenient": False, "cited_ok": False, "quote_ok": False, "hit": False,
                "rr": 0.0, "passed": False}
    refused = bool(result.get("refused"))
    citations = result.get("citations") or []
    first = citations[0] if citations else None
    accepted = question.get("answers", [])
    correct = answerable and not refused and contains_answer(result.get("answer", ""), accepted)
    lenient = answerable and not refused and contains_answer(result.get("text", ""), accepted)
    cited_ok = answerable and not refused and first is not None and first["source"] in question["sources"]
    quote_ok = answerable and not refused and any(contains_answer(c.get("quote", ""), accepted) for c in citations)
    ranks = article_ranks(result)
    relevant = [i for i, s in enumerate(ranks, start=1) if s in question.get("sources", [])]
    passed = (correct and cited_ok) if answerable else refused
    return {"id": question["id"], "missing": False, "answerable": answerable, "refused": refused,
            "correct": correct, "lenient": lenient, "cited_ok": cited_ok, "quote_ok": quote_ok,
            "hit": bool(relevant), "rr": 1.0 / relevant[0] if relevant else 0.0, "passed": passed}


def compute_metrics(questions: list[dict], results: dict[str, dict]) -> dict[str, Any]:
    verdicts = [judge(q, results.get(q["id"])) for q in questions]
    answerable = [v for v in verdicts if v["answerable"]]
    unanswerable = [v for v in verdicts if not v["answerable"]]
    answered = [v for v in answerable if v["refused"] is False]
    latencies = [results[q["id"]]["latency_ms"] for q in questions if q["id"] in results
                 and results[q["id"]].get("latency_ms") is not None]
    lengths = [len(results[v["id"]].get("answer", "")) for v in answered]
    return {
        "questions": len(questions),
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "missing": sum(v["missing"] for v in verdicts),
        "answer_accuracy": _ratio(sum(v["correct"] for v in answerable), len(answerable)),
        "lenient_accuracy": _ratio(sum(v["lenient"] for v in answerable), len(answerable)),
        "citation_precision": _ratio(sum(v["cited_ok"] for v in answered), len(answered)),
        "quote_support": _ratio(sum(v["quote_ok"] for v in answered), len(answered)),
        "recall_at_k": _ratio(sum(v["hit"] for v in answerable), len(answerable)),
        "mrr": round(statistics.fmean(v["rr"] for v in answerable), 4) if answerable else None,
        "refusal_accuracy": _ratio(sum(bool(v["refused"]) for v in unanswerable), len(unanswerable)),
        "false_refusal_rate": _ratio(sum(v["refused"] is not False for v in answerable), len(answerable)),
        "latency_p50_ms": percentile(latencies, 0.50),
        "latency_p95_ms": percentile(latencies, 0.95),
        "answer_length_chars": round(statistics.fmean(lengths), 1) if lengths else None,
    }


def gate_failures(metrics: dict[str, Any]) -> list[str]:
    failures = []
    for name, (op, threshold) in GATE.items():
        value = metrics.get(name)
        ok = value is not None and (value >= threshold if op == ">=" else value <= threshold)
        if not ok:
            failures.append(f"{name} = {value} (needs {op} {threshold})")
    return failures
