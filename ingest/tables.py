"""Tables as rows that stand alone.

A table row is one sentence of the article (ingest/chunk.py): it is what retrieval matches, what a short
answer is taken from and what a citation quotes. "| 14:00 | 6.1 km | 12,900 | 37 |" says nothing without the
header above it, so every data row is written with its column names ("| Time: 14:00 | Ash column height:
6.1 km | … |"): a question about sulphur dioxide at 14:00 then matches the one row that answers it, and the
quote can be checked by itself.

PDFs: pypdf's plain extraction keeps the reading order of prose but writes a drawn table one cell per line;
its layout mode keeps each row on one line but scrambles multi-column prose. The plain text is kept, and a
table found in the layout text (rows of three or more columns) replaces the run of plain lines that holds
exactly its cells, as "|" rows.
"""

from __future__ import annotations

import re

from sourcechat.contracts import CELL_LABEL

# the numbers a column's name may hold: a year or a period ("2023", "2024/25 budget", "Q3 2024", "FY2025"), never
# a value ("6.1 km", "£108,600")
_PERIOD = re.compile(r"\b(?:FY|Q[1-4]\s?|H[12]\s?)?(?:1[89]|20)\d\d(?:\s?[/–-]\s?(?:(?:1[89]|20)?\d\d))?\b|\b(?:Q[1-4]|H[12])\b")
_ROW = re.compile(r"^\s*\|(.*)\|\s*$")
_SEPARATOR_CELL = re.compile(r"^\s*:?-{2,}:?\s*$")


def _cells(line: str) -> list[str] | None:
    m = _ROW.match(line)
    return [c.strip() for c in m.group(1).split("|")] if m else None


def _separator(row: list[str]) -> bool:
    """Markdown's "|---|:--:|" line under a header."""
    return any(row) and all(_SEPARATOR_CELL.match(c) for c in row if c)


def _has_header(rows: list[list[str]], separated: bool) -> bool:
    """The first row names three or more columns: Markdown says so with a separator row; otherwise every
    one (but an empty corner over the rows' own headings) is named and holds no number but a year or a
    period ("2025/26 proposed"), over rows of the same width."""
    head = rows[0]
    if len(head) < 3:
        return False  # "| Capacity | 48 liters |": a two-column row is a key and its value already
    if separated:
        return sum(bool(c) for c in head) >= 2
    named = head[1:] if not head[0] else head  # a table of row headings may leave its corner empty
    return (len(head) >= 3 and all(c and not re.search(r"\d", _PERIOD.sub("", c)) for c in named)
            and any(re.search(r"[^\W\d]", c) for c in head)  # years name columns ("2022", "2023"), not a whole row
            and all(len(r) == len(head) for r in rows[1:]) and len(rows) >= 2)


def label_rows(text: str) -> str:
    """Every data row of every "|" table gets its column names: "| Plan: Day pass | Price: £6 |". Rows above
    the header (a caption) and tables with no header are left as they are; running it twice changes nothing."""
    lines = text.split("\n")
    out: list[str] = []
    header: list[str] | None = None  # the last table's, for its continuation after a page break
    i = 0
    while i < len(lines):
        if _cells(lines[i]) is None:
            if lines[i].strip():
                header = None
            out.append(lines[i])
            i += 1
            continue
        j = i
        while j < len(lines) and _cells(lines[j]) is not None:
            j += 1
        labelled, header = _label_block(lines[i:j], header)
        out.extend(labelled)
        i = j
    return "\n".join(out)


def _label_block(block: list[str], carried: list[str] | None = None) -> tuple[list[str], list[str] | None]:
    """The block with its data rows labelled, and its header. `carried`: the header of a table this block
    continues (only blank lines between them), used when the block has none of its own."""
    rows = [_cells(line) or [] for line in block]
    # a caption row (one filled cell spanning the table) may come first
    start = next((n for n, r in enumerate(rows) if sum(bool(c) for c in r) >= 2 and not _separator(r)), None)
    if start is None:
        return block, None
    body = [r for r in rows[start + 1:] if not _separator(r)]
    if body and _has_header([rows[start]] + body, start + 1 < len(rows) and _separator(rows[start + 1])):
        header = rows[start]
    elif carried is not None and len(rows[start]) == len(carried):
        header, start = carried, start - 1  # every row of a continued table is data
    else:
        return block, None
    out = list(block[:start + 1])
    for line, row in zip(block[start + 1:], rows[start + 1:]):
        if len(row) != len(header) or _separator(row):
            out.append(line)
            continue
        cells = [f"{h}: {c}" if h and c and not CELL_LABEL.match(c) else c for h, c in zip(header, row)]
        out.append("| " + " | ".join(cells) + " |")
    return out, header


# --- PDF tables ------------------------------------------------------------------------------------


_LAYOUT_CELL = re.compile(r"\S+(?: {1,2}\S+)*")  # words apart by at most two spaces: one cell of a layout line


def _layout_cells(line: str) -> list[tuple[int, str]]:
    """(column, text) of each cell of a layout line."""
    return [(m.start(), m.group()) for m in _LAYOUT_CELL.finditer(line.expandtabs(4))]


def _layout_runs(layout: str) -> list[list[list[tuple[int, str]]]]:
    """Runs of layout lines of two or more cells; a table's rows may be a blank line apart."""
    runs: list[list[list[tuple[int, str]]]] = []
    run: list[list[tuple[int, str]]] = []
    blank = False
    for line in layout.split("\n"):
        cells = _layout_cells(line)
        if not cells:
            if blank or not run:
                runs.append(run)
                run = []
            blank = True
            continue
        blank = False
        if len(cells) >= 2:
            run.append(cells)
        else:
            runs.append(run)
            run = []
    runs.append(run)
    return [r for r in runs if r]


def _aligned(block: list[list[tuple[int, str]]]) -> list[list[str]]:
    """The block's rows as cells under its columns (those of its widest row). A first row with fewer cells
    (a header over row headings: an empty corner) has each one under the column that starts nearest and
    blanks elsewhere; a later one (a "Total" row spanning columns) keeps just its cells."""
    anchors = [o for o, _ in max(block, key=len)]
    rows = []
    for n, cells in enumerate(block):
        if n and len(cells) < len(anchors):
            rows.append([text for _, text in cells])
            continue
        row = [""] * len(anchors)
        for offset, text in cells:
            column = min(range(len(anchors)), key=lambda i: abs(anchors[i] - offset))
            row[column] = f"{row[column]} {text}".strip()
        rows.append(row)
    return rows


_DATA_CELL = re.compile(r"[-+−]?[\d.,]+(?:\s*(?:±|–|-|to)\s*[\d.,]+)?\s*\S{0,6}")  # "455", "5.1 ± 0.1", "12–18 °C"
_DEBRIS = re.compile(r"[-−–+]?\d{1,2}\)?")  # a superscript set on a line of its own: "−1)", "6"


def _stacked_header(block: list[list[tuple[int, str]]]) -> tuple[list[str], list[list[str]], int] | None:
    """A table whose column names are stacked over several lines ("Stocking" / "rate (LU" / "ha−1)") above rows
    of values, as a journal sets it: (one name per column, the value rows, how many header lines). pypdf's
    layout puts a superscript on a line of its own, so names are read per column, top to bottom, and digit
    debris is dropped. None when the block does not end in two or more rows of values under the widest
    row's columns, or has no header lines over them."""
    width = max(len(cells) for cells in block)
    first = next((n for n, cells in enumerate(block) if len(cells) == width
                  and sum(bool(_DATA_CELL.fullmatch(c)) for _, c in cells[1:]) >= len(cells) - 2), None)
    if first is None or first == 0 or len(block) - first < 2:
        return None
    data = block[first:]
    if any(len(cells) != width for cells in data):
        return None
    anchors = [o for o, _ in data[0]]
    names: list[list[str]] = [[] for _ in anchors]
    for cells in block[:first]:
        for offset, text in cells:
            column = min(range(len(anchors)), key=lambda i: abs(anchors[i] - offset))
            names[column] += [w for w in text.split() if not _DEBRIS.fullmatch(w)]
    header = [" ".join(words) for words in names]
    if sum(bool(h) for h in header) < width - 1:
        return None
    return header, [[text for _, text in cells] for cells in data], first


def _layout_tables(layout: str) -> list[list[list[str]]]:
    """Tables in pypdf's layout text: runs of lines split by wide gaps into columns, at least two of them
    with three or more columns (two columns of prose side by side have one gap a line). A table set in one
    column of a two-column page shares its lines with the other column's prose: each column edge a row of
    three or more cells starts at is tried as the table's left edge (and as its right one), and the rows the
    cells beyond it make are a candidate; the splice keeps the one whose words the plain text holds."""
    tables: list[list[list[str]]] = []
    for run in _layout_runs(layout):
        edges = sorted({o for cells in run if len(cells) >= 3 for o, _ in cells})
        windows = [(0, 10**9)] + [(x, 10**9) for x in edges[1:]] + [(0, x) for x in edges[1:]]
        for low, high in windows:
            block: list[list[tuple[int, str]]] = []
            for cells in run + [[]]:
                inside = [(o, c) for o, c in cells if low <= o < high]
                if len(inside) >= 2:
                    block.append(inside)
                    continue
                if sum(len(r) >= 3 for r in block) >= 2 and (table := _aligned(block)) not in tables:
                    tables.append(table)  # several edges often cut out the same table: try it once
                block = []
    return tables


def _stacked_tables(layout: str) -> list[tuple[list[str], list[list[str]], str]]:
    """Each run of `layout` that is a table with stacked column names (`_stacked_header`), with the characters
    of its header lines (sorted, no spaces): the plain text writes the same names one piece a line."""
    out = []
    for run in _layout_runs(layout):
        found = _stacked_header(run)
        if found:
            header, rows, first = found
            out.append((header, rows, "".join(sorted("".join(t for cells in run[:first] for _, t in cells)
                                                     .replace(" ", "")))))
    return out


def _splice_stacked(lines: list[str], layout: str) -> list[str]:
    """Value rows the plain text writes one cell a line, put back as rows labelled with their stacked column
    names (`_stacked_header`); the plain lines of the names go too when they hold exactly the same characters."""
    for header, rows, chars in _stacked_tables(layout):
        found = _words_run(lines, [w for row in rows for cell in row for w in cell.split()])
        if found is None:
            continue
        first, last = found
        start = first
        for back in range(1, min(first, 4 * len(header)) + 1):
            if "".join(sorted("".join(lines[first - back:first]).replace(" ", ""))) == chars:
                start = first - back
                break
        labelled = ["| " + " | ".join(f"{h}: {c}" if h and c else c for h, c in zip(header, row)) + " |"
                    for row in rows]
        lines[start:last] = ["| " + " | ".join(header) + " |"] + labelled
    return lines


def _words_run(lines: list[str], wanted: list[str]) -> tuple[int, int] | None:
    """(first, end) of the first run of whole lines whose words are exactly `wanted`, in order; None if none."""
    if not wanted:
        return None
    for first in range(len(lines)):
        if not lines[first].strip() or lines[first].split()[:1] != wanted[:1]:
            continue
        got: list[str] = []
        last = first
        while last < len(lines) and len(got) < len(wanted):
            got.extend(lines[last].split())
            last += 1
        if got == wanted:
            return first, last
    return None


def splice_pdf_tables(plain: str, layout: str) -> str:
    """`plain` with each table of `layout` put back as "|" rows where a run of whole plain lines holds exactly
    its cells' words in order; anything that does not match exactly is left as it was (so of a run's
    candidate tables, only one whose words are a run of plain lines is used). A table whose column names are
    stacked over several lines is matched by its value rows (`_splice_stacked`)."""
    lines = plain.split("\n")
    for table in _layout_tables(layout):
        found = _words_run(lines, [w for row in table for cell in row for w in cell.split()])
        if found is not None:
            lines[found[0]:found[1]] = ["| " + " | ".join(row) + " |" for row in table]
    return "\n".join(_splice_stacked(lines, layout))
