"""Reports: Markdown and HTML (metrics table, per-question table with failures first), a latency
histogram, and a one-screen terminal summary."""

from __future__ import annotations

import html
from pathlib import Path

from eval.metrics import GATE, judge

METRIC_ROWS = [
    ("answer_accuracy", "Answer accuracy"), ("lenient_accuracy", "Lenient accuracy"),
    ("citation_precision", "Citation precision"), ("quote_support", "Quote support"),
    ("recall_at_k", "Retrieval recall@k (article)"), ("mrr", "MRR (article)"),
    ("refusal_accuracy", "Refusal accuracy"), ("false_refusal_rate", "False-refusal rate"),
    ("latency_p50_ms", "Latency p50 (ms)"), ("latency_p95_ms", "Latency p95 (ms)"),
    ("answer_length_chars", "Answer length (chars)"),
]


def _fmt(value) -> str:
    return "—" if value is None else f"{value:g}" if isinstance(value, (int, float)) else str(value)


def metrics_rows(metrics: dict) -> list[list[str]]:
    systems = [s for s in ("sourcechat", "baseline") if s in metrics]
    rows = []
    for key, label in METRIC_ROWS:
        gate = GATE.get(key)
        rows.append([label, *(_fmt(metrics[s].get(key)) for s in systems),
                     f"{gate[0]} {gate[1]}" if gate else ""])
    return [["Metric", *systems, "CI gate"], *rows]


def question_rows(questions, results) -> list[list[str]]:
    rows = []
    for q in questions:
        result, verdict = results.get(q["id"]), judge(q, results.get(q["id"]))
        got = "(missing)" if result is None else "(refused)" if result["refused"] else result["answer"]
        cited = result["citations"][0]["source"] if result and result["citations"] else ""
        expected = " / ".join(q["answers"]) if q["answerable"] else "(refuse)"
        latency = _fmt(result.get("latency_ms")) if result else ""
        rows.append([q["id"], "pass" if verdict["passed"] else "FAIL", q["question"], expected,
                     got[:120], cited, latency])
    rows.sort(key=lambda r: r[1] == "pass")
    return [["id", "result", "question", "expected", "got", "cited source", "ms"], *rows]


def _markdown_table(rows: list[list[str]]) -> str:
    esc = [[c.replace("|", "\\|").replace("\n", " ") for c in row] for row in rows]
    return "\n".join(["| " + " | ".join(esc[0]) + " |", "|" + "---|" * len(esc[0])]
                     + ["| " + " | ".join(r) + " |" for r in esc[1:]])


def _html_table(rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows[1:])
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def latency_histogram(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    values = [r["latency_ms"] for r in results.values() if r.get("latency_ms") is not None]
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.hist(values, bins=20, color="#4060c0")
    ax.set_xlabel("latency per question (ms)")
    ax.set_ylabel("questions")
    ax.set_title("sourcechat: answer latency")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_reports(out: Path, questions, results, metrics, baseline_results=None) -> None:
    latency_histogram(results, out / "latency.png")
    gate = metrics["gate"]
    verdict = "passed" if gate["passed"] else "FAILED: " + "; ".join(gate["failures"])
    md = [f"# sourcechat eval\n\n{len(questions)} questions. CI gate {verdict}.\n",
          "## Metrics\n", _markdown_table(metrics_rows(metrics)), "\n![latency](latency.png)\n",
          "## Questions (failures first)\n", _markdown_table(question_rows(questions, results))]
    (out / "report.md").write_text("\n".join(md) + "\n", encoding="utf-8")
    page = (f"<!doctype html><meta charset='utf-8'><title>sourcechat eval</title>"
            f"<style>body{{font-family:sans-serif;margin:2em}}td,th{{border:1px solid #ccc;padding:4px}}"
            f"table{{border-collapse:collapse}}</style><h1>sourcechat eval</h1>"
            f"<p>{len(questions)} questions. CI gate {html.escape(verdict)}.</p><h2>Metrics</h2>"
            f"{_html_table(metrics_rows(metrics))}<p><img src='latency.png' alt='latency histogram'></p>"
            f"<h2>Questions (failures first)</h2>{_html_table(question_rows(questions, results))}")
    (out / "report.html").write_text(page, encoding="utf-8")


def print_summary(metrics: dict, out: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    rows = metrics_rows(metrics)
    table = Table(*rows[0], title="sourcechat eval")
    for row in rows[1:]:
        table.add_row(*row)
    console = Console(stderr=False)
    console.print(table)
    gate = metrics["gate"]
    console.print("CI gate: " + ("passed" if gate["passed"] else "FAILED — " + "; ".join(gate["failures"])))
    console.print(f"reports: {out / 'report.md'}  {out / 'report.html'}  {out / 'results.json'}")
