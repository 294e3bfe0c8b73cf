"""Chunk: cleaned article text → sentences (with offsets) → overlapping, sentence-aligned chunks.

Offsets are kept all the way so a citation can quote, highlight and scroll to the exact sentence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ingest.load import Article

# A sentence ends at . ! ? (or …) plus any closing quotes/brackets, followed by space and a likely start.
_END = re.compile(r"""[.!?…]+["'”’)\]]*(?=\s+["'“‘(\[]?[A-Z0-9#@“"'‘])""")
_ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "jr", "sr", "st", "vs", "etc", "no", "vol", "feat", "ft", "inc", "ltd", "co",
    "mt", "prof", "gen", "sgt", "lt", "col", "u.s", "e.g", "i.e", "approx", "dept", "est", "fig",
}
_HEADING = re.compile(r"^\s*(=+.+=+|#{1,6}\s.+)\s*$")


@dataclass(frozen=True)
class Chunk:
    index: int
    start: int
    end: int
    text: str
    sentences: tuple[tuple[int, int], ...]  # absolute (start, end) of each sentence in the article


def _is_abbreviation(text: str, dot: int) -> bool:
    """True when the period at `dot` closes an abbreviation or an initial (R. Kelly, Mr. Morale)."""
    if text[dot] != ".":
        return False
    word = re.search(r"([\w.]+)$", text[:dot])
    if not word:
        return False
    token = word.group(1).lower()
    return token in _ABBREVIATIONS or (len(token) == 1 and token.isalpha())


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans in `text`. Every line is at least one sentence: lists, tables and headings
    are written a line at a time and must not glue onto their neighbours."""
    spans: list[tuple[int, int]] = []
    for line in re.finditer(r"[^\n]+", text):
        base, line_text = line.start(), line.group()
        cut = 0
        for match in _END.finditer(line_text):
            if _is_abbreviation(line_text, match.start()):
                continue
            spans.append((base + cut, base + match.end()))
            cut = match.end()
        spans.append((base + cut, base + len(line_text)))
    return [trimmed for span in spans if (trimmed := _trim(text, span))]


def _trim(text: str, span: tuple[int, int]) -> tuple[int, int] | None:
    start, end = span
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if re.search(r"\w", text[start:end]) else None


def chunk_article(article: Article, max_chars: int, overlap: int) -> list[Chunk]:
    """Greedy sentence packing up to max_chars; a heading starts a new chunk; `overlap` sentences repeat."""
    sentences = split_sentences(article.text)
    chunks: list[Chunk] = []
    current: list[tuple[int, int]] = []
    fresh = 0  # sentences in `current` that are not overlap from the previous chunk

    def flush() -> None:
        if fresh:
            start, end = current[0][0], current[-1][1]
            chunks.append(Chunk(len(chunks), start, end, article.text[start:end], tuple(current)))

    for span in sentences:
        is_heading = bool(_HEADING.match(article.text[span[0]:span[1]]))
        too_long = current and span[1] - current[0][0] > max_chars
        if current and (too_long or is_heading) and fresh:
            flush()
            current = [] if is_heading else current[len(current) - overlap:] if overlap else []
            fresh = 0
        current.append(span)
        fresh += 1
    flush()
    return chunks
