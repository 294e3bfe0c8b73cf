"""Fit the extractive answerer's confidence on the dev split, and choose its two thresholds.

`python -m eval.calibrate` runs eval/dev.jsonl (never test), records for every factual question the
named signals of the winning span (`rag.answer.SIGNALS`) and whether the span was right, fits a logistic
regression (numpy, L2), and writes `rag/calibration.json`:
- `min_confidence`: a short answer is shown at or above it; chosen as the lowest threshold at which at
  most `--max-wrong` of the short answers shown on dev are wrong;
- `refuse_below`: below it the reply is a refusal rather than passages; chosen so that at most
  `--max-false-refusal` of dev's answerable questions are refused by it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import typer

from eval.harness import SPLITS, eval_settings, load_questions
from eval.metrics import contains_answer
from sourcechat.settings import Settings


def collect(settings: Settings, questions: list[dict]) -> list[tuple[dict, bool, bool]]:
    """(signals, answerable, correct) for each factual or unanswerable question that got a winning span."""
    from rag import Assistant, decide_factual

    assistant = Assistant(eval_settings(settings))
    assistant.warm_up()
    rows = []
    for q in questions:
        if q.get("kind", "factual") not in {"factual", "unanswerable"}:
            continue
        x = assistant.evidence_chain().invoke({"question": q["question"], "query": q["question"],
                                               "k": assistant.settings.top_k})
        if x["info"].form != "factual":
            continue
        d = decide_factual(x["info"], x["evidence"], assistant.corpus.snapshot(), assistant.cache, assistant.settings)
        if d.winner is None:
            continue
        rows.append((d.signals, q["answerable"], q["answerable"] and contains_answer(d.winner.answer, q["answers"])))
    return rows


def fit(x: np.ndarray, y: np.ndarray, l2: float = 0.01, steps: int = 4000, lr: float = 0.5) -> np.ndarray:
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-6
    z = np.hstack([np.ones((len(x), 1)), (x - mean) / std])
    w = np.zeros(z.shape[1])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-z @ w))
        grad = z.T @ (p - y) / len(y) + l2 * np.r_[0, w[1:]]
        w -= lr * grad
    # back to raw signal units: bias' = b - Σ w_i μ_i / σ_i, w_i' = w_i / σ_i
    raw = w[1:] / std
    return np.r_[w[0] - (raw * mean).sum(), raw]


def main(max_wrong: float = typer.Option(0.08, help="Wrong short answers allowed among those shown (dev)."),
         max_false_refusal: float = typer.Option(0.03, help="Answerable questions the threshold may refuse (dev)."),
         out: Path = typer.Option(Path(__file__).resolve().parents[1] / "rag" / "calibration.json")) -> None:
    from rag import SIGNALS

    settings = Settings()
    rows = collect(settings, load_questions(SPLITS["dev"]))
    x = np.array([[r[0][s] for s in SIGNALS] for r in rows])
    y = np.array([1.0 if r[2] else 0.0 for r in rows])
    w = fit(x, y)
    conf = 1 / (1 + np.exp(-(w[0] + x @ w[1:])))
    answerable = np.array([r[1] for r in rows])
    n_answerable = int(answerable.sum())
    min_conf = 0.95
    for t in np.linspace(0.05, 0.95, 91):
        shown = conf >= t
        if shown.sum() and (1 - y[shown]).sum() / shown.sum() <= max_wrong:
            min_conf = float(t)
            break
    refuse = 0.0
    for t in np.linspace(0.0, min_conf, 50):
        if ((conf < t) & answerable).sum() / max(1, n_answerable) <= max_false_refusal:
            refuse = float(t)
    payload = {"weights": {"bias": round(float(w[0]), 4), **{s: round(float(v), 4) for s, v in zip(SIGNALS, w[1:])}},
               "min_confidence": round(min_conf, 3), "refuse_below": round(refuse, 3),
               "note": f"fitted by eval/calibrate.py on eval/dev.jsonl: {len(rows)} winning spans, "
                       f"{int(y.sum())} right; max_wrong {max_wrong}, max_false_refusal {max_false_refusal}"}
    out.write_text(json.dumps(payload, indent=1) + "\n")
    shown = conf >= min_conf
    typer.echo(json.dumps(payload, indent=1))
    typer.echo(f"dev: shown {int(shown.sum())}/{len(rows)}, wrong among shown {(1 - y[shown]).sum() / max(1, shown.sum()):.3f}, "
               f"refused by threshold: answerable {int(((conf < refuse) & answerable).sum())}, "
               f"unanswerable {int(((conf < refuse) & ~answerable).sum())}/{int((~answerable).sum())}")


if __name__ == "__main__":
    typer.run(main)
