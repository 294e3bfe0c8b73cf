"""The LangChain-tutorial baseline: 1000/200 character chunks, Chroma, same embeddings, top-4,
the answer taken as the top chunk. It shows what sourcechat adds over the usual starting point."""

from __future__ import annotations

import tempfile
import time

import chromadb
from langchain_chroma import Chroma
from langchain_core.documents import Document
from langchain_text_splitters import RecursiveCharacterTextSplitter

from ingest import load_article, source_files
from sourcechat.contracts import Answer, Citation, Retrieved, RetrievedRef
from sourcechat.errors import SourceError
from sourcechat.settings import Settings
from sourcechat.store import embeddings


class BaselinePipeline:
    def __init__(self, settings: Settings, k: int = 4):
        self.k = k
        splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200, add_start_index=True)
        docs = []
        for path in source_files(settings.sources_dir):
            try:
                article = load_article(path)
            except SourceError:
                continue
            docs.append(Document(article.text, metadata={"source": article.source, "title": article.title}))
        chunks = splitter.split_documents(docs)
        self._dir = tempfile.TemporaryDirectory(prefix="sourcechat-baseline-")
        client = chromadb.PersistentClient(self._dir.name, settings=chromadb.config.Settings(anonymized_telemetry=False))
        self.store = Chroma(client=client, collection_name="baseline", embedding_function=embeddings(settings),
                            collection_configuration={"hnsw": {"space": "cosine"}})
        self.store.add_documents(chunks, ids=[f"b{i}" for i in range(len(chunks))])

    def ask(self, question: str) -> dict:
        started = time.perf_counter()
        hits = self.store.similarity_search_with_score(question, k=self.k)
        top = hits[0][0]
        meta = Retrieved.of(top)
        start = meta.start_index or 0
        return Answer(
            question=question, answer=top.page_content, text=top.page_content, refused=False, confidence=None,
            citations=[Citation(n=1, source=meta.source, title=meta.title, quote=top.page_content, start=start,
                                end=start + len(top.page_content))],
            retrieved=[RetrievedRef(source=Retrieved.of(d).source, chunk_id=d.id, rank=i, score=round(1 - s, 5))
                       for i, (d, s) in enumerate(hits, start=1)],
            latency_ms=round((time.perf_counter() - started) * 1000, 1),
        ).to_dict()
