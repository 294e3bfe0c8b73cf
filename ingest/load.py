"""Load: bytes of a file (or a fetched URL) → an Article with a title and clean text.

Anything a text editor would open is read (UTF-8, UTF-16/32 with BOM, Latin-1/cp1252); only true garbage
is refused, with a one-line reason.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from ingest.tables import label_rows, splice_pdf_tables
from sourcechat.errors import SourceError

TEXT_SUFFIXES = {".txt", ".text", ".md", ".markdown", ".rst", ""}
HTML_SUFFIXES = {".html", ".htm", ".xhtml"}
PDF_SUFFIXES = {".pdf"}
MARKDOWN_SUFFIXES = {".md", ".markdown"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | PDF_SUFFIXES


@dataclass(frozen=True)
class Article:
    source: str  # the file name: the article's id in citations and eval sets
    title: str
    text: str  # cleaned text; chunk and citation offsets point into it

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


def file_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- decoding ---------------------------------------------------------------------------------------

_BOMS = [
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
]


def decode_text(data: bytes) -> str:
    """Decode like a forgiving text editor: BOM first, then UTF-8, then cp1252/Latin-1 for old files."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError as exc:
                raise SourceError(f"not valid {encoding.upper()} despite its byte-order mark") from exc
    if b"\x00" in data:
        raise SourceError("binary data, not text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError:
            text = data.decode("latin-1")
    if _looks_binary(text):
        raise SourceError("binary data, not text")
    return text


def _looks_binary(text: str) -> bool:
    sample = text[:20000]
    if not sample:
        return False
    control = sum(1 for ch in sample if unicodedata.category(ch) == "Cc" and ch not in "\n\r\t\f\v")
    return control / len(sample) > 0.02


# --- cleaning ---------------------------------------------------------------------------------------

_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)


def clean_text(text: str) -> str:
    """Normalise what differs between editors and sites, keep everything a reader would see."""
    text = unicodedata.normalize("NFC", text).translate(_ZERO_WIDTH)
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")
    text = re.sub(r"[ \t\f\v]+\n", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()


# --- titles -----------------------------------------------------------------------------------------

_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.S)
_WIKI_HEADING = re.compile(r"^\s*=+\s*(.+?)\s*=+\s*$")
_MD_HEADING = re.compile(r"^\s*#{1,6}\s+(.+?)\s*#*\s*$")


def split_front_matter(text: str) -> tuple[dict[str, str], str]:
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, text
    fields = {}
    for line in match.group(1).splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip().lower()] = value.strip().strip("\"'")
    return fields, text[match.end():]


def first_heading(text: str) -> str | None:
    for line in text.splitlines():
        if not line.strip():
            continue
        for pattern in (_WIKI_HEADING, _MD_HEADING):
            match = pattern.match(line)
            if match:
                return match.group(1)
        return None
    return None


def first_line_title(text: str, limit: int = 100) -> str:
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return line if len(line) <= limit else line[: limit - 1].rsplit(" ", 1)[0] + "…"


def _finish(source: str, title: str | None, body: str) -> Article:
    text = label_rows(clean_text(body))
    if not text:
        raise SourceError("no text in it (empty file?)")
    if len(re.findall(r"\w", text)) < 3:
        raise SourceError("no readable words in it")
    return Article(source=source, title=(title or "").strip() or first_line_title(text), text=text)


# --- formats ----------------------------------------------------------------------------------------


_META_FIELDS = ("date", "published", "author", "byline", "publisher", "site", "sitename", "source")


def metadata_header(fields: dict[str, str]) -> str:
    """The article's own metadata (date, author, site) as a line of its text: questions ask about them
    ("when was it published", "who wrote the guide"), and a year given only there still counts."""
    parts = [f"{key.capitalize()}: {fields[key]}" for key in _META_FIELDS if fields.get(key)]
    return ". ".join(parts) + "." if parts else ""


_QUOTE_MARKS = re.compile(r"^[ \t]{0,3}(?:>[ \t]?)+", re.M)  # "> " and "> > ": a reply's quoted lines
_MD_COMMENT = re.compile(r"<!--.*?-->\n?", re.S)
_MD_FENCE = re.compile(r"^[ \t]{0,3}(?:```|~~~)[^\n]*\n?", re.M)
_MD_INLINE = [
    (re.compile(r"(?<!^)\[\^[^\]\s]+\]", re.M), ""),  # a footnote reference ("staging[^3]"), not its definition
    (re.compile(r"!?\[([^\]\n]+)\]\([^)\s]+(?:\s+\"[^\"]*\")?\)"), r"\1"),  # [text](url), ![alt](src)
    (re.compile(r"\[([^\]\n^]+)\]\[[^\]\n]*\]"), r"\1"),  # [text][ref]
    (re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1"), r"\2"),  # **strong**
    (re.compile(r"(?<![\w*])\*(?=[^\s*])([^*\n]+?)(?<=\S)\*(?![\w*])"), r"\1"),  # *emphasis* (not a list's "* ")
    (re.compile(r"(?<!\w)_(?=\S)([^_\n]+?)(?<=\S)_(?!\w)"), r"\1"),  # _emphasis_ (not snake_case)
    (re.compile(r"`([^`\n]+)`"), r"\1"),  # `code`
]


def unquote(text: str) -> str:
    """A reply's quoted lines ("> " and "> > " at line starts: e-mail, Markdown blockquotes) as their text:
    the marks cut sentences and names apart ("When we lifted a\n> > section of the north slope")."""
    return _QUOTE_MARKS.sub("", text)


def plain_markdown(text: str) -> str:
    """Markdown as a reader sees it rendered, line for line: no comments, code fences, emphasis or code
    marks, footnote references or link targets ("**not** copy sequence values[^1]" → "not copy sequence
    values"). Line breaks stay where they are, so hard-wrapped paragraphs, lists and tables read as before;
    code keeps its lines, and a footnote's definition its text."""
    text = _MD_FENCE.sub("", _MD_COMMENT.sub("", text))
    for pattern, replacement in _MD_INLINE:
        text = pattern.sub(replacement, text)
    return text


def parse_text(source: str, data: bytes) -> Article:
    fields, body = split_front_matter(decode_text(data).lstrip("\ufeff"))
    body = unquote(body)
    if Path(source).suffix.lower() in MARKDOWN_SUFFIXES:
        body = plain_markdown(body)
    title = fields.get("title") or first_heading(body)
    body = "\n".join(_MD_HEADING.sub(r"\1", line) for line in body.splitlines())
    header = metadata_header(fields)
    return _finish(source, title, f"{body}\n\n{header}" if header else body)


def parse_html(source: str, data: bytes) -> Article:
    import trafilatura

    html = decode_text(data)
    tree = _parse_html(html)  # parsed once: for the wiki apparatus, definition lists, the byline and the boxes
    if tree is not None and (_strip_wiki_chrome(tree) | _join_definitions(tree)):
        from lxml import etree

        html = etree.tostring(tree, encoding="unicode", method="html")
    body = trafilatura.extract(html, include_comments=False, include_tables=True, favor_recall=True)
    if not body or not body.strip():
        raise SourceError("no readable article text in this HTML page")
    metadata = trafilatura.extract_metadata(html)
    title = metadata.title if metadata is not None and metadata.title else None
    if not title:
        match = re.search(r"<title[^>]*>(.*?)</title>", html, re.S | re.I)
        title = re.sub(r"\s+", " ", match.group(1)).strip() if match else None
    article = _article(tree)  # trafilatura's own tree is not exposed
    body = _with_boxes(_with_bylines(body, bylines(article)), boxes(article))
    return _finish(source, title, _with_boxes(body, left_out(article, body)))


# a wiki page's apparatus, by its markup (MediaWiki's classes): section "[edit]" links, citation markers
# ("Harlsdale.[1]"), the reference list and the navigation boxes of related pages. Not the article's text: a
# marker's number is no value, and a reference's title and date are another publication's
_WIKI_CHROME = ("//span[contains(concat(' ', normalize-space(@class), ' '), ' mw-editsection ')]",
                "//sup[contains(concat(' ', normalize-space(@class), ' '), ' reference ')]",
                "//*[contains(concat(' ', normalize-space(@class), ' '), ' reflist ')]",
                "//ol[contains(concat(' ', normalize-space(@class), ' '), ' references ')]",
                "//*[contains(concat(' ', normalize-space(@class), ' '), ' navbox ')]")


def _strip_wiki_chrome(tree) -> bool:
    """Remove a wiki's apparatus (`_WIKI_CHROME`) from a parsed page, keeping the text that follows each
    removed element; whether there was any."""
    found = [node for path in _WIKI_CHROME for node in tree.xpath(path)]
    for node in found:
        parent = node.getparent()
        if parent is None:
            continue
        if node.tail:  # the text after the element stays where it was
            previous = node.getprevious()
            if previous is not None:
                previous.tail = (previous.tail or "") + node.tail
            else:
                parent.text = (parent.text or "") + node.tail
        parent.remove(node)
    return bool(found)


def _join_definitions(tree) -> bool:
    """Each definition list (`<dl>`: a boat's specifications, a glossary, a record's fields) as a list of
    "Term: definition" items; whether there was any. Read as it is, a term and its definition are two list
    items ("- Length" / "- 60 ft (18.3 m)"), and the value no longer says what it measures."""
    from lxml import html as lxml_html

    found = tree.xpath("//dl")
    for dl in reversed(found):  # inner lists first: an outer one then reads their items as its text
        parent = dl.getparent()
        if parent is None:
            continue
        items: list[str] = []
        term = ""
        groups = [g for child in dl for g in (child if child.tag == "div" else [child])]  # HTML5 may wrap pairs
        for node in groups:
            text = " ".join(node.text_content().split()) if isinstance(node.tag, str) else ""
            if node.tag == "dt":
                term = f"{term}, {text}" if term and not items else text  # several terms of one definition
            elif node.tag == "dd" and text:
                items.append(f"{term.rstrip(':')}: {text}" if term else text)
        listed = lxml_html.Element("ul")
        for item in items:
            lxml_html.etree.SubElement(listed, "li").text = item
        listed.tail = dl.tail
        parent.replace(dl, listed)
    return bool(found)


# what marks an article's byline or dateline in a page's markup: class, id, itemprop or rel
_BYLINE_MARK = re.compile(r"\b(byline|author|dateline|posted-?on|pubdate|publish(?:ed)?|article-?date)\b", re.I)
_CHROME = {"nav", "footer", "aside", "form"}  # a related-posts sidebar names other articles' authors
_COMMENTS = re.compile(r"comment|repl(?:y|ies)|discussion", re.I)  # readers' names are not the article's author
_BLOCKS = ("p", "li", "h2", "h3", "h4", "h5", "h6", "dt", "dd")


def _parse_html(html: str):
    """The page's lxml tree, or None when it does not parse."""
    from lxml import html as lxml_html

    try:
        return lxml_html.fromstring(html)
    except (ValueError, lxml_html.etree.ParserError):
        return None


def _article(tree):
    """The page's article element (else its main element, else the page), or None for no tree."""
    if tree is None:
        return None
    return (tree.xpath("//article") or tree.xpath("//main") or [tree])[0]


def bylines(scope, limit: int = 200) -> list[str]:
    """The page's own byline and dateline lines, as it shows them ("By Tamsin Oduya, Senior Kitchen Appliances
    Editor. Published 14 February 2025"), from its article element (`_article`). trafilatura leaves them out
    of the text, and its parsed metadata can be wrong (a date from elsewhere in the page); readers ask who
    wrote an article and when."""
    out: list[str] = []
    for element in scope.iter() if scope is not None else ():
        if not isinstance(element.tag, str):
            continue
        marks = " ".join(element.get(a, "") for a in ("class", "id", "itemprop", "rel"))
        if not _BYLINE_MARK.search(marks) or any(a.tag in _CHROME or _COMMENTS.search(a.get("class", "") + " "
                                                                                      + a.get("id", ""))
                                                 for a in [element, *element.iterancestors()]):
            continue
        text = " ".join(element.text_content().split())
        if text and len(text) <= limit and not any(text in seen for seen in out):
            out = [seen for seen in out if seen not in text] + [text]
    return out[:3]


def boxes(scope, limit: int = 600) -> list[tuple[list[str], list[str]]]:
    """The article's own boxes: an <aside> inside the article element (a verdict, "Our score: 8.2/10", a
    key-facts box), which trafilatura drops as it drops a page's sidebars. Each as (the texts of the elements
    before it, nearest first; its lines); a box of links (related stories) or a long one is left out."""
    out: list[tuple[list[str], list[str]]] = []
    for aside in scope.iter("aside") if scope is not None else ():
        if any(a.tag in _CHROME for a in aside.iterancestors()):
            continue
        text = " ".join(aside.text_content().split())
        if not text or len(text) > limit or _linked(aside) > 0.5 * len(text):
            continue
        lines = [" ".join(b.text_content().split()) for b in aside.iter(*_BLOCKS)] or [text]
        before = [" ".join(e.text_content().split()) for e in aside.itersiblings(preceding=True)]
        out.append(([b for b in before if b], [ln for ln in lines if ln]))
    return out


# a block that is no part of the article's text, by its own or an ancestor's class or id
_NOT_TEXT = re.compile(r"(?:^|[\s_-])(?:ads?|advert\w*|share|sharing|social|newsletter|promo\w*|related|comments?|"
                       r"cookies?|consent|subscribe|sign-?up|breadcrumbs?|skip|sr-only|visually-hidden)(?:$|[\s_-])",
                       re.I)


def _word_string(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def left_out(scope, body: str, limit: int = 300) -> list[tuple[list[str], list[str]]]:
    """The short blocks of the page's <article> or <main> element that trafilatura left out of the body, each
    as a box (`boxes`) of one line: a live blog's timestamps ("16:42 GMT"), a recipe card's "Prep time: 40
    mins" and "Servings: 10 slices", a rating line. trafilatura drops short lines without a verb as page
    furniture, but inside the article they are its facts. Blocks of page furniture by their class or id (ads,
    share buttons, comments, related stories: `_NOT_TEXT`), of links, or longer than `limit` stay out; so
    does everything when the page marks no article or main element."""
    if scope is None or scope.tag not in {"article", "main"}:
        return []
    have = _word_string(body)
    out: list[tuple[list[str], list[str]]] = []
    previous: list[str] = []
    for element in scope.iter("h1", *_BLOCKS):
        if any(isinstance(d.tag, str) and d.tag in _BLOCKS for d in element.iterdescendants()):
            continue  # its innermost blocks are read instead
        text = " ".join(element.text_content().split())
        if not text:
            continue
        furniture = any(a.tag in _CHROME or _NOT_TEXT.search(f"{a.get('class', '')} {a.get('id', '')}")
                        or _COMMENTS.search(f"{a.get('class', '')} {a.get('id', '')}")
                        for a in [element, *element.iterancestors()])
        if not furniture and _linked(element) <= 0.5 * len(text) and len(text) <= limit \
                and _word_string(text) not in have:
            out.append((previous[::-1][:20], [text]))
        previous.append(text)
    return out


def _linked(element) -> int:
    """Characters of the element's text that are links: a block mostly of links is navigation, not text."""
    return sum(len(" ".join(a.text_content().split())) for a in element.iter("a"))


def _with_boxes(body: str, found: list[tuple[list[str], list[str]]]) -> str:
    """The body with each box's lines it lacks, after the line that holds the nearest text before the box
    that the body has (the end of the body when none)."""
    lines = body.split("\n")
    flat = [" ".join(line.split()) for line in lines]
    for before, box in found:
        missing = [ln for ln in box if ln not in " ".join(flat)]  # a box inside a box adds its lines once
        if not missing:
            continue
        at = next((n + 1 for b in before for n, line in enumerate(flat) if b[:60] in line), len(lines))
        lines[at:at] = missing
        flat[at:at] = missing
    return "\n".join(lines)


def _with_bylines(body: str, lines: list[str]) -> str:
    """The body with the byline lines it lacks after its first line (the headline, as the page shows them)."""
    missing = [line for line in lines if " ".join(line.split()) not in " ".join(body.split())]
    if not missing:
        return body
    first, _, rest = body.partition("\n")
    return "\n".join([first, *missing, rest]) if rest else "\n".join([first, *missing])


def _page_text(page) -> str:
    """A page's text in reading order, with its tables as rows (ingest/tables.py)."""
    plain = page.extract_text() or ""
    try:
        layout = page.extract_text(extraction_mode="layout") or ""
    except Exception:  # layout mode is a refinement: a page it cannot lay out keeps its plain text
        return plain
    return splice_pdf_tables(plain, layout)


_PAGE_NUMBER = re.compile(r"(?:page|p\.|pg\.?)?\s*[-–—(\[]?\s*(\d{1,4})\s*[-–—)\]]?\s*(?:(?:of|/)\s*\d{1,4})?", re.I)
_EDGE = 3  # lines at the top and at the bottom of a page where a running header or footer may be
_ENDS_SENTENCE = re.compile(r"[.!?:;\"”’)\]]\s*$")


def _edge_key(line: str) -> str:
    """A line as it repeats from page to page: case and numbers aside ("Annual Report 2024 · Page 3")."""
    return re.sub(r"\d+", "#", " ".join(line.split()).lower())


def _running_lines(pages: list[list[str]]) -> set[str]:
    """Keys of the lines that recur at the top or bottom of most pages: a running header or footer."""
    seen: dict[str, set[int]] = {}
    for n, lines in enumerate(pages):
        body = [line for line in lines if line.strip()]
        for line in body[:_EDGE] + body[-_EDGE:]:
            seen.setdefault(_edge_key(line), set()).add(n)
    need = max(2, (len(pages) + 1) // 2)
    return {key for key, where in seen.items() if len(where) >= need and re.search(r"[a-z#]", key)}


def _is_page_number(line: str, page: int, outermost: bool = False) -> bool:
    """A line that only numbers its page ("3", "- 3 -", "Page 3 of 5"), the page's own number; as the page's
    first or last line (`outermost`), any number from there on: a journal numbers its pages through the volume
    ("212" on the PDF's second page)."""
    found = _PAGE_NUMBER.fullmatch(line.strip())
    return found is not None and (int(found.group(1)) == page + 1 or (outermost and int(found.group(1)) > page))


def _strip_edges(lines: list[str], running: set[str], page: int) -> list[str]:
    """The page's lines without its running header, footer and page number, where they stand: among its first
    and last lines (a sentence in the body that happens to match stays). A page's own top line (a first page's
    citation line, "RESEARCH ARTICLE") may stand before a running one. A number that is not the page's index
    (a journal's "212") counts only as the page's first or last line, on a page with a running line."""
    filled = [n for n, line in enumerate(lines) if line.strip()]
    if not filled:
        return []
    edges = set(filled[:_EDGE * 2]) | set(filled[-_EDGE * 2:])
    # a volume's page number only beside a running head or foot: a page may also end on a table's last cell
    outermost = {filled[0], filled[-1]} if any(_edge_key(lines[n]) in running for n in edges) else set()
    return [line for n, line in enumerate(lines)
            if not (n in edges and line.strip() and (_edge_key(line) in running
                                                     or _is_page_number(line, page, n in outermost)))]


_CONTINUES = re.compile(r"\s*[a-z(“\"‘'<>=≤≥%,;:)\]–-]")  # a line that goes on with a sentence, not one that starts


def _continuation(lines: list[str]) -> int | None:
    """Where a page goes on with the sentence the page before left unfinished: the index of its first line
    that continues one, after at most _EDGE short lines with no sentence in them (a running head that is no
    other page's: "Journal of Upland Soil Ecology" over the journal's even pages only). None when the page
    starts a sentence."""
    seen = 0
    for n, line in enumerate(lines):
        if not line.strip():
            continue
        if _CONTINUES.match(line):
            return n
        seen += 1
        if seen > _EDGE or _ENDS_SENTENCE.search(line) or len(line.split()) > 8:
            return None
    return None


_HYPHENATED = re.compile(r"(\w*[^\W\d_])-\n([a-z]\w*)([^\S\n]+|(?=\n)|$)?")


def _dehyphenate(text: str) -> str:
    """A word broken at a line end ("infra-\nstructure") made whole again; a compound the text also writes
    with its hyphen elsewhere ("well-known") keeps it, and so does one whose whole form the text never uses
    while its hyphenated form it does."""
    words = set(re.findall(r"\w+(?:-\w+)*", text.lower()))

    def join(found: re.Match) -> str:  # the word ends its line, as a hard-wrapped paragraph keeps its lines
        first, second = found.group(1), found.group(2)
        if f"{first}-{second}".lower() in words and f"{first}{second}".lower() not in words:
            return f"{first}-{second}\n"
        return f"{first}{second}\n"

    return _HYPHENATED.sub(join, text)


def join_pages(pages: list[str]) -> str:
    """A PDF's pages as one text: running headers, footers and page numbers removed, a sentence that runs
    over a page break joined again (no paragraph break where the page ended mid-sentence), and words
    hyphenated at a line end made whole."""
    split = [page.splitlines() for page in pages]
    running = _running_lines(split) if len(pages) > 1 else set()
    kept = [_strip_edges(lines, running, n) for n, lines in enumerate(split)]
    body = ""
    for lines in kept:
        text = "\n".join(lines).strip("\n")
        if not text.strip():
            continue
        goes_on = _continuation(text.split("\n")) if body and not _ENDS_SENTENCE.search(body) else None
        if goes_on is not None:  # the page ended mid-sentence: the next one goes on with it
            body += "\n" + "\n".join(text.split("\n")[goes_on:])
        elif not body:
            body = text
        else:
            body += "\n\n" + text
    return _dehyphenate(body)


def parse_pdf(source: str, data: bytes) -> Article:
    import logging

    from pypdf import PdfReader

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [_page_text(page) for page in reader.pages]
        meta_title = reader.metadata.get("/Title") if reader.metadata else None
    except Exception as exc:  # pypdf raises many types for broken files
        raise SourceError(f"unreadable PDF ({type(exc).__name__}: {exc})".split("\n")[0]) from exc
    body = join_pages(pages)
    if not body.strip():
        raise SourceError("the PDF has no extractable text (scanned images?)")
    return _finish(source, str(meta_title) if meta_title else None, body)


def parse_article(source: str, data: bytes) -> Article:
    """Pick the parser by file suffix; an unknown suffix is read as text if it is text."""
    if not data.strip():
        raise SourceError("empty file")
    suffix = Path(source).suffix.lower()
    if suffix in PDF_SUFFIXES or data.startswith(b"%PDF-"):
        return parse_pdf(source, data)
    if suffix in HTML_SUFFIXES:
        return parse_html(source, data)
    return parse_text(source, data)


def load_article(path: Path) -> Article:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SourceError(f"cannot read it: {exc.strerror or exc}") from exc
    return parse_article(path.name, data)
