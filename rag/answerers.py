"""Answerers: swappable runnables that turn {question, info, docs, evidence} into a cited answer.

All of them return the same dict (the `ask --json` shape), so the chat, CLI and eval don't care which
one runs. "extractive" is the offline default. The generative backends (Ollama, OpenAI-compatible
servers, local GGUF) take the same numbered evidence and must cite it with [n] markers; their packages
are optional extras, imported only when chosen.
"""

from __future__ import annotations

import re
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable, RunnableLambda

from rag.answer import Decision, decide
from rag.evidence import Evidence
from sourcechat.errors import UserError
from sourcechat.settings import Settings

REFUSAL_PREFIX = "The sources don't say"


def citation(n: int, evidence: Evidence) -> dict[str, Any]:
    s = evidence.sentence
    return {"n": n, "source": s.source, "title": evidence.title, "quote": s.text, "start": s.start, "end": s.end}


def retrieved(docs: list) -> list[dict[str, Any]]:
    return [{"source": d.metadata["source"], "chunk_id": d.id, "rank": d.metadata["rank"],
             "score": round(float(d.metadata["score"]), 5), "dense": round(float(d.metadata["dense"]), 4)}
            for d in docs]


def sources_block(citations: list[dict]) -> str:
    return "\n".join(f"[{c['n']}] {c['title']} — {c['source']}" for c in citations)


def refusal(question: str, lacking: list[str], evidence: list[Evidence], docs: list, reason: str = "",
            kind: str = "factual") -> dict[str, Any]:
    nearest = evidence[:3]
    cites = [citation(i, e) for i, e in enumerate(nearest, start=1)]
    what = f"anything about {', '.join(repr(w) for w in lacking[:3])} here" if lacking else "this"
    lines = [f"{REFUSAL_PREFIX} {what}. The nearest passages:"]
    lines += [f"[{c['n']}] “{' '.join(c['quote'].split())}”" for c in cites]
    text = "\n".join(lines) + ("\n\n" + sources_block(cites) if cites else "")
    return {"question": question, "answer": "", "text": text, "refused": True, "citations": cites,
            "retrieved": retrieved(docs), "kind": kind, "confidence": 0.0,
            "reason": reason or (f"not in the sources: {', '.join(lacking[:3])}" if lacking else "not in the sources")}


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
        a, b = decision.winner, decision.conflict[0]
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
    return {"question": question, "answer": answer, "text": text, "refused": False, "citations": cites,
            "retrieved": retrieved(docs), "kind": info.form, "confidence": round(decision.confidence, 3),
            "reason": decision.reason}


def extractive_decision(x: dict, resources) -> Decision:
    return decide(x["info"], x["evidence"], resources.corpus.snapshot(), resources.cache, resources.settings)


def extractive_answer(x: dict, resources) -> dict[str, Any]:
    return compose(x["question"], extractive_decision(x, resources), x["docs"])


# --- generative backends --------------------------------------------------------------------------

LLM_PROMPT = ChatPromptTemplate.from_messages([
    ("system",
     "Answer the question using only the numbered evidence. Start with the short answer, then the "
     "sentence it rests on, quoted, with its [n] marker. If the evidence does not answer the question, "
     f"reply exactly: \"{REFUSAL_PREFIX} this.\""),
    ("human", "Evidence:\n{evidence}\n\nQuestion: {question}"),
])


def llm_answerer(model: BaseChatModel) -> Runnable:
    """Any LangChain chat model as an answerer: numbered evidence in, [n]-cited answer out."""

    def inputs(x: dict) -> dict:
        numbered = "\n".join(f"[{i}] {e.sentence.text}" for i, e in enumerate(x["evidence"][:8], start=1))
        return {"evidence": numbered or "(none)", "question": x["question"]}

    def finish(x: dict) -> dict:
        reply: str = x["reply"].strip()
        evidence = x["evidence"][:8]
        if not evidence or reply.startswith(REFUSAL_PREFIX):
            return refusal(x["question"], [], evidence, x["docs"], "the model found no answer in the evidence")
        used = sorted({int(n) for n in re.findall(r"\[(\d+)\]", reply) if 0 < int(n) <= len(evidence)})
        cites = [citation(n, evidence[n - 1]) for n in used]
        answer = reply.split("\n", 1)[0].strip()
        return {"question": x["question"], "answer": answer, "text": f"{reply}\n\n{sources_block(cites)}",
                "refused": False, "citations": cites, "retrieved": retrieved(x["docs"]),
                "kind": x["info"].form, "confidence": 0.5 if cites else 0.0, "reason": ""}

    generate = RunnableLambda(inputs) | LLM_PROMPT | model | StrOutputParser()
    return RunnableLambda(lambda x: {**x, "reply": generate.invoke(x)}) | RunnableLambda(finish)


def chat_model(settings: Settings) -> BaseChatModel:
    """The generative backend named by SOURCECHAT_ANSWERER, from its optional package."""
    try:
        if settings.answerer == "ollama":
            from langchain_ollama import ChatOllama

            return ChatOllama(model=settings.llm_model or "llama3.2", base_url=settings.llm_base_url
                              or "http://127.0.0.1:11434", temperature=0)
        if settings.answerer == "openai":
            from langchain_openai import ChatOpenAI

            return ChatOpenAI(model=settings.llm_model or "gpt-4o-mini", base_url=settings.llm_base_url,
                              api_key=settings.llm_api_key or "not-needed", temperature=0)
        if settings.answerer == "llamacpp":
            from langchain_community.chat_models import ChatLlamaCpp

            if not settings.llm_model:
                raise UserError("SOURCECHAT_LLM_MODEL must name a local .gguf file for the llamacpp answerer")
            return ChatLlamaCpp(model_path=settings.llm_model, temperature=0, n_ctx=4096)
    except ImportError as exc:
        raise UserError(f"the {settings.answerer} answerer needs an extra: "
                        f"pip install 'sourcechat[{settings.answerer}]' ({exc.name} is missing)") from None
    raise UserError(f"unknown answerer {settings.answerer!r}")


def make_answerer(settings: Settings, resources) -> Runnable:
    """`resources`: what answering reads (corpus snapshot, vector cache, settings), not the Assistant."""
    if settings.answerer == "extractive":
        return RunnableLambda(lambda x: extractive_answer(x, resources))
    return llm_answerer(chat_model(settings))
