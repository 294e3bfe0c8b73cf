"""Answerers are swappable runnables: a generative backend gets the same evidence and must cite it.
LangChain's fake chat model stands in for the LLM (wiring only); retrieval and evidence are real."""

from __future__ import annotations

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from rag import Assistant
from sourcechat.errors import UserError


def test_llm_answerer_cites_the_evidence_it_was_given(indexed):
    model = FakeListChatModel(responses=[
        "Emerson Mancini\n“Emerson Mancini mastered it at Larrabee Studios in North Hollywood.” [1]"])
    result = Assistant(indexed, chat_model=model).ask("Who mastered the song?")
    assert not result["refused"] and result["answer"] == "Emerson Mancini"
    assert [c["n"] for c in result["citations"]] == [1]
    assert "mastered" in result["citations"][0]["quote"]  # [1] is the top evidence sentence
    assert "[1] We Cry Together — 001_ac7605141e2d40cd.txt (verified)" in result["text"]
    assert result["citations"][0]["verified"] is True and result["fallback"] is False


def test_llm_answerer_refusal_and_invented_markers(indexed):
    refusing = Assistant(indexed, chat_model=FakeListChatModel(responses=["The sources don't say this."]))
    assert refusing.ask("What was the budget of the short film?")["refused"]
    inventing = Assistant(indexed, chat_model=FakeListChatModel(responses=["Somebody [42]"]))
    result = inventing.ask("Who mastered the song?")
    # a marker that points at no evidence is not a citation: no verified citation → the extractive answer
    assert result["fallback"] is True and result["verification"]["invalid_citations"] == [42]
    extractive = Assistant(indexed).ask("Who mastered the song?")
    assert result["answer"] == extractive["answer"] and "Emerson Mancini" in result["text"]
    assert result["text"].startswith("The model's reply had no citation")
    assert all(c["n"] != 42 for c in result["citations"])


def test_missing_backend_package_is_a_clear_error(indexed):
    settings = indexed.model_copy(update={"answerer": "ollama"})
    try:
        import langchain_ollama  # noqa: F401
    except ImportError:
        with pytest.raises(UserError, match=r"pip install 'sourcechat\[ollama\]'"):
            Assistant(settings)
    else:
        pytest.skip("langchain-ollama is installed here")
