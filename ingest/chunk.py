"""Chunk: cleaned article text → sentences (with offsets) → overlapping, sentence-aligned chunks.

Offsets are kept all the way so a citation can quote, highlight and scroll to the exact sentence.

Sentences come from a maintained segmenter (pySBD) run over *blocks*, not lines: a paragraph that an
editor hard-wrapped at 72 columns is one block, so a number and its subject on two lines stay in one
sentence; a heading, a list item or a table row is a block of its own and never glues onto its neighbours.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from functools import lru_cache

from ingest.load import Article

# Bump when parsing, sentence or chunk boundaries change: articles ingested by an older version are redone.
CHUNKER_VERSION = "15"

_HEADING = re.compile(r"^\s*(=+.+=+|#{1,6}\s.+)\s*$")
_LIST_ITEM = re.compile(r"^\s*(?:[-*•+]|\d{1,3}[.)])\s+\S")
_TABLE_ROW = re.compile(r"^\s*\|")
_RULE = re.compile(r"^\s*(?:[-=_*]\s*){3,}$")
_SENTENCE_END = re.compile(r"""[.!?…:]["'”’)\]]*$""")


@dataclass(frozen=True)
class Chunk:
    index: int
    start: int
    end: int
    text: str
    sentences: tuple[tuple[int, int], ...]  # absolute (start, end) of each sentence in the article


_segmenter_lock = threading.Lock()


@lru_cache(maxsize=1)
def _segmenter():
    import pysbd

    return pysbd.Segmenter(language="en", clean=False)


def _is_standalone(line: str) -> bool:
    """Lines that are blocks by themselves: headings, list items, table rows, rules."""
    return bool(_HEADING.match(line) or _LIST_ITEM.match(line) or _TABLE_ROW.match(line) or _RULE.match(line))


def _wrap_width(lines: list[str]) -> int:
    """The column a hard-wrapped text breaks at, or 0 when lines are paragraphs (not wrapped).

    A wrapped text has many long lines that all stop short of one width (72, 78, 80...); a text written a
    paragraph per line has lines of every length, many far longer than any editor's wrap column."""
    lengths = sorted(len(ln.rstrip()) for ln in lines if ln.strip() and not _is_standalone(ln))
    if len(lengths) < 4:
        return 0
    width = lengths[int(0.95 * (len(lengths) - 1))]
    # a PDF table read one cell a line ("455", "5.1 ± 0.1") or a list of single words says nothing of wrapping
    sized = [n for n in lengths if n >= 0.25 * width]
    long_lines = sum(1 for n in sized if n >= 0.6 * width)
    return width if width <= 120 and long_lines >= 0.5 * len(sized) else 0


def blocks(text: str) -> list[tuple[int, int]]:
    """Paragraph-level spans: blank lines, headings, list items and table rows separate blocks; in a
    hard-wrapped text a line that runs to the wrap width continues onto the next."""
    lines, offset = [], 0
    for line in text.split("\n"):
        lines.append((offset, line))
        offset += len(line) + 1
    width = _wrap_width([ln for _, ln in lines])
    spans: list[tuple[int, int]] = []
    current: tuple[int, int] | None = None
    previous = ""
    for start, line in lines:
        stripped = line.strip()
        end = start + len(line)
        if not stripped:
            current, previous = None, ""
            continue
        continues = (current is not None and width and not _is_standalone(line) and not _HEADING.match(previous)
                     and not _TABLE_ROW.match(previous) and len(previous.rstrip()) >= 0.6 * width
                     and not (_SENTENCE_END.search(previous.rstrip()) and len(previous.rstrip()) < 0.8 * width))
        if _LIST_ITEM.match(previous) and line[:1].isspace() and current is not None:
            continues = True  # an indented continuation of a list item
        if continues and current is not None:
            current = (current[0], end)
            spans[-1] = current
        else:
            current = (start, end)
            spans.append(current)
        previous = line
    return spans


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans in `text`, exact offsets: pySBD over each block, its line breaks read as spaces."""
    spans: list[tuple[int, int]] = []
    for b_start, b_end in blocks(text):
        block = text[b_start:b_end].replace("\n", " ")  # same length: offsets stay exact
        if _is_standalone(block) and not _LIST_ITEM.match(block):
            pieces = [block]
        else:
            with _segmenter_lock:
                pieces = _segmenter().segment(block)
        cursor = 0
        for piece in pieces:
            core = piece.strip()
            if not core:
                continue
            at = block.find(core, cursor)
            if at < 0:  # the segmenter altered the text: fall back to the rest of the block
                at, core = cursor, block[cursor:].strip()
            spans.append((b_start + at, b_start + at + len(core)))
            cursor = at + len(core)
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
