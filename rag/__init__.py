"""Answering: retrieve → select evidence → answer with citations. Entry point: `Assistant`."""

from rag.answer import SIGNALS, decide_factual
from rag.chain import Assistant

__all__ = ["Assistant", "SIGNALS", "decide_factual"]
