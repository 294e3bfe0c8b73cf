"""Metrics: pure functions of (questions, results), so they can be tested on hand-made records.

A question without a result record counts as a failure everywhere it could have scored.
"""

from __future__ import annotations

import re
import statistics
import unicodedata
from typing import Any

GATE = {  # metric → (comparison, threshold) on the frozen test split: a regression guard set just below what
    # the answerer measures there (see README, Eval); TARGETS are what issue 7 asks for and are reported beside it
    "answer_accuracy": (">=", 0.08),
    "answer_in_reply": (">=", 0.70),
    "confidently_wrong": ("<=", 0.25),
    "citation_precision": (">=", 0.90),
    "unanswerable_no_short_answer": (">=", 0.85),
    "false_refusal_rate": ("<=", 0.12),
    "nonfactual_key_phrase": (">=", 0.40),
}
TARGETS = {  # what issue 7 asks for; reported beside the gate, not enforced until met
    "answer_accuracy": (">=", 0.85), "answer_in_reply": (">=", 0.95), "confidently_wrong": ("<=", 0.05),
    "citation_precision": (">=", 0.97), "refusal_accuracy": (">=", 0.90), "false_refusal_rate": ("<=", 0.05),
    "nonfactual_key_phrase": (">=", 0.90),
}
FACTUAL_KINDS = {"factual"}
BUCKETS = [(0.0, 0.2), (0.2, 0.4), (0.4, 0.6), (0.6, 0.8), (0.8, 1.01)]


def conversation(question: dict) -> list[dict]:
    """The chat before a question, as the web chat passes it: the earlier user turns of a follow-up."""
    return [{"role": "user", "content": text} for text in question.get("history") or []]

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


def crisp_answer(text: str, accepted: list[str], slack: int = 1) -> bool:
    """The span is an accepted answer and not much more: at most twice its words, plus `slack`. What the
    answerer is fitted to pick (eval.calibrate): "Free" or "Dave Free", not "Free and Lamar spoke to"."""
    n = len(normalise(text).split())
    return any(f" {normalise(a)} " in f" {normalise(text)} " and n <= 2 * len(normalise(a).split()) + slack
               for a in accepted if normalise(a))


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


def key_phrases_found(text: str, groups: list[list[str]]) -> bool:
    """Every group has one of its phrases in the text (non-factual questions are scored this way)."""
    return bool(groups) and all(contains_answer(text, group) for group in groups)


def _kind(question: dict) -> str:
    return question.get("kind") or ("factual" if question["answerable"] else "unanswerable")


def judge(question: dict, result: dict | None) -> dict[str, Any]:
    """Per-question verdicts, the rows of the report."""
    answerable = question["answerable"]
    kind = _kind(question)
    factual = answerable and kind in FACTUAL_KINDS
    if result is None:
        return {"id": question["id"], "kind": kind, "missing": True, "answerable": answerable, "refused": None,
                "factual": factual, "short": False, "correct": False, "lenient": False, "cited_ok": False,
                "quote_ok": False, "hit": False, "rr": 0.0, "key_ok": False, "passed": False, "confidence": None}
    refused = bool(result.get("refused"))
    citations = result.get("citations") or []
    first = citations[0] if citations else None
    accepted = question.get("answers", [])
    short = not refused and bool((result.get("answer") or "").strip())
    correct = answerable and short and contains_answer(result.get("answer", ""), accepted)
    lenient = answerable and not refused and contains_answer(result.get("text", ""), accepted)
    cited_ok = answerable and not refused and first is not None and first["source"] in question["sources"]
    quote_ok = answerable and not refused and any(contains_answer(c.get("quote", ""), accepted) for c in citations)
    key_ok = answerable and not refused and key_phrases_found(result.get("text", ""), question.get("key_phrases") or [])
    if kind == "yesno" and key_ok:
        key_ok = contains_answer((result.get("answer") or "").replace("don't settle", "not settled"), accepted)
    ranks = article_ranks(result)
    relevant = [i for i, s in enumerate(ranks, start=1) if s in question.get("sources", [])]
    if not answerable:
        passed = refused
    elif factual:
        passed = correct and cited_ok
    else:
        passed = key_ok
    return {"id": question["id"], "kind": kind, "missing": False, "answerable": answerable, "refused": refused,
            "factual": factual, "short": short, "correct": correct, "lenient": lenient, "cited_ok": cited_ok,
            "quote_ok": quote_ok, "hit": bool(relevant), "rr": 1.0 / relevant[0] if relevant else 0.0,
            "key_ok": key_ok, "passed": passed, "confidence": result.get("confidence")}


def reliability(verdicts: list[dict]) -> list[dict[str, Any]]:
    """Confidence bucket → how many short factual answers fell in it and how many were right."""
    rows = []
    for low, high in BUCKETS:
        inside = [v for v in verdicts if v["factual"] and v["short"] and v["confidence"] is not None
                  and low <= v["confidence"] < high]
        rows.append({"bucket": f"{low:.1f}–{min(high, 1.0):.1f}", "answers": len(inside),
                     "accuracy": _ratio(sum(v["correct"] for v in inside), len(inside))})
    return rows


def model_citations(result: dict) -> tuple[int, int]:
    """(verified, total) of the answerer's own citations: a generated reply's checked markers (invalid
    ones count as unverified; a fallback's extractive citations are not the model's), else the citations'
    `verified` flags (extractive quotes are the cited sentence itself)."""
    check = result.get("verification")
    if check is not None:
        cited = {n for s in check["sentences"] for n in s["cites"]}
        return len(check["verified_citations"]), len(cited) + len(check["invalid_citations"])
    cites = result.get("citations") or []
    return sum(bool(c.get("verified")) for c in cites), len(cites)


def generation_metrics(results: list[dict]) -> dict[str, Any]:
    """What only a generative answerer has: verified citation rate, fallbacks, refusals, tokens/s."""
    answered = [r for r in results if not r.get("refused")]
    pairs = [model_citations(r) for r in answered]
    rates = [r["tokens_per_s"] for r in results if r.get("tokens_per_s")]
    tokens = [r["tokens"] for r in results if r.get("tokens")]
    return {
        "verified_citation_rate": _ratio(sum(v for v, _ in pairs), sum(t for _, t in pairs)),
        "fallback_rate": _ratio(sum(bool(r.get("fallback")) for r in results), len(results)),
        "refusal_rate": _ratio(sum(bool(r.get("refused")) for r in results), len(results)),
        "tokens_per_s": round(statistics.median(rates), 1) if rates else None,
        "tokens_per_answer": round(statistics.fmean(tokens), 1) if tokens else None,
    }


def compute_metrics(questions: list[dict], results: dict[str, dict]) -> dict[str, Any]:
    verdicts = [judge(q, results.get(q["id"])) for q in questions]
    answerable = [v for v in verdicts if v["answerable"]]
    factual = [v for v in answerable if v["factual"]]
    nonfactual = [v for v in answerable if not v["factual"]]
    unanswerable = [v for v in verdicts if not v["answerable"]]
    answered = [v for v in answerable if v["refused"] is False]
    shown = [v for v in factual if v["short"]]
    latencies = [results[q["id"]]["latency_ms"] for q in questions if q["id"] in results
                 and results[q["id"]].get("latency_ms") is not None]
    lengths = [len(results[v["id"]].get("answer", "")) for v in factual if v["short"]]
    return {
        "questions": len(questions),
        "answerable": len(answerable),
        "factual": len(factual),
        "nonfactual": len(nonfactual),
        "unanswerable": len(unanswerable),
        "missing": sum(v["missing"] for v in verdicts),
        "answer_accuracy": _ratio(sum(v["correct"] for v in factual), len(factual)),
        "answer_in_reply": _ratio(sum(v["lenient"] for v in factual), len(factual)),
        "lenient_accuracy": _ratio(sum(v["lenient"] for v in factual), len(factual)),
        "short_answer_rate": _ratio(len(shown), len(factual)),
        "confidently_wrong": _ratio(sum(not v["correct"] for v in shown), len(shown)),
        "confidently_wrong_count": sum(not v["correct"] for v in shown),
        "citation_precision": _ratio(sum(v["cited_ok"] for v in answered if v["factual"]),
                                     sum(1 for v in answered if v["factual"])),
        "quote_support": _ratio(sum(v["quote_ok"] for v in answered if v["factual"]),
                                sum(1 for v in answered if v["factual"])),
        "recall_at_k": _ratio(sum(v["hit"] for v in answerable), len(answerable)),
        "mrr": round(statistics.fmean(v["rr"] for v in answerable), 4) if answerable else None,
        "refusal_accuracy": _ratio(sum(bool(v["refused"]) for v in unanswerable), len(unanswerable)),
        "unanswerable_no_short_answer": _ratio(sum(not v["short"] for v in unanswerable), len(unanswerable)),
        "false_refusal_rate": _ratio(sum(v["refused"] is not False for v in answerable), len(answerable)),
        "nonfactual_key_phrase": _ratio(sum(v["key_ok"] for v in nonfactual), len(nonfactual)),
        "latency_p50_ms": percentile(latencies, 0.50),
        "latency_p95_ms": percentile(latencies, 0.95),
        "answer_length_chars": round(statistics.fmean(lengths), 1) if lengths else None,
        **generation_metrics([results[q["id"]] for q in questions if q["id"] in results]),
        "reliability": reliability(verdicts),
        "by_kind": {kind: _ratio(sum(v["passed"] for v in verdicts if v["kind"] == kind),
                                 sum(1 for v in verdicts if v["kind"] == kind))
                    for kind in sorted({v["kind"] for v in verdicts})},
    }


def gate_failures(metrics: dict[str, Any], gate: dict | None = None) -> list[str]:
    failures = []
    for name, (op, threshold) in (GATE if gate is None else gate).items():
        value = metrics.get(name)
        ok = value is not None and (value >= threshold if op == ">=" else value <= threshold)
        if not ok:
            failures.append(f"{name} = {value} (needs {op} {threshold})")
    return failures
