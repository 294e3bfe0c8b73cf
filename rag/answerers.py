"""Answerers: swappable runnables that turn {question, info, docs, evidence} into a cited answer.

All of them return the same dict (the `ask --json` shape), so the chat, CLI and eval don't care which
one runs. "extractive" is the offline default. The generative backends (rag/backends.py: Ollama,
OpenAI-compatible servers, local GGUF) take the same numbered evidence and must cite it with [n] markers,
which rag/verify.py checks (rag/generate.py); their packages are optional extras, imported when chosen.
"""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import RunnableLambda

from rag.answer import Decision, decide
from rag.evidence import Evidence
from rag.resources import Resources
from sourcechat.contracts import Answer, Citation, Retrieved, RetrievedRef
from sourcechat.settings import Settings

REFUSAL_PREFIX = "The sources don't say"


def citation(n: int, evidence: Evidence) -> dict[str, Any]:
    s = evidence.sentence
    # verified: the quote is the article's own sentence (a generated reply's citations are checked instead)
    return Citation(n=n, source=s.source, title=evidence.title, quote=s.text, start=s.start, end=s.end).model_dump()


def retrieved(docs: list) -> list[dict[str, Any]]:
    refs = []
    for d in docs:
        meta = Retrieved.of(d)
        refs.append(RetrievedRef(source=meta.source, chunk_id=d.id, rank=meta.rank, score=round(meta.score, 5),
                                 dense=round(meta.dense, 4)).model_dump())
    return refs


def sources_block(citations: list[dict]) -> str:
    return "\n".join(f"[{c['n']}] {c['title']} — {c['source']}" for c in citations)


def refusal(question: str, lacking: list[str], evidence: list[Evidence], docs: list, reason: str = "",
            kind: str = "factual") -> dict[str, Any]:
    nearest = evidence[:3]
    cites = [citation(i, e) for i, e in enumerate(nearest, start=1)]
    what = f"anything about {', '.join(repr(w) for w in lacking[:3])} here" if lacking else "this"
    lines = [f"{REFUSAL_PREFIX} {what}." + (" The nearest passages:" if cites else "")]
    lines += [f"[{c['n']}] “{' '.join(c['quote'].split())}”" for c in cites]
    text = "\n".join(lines) + ("\n\n" + sources_block(cites) if cites else "")
    return Answer(question=question, answer="", text=text, refused=True, citations=cites, retrieved=retrieved(docs),
                  kind=kind, confidence=0.0,
                  reason=reason or (f"not in the sources: {', '.join(lacking[:3])}" if lacking else "not in the sources")
                  ).to_dict()


PASSAGES_PREFIX = "I found related passages but no answer I can vouch for"


def compose(question: str, decision: Decision, docs: list) -> dict[str, Any]:
    """The reply for a decision: the `ask --json` shape, whatever the form."""
    info = decision.info
    if decision.outcome == "refuse":
        return refusal(question, decision.lacking, decision.chosen, docs, decision.reason, info.form)
    cites = [citation(i, e) for i, e in enumerate(decision.chosen, start=1)]
    quotes = "\n".join(f"“{' '.join(c['quote'].split())}” [{c['n']}]" for c in cites)
    if decision.outcome == "answer":
        body = f"{decision.answer}\n\n{quotes}"
    elif decision.outcome == "conflict":
        b = decision.conflict[0]
        a = decision.winner or b
        body = (f"The sources differ: {a.answer} [1], but {b.answer} [2].\n\n{quotes}")
    elif decision.outcome == "passages":
        body = f"{PASSAGES_PREFIX}. The passages that look related:\n{quotes}"
    elif decision.outcome == "yesno":
        body = f"{decision.answer}. {decision.reason[:1].upper()}{decision.reason[1:]}:\n{quotes}"
    elif decision.outcome == "summary":
        body = f"Summary of “{decision.chosen[0].title}”:\n{quotes}" if cites else decision.reason
    else:  # sentences
        body = quotes
    text = f"{body}\n\n{sources_block(cites)}" if cites else body
    answer = decision.answer if decision.outcome in {"answer", "conflict", "yesno"} else (
        decision.answer if decision.outcome in {"sentences", "summary"} else "")
    return Answer(question=question, answer=answer, text=text, refused=False, citations=cites, retrieved=retrieved(docs),
                  kind=info.form, confidence=round(decision.confidence, 3), reason=decision.reason).to_dict()


def extractive_decision(x: dict, resources: Resources) -> Decision:
    return decide(x["info"], x["evidence"], resources.corpus.snapshot(), resources.cache, resources.settings)


def extractive_answer(x: dict, resources: Resources) -> dict[str, Any]:
    return compose(x["question"], extractive_decision(x, resources), x["docs"])


# --- generative backends: rag/backends.py (the table), rag/generate.py (streaming, verification) -----

def make_answerer(settings: Settings, resources: Resources, model: BaseChatModel | None = None):
    """The answerer SOURCECHAT_ANSWERER names (or one over `model`, any LangChain chat model), as
    (runnable, generative answerer or None). `resources`: what answering reads (corpus snapshot, vector
    cache, settings), not the Assistant."""
    from rag.backends import EXTRACTIVE, chat_model
    from rag.generate import GenerativeAnswerer

    if model is None and settings.answerer == EXTRACTIVE:
        return RunnableLambda(lambda x: extractive_answer(x, resources)), None
    name = type(model).__name__ if model is not None else settings.answerer
    generator = GenerativeAnswerer(model if model is not None else chat_model(settings), resources, name)
    return RunnableLambda(generator.invoke), generator
