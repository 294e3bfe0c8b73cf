"""The retrieval chain (LCEL): condense → retrieve → select evidence → answer with citations.

`Assistant` is the one entry point of `rag/`: the CLI, the web chat and the eval all call `ask`, so the
three always run the same chain. It is thread-safe and loads the models once.
"""

from __future__ import annotations

import itertools
import logging
import time
import unicodedata
from typing import Any, Iterable, Iterator

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable, RunnableLambda

from rag.answerers import extractive_decision, make_answerer
from rag.condense import condense_question
from rag.dedupe import retrieve_distinct
from rag.evidence import VectorCache, select_evidence
from rag.index import CorpusIndex
from rag.kinds import KINDS
from rag.question import analyse
from rag.resources import Resources
from rag.retrieve import HybridRetriever
from sourcechat.errors import UserError
from sourcechat.settings import Settings
from sourcechat.store import embeddings

log = logging.getLogger(__name__)


def _adds(key: str, step) -> Runnable:
    """A chain step that adds `key` to the dict it is given: what `RunnablePassthrough.assign` does, on the
    calling thread. `assign` runs its step in a thread pool it creates per call: 5 pools and threads per
    question (4–5 ms of a 40 ms warm ask, measured side by side), and torch's calls off the caller's thread."""
    return RunnableLambda(lambda x: {**x, key: step(x)}, name=key)


class Assistant:
    def __init__(self, settings: Settings, chat_model: BaseChatModel | None = None):
        """`chat_model`: any LangChain chat model to answer with instead of SOURCECHAT_ANSWERER's choice."""
        self.settings = settings
        self.corpus = CorpusIndex(settings)
        self.retriever = HybridRetriever(settings=settings, corpus=self.corpus, k=settings.top_k)
        self.cache = VectorCache(settings)
        # what answering reads, and nothing else of the Assistant; `generator`: the generative answerer, if any
        self.resources = Resources(self.corpus, self.cache, settings)
        self.answerer, self.generator = make_answerer(settings, self.resources, chat_model)
        self.chain = self.build_chain()

    def build_chain(self) -> Runnable:
        return self.evidence_chain() | self.answerer

    def evidence_chain(self) -> Runnable:
        """question → {info, search, vector, docs, evidence}: everything an answerer reads."""

        def search_text(x: dict) -> str:
            return f"{x['query']} {x['info'].expansion}".strip()

        def retrieve(x: dict) -> list:  # near-copies of a passage (edited reprints) count once
            return retrieve_distinct(self.retriever, x["search"], x["vector"], x["k"])

        def evidence(x: dict) -> list:
            return select_evidence(x["info"], x["docs"], x["vector"], self.corpus.snapshot(), self.cache)

        return (
            _adds("info", lambda x: analyse(x["question"], x.get("borrowed", ""), self.cache.similarity))
            | _adds("search", search_text)
            | _adds("vector", lambda x: self.cache.embed_query(x["search"], x["info"].vocabulary))
            | _adds("docs", retrieve)
            | _adds("evidence", evidence)
        )

    def validate(self, question: str) -> str:
        if question is not None and not isinstance(question, str):
            raise UserError("the question must be text")
        # control characters and lone surrogates (invalid text) are dropped, not passed on
        question = "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in (question or "")
                           if unicodedata.category(ch) != "Cs")
        question = " ".join(question.split())
        if not question:
            raise UserError("the question is empty")
        if len(question) > self.settings.max_question_chars:
            raise UserError(f"the question is too long ({len(question)} characters; "
                            f"at most {self.settings.max_question_chars})")
        return question

    def warm_up(self, vocabulary_limit: int = 5000) -> None:
        """Load the models and the index now rather than on the first question, and embed the collection's
        commonest words, which paraphrase checks compare against (else the first questions pay for it)."""
        from rag.text import nlp
        from sourcechat.text import STOPWORDS

        embeddings(self.settings).embed_query("warm up")
        snap = self.corpus.snapshot()
        nlp()
        snap.spelling  # noqa: B018  # the close-spelling index: built now, not by the first question that needs
        # it (2.7 s at 10,000 articles); a later view layers its changes on this one
        # the words most articles use (the view's counts: reading every article's text would cost a disk read each)
        common = (w for w, _ in snap.totals.word_df.most_common() if len(w) > 3 and w not in STOPWORDS)
        self.cache.vectors(list(itertools.islice(common, vocabulary_limit)))
        self.cache.vectors(sorted({p for kind in KINDS.values() for p in kind.prototypes}))  # focus-noun typing
        # the stopwords, which the stored vocabulary leaves out: a span's verb ("was", "came") is compared with
        # the question's, and each such word embedded on its own was a model call of its own (up to 4 a question)
        self.cache.vectors(sorted(STOPWORDS))

    def ask(self, question: str, history: Iterable[dict] | None = None, k: int | None = None) -> dict[str, Any]:
        started = time.perf_counter()
        question = self.validate(question)
        with self.corpus.pinned():  # no index yet: say so before loading any model; one view per question
            condensed = condense_question(question, list(history or []))
            result = self.chain.invoke(condensed.chain_input(question, k or self.settings.top_k))
        result["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
        if result.get("refused") or not result.get("answer"):
            log.info("%s %r: %s", "refused" if result.get("refused") else "passages only", question[:80],
                     result.get("reason", ""))
        return result

    def stream(self, question: str, history: Iterable[dict] | None = None,
               k: int | None = None) -> Iterator[tuple[str, Any]]:
        """Like `ask`, as events: ("token", text) while a generative answerer writes, then ("result",
        the answer dict). The extractive answerer yields the result alone. Closing the iterator stops
        the generation."""
        started = time.perf_counter()
        question = self.validate(question)
        self.corpus.snapshot()
        condensed = condense_question(question, list(history or []))
        x = self.evidence_chain().invoke(condensed.chain_input(question, k or self.settings.top_k))
        events = self.generator.events(x) if self.generator else iter([("result", self.answerer.invoke(x))])
        try:
            for kind, value in events:
                if kind == "result":
                    value["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
                yield kind, value
        finally:
            events.close()  # type: ignore[union-attr]  # the stop button: the model's stream is closed now, not when collected

    def explain(self, question: str, history: Iterable[dict] | None = None, k: int | None = None) -> str:
        """Why the extractive answerer answers as it does: the detected form and kind, the winning span's
        feature contributions and the runners-up', and the reason for a refusal or a fallback."""
        question = self.validate(question)
        with self.corpus.pinned():
            condensed = condense_question(question, list(history or []))
            x = self.evidence_chain().invoke(condensed.chain_input(question, k or self.settings.top_k))
            return extractive_decision(x, self.resources).explain()
