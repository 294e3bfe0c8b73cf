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
from fastapi.responses import HTMLResponse
from starlette.middleware.trustedhost import TrustedHostMiddleware  # noqa: E402

from ingest import SUPPORTED_SUFFIXES, remove_source, run_ingest
from rag import Assistant
from sourcechat.audit import audit
from sourcechat.errors import UserError
from sourcechat.settings import Settings
from ui.auth import READ_ONLY, AskPasswordMiddleware, admin_refusal, secret_value

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
    elif kind in {"factual", "yesno", "choice"}:
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


def client_of(request: gr.Request | None) -> str:
    """The browser's address as the server saw it, for the audit log."""
    client = getattr(request, "client", None)
    return f"web {getattr(client, 'host', None) or '?'}"


def upload_path(f) -> str:
    """The server path of one uploaded file, whatever shape Gradio handed it in."""
    return str((f if isinstance(f, str) else (f.get("path") if isinstance(f, dict) else getattr(f, "name", ""))) or "")


def discard_uploads(paths: list[Path], upload_dir: Path) -> None:
    """Delete Gradio's copies of uploads we consumed (and their per-upload folder once empty): the sources
    folder has its own copy, and the temp folder must not fill up."""
    for path in paths:
        if not path.is_relative_to(upload_dir):
            continue
        path.unlink(missing_ok=True)
        folder = path.parent
        if folder != upload_dir and folder.is_relative_to(upload_dir) and not any(folder.iterdir()):
            folder.rmdir()


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
            events.close()  # type: ignore[attr-defined]

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

    def refused(self, action: str, target: str, password: str | None, client: str) -> str | None:
        """The message when this client may not change the collection (audited), else None."""
        refusal = admin_refusal(self.settings.admin_password, password)
        if refusal:
            audit(self.settings, action, target, f"refused: {refusal}", client)
        return refusal

    def ingest(self, targets: list[str] | None, progress: gr.Progress, replace: bool = False,
               client: str = "web") -> str:
        with self._ingest_lock:
            def report_progress(done: int, total: int, label: str) -> None:
                progress((done, total) if total else None, desc=f"embedding {label}")

            try:
                report = run_ingest(self.settings, targets, report_progress, replace=replace, client=client)
            except UserError as exc:
                audit(self.settings, "ingest", ", ".join(targets or []) or "sources/", f"failed: {exc}", client)
                return f"⚠️ {md_escape(str(exc))}"
        lines = [f"Ingested: {report.added} added, {report.updated} updated, {report.unchanged} unchanged, "
                 f"{report.removed} removed; {report.chunks} chunks in {report.seconds:.1f}s."]
        lines += [f"⚠️ **{md_escape(f['source'])}** was not ingested: {md_escape(f['error'])}" for f in report.failed]
        return "\n\n".join(lines)

    def ingest_uploads(self, files: list | None, url: str, password: str | None = None, replace: bool = False,
                       request: gr.Request | None = None, progress=gr.Progress()) -> tuple[str, list]:
        """Upload and URL ingest. Needs the admin password; only files Gradio received are read, and its
        temp copies are deleted afterwards whatever happened."""
        client = client_of(request)
        upload_dir = Path(gr_utils.get_upload_folder()).resolve()
        received = [p for p in (Path(upload_path(f)).resolve() for f in files or [])
                    if p.is_relative_to(upload_dir) and p.is_file()]
        try:
            names = ", ".join(Path(upload_path(f)).name for f in files or []) + (f" {url}" if url else "")
            refusal = self.refused("ingest", names.strip() or "(nothing)", password, client)
            if refusal:
                return f"⚠️ {refusal}", self.article_rows()
            return self._ingest_checked(files, url, bool(replace), upload_dir, client, progress), self.article_rows()
        finally:
            discard_uploads(received, upload_dir)

    def _ingest_checked(self, files: list | None, url: str, replace: bool, upload_dir: Path, client: str,
                        progress) -> str:
        targets: list[str] = []
        refused: list[str] = []
        notes: list[str] = []
        for f in files or []:
            raw = upload_path(f)
            path = Path(raw).resolve()
            if not path.is_relative_to(upload_dir) or not path.is_file():
                # only files Gradio received: `mount_gradio_app` skips Gradio's own check of uploaded paths
                audit(self.settings, "ingest", raw, "refused: not an uploaded file", client)
                notes.append(f"⚠️ **{md_escape(path.name)}**: not an uploaded file")
                continue
            (targets if path.suffix.lower() in SUPPORTED_SUFFIXES else refused).append(str(path))
        url = (url or "").strip()
        if url:
            if not re.match(r"^https?://", url, re.I):
                audit(self.settings, "ingest", url[:200], "refused: not an http(s) URL", client)
                notes.append("⚠️ Only http:// or https:// URLs can be added here.")
            else:
                targets.append(url)
        notes += [f"⚠️ **{md_escape(Path(p).name)}**: unsupported file type (use txt, md, html or pdf)" for p in refused]
        if not targets:
            return "\n\n".join(notes) or "Choose files or paste a URL first."
        return "\n\n".join([self.ingest(targets, progress, replace, client), *notes])

    def reingest_all(self, password: str | None = None, request: gr.Request | None = None,
                     progress=gr.Progress()) -> tuple[str, list]:
        client = client_of(request)
        refusal = self.refused("ingest", f"{self.settings.sources_dir}/", password, client)
        if refusal:
            return f"⚠️ {refusal}", self.article_rows()
        return self.ingest(None, progress, client=client), self.article_rows()

    def remove(self, source: str | None, password: str | None = None,
               request: gr.Request | None = None) -> tuple[str, list, dict]:
        """Drop an article from the index; its file is kept in `.versions/` (`sourcechat restore` brings it back)."""
        client = client_of(request)
        if not source:
            return "Pick an article to remove.", self.article_rows(), gr.update()
        refusal = self.refused("remove", str(source), password, client)
        if refusal:
            return f"⚠️ {refusal}", self.article_rows(), gr.update()
        with self._ingest_lock:
            try:
                message = md_escape(remove_source(self.settings, str(source), client))
            except UserError as exc:
                message = f"⚠️ {md_escape(str(exc))}"
        rows = self.article_rows()
        return message, rows, gr.update(choices=[r[1] for r in rows], value=None)

    def refresh_articles(self) -> tuple[list, dict]:
        """What a browser sees when the page loads: the table and Remove choices as they are now."""
        rows = self.article_rows()
        return rows, gr.update(choices=[r[1] for r in rows], value=None)

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
            editable = secret_value(service.settings.admin_password) is not None
            status = gr.Markdown("" if editable else f"🔒 {READ_ONLY}", elem_id="articles-status")
            table = gr.Dataframe(headers=["title", "file", "chunks", "ingested at"], value=service.article_rows,
                                 interactive=False, label="Ingested articles")
            # Without an admin password the change controls are not shown, and the API refuses them too.
            with gr.Column(visible=editable):
                password = gr.Textbox(type="password", label="Admin password", elem_id="admin-password")
                with gr.Row():
                    files = gr.File(file_count="multiple", file_types=sorted(s for s in SUPPORTED_SUFFIXES if s),
                                    label="Upload articles (txt, md, html, pdf)", elem_id="upload")
                    url = gr.Textbox(label="…or an article URL", placeholder="https://…")
                replace = gr.Checkbox(label="Replace an article of the same name (the old version is kept)")
                with gr.Row():
                    add = gr.Button("Ingest", variant="primary")
                    again = gr.Button("Re-ingest all")
                with gr.Row():
                    # choices refresh on every page load (demo.load); any value reaches `remove`, which checks it
                    choice = gr.Dropdown(choices=[r[1] for r in service.article_rows()], label="Article to remove",
                                         allow_custom_value=True)
                    drop = gr.Button("Remove", variant="stop")
            add.click(service.ingest_uploads, [files, url, password, replace], [status, table], api_name="ingest")
            again.click(service.reingest_all, [password], [status, table], api_name="reingest")
            drop.click(service.remove, [choice, password], [status, table, choice], api_name="remove")
            table.change(lambda rows: gr.update(choices=[r[1] for r in service.article_rows()]), table, choice,
                         api_visibility="private")
        demo.load(service.refresh_articles, None, [table, choice], api_visibility="private")
    return demo


def build_app(settings: Settings, host: str | None = None) -> tuple[FastAPI, ChatService]:
    service = ChatService(settings)
    app = FastAPI(title="sourcechat")
    ask_password = secret_value(settings.ask_password)
    if ask_password:  # the whole site, /source/ and Gradio's API included (added first: runs after the host check)
        app.add_middleware(AskPasswordMiddleware, password=ask_password)
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
