"""The ingest pipeline: load → clean → chunk → embed → store, idempotent and safe to interrupt.

The index is its own manifest: every chunk carries its article's file hash, so a re-run compares hashes
and skips unchanged articles before parsing them or loading the model. A changed article is written
under new chunk ids first and its old chunks deleted after, so at every instant the index answers.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable

from ingest.chunk import CHUNKER_VERSION, Chunk, chunk_article
from ingest.load import Article, file_hash, parse_html, parse_article
from ingest.versions import VERSIONS_DIR, place, safe_name
from sourcechat.audit import audit
from sourcechat.errors import SourceError, UserError
from sourcechat.settings import Settings
from sourcechat.store import bump_generation, embeddings, open_collection

Progress = Callable[[int, int, str], None]


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
        address = ipaddress.ip_address(info[4][0].split("%")[0])
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


def indexed_articles(collection) -> dict[str, dict]:
    """source → metadata of its first chunk, for every article in the index."""
    got = collection.get(where={"chunk": 0}, include=["metadatas"])
    known: dict[str, dict] = {}
    for meta in got["metadatas"]:
        if meta["source"] in known:  # two versions: a write was cut short; rewrite it next time
            known[meta["source"]] = {**meta, "file_hash": ""}
        else:
            known[meta["source"]] = meta
    return known


def _chunk_ids(source: str, content_hash: str, n: int) -> list[str]:
    return [f"{source}::{content_hash[:12]}::{i:04d}" for i in range(n)]


def _metadatas(pending: _Pending, now: str) -> list[dict]:
    article = pending.article
    return [
        {
            "source": article.source, "title": article.title, "chunk": c.index,
            "start": c.start, "end": c.end, "n_chunks": len(pending.chunks),
            "content_hash": article.content_hash, "file_hash": file_hash(pending.data),
            "ingested_at": now, "origin": pending.origin, "chunker": CHUNKER_VERSION,
            "sentences": json.dumps([list(s) for s in c.sentences]),
        }
        for c in pending.chunks
    ]


def _embed_texts(pending: _Pending) -> list[str]:
    """Each chunk is embedded with its article title, so a chunk that never names the song still matches."""
    return [f"{pending.article.title}\n{c.text}" for c in pending.chunks]


def _write_article(collection, pending: _Pending, vectors: list[list[float]]) -> None:
    article = pending.article
    ids = _chunk_ids(article.source, article.content_hash, len(pending.chunks))
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    collection.upsert(ids=ids, embeddings=vectors, documents=[c.text for c in pending.chunks],
                      metadatas=_metadatas(pending, now))
    stale = collection.get(where={"source": article.source}, include=[])["ids"]
    stale = [i for i in stale if i not in set(ids)]
    if stale:
        collection.delete(ids=stale)


def _stage(path: Path, origin: str, known: dict[str, dict], settings: Settings,
           report: IngestReport) -> _Pending | None:
    """Read one file; None when it is unchanged or unreadable (then recorded in the report)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        report.failed.append({"source": path.name, "error": f"cannot read it: {exc.strerror or exc}"})
        return None
    previous = known.get(path.name)
    if previous and previous.get("file_hash") == file_hash(data) and previous.get("chunker") == CHUNKER_VERSION:
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
               replace: bool = False, client: str = "cli") -> IngestReport:
    """Ingest files, folders or URLs (default: the whole sources folder, pruning removed articles).
    `replace`: a file whose name is taken by an article with other content replaces it (the old one is kept
    in `.versions/`) instead of being refused. `client`: who asked, for the audit log."""
    started = time.perf_counter()
    report = IngestReport()
    full = not targets
    if full and not settings.sources_dir.is_dir():
        raise UserError(f"sources folder {settings.sources_dir} does not exist")
    files = ([(p, "") for p in source_files(settings.sources_dir)] if full
             else _resolve_targets(targets, settings, report, replace))

    collection = open_collection(settings, create=True)
    known = indexed_articles(collection)
    pending = [p for path, origin in files if (p := _stage(path, origin or known.get(path.name, {}).get("origin", ""),
                                                          known, settings, report))]
    changed = False
    total = sum(len(p.chunks) for p in pending)
    if progress:
        progress(0, total, "embedding")
    if pending:
        model = embeddings(settings)
        done = 0
        for item in pending:
            vectors: list[list[float]] = []
            texts = _embed_texts(item)
            try:
                for i in range(0, len(texts), settings.embed_batch_size):
                    vectors.extend(model.embed_documents(texts[i:i + settings.embed_batch_size]))
                    done += len(texts[i:i + settings.embed_batch_size])
                    if progress:
                        progress(done, total, item.article.source)
                _write_article(collection, item, vectors)
            except Exception as exc:  # this article keeps its previous chunks; the others go on
                report.failed.append({"source": item.article.source, "error": f"{type(exc).__name__}: {exc}"})
                changed = True  # an upsert may have landed before the failure
                continue
            changed = True
            report.chunks += len(item.chunks)
            report.sources.append(item.article.source)
            setattr(report, item.status, getattr(report, item.status) + 1)

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
    ids = collection.get(where={"source": source}, include=[])["ids"]
    if ids:
        collection.delete(ids=ids)
        if bump:
            bump_generation(settings)
    return len(ids)
