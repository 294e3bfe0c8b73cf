"""The ingest pipeline: load → clean → chunk → embed → store, idempotent and safe to interrupt.

The index is its own manifest: every chunk carries its article's file hash, so a re-run compares hashes
and skips unchanged articles before parsing them or loading the model. A changed article is written
under new chunk ids first and its old chunks deleted after, so at every instant the index answers.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Callable, Iterable, Protocol

import numpy as np

from ingest.chunk import CHUNKER_VERSION, Chunk, chunk_article
from ingest.load import Article, file_hash, parse_article, parse_html
from ingest.versions import VERSIONS_DIR, place, safe_name
from sourcechat.audit import audit
from sourcechat.contracts import ChunkMeta, chunk_id
from sourcechat.errors import SourceError, UserError
from sourcechat.lru import LRU
from sourcechat.sentence_vectors import remove_vectors, sentence_key, vector_file, write_vectors
from sourcechat.settings import Settings
from sourcechat.store import bump_generation, delete_ids, embeddings, get_all, open_collection
from sourcechat.text import paraphrase_words
from sourcechat.word_vectors import WordVectorStore

Progress = Callable[[int, int, str], None]


log = logging.getLogger(__name__)


@dataclass
class IngestReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)
    chunks: int = 0
    seconds: float = 0.0
    sources: list[str] = field(default_factory=list)  # articles written by this run
    events: list[dict[str, str]] = field(default_factory=list)  # audit events: action, target, result

    def to_json(self) -> dict:
        return {
            "added": self.added, "updated": self.updated, "unchanged": self.unchanged,
            "removed": self.removed, "failed": self.failed, "chunks": self.chunks,
            "seconds": round(self.seconds, 3),
        }

    def summary(self) -> str:
        line = (f"{self.added} added, {self.updated} updated, {self.unchanged} unchanged, "
                f"{self.removed} removed, {len(self.failed)} failed; {self.chunks} chunks embedded "
                f"in {self.seconds:.1f}s")
        return line + "".join(f"\n  failed: {f['source']}: {f['error']}" for f in self.failed)


@dataclass
class _Pending:
    path: Path
    data: bytes
    article: Article
    chunks: list[Chunk]
    status: str  # "added" | "updated"
    origin: str = ""

    @cached_property
    def version(self) -> str:
        """The version its chunk ids, sentence vectors and saved view data are named by: of the article's text
        and of the chunker that cut it. A new chunker may cut the same text into other sentences; under the old
        version's ids, a serving process would keep its old sentences beside the new sentences' vectors."""
        return hashlib.sha256(f"{CHUNKER_VERSION}\n{self.article.content_hash}".encode()).hexdigest()


# --- resolving what to ingest ----------------------------------------------------------------------


def is_url(text: str) -> bool:
    return bool(re.match(r"^https?://", text, re.I))


def source_files(directory: Path) -> list[Path]:
    """The articles in a folder: visible regular files, in name order (so `.versions/` and dot-files are
    never articles, and a full ingest never prunes what they hold)."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.is_file() and not p.name.startswith("."))


def url_file_name(url: str) -> str:
    slug = re.sub(r"^https?://(www\.)?", "", url.lower())
    slug = re.sub(r"[^a-z0-9]+", "-", slug).strip("-")[:80] or "page"
    return f"{slug}.md"


def check_public_url(url: str, settings: Settings) -> None:
    """Refuse URLs the server should not fetch for a user: other schemes, and hosts that resolve to
    loopback, private, link-local, reserved or metadata addresses (unless the admin allows the host by name
    in SOURCECHAT_URL_ALLOW_HOSTS). The message never says whether anything answers there."""
    import ipaddress
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme.lower() not in {"http", "https"} or not parts.hostname:
        raise SourceError("only http:// and https:// URLs can be fetched")
    host = parts.hostname.lower()
    if host in {h.lower() for h in settings.url_allow_hosts}:
        return
    try:
        infos = socket.getaddrinfo(host, parts.port or (443 if parts.scheme.lower() == "https" else 80))
    except (socket.gaierror, UnicodeError, ValueError):
        raise SourceError(f"could not fetch {url}: the host name does not resolve") from None
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if not address.is_global or address.is_multicast:
            raise SourceError(f"refused to fetch {url}: it is not a public address")


class _CheckedRedirects(urllib.request.HTTPRedirectHandler):
    """Every redirect target passes the same check as the URL the user gave."""

    def __init__(self, settings: Settings):
        self.settings = settings

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        check_public_url(newurl, self.settings)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def fetch_url(url: str, settings: Settings) -> tuple[str, bytes]:
    """Fetch a page and turn its main text into a Markdown article for the sources folder."""
    check_public_url(url, settings)
    request = urllib.request.Request(url, headers={"User-Agent": "sourcechat/0.1 (+offline article reader)"})
    opener = urllib.request.build_opener(_CheckedRedirects(settings))
    try:
        with opener.open(request, timeout=settings.fetch_timeout) as response:
            raw = response.read(settings.max_file_mb * 1_000_000 + 1)
            content_type = response.headers.get("Content-Type", "")
    except SourceError:
        raise
    except (urllib.error.URLError, OSError, ValueError) as exc:
        status = f" (HTTP {exc.code})" if isinstance(exc, urllib.error.HTTPError) else ""
        raise SourceError(f"could not fetch {url}{status}") from exc
    if len(raw) > settings.max_file_mb * 1_000_000:
        raise SourceError(f"the page is larger than {settings.max_file_mb} MB")
    name = url_file_name(url)
    if "pdf" in content_type or raw.startswith(b"%PDF-"):
        return name[:-3] + ".pdf", raw
    article = parse_html(name, raw)
    title = article.title.replace('"', "'")
    return name, f'---\ntitle: "{title}"\nurl: {url}\n---\n\n{article.text}\n'.encode("utf-8")


# --- the run ---------------------------------------------------------------------------------------


class Embedder(Protocol):
    def embed_documents(self, texts: list[str]) -> list[list[float]]: ...


def indexed_articles(collection) -> dict[str, ChunkMeta]:
    """source → metadata of its first chunk, for every article in the index."""
    got = get_all(collection, ["metadatas"], where={"chunk": 0})  # in pages: no SQLite variable limit
    known: dict[str, ChunkMeta] = {}
    for meta in map(ChunkMeta.from_chroma, got["metadatas"]):
        if meta.source in known:  # two versions: a write was cut short; rewrite it next time
            known[meta.source] = meta.model_copy(update={"file_hash": ""})
        else:
            known[meta.source] = meta
    return known


def _chunk_ids(source: str, content_hash: str, n: int) -> list[str]:
    return [chunk_id(source, content_hash, i) for i in range(n)]


def _metadatas(pending: _Pending, now: str) -> list[dict]:
    """Each chunk's metadata, as the contract (`ChunkMeta`) defines it."""
    article = pending.article
    return [
        ChunkMeta(source=article.source, title=article.title, chunk=c.index, start=c.start, end=c.end,
                  n_chunks=len(pending.chunks), content_hash=pending.version, file_hash=file_hash(pending.data),
                  ingested_at=now, origin=pending.origin, chunker=CHUNKER_VERSION,
                  sentences=ChunkMeta.encode_sentences(c.sentences)).to_chroma()
        for c in pending.chunks
    ]


def _embed_texts(pending: _Pending) -> list[str]:
    """Each chunk is embedded with its article title, so a chunk that never names the song still matches."""
    return [f"{pending.article.title}\n{c.text}" for c in pending.chunks]


def _sentence_spans(pending: _Pending) -> list[tuple[int, int]]:
    """The article's sentences, once each (chunks overlap by a sentence), in order: as the reader lists them."""
    spans: dict[int, tuple[int, int]] = {}
    for chunk in pending.chunks:
        for start, end in chunk.sentences:
            spans.setdefault(start, (start, end))
    return [spans[s] for s in sorted(spans)]


def _sentence_texts(pending: _Pending) -> list[str]:
    """What evidence selection compares a question with: "title: sentence" (`sentence_key`)."""
    text, title = pending.article.text, pending.article.title
    return [sentence_key(title, text[s:e]) for s, e in _sentence_spans(pending)]


EMBED_CALL_TEXTS = 64  # texts per model call, across articles: full batches, and questions slip in between calls
WRITE_ROWS = 2000  # chunks per Chroma write
EMBED_MEMO = 10_000  # vectors kept per run for texts seen again (mirrored copies, repeated page chrome)


class _Memo:
    """Text → vector for the texts of one ingest run, the most recent EMBED_MEMO (the project's LRU): a text
    that comes again (a copy of an article, a sentence every page of a site repeats) is embedded once. The
    model is deterministic for a text, so a reused vector is the one it would compute."""

    def __init__(self, size: int = EMBED_MEMO):
        self.vectors: LRU[str, list[float]] = LRU(size)
        self.reused = 0

    def embed(self, model: Embedder, texts: list[str]) -> list:
        known = self.vectors.get_many(texts)
        new = list(dict.fromkeys(t for t in texts if t not in known))
        if new:
            known.update(zip(new, model.embed_documents(new)))
            self.vectors.put_many((t, known[t]) for t in new)
        self.reused += len(texts) - len(new)
        return [known[t] for t in texts]


@dataclass
class _Job:
    """One article on its way through the embedder: its texts (chunks, then sentences) and their vectors."""

    item: _Pending
    texts: list[str]
    vectors: list = field(default_factory=list)
    failed: str = ""


def _embed_and_write(collection, pending: list[_Pending], known: dict[str, ChunkMeta], settings: Settings,
                     report: IngestReport, progress: Progress | None, embedder: Embedder | None = None) -> bool:
    """Embed all changed articles' texts in calls of EMBED_CALL_TEXTS that span articles, and write finished
    articles in large batches. A failed call fails only the articles it carried; they keep their old chunks."""
    jobs = [_Job(p, _embed_texts(p) + _sentence_texts(p)) for p in pending]
    total = sum(len(j.texts) for j in jobs)
    if progress:
        progress(0, total, "embedding")
    if not jobs:
        return False
    model = embedder or embeddings(settings)
    _store_new_words(pending, settings, model)
    queue = [(job, i) for job in jobs for i in range(len(job.texts))]
    ready: list[_Job] = [job for job in jobs if not job.texts]
    for job in ready:
        job.failed = "no text to embed"
    changed = False
    memo = _Memo()
    for offset in range(0, len(queue), EMBED_CALL_TEXTS):
        call = queue[offset:offset + EMBED_CALL_TEXTS]
        live = [(job, i) for job, i in call if not job.failed]
        try:
            vectors = memo.embed(model, [job.texts[i] for job, i in live]) if live else []
        except Exception as exc:  # these articles keep their previous chunks; the others go on
            for job, _ in live:
                job.failed = job.failed or f"{type(exc).__name__}: {exc}"
            vectors = []
        for (job, _), vector in zip(live, vectors):
            job.vectors.append(vector)
        if progress:
            progress(min(total, offset + len(call)), total, call[-1][0].item.article.source)
        ready += [job for job, i in call if i == len(job.texts) - 1]
        if sum(len(j.item.chunks) for j in ready) >= WRITE_ROWS:
            changed |= _write_jobs(collection, ready, known, settings, report)
            ready = []
    changed |= _write_jobs(collection, ready, known, settings, report)
    if memo.reused:
        log.info("%d of %d texts were embedded once for several articles", memo.reused, total)
    return changed


WORD_CALL_TEXTS = 256  # single words are short: larger calls


def _store_new_words(pending: list[_Pending], settings: Settings, model: Embedder) -> int:
    """Embed the words of the changed articles that the word table does not hold yet, and append them
    (sourcechat.word_vectors). Optional data: a failure here is logged and the ingest goes on (those words
    are then embedded at question time, as before)."""
    store = WordVectorStore(settings)
    vocabulary: set[str] = set()
    for item in pending:
        vocabulary |= paraphrase_words(f"{item.article.title}\n{item.article.text}")
    new = store.missing(vocabulary)
    try:
        for offset in range(0, len(new), WORD_CALL_TEXTS):
            batch = new[offset:offset + WORD_CALL_TEXTS]
            store.append(batch, np.asarray(model.embed_documents(batch), dtype=np.float32))
    except Exception as exc:
        log.warning("word vectors not stored (%s: %s); they will be embedded at question time",
                    type(exc).__name__, exc)
    return len(new)


def _write_jobs(collection, jobs: list[_Job], known: dict[str, ChunkMeta], settings: Settings,
                report: IngestReport) -> bool:
    """Write finished articles: sentence vectors, then all their chunks in one upsert, then drop old chunks."""
    for job in jobs:
        if job.failed:
            report.failed.append({"source": job.item.article.source, "error": job.failed})
    done = [j for j in jobs if not j.failed]
    if not done:
        return any(jobs)
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    rows: dict[str, list] = {"ids": [], "embeddings": [], "documents": [], "metadatas": []}
    try:
        for job in done:
            item, n = job.item, len(job.item.chunks)
            starts = [s for s, _ in _sentence_spans(item)]
            write_vectors(vector_file(settings, item.article.source, item.version, item.article.title),
                          starts, np.asarray(job.vectors[n:], dtype=np.float32).reshape(len(starts), -1))
            rows["ids"] += _chunk_ids(item.article.source, item.version, n)
            rows["embeddings"] += job.vectors[:n]
            rows["documents"] += [c.text for c in item.chunks]
            rows["metadatas"] += _metadatas(item, now)
        collection.upsert(**rows)
    except Exception as exc:  # nothing of these articles replaced their previous chunks
        for job in done:
            report.failed.append({"source": job.item.article.source, "error": f"{type(exc).__name__}: {exc}"})
        return True
    for job in done:
        _drop_previous(collection, job.item, known, settings)
        report.chunks += len(job.item.chunks)
        report.sources.append(job.item.article.source)
        setattr(report, job.item.status, getattr(report, job.item.status) + 1)
    return True


def _drop_previous(collection, item: _Pending, known: dict[str, ChunkMeta], settings: Settings) -> None:
    """After the new version is written: delete the article's other chunks and its old sentence vectors."""
    article = item.article
    keep = set(_chunk_ids(article.source, item.version, len(item.chunks)))
    stale = [i for i in get_all(collection, [], where={"source": article.source})["ids"] if i not in keep]
    delete_ids(collection, stale)
    previous = known[article.source].content_hash if article.source in known else ""
    if previous and previous != item.version:
        remove_vectors(settings, article.source, previous)


def _stage(path: Path, origin: str, known: dict[str, ChunkMeta], settings: Settings,
           report: IngestReport) -> _Pending | None:
    """Read one file; None when it is unchanged or unreadable (then recorded in the report)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        report.failed.append({"source": path.name, "error": f"cannot read it: {exc.strerror or exc}"})
        return None
    previous = known.get(path.name)
    if previous and previous.file_hash == file_hash(data) and previous.chunker == CHUNKER_VERSION:
        report.unchanged += 1
        return None
    try:
        article = parse_article(path.name, data)
    except SourceError as exc:
        report.failed.append({"source": path.name, "error": str(exc)})
        return None
    chunks = chunk_article(article, settings.chunk_chars, settings.chunk_overlap_sentences)
    if len(chunks) > settings.max_chunks:
        report.failed.append({"source": path.name, "error": f"{len(chunks)} chunks, more than the {settings.max_chunks} "
                                                            "allowed per article (SOURCECHAT_MAX_CHUNKS)"})
        return None
    return _Pending(path, data, article, chunks, "updated" if previous else "added", origin)


def _place(data: bytes, name: str, settings: Settings, report: IngestReport, replace: bool) -> Path:
    """Copy one parsed file into the sources folder under a safe name; a replaced one is kept first."""
    placed = place(data, safe_name(name), settings.sources_dir, replace)
    if placed.version is not None:
        report.events.append({"action": "replace", "target": placed.path.name,
                              "result": f"replaced; the old file is kept as {VERSIONS_DIR}/{placed.version.name}"})
    return placed.path


def _resolve_targets(targets: Iterable[str], settings: Settings, report: IngestReport,
                     replace: bool = False) -> list[tuple[Path, str]]:
    """Paths and URLs → files inside the sources folder (copied or saved there once they parse)."""
    sources_dir = settings.sources_dir
    resolved: list[tuple[Path, str]] = []
    for target in targets:
        try:
            if is_url(target):
                name, data = fetch_url(target, settings)
                parse_article(name, data)
                resolved.append((_place(data, name, settings, report, replace), target))
                continue
            path = Path(target)
            if path.is_file() and path.stat().st_size > settings.max_file_mb * 1_000_000:
                raise SourceError(f"larger than {settings.max_file_mb} MB (SOURCECHAT_MAX_FILE_MB)")
            if path.is_dir():
                resolved.extend(_resolve_targets([str(p) for p in source_files(path)], settings, report, replace))
                continue
            if not path.is_file():
                raise SourceError("no such file or folder")
            if path.resolve().parent != sources_dir.resolve():
                data = path.read_bytes()
                parse_article(path.name, data)  # refuse garbage before it enters sources/
                path = _place(data, path.name, settings, report, replace)
            resolved.append((path, ""))
        except SourceError as exc:
            report.failed.append({"source": Path(target).name if not is_url(target) else target, "error": str(exc)})
        except OSError as exc:
            report.failed.append({"source": target, "error": exc.strerror or str(exc)})
    return resolved


def run_ingest(settings: Settings, targets: list[str] | None = None, progress: Progress | None = None, *,
               replace: bool = False, client: str = "cli", embedder: Embedder | None = None) -> IngestReport:
    """Ingest files, folders or URLs (default: the whole sources folder, pruning removed articles).
    `replace`: a file whose name is taken by an article with other content replaces it (the old one is kept
    in `.versions/`) instead of being refused. `client`: who asked, for the audit log. `embedder`: anything
    with `embed_documents` to use instead of the bundled model (tests pass a failing one)."""
    started = time.perf_counter()
    report = IngestReport()
    full = not targets
    if full and not settings.sources_dir.is_dir():
        raise UserError(f"sources folder {settings.sources_dir} does not exist")
    files = ([(p, "") for p in source_files(settings.sources_dir)] if full
             else _resolve_targets(targets or [], settings, report, replace))

    collection = open_collection(settings, create=True)
    known = indexed_articles(collection)
    def origin_of(path: Path, origin: str) -> str:
        return origin or (known[path.name].origin if path.name in known else "")

    pending = [p for path, origin in files if (p := _stage(path, origin_of(path, origin), known, settings, report))]
    changed = _embed_and_write(collection, pending, known, settings, report, progress, embedder)

    if full:
        present = {path.name for path, _ in files}
        for source in sorted(set(known) - present):
            remove_article(settings, source, collection=collection, bump=False)
            report.removed += 1
            report.events.append({"action": "remove", "target": source, "result": "pruned: its file left sources/"})
            changed = True
    if changed:
        bump_generation(settings)
    report.seconds = time.perf_counter() - started
    audit_report(settings, report, pending, targets, client)
    log.info("ingest: %s", report.summary())
    return report


def audit_report(settings: Settings, report: IngestReport, pending: list[_Pending], targets: list[str] | None,
                 client: str) -> None:
    """One audit line per article written, replaced, pruned or failed, and one for the run."""
    written = set(report.sources)
    events = list(report.events)
    events += [{"action": "ingest", "target": p.article.source, "result": p.status}
               for p in pending if p.article.source in written]
    events += [{"action": "ingest", "target": f["source"], "result": f"failed: {f['error']}"} for f in report.failed]
    for event in events:
        audit(settings, event["action"], event["target"], event["result"], client)
    audit(settings, "ingest", ", ".join(targets) if targets else f"{settings.sources_dir}/",
          report.summary().splitlines()[0], client)


def remove_article(settings: Settings, source: str, collection=None, bump: bool = True) -> int:
    """Drop an article's chunks from the index. Returns how many were deleted."""
    collection = collection or open_collection(settings, create=True)
    got = get_all(collection, ["metadatas"], where={"source": source})
    ids = got["ids"]
    if ids:
        delete_ids(collection, ids)
        for content_hash in {ChunkMeta.from_chroma(m).content_hash for m in got["metadatas"]} - {""}:
            remove_vectors(settings, source, content_hash)
        if bump:
            bump_generation(settings)
    return len(ids)
