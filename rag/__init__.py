"""Answering: retrieve → select evidence → answer with citations. Entry point: `Assistant`."""

from rag.answer import FEATURES, SIGNALS, candidates, decide_factual, use_calibration
from rag.chain import Assistant

__all__ = ["Assistant", "FEATURES", "SIGNALS", "candidates", "decide_factual", "use_calibration"]
