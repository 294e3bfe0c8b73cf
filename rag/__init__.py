"""Answering: retrieve → select evidence → answer with citations. Entry point: `Assistant`."""

from rag.chain import Assistant

__all__ = ["Assistant"]
