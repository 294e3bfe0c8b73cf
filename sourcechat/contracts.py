"""The contracts between the layers, defined once: what ingest writes with each chunk (`ChunkMeta`), what a
retrieved chunk carries (`Retrieved`), and the answer every answerer returns (`Answer`, with `Citation`s):
the `ask --json` shape that the CLI prints, the chat renders and the eval scores; and how a table row's cell
names its column in an article's text (`CELL_LABEL`), which ingest writes and the answerer reads.

Chroma stores flat scalar metadata and LangChain passes metadata as a dict, so the models convert at those
two borders (`to_chroma` / `from_chroma`, `Retrieved.of`) and nothing else reads the dicts by key.
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterable

from pydantic import BaseModel, ConfigDict, Field


def article_version(content_hash: str) -> str:
    """An article version's name in chunk ids and file names: the first 12 hex digits of its content hash
    (idempotent: a version is its own version)."""
    return content_hash[:12]


def chunk_id(source: str, content_hash: str, n: int) -> str:
    """Chunk `n` of an article's version in Chroma: `source::version::n`, so a new version gets new ids and an
    id names its article version."""
    return f"{source}::{article_version(content_hash)}::{n:04d}"


def chunk_version(chunk_id: str) -> tuple[str, str]:
    """(source, version) of a chunk id; (the id, "") for an id not made by `chunk_id`."""
    parts = chunk_id.rsplit("::", 2)
    return (parts[0], parts[1]) if len(parts) == 3 else (chunk_id, "")


class ChunkMeta(BaseModel):
    """One chunk's metadata in Chroma, written by ingest and read back by rag."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    source: str  # the article's file name in sources/
    title: str
    chunk: int  # the chunk's index in its article
    start: int  # character offsets of the chunk in the article's text
    end: int
    n_chunks: int
    content_hash: str = ""  # of the article's text and the chunker's version: a new version gets new chunk ids
    file_hash: str = ""  # of the file's bytes: an unchanged file is skipped
    ingested_at: str = ""
    origin: str = ""  # where the article came from (a file, an upload, a URL)
    chunker: str = ""  # the chunker's version: a new one re-chunks everything
    sentences: str = "[]"  # JSON [[start, end], ...]: the article's sentences in this chunk (Chroma wants scalars)

    def sentence_spans(self) -> list[tuple[int, int]]:
        return [(int(s), int(e)) for s, e in json.loads(self.sentences or "[]")]

    def to_chroma(self) -> dict[str, Any]:
        return self.model_dump()

    @classmethod
    def from_chroma(cls, metadata: dict[str, Any]) -> ChunkMeta:
        return cls.model_validate(metadata)

    @staticmethod
    def encode_sentences(spans: Iterable[tuple[int, int]]) -> str:
        return json.dumps([list(s) for s in spans])


class Retrieved(BaseModel):
    """What a retrieved chunk (a LangChain Document) carries: its chunk's metadata and why it was picked."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    source: str
    title: str = ""
    start: int = 0
    rank: int = 0  # 1-based, after fusion and duplicate collapse
    score: float = 0.0  # reciprocal-rank fusion of dense and BM25
    dense: float = 0.0  # cosine similarity of the query and the chunk
    bm25: float = 0.0
    duplicates: int = 0  # near-copies of this chunk that were collapsed into it (rag/dedupe.py)
    start_index: int | None = None  # LangChain's splitter offset (the baseline pipeline's documents)

    @classmethod
    def of(cls, document) -> Retrieved:
        return cls.model_validate(document.metadata)


class Citation(BaseModel):
    """A numbered citation: the article and the quoted sentence (offsets into the article's text)."""

    model_config = ConfigDict(extra="forbid")

    n: int
    source: str
    title: str
    quote: str
    start: int
    end: int
    verified: bool = True  # an extracted quote is the article's own sentence; a generated reply's are checked
    inferred: bool = False  # the model cited nothing: attributed to the sentence that supports its claim


class RetrievedRef(BaseModel):
    """A retrieved chunk as the answer lists it (why these articles were looked at)."""

    model_config = ConfigDict(extra="forbid")

    source: str
    chunk_id: str | None
    rank: int
    score: float
    dense: float | None = None


class Answer(BaseModel):
    """The answer to one question, whichever answerer wrote it: the `ask --json` shape."""

    model_config = ConfigDict(extra="forbid")

    question: str
    answer: str = ""  # the short answer, the verdict, or the sentences; empty when only passages are shown
    text: str  # the whole reply as plain text, citations included
    refused: bool = False  # the sources do not hold the answer (the UI reads this, not the text)
    citations: list[Citation] = Field(default_factory=list)
    retrieved: list[RetrievedRef] = Field(default_factory=list)
    kind: str = "factual"  # the question's form: factual, why, how, describe, opinion, yesno, summarize
    confidence: float | None = 0.0  # 0–1, calibrated for short factual answers; None: the answerer has none
    reason: str = ""  # why a refusal or a fallback; why a verdict
    latency_ms: float | None = None
    # a generative answerer's account of its reply
    answerer: str | None = None
    generated: str | None = None
    fallback: bool | None = None
    verification: dict[str, Any] | None = None
    tokens: int | None = None
    tokens_per_s: float | None = None
    generation_ms: float | None = None
    first_token_ms: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape. An extractive answer has no generation fields, and a latency only once measured."""
        out = self.model_dump()
        if self.answerer is None:
            for name in _GENERATION_FIELDS:
                del out[name]
        if self.latency_ms is None:
            del out["latency_ms"]
        for ref in out["retrieved"]:
            if ref["dense"] is None:
                del ref["dense"]
        for cite in out["citations"]:
            if not cite["inferred"]:
                del cite["inferred"]  # only an attributed citation says so
        return out


_GENERATION_FIELDS = ("answerer", "generated", "fallback", "verification", "tokens", "tokens_per_s", "generation_ms",
                      "first_token_ms")


# A table row in an article's text (ingest writes it, rag reads it): "| Name: value | Name: value |", each cell
# led by its column's name (ingest/tables.py). Group 1 is the name.
CELL_LABEL = re.compile(r"^([^:|]{1,60}): ")
