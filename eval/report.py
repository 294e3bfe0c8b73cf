"""Reports: Markdown and HTML with dev and test side by side (metrics, the reliability table, per-kind
pass rates), every failure with the answerer's own explanation, a latency histogram, and a terminal summary."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Callable

from eval.metrics import GATE, TARGETS, conversation, judge

METRIC_ROWS = [
    ("answer_accuracy", "Answer accuracy (factual, short answer)"),
    ("answer_in_reply", "Answer present in the reply"),
    ("short_answer_rate", "Short answer shown"),
    ("confidently_wrong", "Confidently wrong (of short answers shown)"),
    ("confidently_wrong_count", "Confidently wrong (count)"),
    ("citation_precision", "First citation in a supporting article"),
    ("quote_support", "Quote support"),
    ("recall_at_k", "Retrieval recall@k (article)"), ("mrr", "MRR (article)"),
    ("refusal_accuracy", "Unanswerable refused"),
    ("unanswerable_no_short_answer", "Unanswerable given no short answer"), ("false_refusal_rate", "False-refusal rate"),
    ("nonfactual_key_phrase", "Non-factual: key phrase in the reply"),
    ("verified_citation_rate", "Verified citation rate (the answerer's own [n])"),
    ("fallback_rate", "Fell back to extractive"), ("refusal_rate", "Refused (all questions)"),
    ("latency_p50_ms", "Latency p50 (ms)"), ("latency_p95_ms", "Latency p95 (ms)"),
    ("tokens_per_s", "Tokens/s (median)"), ("tokens_per_answer", "Tokens per answer"),
    ("answer_length_chars", "Short answer length (chars)"),
]


def _fmt(value) -> str:
    return "—" if value is None else f"{value:g}" if isinstance(value, (int, float)) else str(value)


def _columns(metrics: dict) -> list[tuple[str, str, dict]]:
    return [(split, system, m) for split, systems in metrics.items() if split != "gate"
            for system, m in systems.items()]


def metrics_rows(metrics: dict) -> list[list[str]]:
    cols = _columns(metrics)
    rows = [["Metric", *(f"{m.get('label', system)} {split}" for split, system, m in cols), "CI gate (test)", "target"]]
    for key, label in METRIC_ROWS:
        gate, target = GATE.get(key), TARGETS.get(key)
        rows.append([label, *(_fmt(m.get(key)) for _, _, m in cols), f"{gate[0]} {gate[1]}" if gate else "",
                     f"{target[0]} {target[1]}" if target else ""])
    by_split = {split: m for split, system, m in cols if system == "sourcechat"}
    dev_test = [by_split[s] for s in ("dev", "test") if s in by_split]
    if len(dev_test) == 2 and None not in (dev_test[0].get("answer_accuracy"), dev_test[1].get("answer_accuracy")):
        gap = dev_test[0]["answer_accuracy"] - dev_test[1]["answer_accuracy"]
        rows.append(["Dev − test answer accuracy", f"{gap:+.3f}", *[""] * (len(rows[0]) - 3), "≤ 0.05"])
    return rows


def reliability_rows(metrics: dict) -> list[list[str]]:
    cols = [(split, m) for split, system, m in _columns(metrics) if system == "sourcechat"]
    rows = [["confidence", *(f"{split}: answers / accuracy" for split, _ in cols)]]
    for i, bucket in enumerate(cols[0][1]["reliability"]):
        rows.append([bucket["bucket"], *(f"{m['reliability'][i]['answers']} / {_fmt(m['reliability'][i]['accuracy'])}"
                                         for _, m in cols)])
    return rows


def kind_rows(metrics: dict) -> list[list[str]]:
    cols = [(split, m) for split, system, m in _columns(metrics) if system == "sourcechat"]
    kinds = sorted({k for _, m in cols for k in m["by_kind"]})
    return [["question kind (pass rate)", *(split for split, _ in cols)],
            *[[k, *(_fmt(m["by_kind"].get(k)) for _, m in cols)] for k in kinds]]


def question_rows(questions, results, explain: Callable[[str, list], str] | None = None,
                  failures_only: bool = False) -> list[list[str]]:
    rows = []
    for q in questions:
        result, verdict = results.get(q["id"]), judge(q, results.get(q["id"]))
        if failures_only and verdict["passed"]:
            continue
        got = ("(missing)" if result is None else "(refused)" if result["refused"]
               else result["answer"] or "(passages)")
        cited = result["citations"][0]["source"] if result and result["citations"] else ""
        expected = (" / ".join(q["answers"]) or " + ".join("|".join(g) for g in q.get("key_phrases") or [])
                    if q["answerable"] else "(refuse)")
        conf = _fmt(result.get("confidence")) if result else ""
        why = explain(q["question"], conversation(q)) if explain and not verdict["passed"] else ""
        rows.append([q["id"], verdict["kind"], "pass" if verdict["passed"] else "FAIL", q["question"], expected,
                     got[:160], cited, conf, why])
    rows.sort(key=lambda r: r[2] == "pass")
    return [["id", "kind", "result", "question", "expected", "got", "cited source", "confidence", "explain"], *rows]


def _markdown_table(rows: list[list[str]]) -> str:
    esc = [[c.replace("|", "\\|").replace("\n", "<br>") for c in row] for row in rows]
    return "\n".join(["| " + " | ".join(esc[0]) + " |", "|" + "---|" * len(esc[0])]
                     + ["| " + " | ".join(r) + " |" for r in esc[1:]])


def _html_table(rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in rows[0])
    body = "".join("<tr>" + "".join(f"<td><pre>{html.escape(c)}</pre></td>" if "\n" in c else
                                    f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows[1:])
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def latency_histogram(all_results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    values = [r["latency_ms"] for results in all_results.values() for r in results.values()
              if r.get("latency_ms") is not None]
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.hist(values, bins=30, color="#4060c0")
    ax.set_xlabel("latency per question (ms)")
    ax.set_ylabel("questions")
    ax.set_title("sourcechat: answer latency")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_reports(out: Path, splits: dict, all_results: dict, metrics: dict,
                  explain: Callable[[str, list], str] | None = None) -> None:
    latency_histogram(all_results, out / "latency.png")
    gate = metrics["gate"]
    verdict = f"on {gate['split']}: " + ("passed" if gate["passed"] else "FAILED: " + "; ".join(gate["failures"]))
    sizes = ", ".join(f"{name} {len(qs)}" for name, qs in splits.items())
    sections = [("Metrics", metrics_rows(metrics)), ("Reliability (short factual answers)", reliability_rows(metrics)),
                ("Pass rate by question kind", kind_rows(metrics))]
    sections += [(f"Failures: {name} (with the answerer's explanation)",
                  question_rows(qs, all_results[name], explain, failures_only=True)) for name, qs in splits.items()]
    md = [f"# sourcechat eval\n\nQuestions: {sizes}. CI gate {verdict}.\n"]
    md += [f"## {title}\n\n{_markdown_table(rows)}\n" for title, rows in sections]
    md.insert(2, "![latency](latency.png)\n")
    (out / "report.md").write_text("\n".join(md) + "\n", encoding="utf-8")
    page = (f"<!doctype html><meta charset='utf-8'><title>sourcechat eval</title>"
            f"<style>body{{font-family:sans-serif;margin:2em}}td,th{{border:1px solid #ccc;padding:4px;"
            f"vertical-align:top}}table{{border-collapse:collapse}}pre{{white-space:pre-wrap;margin:0}}</style>"
            f"<h1>sourcechat eval</h1><p>Questions: {sizes}. CI gate {html.escape(verdict)}.</p>"
            f"<p><img src='latency.png' alt='latency histogram'></p>"
            + "".join(f"<h2>{html.escape(t)}</h2>{_html_table(r)}" for t, r in sections))
    (out / "report.html").write_text(page, encoding="utf-8")


def print_summary(metrics: dict, out: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=False, width=160)
    for title, rows in (("sourcechat eval", metrics_rows(metrics)), ("reliability", reliability_rows(metrics)),
                        ("by kind", kind_rows(metrics))):
        table = Table(*rows[0], title=title)
        for row in rows[1:]:
            table.add_row(*(row + [""] * (len(rows[0]) - len(row))))
        console.print(table)
    gate = metrics["gate"]
    console.print(f"CI gate ({gate['split']}): " + ("passed" if gate["passed"] else "FAILED — " + "; ".join(gate["failures"])))
    console.print(f"reports: {out / 'report.md'}  {out / 'report.html'}  {out / 'results.json'}")
