"""The web chat: Gradio only. Answers come from rag.Assistant, articles from ingest; nothing else here.

The process that serves the chat is the index's one writer (it holds the writer lock), so uploads and
re-ingests from the Articles tab are safe, and a `sourcechat ingest` in a terminal is told to use them.
"""

from __future__ import annotations

import html
import logging
import os
import re
import threading
import time
from pathlib import Path
from typing import Iterator
from urllib.parse import quote

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # offline for real: no call home, before gradio loads

import gradio as gr  # noqa: E402
import gradio.utils as gr_utils  # noqa: E402
from fastapi import FastAPI, HTTPException  # noqa: E402
from starlette.middleware.trustedhost import TrustedHostMiddleware  # noqa: E402
from fastapi.responses import HTMLResponse

from ingest import remove_article, run_ingest
from ingest import SUPPORTED_SUFFIXES
from rag import Assistant
from sourcechat.errors import UserError
from sourcechat.settings import Settings

log = logging.getLogger(__name__)

EXAMPLES = [
    "When was We Cry Together released?",
    "Who mastered the song?",
    "At what position did the song debut on the Billboard Hot 100?",
    "What is the name of the character Kendrick plays?",
]
EMPTY_INDEX = "The index is empty: add articles in the **Articles** tab, then ask again."
CSS = """
.refusal { border-left: 4px solid #d08000; padding-left: .6em; }
mark#cited { background: #ffe066; padding: 2px 0; }
"""


def source_link(citation: dict) -> str:
    return f"/source/{quote(citation['source'])}?start={citation['start']}&end={citation['end']}"


def md_escape(text: str) -> str:
    return "".join("\\" + ch if ch in "\\`*_{}[]<>#|" else ch for ch in text)


def _quote(c: dict) -> str:
    """A quoted sentence as text: article Markdown (links, images, HTML) is escaped, never rendered."""
    return f"“{md_escape(' '.join(c['quote'].split()))}” [[{c['n']}]]({source_link(c)})"


def render_reply(result: dict) -> list[str]:
    """The reply as Markdown pieces, streamed one after another. Reads the answer's fields (`refused`,
    `reason`, `kind`, `answer`), never its text."""
    cites = result["citations"]
    answer = md_escape(" ".join((result.get("answer") or "").split()))
    kind = result.get("kind", "factual")
    if result["refused"]:
        reason = md_escape(result.get("reason") or "")
        pieces = [f"⚠️ **Not in the sources.** {reason}\n\n"]
        if cites:
            pieces.append("Nearest passages:\n\n")
            pieces += [f"- {_quote(c)}\n" for c in cites]
    elif not answer:
        pieces = ["🔎 **No short answer I can vouch for.** The passages that look related:\n\n"]
        pieces += [f"- {_quote(c)}\n" for c in cites]
    elif kind in {"factual", "yesno"}:
        pieces = [f"**{answer}**\n\n"]
        pieces += [f"> {_quote(c)}\n>\n" for c in cites]
    else:  # sentences: why / how / describe / opinion / a summary
        heading = f"**Summary of “{md_escape(cites[0]['title'])}”**\n\n" if kind == "summarize" and cites else ""
        pieces = [heading] + [f"> {_quote(c)}\n>\n" for c in cites]
    if cites:
        pieces.append("\n**Sources**\n\n")
        pieces += [f"{c['n']}. [{md_escape(c['title'])} — {md_escape(c['source'])}]({source_link(c)})\n"
                   for c in cites]
    return pieces


def _linked_markers(text: str, cites: dict[int, dict]) -> str:
    """A generated sentence as Markdown: escaped, its [n] markers linked to the cited sentence."""
    def link(m: re.Match) -> str:
        n = int(m.group(1))
        return f"[[{n}]]({source_link(cites[n])})" if n in cites else f"\\[{n}?\\]"
    return re.sub(r"\\\[(\d+)\\\]", link, md_escape(" ".join(text.split())))


def render_generated(result: dict) -> list[str]:
    """A generative answer: the sentences its citations support, the others flagged as not backed by
    the sources (never shown as fact), invalid markers named, each source marked verified or not."""
    cites = {c["n"]: c for c in result["citations"]}
    check = result["verification"]
    sentences = [s for s in check["sentences"] if s["reason"] != "no claim" or s["cites"]]
    supported = [_linked_markers(s["text"], cites) for s in sentences if s["supported"]]
    flagged = [_linked_markers(s["text"], cites) for s in sentences if not s["supported"]]
    pieces = [" ".join(supported) + "\n\n"] if supported else []
    if flagged:
        pieces.append("⚠️ **Not supported by the cited sources** (the model wrote this; not shown as fact):\n\n")
        pieces += [f"- ~~{s}~~\n" for s in flagged]
    if check["invalid_citations"]:
        pieces.append(f"\n⚠️ Citations that point at no evidence: {', '.join(f'[{n}]' for n in check['invalid_citations'])}\n")
    pieces.append("\n**Sources**\n\n")
    pieces += [f"{c['n']}. [{md_escape(c['title'])} — {md_escape(c['source'])}]({source_link(c)}) "
               f"{'✓ verified' if c['verified'] else '✗ not verified'}\n" for c in result["citations"]]
    return pieces


def render_result(result: dict) -> str:
    """Any answer dict as the chat's final Markdown."""
    if result.get("verification") and not result.get("fallback") and not result["refused"]:
        return "".join(render_generated(result))
    note = ("ℹ️ *The model's reply had no citation the sources support, so this is the extractive answer.*\n\n"
            if result.get("fallback") else "")
    return note + "".join(render_reply(result))


def stream_pieces(pieces: list[str]) -> Iterator[str]:
    """Cumulative text, a few words at a time, so the reply appears as it is written."""
    shown = ""
    for piece in pieces:
        words = piece.split(" ")
        for i in range(0, len(words), 4):
            shown += " ".join(words[i:i + 4]) + (" " if i + 4 < len(words) else "")
            yield shown
            time.sleep(0.01)


class ChatService:
    """State shared by every browser session: one Assistant (models loaded once), one ingest at a time."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.assistant = Assistant(settings)
        self._ingest_lock = threading.Lock()

    # --- chat ---------------------------------------------------------------------------------------
    def chat(self, message: str, history: list) -> Iterator[str]:
        try:
            if not self.has_articles():
                yield EMPTY_INDEX
                return
            if self.assistant.generator is not None:
                yield from self.chat_generated(message, history)
                return
            result = self.assistant.ask(message, history=history)
        except UserError as exc:
            yield f"⚠️ {md_escape(str(exc))}"
            return
        except Exception:  # odd input never shows a traceback; the log keeps it
            log.exception("could not answer %r", message)
            yield "⚠️ Something went wrong answering that question; it has been logged."
            return
        yield from stream_pieces(render_reply(result))

    def chat_generated(self, message: str, history: list) -> Iterator[str]:
        """A generative answerer's tokens as they arrive (escaped, marked as unchecked), then the checked
        reply with its citations resolved. The stop button closes this generator, and with it the model's
        stream: the generation ends there."""
        events = self.assistant.stream(message, history=history)
        shown = ""
        try:
            for kind, value in events:
                if kind == "token":
                    shown += value
                    yield f"✍️ *{self.assistant.generator.name}, checking citations when done…*\n\n{md_escape(shown)} ▌"
                else:
                    yield render_result(value)
        finally:
            events.close()

    def has_articles(self) -> bool:
        try:
            return bool(self.assistant.corpus.snapshot().articles)
        except UserError:
            return False

    # --- articles -----------------------------------------------------------------------------------
    def article_rows(self) -> list[list]:
        if not self.has_articles():
            return []
        articles = self.assistant.corpus.snapshot().articles.values()
        return [[a.title, a.source, a.n_chunks, a.ingested_at] for a in sorted(articles, key=lambda a: a.source)]

    def ingest(self, targets: list[str] | None, progress: gr.Progress) -> str:
        with self._ingest_lock:
            def report_progress(done: int, total: int, label: str) -> None:
                progress((done, total) if total else None, desc=f"embedding {label}")

            try:
                report = run_ingest(self.settings, targets, report_progress)
            except UserError as exc:
                return f"⚠️ {exc}"
        lines = [f"Ingested: {report.added} added, {report.updated} updated, {report.unchanged} unchanged, "
                 f"{report.removed} removed; {report.chunks} chunks in {report.seconds:.1f}s."]
        lines += [f"⚠️ **{md_escape(f['source'])}** was not ingested: {md_escape(f['error'])}" for f in report.failed]
        return "\n\n".join(lines)

    def ingest_uploads(self, files: list | None, url: str, progress=gr.Progress()) -> tuple[str, list]:
        targets, refused, notes = [], [], []
        upload_dir = Path(gr_utils.get_upload_folder()).resolve()
        for f in files or []:
            raw = f if isinstance(f, str) else (f.get("path") if isinstance(f, dict) else getattr(f, "name", ""))
            path = Path(str(raw or "")).resolve()
            if not path.is_relative_to(upload_dir) or not path.is_file():
                # only files Gradio received: `mount_gradio_app` skips Gradio's own check of uploaded paths
                log.warning("refused upload path outside the upload folder: %r", str(raw))
                notes.append(f"⚠️ **{md_escape(path.name)}**: not an uploaded file")
                continue
            (targets if path.suffix.lower() in SUPPORTED_SUFFIXES else refused).append(str(path))
        url = (url or "").strip()
        if url:
            if not re.match(r"^https?://", url, re.I):
                notes.append("⚠️ Only http:// or https:// URLs can be added here.")
            else:
                targets.append(url)
        notes += [f"⚠️ **{md_escape(Path(p).name)}**: unsupported file type (use txt, md, html or pdf)" for p in refused]
        if not targets:
            return "\n\n".join(notes) or "Choose files or paste a URL first.", self.article_rows()
        return "\n\n".join([self.ingest(targets, progress), *notes]), self.article_rows()

    def reingest_all(self, progress=gr.Progress()) -> tuple[str, list]:
        return self.ingest(None, progress), self.article_rows()

    def remove(self, source: str | None) -> tuple[str, list, dict]:
        if not source:
            return "Pick an article to remove.", self.article_rows(), gr.update()
        with self._ingest_lock:
            deleted = remove_article(self.settings, source)
            path = self.settings.sources_dir / source
            if path.is_file():
                path.unlink()
        rows = self.article_rows()
        return f"Removed {source} ({deleted} chunks).", rows, gr.update(choices=[r[1] for r in rows], value=None)

    # --- source viewer ------------------------------------------------------------------------------
    def source_page(self, source: str, start: int, end: int) -> str:
        try:
            article = self.assistant.corpus.snapshot().articles.get(source)
        except UserError:
            article = None
        if article is None:
            raise HTTPException(404, f"no article {source!r} in the index")
        text = article.text
        start, end = max(0, min(start, len(text))), max(0, min(end, len(text)))
        body = (html.escape(text[:start]) + f'<mark id="cited">{html.escape(text[start:end])}</mark>'
                + html.escape(text[end:]))
        return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(article.title)}</title>"
                f"<style>body{{font-family:Georgia,serif;max-width:46em;margin:2em auto;line-height:1.5}}"
                f"pre{{white-space:pre-wrap;font-family:inherit}}{CSS}</style></head><body>"
                f"<h1>{html.escape(article.title)}</h1><p><code>{html.escape(source)}</code></p>"
                f"<pre>{body}</pre><script>document.getElementById('cited').scrollIntoView({{block:'center'}})"
                f"</script></body></html>")


def build_blocks(service: ChatService) -> gr.Blocks:
    with gr.Blocks(title="sourcechat", analytics_enabled=False) as demo:
        gr.Markdown("# sourcechat\nAnswers from your articles, with the sentence each one comes from.")
        with gr.Tab("Chat"):
            chatbot = gr.Chatbot(height=520, label="sourcechat", placeholder=(
                "Ask about the articles. Every answer cites the sentence it comes from."))
            gr.ChatInterface(service.chat, chatbot=chatbot, examples=EXAMPLES, api_name="chat",
                             concurrency_limit=4, fill_height=False)
        with gr.Tab("Articles"):
            status = gr.Markdown()
            table = gr.Dataframe(headers=["title", "file", "chunks", "ingested at"], value=service.article_rows,
                                 interactive=False, label="Ingested articles")
            with gr.Row():
                files = gr.File(file_count="multiple", file_types=sorted(s for s in SUPPORTED_SUFFIXES if s),
                                label="Upload articles (txt, md, html, pdf)", elem_id="upload")
                url = gr.Textbox(label="…or an article URL", placeholder="https://…")
            with gr.Row():
                add = gr.Button("Ingest", variant="primary")
                again = gr.Button("Re-ingest all")
            with gr.Row():
                choice = gr.Dropdown(choices=[r[1] for r in service.article_rows()], label="Article to remove")
                drop = gr.Button("Remove", variant="stop")
            add.click(service.ingest_uploads, [files, url], [status, table], api_name="ingest")
            again.click(service.reingest_all, None, [status, table], api_name="reingest")
            drop.click(service.remove, [choice], [status, table, choice], api_name="remove")
            table.change(lambda rows: gr.update(choices=[r[1] for r in service.article_rows()]), table, choice)
    return demo


def build_app(settings: Settings, host: str | None = None) -> tuple[FastAPI, ChatService]:
    service = ChatService(settings)
    app = FastAPI(title="sourcechat")
    trusted = list(settings.trusted_hosts) + ([host] if host and host not in {"0.0.0.0", "::"} else [])
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=trusted)  # a foreign Host header: DNS rebinding

    @app.get("/source/{source}", response_class=HTMLResponse)
    def source(source: str, start: int = 0, end: int = 0) -> str:
        return service.source_page(source, start, end)

    demo = build_blocks(service)
    demo.queue(default_concurrency_limit=4)
    mounted = gr.mount_gradio_app(app, demo, path="/", css=CSS, max_file_size=f"{settings.max_file_mb}mb")
    # Gradio checks that a file input was really uploaded only once its Blocks "has launched", which
    # `mount_gradio_app` never sets: without this, any server path sent as an upload would be read.
    demo.has_launched = True
    return mounted, service


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 7860) -> None:
    import uvicorn

    from sourcechat.store import writer_lock

    with writer_lock(settings, "serve"):
        app, service = build_app(settings, host)
        try:
            service.assistant.warm_up()
        except UserError:
            pass  # no index yet: the chat says so and the Articles tab can build one
        print(f"sourcechat: chat at http://{host}:{port}", flush=True)
        uvicorn.run(app, host=host, port=port, log_level="warning")
