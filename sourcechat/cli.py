"""The `sourcechat` command: each subcommand is a thin call into ingest/, rag/, ui/ or eval/.

User errors (bad input, no index yet, unreadable settings) print one line on stderr and exit 2.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Callable, Optional

import typer

from sourcechat.errors import UserError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Cited answers from your articles, offline.")


def fail(message: str, code: int = 2) -> None:
    typer.echo(f"sourcechat: {message}", err=True)
    raise typer.Exit(code)


def load_settings():
    from pydantic import ValidationError

    from sourcechat.settings import Settings

    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        field = "SOURCECHAT_" + str(first["loc"][0]).upper() if first.get("loc") else "settings"
        fail(f"unreadable setting {field}: {first['msg']}")
    except Exception as exc:  # a broken .env, for instance
        fail(f"unreadable settings: {exc}".splitlines()[0])


def cli_client() -> str:
    """Who runs this command, for the audit log."""
    import getpass

    try:
        return f"cli {getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def guarded(action: Callable[[], int | None]) -> None:
    try:
        code = action()
    except UserError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail("interrupted; the index is as it was before the article being written", 130)
    raise typer.Exit(code or 0)


@app.command()
def ingest(
    targets: list[str] = typer.Argument(None, help="Files, folders or URLs (default: the sources folder)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON summary object."),
    replace: bool = typer.Option(False, "--replace", help="A file named like an article with other content "
                                                          "replaces it (the old one is kept in sources/.versions/)."),
) -> None:
    """Add or refresh articles in the index. Unchanged articles cost nothing."""
    settings = load_settings()

    def run() -> int:
        from ingest import run_ingest
        from sourcechat.store import writer_lock

        with writer_lock(settings, "ingest"):
            if as_json:
                report = run_ingest(settings, targets or None, replace=replace, client=cli_client())
            else:
                from tqdm import tqdm

                bar = tqdm(total=0, unit="chunk", desc="embedding", file=sys.stderr, leave=False)

                def progress(done: int, total: int, label: str) -> None:
                    bar.total = total
                    bar.n = done
                    bar.set_postfix_str(label, refresh=True)

                try:
                    report = run_ingest(settings, targets or None, progress, replace=replace, client=cli_client())
                finally:
                    bar.close()
        if as_json:
            typer.echo(json.dumps(report.to_json()))
        else:
            typer.echo(report.summary())
        return 1 if report.failed else 0

    guarded(run)


@app.command()
def remove(
    name: str = typer.Argument(..., help="The article's file name in the sources folder."),
) -> None:
    """Remove an article from the index; its file is kept in sources/.versions/ (see `restore`)."""
    settings = load_settings()

    def run() -> int:
        from ingest import remove_source
        from sourcechat.store import writer_lock

        with writer_lock(settings, "remove"):
            typer.echo(remove_source(settings, name, cli_client()))
        return 0

    guarded(run)


@app.command()
def restore(
    name: str = typer.Argument(None, help="The article's file name (without it: list the kept versions)."),
    version: Optional[str] = typer.Option(None, "--version", help="The timestamp of the version (default: newest)."),
) -> None:
    """Bring back a replaced or removed article from sources/.versions/ and ingest it. The current file,
    if any, is kept as a version first."""
    settings = load_settings()

    def run() -> int:
        from ingest import list_versions, restore_version, run_ingest
        from sourcechat.audit import audit
        from sourcechat.store import writer_lock

        if not name:
            kept = list_versions(settings.sources_dir)
            typer.echo("\n".join(p.name for p in kept) or "no kept versions")
            return 0
        with writer_lock(settings, "restore"):
            restored, previous = restore_version(settings.sources_dir, name, version)
            note = f"; the current file is kept as {previous.name}" if previous else ""
            audit(settings, "restore", restored.name, f"restored{note}", cli_client())
            report = run_ingest(settings, [str(restored)], client=cli_client())
        typer.echo(f"restored {restored.name}{note}\n{report.summary()}")
        return 1 if report.failed else 0

    guarded(run)


@app.command()
def ask(
    question: str = typer.Argument(..., help="The question, in quotes."),
    as_json: bool = typer.Option(False, "--json", help="Print exactly one JSON object."),
    k: Optional[int] = typer.Option(None, "-k", min=1, max=50, help="Chunks to retrieve (default: setting)."),
    explain: bool = typer.Option(False, "--explain", help="Also print why: kind, features of the winner and "
                                                          "runners-up, the reason for a refusal or fallback."),
) -> None:
    """Answer a question from the articles, with numbered citations."""
    settings = load_settings()

    def run() -> int:
        from rag import Assistant

        assistant = Assistant(settings)
        result = assistant.ask(question, k=k)  # ask validates the question (once, before any model runs)
        if as_json:
            if explain:
                result["explain"] = assistant.explain(question, k=k)
            typer.echo(json.dumps(result, ensure_ascii=False))
        else:
            typer.echo(result["text"])
            if explain:
                typer.echo("\n--- explain ---\n" + assistant.explain(question, k=k))
        return 0

    guarded(run)


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(7860, help="Port to listen on."),
) -> None:
    """Start the web chat."""
    settings = load_settings()

    def run() -> int:
        from ui import serve as serve_ui

        serve_ui(settings, host=host, port=port)
        return 0

    guarded(run)


@app.command()
def backends(as_json: bool = typer.Option(False, "--json", help="Print a JSON list.")) -> None:
    """List the answerers: whether each backend's extra is installed and its server or model reachable."""
    settings = load_settings()

    def run() -> int:
        from rag.backends import backend_rows

        rows = backend_rows(settings)
        if as_json:
            typer.echo(json.dumps(rows))
            return 0
        chosen = settings.answerer
        for r in rows:
            mark = "*" if r["name"] == chosen else " "
            typer.echo(f"{mark} {r['name']:<11} installed: {'yes' if r['installed'] else 'no ':<4} "
                       f"reachable: {'yes' if r['reachable'] else 'no ':<4} {r['detail']}")
            typer.echo(f"  {'':<11} {r['about']}")
        typer.echo(f"(* SOURCECHAT_ANSWERER={chosen})")
        return 0

    guarded(run)


@app.command("eval")
def evaluate(
    questions: Optional[Path] = typer.Option(
        None, "--questions", help="One JSONL question set (default: every set in eval/: dev, test, fresh, fresh3, "
                                          "fresh4, fresh5, fresh6, fresh7, fresh8, fresh9, fresh10, fresh11, followups)."),
    out: Path = typer.Option(Path("eval/out"), "--out", help="Folder for results and reports."),
    k: Optional[int] = typer.Option(None, "-k", min=1, max=50, help="Chunks to retrieve (default: setting)."),
    baseline: bool = typer.Option(False, "--baseline", help="Also run the plain LangChain tutorial pipeline."),
    gate: bool = typer.Option(False, "--gate", help="Exit 1 when a test-split metric misses its CI threshold."),
    articles: bool = typer.Option(True, "--articles/--no-articles",
                                  help="Ask a collection of the sources plus eval/articles/ (default) or the sources alone."),
    answerer: Optional[list[str]] = typer.Option(None, "--answerer", help="Answerer(s) to score side by side on "
                                                 "the same questions (repeat it; the first is gated). Default: the setting."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Only the first N questions of each set."),
) -> None:
    """Score answers, citations, retrieval and latency on a question set."""
    settings = load_settings()

    def run() -> int:
        from eval import run_eval

        paths = {questions.stem: questions} if questions else None
        return run_eval(settings, paths, out, k=k, baseline=baseline, gate=gate, with_articles=articles,
                        answerers=answerer or None, limit=limit)

    guarded(run)


def configure_logging() -> None:
    """Our packages log at SOURCECHAT_LOG_LEVEL (INFO by default: ingest results, refusals with their reason,
    errors) to stderr; other libraries only warnings. Tracebacks of handled errors are logged at DEBUG."""
    level = os.environ.get("SOURCECHAT_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    chosen = level if isinstance(logging.getLevelName(level), int) else "INFO"
    for handler in logging.getLogger().handlers:  # libraries that set DEBUG on their own logger (bm25s) stay quiet
        handler.setLevel(min(logging.getLevelName(chosen), logging.INFO))
    for name in ("sourcechat", "rag", "ingest", "ui", "eval"):
        logging.getLogger(name).setLevel(chosen)


def main() -> None:
    configure_logging()
    app()


if __name__ == "__main__":
    main()
