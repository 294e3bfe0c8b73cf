"""The eval harness: run a question set through the chat's own chain, score it, write the reports."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from eval.metrics import GATE, compute_metrics, conversation, gate_failures
from eval.report import print_summary, write_reports
from sourcechat.errors import UserError
from sourcechat.settings import Settings

REQUIRED = {"id": str, "question": str, "answers": list, "sources": list, "answerable": bool}
EVAL_DIR = Path(__file__).resolve().parent
ARTICLES_DIR = EVAL_DIR / "articles"  # articles written for the eval, on other subjects and in other formats
# tune on dev; the gate reads test. fresh: six articles and their questions written on 2026-12-01 by helper
# sessions from the text alone (never shown the answerer), after dev and test had been used: reported, never tuned on.
# fresh3: four more articles (a PDF notice with a table, a hard-wrapped Markdown FAQ, a news page with site
# chrome, a plain-text press release) and 116 questions, written the same way on 2026-12-03, scored once before
# any change aimed at them. fresh4: four more (a hard-wrapped Markdown story with lists, a news page with a
# table and a sidebar of teasers, a press-briefing transcript with a key-facts block, a one-paragraph-per-line
# Markdown guide with a table and question headings) and 123 questions, written the same way in the second
# session of 2026-12-03, after its changes, and scored against both its start and its end. fresh5: four more
# (a hard-wrapped Markdown club newsletter with a results list and a table, a plain-text court ruling in numbered
# paragraphs with a key-facts block, a release-notes page with site chrome, a changelog and a benchmark table, a
# two-page PDF consultation with a table) and 114 questions, written the same way in the third session of
# 2026-12-03, scored against its start and its end. fresh6: four more (an encyclopedia page with an infobox,
# edit links, citation markers and a navbox; a three-page PDF report with a running header and footer, sentences
# and words broken across pages and lines; a Markdown FAQ with question headings, nested lists and bold labels; a
# plain-text interview transcript with speaker labels) and 116 questions, written the same way in the fourth
# session of 2026-12-03, scored against its start and its end. fresh7: four more (a two-column PDF report with a
# table and a running footer; a Windows-1252 email thread with CRLF line endings, quoted replies two levels
# deep and signatures; a commercial web page with a definition list, a price table, <details> FAQs, reviews,
# a sidebar and JSON-LD; a Markdown postmortem with front matter, code blocks, footnotes, reference links
# and a timeline table) and 116 questions, written the same way in the fifth session of 2026-12-03. fresh8: four
# more (a two-page PDF scientific paper with affiliations, citations, a table of ± values, a figure caption and
# references; a recipe blog page with fraction quantities, ads, a nutrition table, JSON-LD and reader comments
# giving other values; plain-text membership terms in numbered clauses with cross-references and a fee
# schedule; a live blog, newest first, with revised figures, a correction and a sidebar of other stories) and
# 121 questions, written the same way in the sixth session of 2026-12-03. fresh9: four more (an encyclopedia
# biography page with navigation, an infobox, footnote markers, references and a licence footer; a hard-wrapped
# Markdown product manual with a specifications table, numbered steps, error codes and a correction; a plain-text
# football match report with a line-up block and a `Key: value` block and a revised attendance; two-page PDF
# minutes of a board meeting with motions, vote counts, a budget table, action items and a paragraph across the
# page break) and 124 questions, written the same way in the seventh session of 2026-12-03. fresh10: four more (a
# netball league's season review page with a cookie banner, sidebar, footer and a standings table; a plain-text
# tenancy agreement with numbered clauses, defined terms, a schedule and an amendment that changes the rent; a
# hard-wrapped Markdown conference programme with session tables, speaker bios and a late change notice; a two-page
# PDF product recall notice with a serial-number table, a contact table and a paragraph across the page break) and
# 123 questions, written the same way in the eighth session of 2026-12-03. fresh11: four more (a local paper's
# page on a solar farm planning decision with a cookie banner, sidebars, footer, a conditions table, a list and a
# correction; a hard-wrapped Markdown hospital leaflet with a clinics table and a revised appointment length; a
# plain-text insurance claim decision letter with numbered sections and a corrected settlement; a two-page PDF field
# trial report on an electric bin lorry with a results table and a paragraph across the page break) and 124
# questions, written the same way in the first session of 2026-12-04.
SPLITS = {"dev": EVAL_DIR / "dev.jsonl", "test": EVAL_DIR / "test.jsonl", "fresh": EVAL_DIR / "fresh.jsonl",
          "fresh3": EVAL_DIR / "fresh3.jsonl", "fresh4": EVAL_DIR / "fresh4.jsonl",
          "fresh5": EVAL_DIR / "fresh5.jsonl", "fresh6": EVAL_DIR / "fresh6.jsonl",
          "fresh7": EVAL_DIR / "fresh7.jsonl", "fresh8": EVAL_DIR / "fresh8.jsonl",
          "fresh9": EVAL_DIR / "fresh9.jsonl", "fresh10": EVAL_DIR / "fresh10.jsonl",
          "fresh11": EVAL_DIR / "fresh11.jsonl",
          # follow-ups: a question asked after an earlier one ("history"), scored on the follow-up alone
          "followups": EVAL_DIR / "followups.jsonl"}


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
        if item["answerable"] and not item["answers"] and not item.get("key_phrases"):
            raise UserError(f"{path} line {number}: an answerable question needs accepted answers or key_phrases")
        if item["id"] in seen:
            raise UserError(f"{path} line {number}: duplicate id {item['id']!r}")
        seen.add(item["id"])
        questions.append(item)
    if not questions:
        raise UserError(f"{path}: no questions in it")
    return questions


def run_questions(questions: list[dict], ask, label: str) -> dict[str, dict]:
    """`ask(question, history)` for each question, by id."""
    from tqdm import tqdm

    results = {}
    for q in tqdm(questions, desc=label, unit="q", leave=False):
        results[q["id"]] = ask(q["question"], conversation(q))
    return results


def eval_settings(settings: Settings) -> Settings:
    """The collection the eval asks: the sources folder plus eval/articles/, in an index of its own (so
    the eval never touches the user's index), refreshed by the same idempotent ingest as everything else."""
    from ingest import run_ingest, source_files

    root = settings.index_dir / "eval"
    corpus = root / "sources"
    corpus.mkdir(parents=True, exist_ok=True)
    wanted = {p.name: p for folder in (settings.sources_dir, ARTICLES_DIR) for p in source_files(folder)}
    for stale in set(p.name for p in source_files(corpus)) - set(wanted):
        (corpus / stale).unlink()
    for name, path in wanted.items():
        target = corpus / name
        if not target.exists() or target.read_bytes() != path.read_bytes():
            shutil.copyfile(path, target)
    eval_set = settings.model_copy(update={"sources_dir": corpus, "index_dir": root / "index"})
    report = run_ingest(eval_set)
    if report.failed:
        raise UserError("eval corpus: " + "; ".join(f"{f['source']}: {f['error']}" for f in report.failed))
    return eval_set


def run_eval(settings: Settings, questions_paths: dict[str, Path] | None = None, out: Path = Path("eval/out"),
             k: int | None = None, baseline: bool = False, gate: bool = False, gate_split: str = "test",
             with_articles: bool = True, answerers: list[str] | None = None, limit: int | None = None) -> int:
    """Run each named question set (default: dev and test) and report them side by side; the gate reads
    `gate_split` only. `answerers`: the first is "sourcechat" (gated, explained), the others beside it
    under their names, all on the same questions; `limit`: the first N questions of each set."""
    from rag import Assistant

    paths = questions_paths or SPLITS
    splits = {name: load_questions(path)[:limit] if limit else load_questions(path) for name, path in paths.items()}
    corpus = eval_settings(settings) if with_articles else settings
    names = list(dict.fromkeys(answerers or [settings.answerer]))
    others = {name: Assistant(corpus.model_copy(update={"answerer": name})) for name in names[1:]}
    assistant = Assistant(corpus.model_copy(update={"answerer": names[0]}))
    assistant.warm_up()
    pipeline = None
    if baseline:
        from eval.baseline import BaselinePipeline

        pipeline = BaselinePipeline(corpus)
    out.mkdir(parents=True, exist_ok=True)
    metrics: dict = {}
    all_results: dict = {}
    for name, questions in splits.items():
        results = run_questions(questions, lambda q, h: assistant.ask(q, history=h, k=k), f"sourcechat {name}")
        all_results[name] = results
        metrics[name] = {"sourcechat": {**compute_metrics(questions, results), "label": names[0]}}
        for other, beside in others.items():
            metrics[name][other] = {**compute_metrics(questions, run_questions(
                questions, lambda q, h: beside.ask(q, history=h, k=k), f"{other} {name}")), "label": other}
        if pipeline is not None:
            # the tutorial pipeline keeps no conversation: a follow-up reaches it alone
            metrics[name]["baseline"] = compute_metrics(questions, run_questions(
                questions, lambda q, h: pipeline.ask(q), f"baseline {name}"))
    gated = gate_split if gate_split in metrics else next(iter(metrics))
    failures = gate_failures(metrics[gated]["sourcechat"], GATE)
    metrics["gate"] = {"split": gated, "passed": not failures, "failures": failures}
    (out / "results.json").write_text(json.dumps(
        {name: [{"id": q["id"], "result": all_results[name][q["id"]]} for q in qs] for name, qs in splits.items()},
        ensure_ascii=False, indent=1))
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    write_reports(out, splits, all_results, metrics, explain=assistant.explain)
    print_summary(metrics, out)
    return 1 if gate and failures else 0
