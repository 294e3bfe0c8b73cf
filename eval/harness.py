"""The eval harness: run a question set through the chat's own chain, score it, write the reports."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from eval.metrics import compute_metrics, gate_failures
from eval.report import print_summary, write_reports
from sourcechat.errors import UserError
from sourcechat.settings import Settings

REQUIRED = {"id": str, "question": str, "answers": list, "sources": list, "answerable": bool}


def load_questions(path: Path) -> list[dict[str, Any]]:
    """Read a JSONL question set; a bad line is named in a one-line error."""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except OSError as exc:
        raise UserError(f"cannot read question file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text") from None
    questions, seen = [], set()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserError(f"{path} line {number}: not JSON ({exc.msg})") from None
        if not isinstance(item, dict):
            raise UserError(f"{path} line {number}: expected a JSON object")
        for field, kind in REQUIRED.items():
            if field not in item:
                raise UserError(f"{path} line {number}: missing field {field!r}")
            if not isinstance(item[field], kind):
                raise UserError(f"{path} line {number}: field {field!r} must be a {kind.__name__}")
        if item["answerable"] and not item["answers"]:
            raise UserError(f"{path} line {number}: an answerable question needs accepted answers")
        if item["id"] in seen:
            raise UserError(f"{path} line {number}: duplicate id {item['id']!r}")
        seen.add(item["id"])
        questions.append(item)
    if not questions:
        raise UserError(f"{path}: no questions in it")
    return questions


def run_questions(questions: list[dict], ask, label: str) -> dict[str, dict]:
    from tqdm import tqdm

    results = {}
    for q in tqdm(questions, desc=label, unit="q", leave=False):
        results[q["id"]] = ask(q["question"])
    return results


def run_eval(settings: Settings, questions_path: Path, out: Path, k: int | None = None,
             baseline: bool = False, gate: bool = False) -> int:
    from rag import Assistant

    questions = load_questions(questions_path)
    assistant = Assistant(settings)
    assistant.warm_up()
    results = run_questions(questions, lambda q: assistant.ask(q, k=k), "sourcechat")
    metrics = {"sourcechat": compute_metrics(questions, results)}
    baseline_results = None
    if baseline:
        from eval.baseline import BaselinePipeline

        pipeline = BaselinePipeline(settings)
        baseline_results = run_questions(questions, pipeline.ask, "baseline")
        metrics["baseline"] = compute_metrics(questions, baseline_results)
    failures = gate_failures(metrics["sourcechat"])
    metrics["gate"] = {"passed": not failures, "failures": failures}
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(
        [{"id": q["id"], "result": results[q["id"]]} for q in questions], ensure_ascii=False, indent=1))
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    write_reports(out, questions, results, metrics, baseline_results)
    print_summary(metrics, out)
    return 1 if gate and failures else 0
