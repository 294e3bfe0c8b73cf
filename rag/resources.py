"""What an answerer reads, and nothing else of the Assistant: the collection's views, the vector cache and
the settings. The Assistant owns them (one owner each) and hands answerers this, not itself."""

from __future__ import annotations

from dataclasses import dataclass

from rag.evidence import VectorCache
from rag.index import CorpusIndex
from sourcechat.settings import Settings


@dataclass(frozen=True)
class Resources:
    corpus: CorpusIndex
    cache: VectorCache
    settings: Settings
