"""Ingest on the real articles, real Chroma, the real model: idempotent, replacing, pruning, safe."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest import load_article, run_ingest
from rag import Assistant
from sourcechat.store import open_collection
from tests.conftest import ESSAY, WIKI, cli


def chunks_of(settings, source):
    got = open_collection(settings).get(where={"source": source}, include=["metadatas"])
    return got["ids"], got["metadatas"]


def test_first_ingest_stores_every_article_with_metadata(fresh):
    report = run_ingest(fresh)
    assert (report.added, report.updated, report.unchanged, report.removed) == (4, 0, 0, 0)
    assert report.chunks == open_collection(fresh).count() > 20
    ids, metas = chunks_of(fresh, WIKI)
    assert len(ids) == metas[0]["n_chunks"]
    meta = sorted(metas, key=lambda m: m["chunk"])[3]
    assert meta["title"] == "We Cry Together" and meta["source"] == WIKI
    assert len(meta["content_hash"]) == 64 and meta["end"] > meta["start"]
    assert open_collection(fresh).configuration["hnsw"]["space"] == "cosine"
    assert open_collection(fresh).configuration["hnsw"]["ef_search"] == fresh.hnsw_ef_search


def test_a_collection_made_with_a_narrower_search_is_widened_when_opened(fresh):
    """An index made before the setting (Chroma's default ef_search, 100) searches at the setting's breadth
    once a process opens it."""
    run_ingest(fresh)
    open_collection(fresh).modify(configuration={"hnsw": {"ef_search": 100}})
    assert open_collection(fresh).configuration["hnsw"]["ef_search"] == 100
    assert cli(["ask", "Who mastered the song?"], fresh).returncode == 0
    assert open_collection(fresh).configuration["hnsw"]["ef_search"] == fresh.hnsw_ef_search == 200


def test_a_copy_of_an_article_is_embedded_once(fresh):
    """Mirrored copies and page chrome repeat texts: each distinct text goes through the model once per run,
    and the copy's chunks get the vectors the original's got."""
    from sourcechat.store import embeddings

    model, seen = embeddings(fresh), []

    class Counting:
        def embed_documents(self, texts):
            seen.extend(texts)
            return model.embed_documents(texts)

    (fresh.sources_dir / "mirror.txt").write_bytes((fresh.sources_dir / WIKI).read_bytes())
    report = run_ingest(fresh, embedder=Counting())
    assert report.added == 5 and not report.failed
    assert len(seen) == len(set(seen)) > 100
    got = {s: open_collection(fresh).get(where={"source": s}, include=["embeddings", "metadatas"]) for s in (WIKI, "mirror.txt")}
    vectors = [dict(zip((m["chunk"] for m in g["metadatas"]), g["embeddings"])) for g in got.values()]
    assert vectors[0].keys() == vectors[1].keys() and all((vectors[0][k] == vectors[1][k]).all() for k in vectors[0])


def test_reingest_of_unchanged_articles_embeds_nothing(fresh):
    run_ingest(fresh)
    before = sorted(open_collection(fresh).get(include=[])["ids"])

    class NoModel:
        def embed_documents(self, texts):
            raise AssertionError("the embedding model was used for unchanged articles")

    report = run_ingest(fresh, embedder=NoModel())
    assert (report.added, report.updated, report.unchanged, report.chunks) == (0, 0, 4, 0)
    assert sorted(open_collection(fresh).get(include=[])["ids"]) == before


def test_changed_article_is_replaced_and_removed_one_pruned(fresh):
    run_ingest(fresh)
    old_ids, _ = chunks_of(fresh, ESSAY)
    path = fresh.sources_dir / ESSAY
    path.write_text(path.read_text(encoding="utf-8") + "\nThe zebra mascot of the song is called Quillbert.\n",
                    encoding="utf-8")
    (fresh.sources_dir / WIKI).unlink()
    report = run_ingest(fresh)
    assert (report.added, report.updated, report.unchanged, report.removed) == (0, 1, 2, 1)
    new_ids, metas = chunks_of(fresh, ESSAY)
    assert not set(old_ids) & set(new_ids) and len(new_ids) == metas[0]["n_chunks"]
    assert chunks_of(fresh, WIKI)[0] == []
    result = Assistant(fresh).ask("What is the zebra mascot of the song called?")
    assert "Quillbert" in result["text"]  # the new sentence answers (as a short answer or a passage)
    assert any(c["source"] == ESSAY and "Quillbert" in c["quote"] for c in result["citations"])


def test_bad_files_are_reported_and_skipped(fresh):
    (fresh.sources_dir / "empty.txt").write_bytes(b"")
    (fresh.sources_dir / "garbage.bin").write_bytes(bytes(range(256)) * 40)
    (fresh.sources_dir / "broken.pdf").write_bytes(b"%PDF-1.4\n this is not really a pdf")
    report = run_ingest(fresh)
    assert report.added == 4
    assert {f["source"] for f in report.failed} == {"empty.txt", "garbage.bin", "broken.pdf"}
    assert all(f["error"] and "\n" not in f["error"] for f in report.failed)


def test_a_failing_run_leaves_the_previous_index_answering(fresh):
    run_ingest(fresh)
    count = open_collection(fresh).count()
    for name in (ESSAY, WIKI):
        p = fresh.sources_dir / name
        p.write_text(p.read_text(encoding="utf-8") + "\nAn added closing line.\n", encoding="utf-8")

    class Exploding:
        def embed_documents(self, texts):
            raise RuntimeError("out of memory")

    report = run_ingest(fresh, embedder=Exploding())
    assert report.updated == 0 and len(report.failed) == 2
    assert open_collection(fresh).count() == count
    result = Assistant(fresh).ask("When was the song released?")
    assert not result["refused"] and "2022" in result["text"]


def test_an_interrupted_run_leaves_the_previous_index_answering(fresh):
    run_ingest(fresh)
    ids = sorted(open_collection(fresh).get(include=[])["ids"])
    p = fresh.sources_dir / WIKI
    p.write_text(p.read_text(encoding="utf-8").replace("5:41", "5:42"), encoding="utf-8")

    class Interrupted:
        def embed_documents(self, texts):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_ingest(fresh, embedder=Interrupted())
    assert sorted(open_collection(fresh).get(include=[])["ids"]) == ids
    assert Assistant(fresh).ask("How long is the song?")["answer"] == "5:41"


def test_editor_encodings_and_odd_names_are_read(fresh, tmp_path):
    fresh.sources_dir.mkdir(exist_ok=True)
    (fresh.sources_dir / "utf16 notes (copy).txt").write_bytes(
        "Die Nachtigall sang im März über Köln.".encode("utf-16"))
    (fresh.sources_dir / "latin1-café.txt").write_bytes("Le café de Zoë ouvre à 7 heures.".encode("latin-1"))
    (fresh.sources_dir / "page.html").write_text(
        "<html><head><title>A Page</title></head><body><article><h1>A Page</h1><p>"
        + "The lighthouse keeper counted forty-two ships in the harbour that winter. " * 3
        + "</p></article></body></html>", encoding="utf-8")
    (fresh.sources_dir / "notes.md").write_text("---\ntitle: Field Notes\n---\n# Ignored heading\n\nOtters hold hands.\n")
    report = run_ingest(fresh)
    assert not report.failed and report.added == 8
    titles = {m["source"]: m["title"] for m in open_collection(fresh).get(where={"chunk": 0})["metadatas"]}
    assert titles["notes.md"] == "Field Notes" and titles["page.html"] == "A Page"
    assert titles[WIKI] == "We Cry Together"
    text = " ".join(open_collection(fresh).get(where={"source": "utf16 notes (copy).txt"})["documents"])
    assert "März über Köln" in text
    assert "café de Zoë" in " ".join(open_collection(fresh).get(where={"source": "latin1-café.txt"})["documents"])


def test_pdf_and_outside_files_are_copied_into_sources(fresh, tmp_path):
    from reportlab.pdfgen import canvas

    pdf = tmp_path / "outside" / "report.pdf"
    pdf.parent.mkdir()
    c = canvas.Canvas(str(pdf))
    c.setTitle("The Quarterly Report")
    c.drawString(72, 720, "The orchard produced nine hundred apples in the autumn of 2021.")
    c.save()
    run_ingest(fresh)
    report = run_ingest(fresh, [str(pdf)])
    assert report.added == 1 and not report.failed
    assert (fresh.sources_dir / "report.pdf").exists()
    result = Assistant(fresh).ask("How many apples did the orchard produce?")
    assert "nine hundred" in result["answer"] and result["citations"][0]["source"] == "report.pdf"


def test_cli_ingest_json_and_exit_codes(fresh):
    first = cli(["ingest", "--json"], fresh)
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    assert set(summary) == {"added", "updated", "unchanged", "removed", "failed", "chunks", "seconds"}
    assert summary["added"] == 4
    (fresh.sources_dir / "zero.txt").write_bytes(b"\x00\x01\x02" * 100)
    second = cli(["ingest", "--json"], fresh)
    assert second.returncode == 1
    summary = json.loads(second.stdout)
    assert summary["unchanged"] == 4 and summary["failed"][0]["source"] == "zero.txt"
    human = cli(["ingest"], fresh)
    assert human.returncode == 1 and "4 unchanged" in human.stdout and "Traceback" not in human.stderr


def test_cli_ingest_of_a_missing_file_or_bad_url_fails_cleanly(fresh):
    run = cli(["ingest", "no/such/file.txt", "http://127.0.0.1:9/nothing"], fresh)
    assert run.returncode == 1 and "Traceback" not in run.stderr + run.stdout
    assert "no such file" in run.stdout and "not a public address" in run.stdout  # loopback is refused
    allowed = cli(["ingest", "http://127.0.0.1:9/nothing"], fresh, {"SOURCECHAT_URL_ALLOW_HOSTS": '["127.0.0.1"]'})
    assert allowed.returncode == 1 and "could not fetch" in allowed.stdout and "Traceback" not in allowed.stderr


def test_url_is_fetched_saved_into_sources_and_answerable(fresh, tmp_path):
    import functools
    import http.server
    import threading

    site = tmp_path / "site"
    site.mkdir()
    (site / "story.html").write_text(
        "<html><head><title>Harbour News</title></head><body><nav>Home | About</nav><article>"
        "<h1>Harbour News</h1><p>The new ferry to Skarvik was named Marisol by the harbour council in 2019. "
        "It carries two hundred passengers on each crossing.</p><p>Its captain is Ingrid Holm.</p>"
        "</article><footer>Contact us</footer></body></html>", encoding="utf-8")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/story.html"
        run_ingest(fresh)
        refused = run_ingest(fresh, [url])  # loopback is not fetched unless the admin allows the host
        assert not refused.added and "not a public address" in refused.failed[0]["error"]
        fresh = fresh.model_copy(update={"url_allow_hosts": ["127.0.0.1"]})
        report = run_ingest(fresh, [url])
    finally:
        server.shutdown()
    assert report.added == 1 and not report.failed
    saved = [p for p in fresh.sources_dir.glob("*.md")]
    assert len(saved) == 1 and "title: \"Harbour News\"" in saved[0].read_text()
    assert "Contact us" not in saved[0].read_text()  # trafilatura kept the article, not the page chrome
    result = Assistant(fresh).ask("Who is the captain of the ferry?")
    assert result["answer"] in {"Ingrid Holm", ""} and "Ingrid Holm" in result["text"]
    assert any(c["source"] == saved[0].name and "Ingrid Holm" in c["quote"] for c in result["citations"])
    assert run_ingest(fresh).unchanged == 5  # the saved page is an ordinary article from now on


def _report_pdf(path: Path) -> None:
    """A three-page report as typesetting makes one: a running header and a numbered footer on every page,
    a sentence that runs over a page break, and a word broken with a hyphen at a line end."""
    from reportlab.pdfgen import canvas

    pages = [
        ["The harbour board met eleven times in 2024 and approved the new deep-water quay at",
         "the north basin, whose ageing infra-",
         "structure had been judged unsafe by the port engineer in a survey last spring. The quay"],
        ["opened on 3 June 2025 and cost the board £4.2 million, which was paid in full from the",
         "reserve fund that the board has kept since the sale of the old fish market in 2011.",
         "Repairs to the breakwater, which was damaged in the storms of last winter, are planned."],
        ["The board thanks the Pellerin Dock Company and its staff for their help during the works."],
    ]
    c = canvas.Canvas(str(path))
    for n, lines in enumerate(pages, 1):
        c.drawString(60, 800, "Tarrow Harbour Board - Annual Report 2024")
        for row, line in enumerate(lines):
            c.drawString(60, 740 - 16 * row, line)
        c.drawString(280, 30, f"Page {n} of {len(pages)}")
        c.showPage()
    c.save()


def test_a_pdf_report_reads_as_running_text_without_its_headers_footers_or_line_end_hyphens(fresh, tmp_path):
    pdf = tmp_path / "harbour-report.pdf"
    _report_pdf(pdf)
    text = load_article(pdf).text
    assert "Annual Report 2024" not in text and "Page 2" not in text  # the running header and the footers
    assert "infrastructure" in text and "infra-" not in text
    assert "The quay\nopened on 3 June 2025" in text  # one sentence, though a page ended inside it
    report = run_ingest(fresh, [str(pdf)])
    assert report.added == 1 and not report.failed
    result = Assistant(fresh).ask("When did the quay open?")
    assert result["citations"][0]["source"] == "harbour-report.pdf"
    quote = " ".join(result["citations"][0]["quote"].split())
    assert "3 June 2025" in result["text"] and "The quay opened on 3 June 2025" in quote


WIKI_PAGE = """<html><head><title>Tarrow Lighthouse - Wikipedia</title></head><body>
<div id="content"><h1>Tarrow Lighthouse</h1>
<table class="infobox"><tr><th>Height</th><td>31 m</td></tr><tr><th>Keeper</th><td>Edda Marsh</td></tr></table>
<p>Tarrow Lighthouse is a lighthouse on the north pier of Tarrow harbour. It was first lit on 2 March 1874.<sup
class="reference"><a href="#cite_note-1">[1]</a></sup> Its lamp was electrified in 1936, and its light can be
seen 18 nautical miles out to sea.<sup class="reference"><a href="#cite_note-2">[2]</a></sup></p>
<h2><span class="mw-headline" id="History">History</span><span class="mw-editsection"><span
class="mw-editsection-bracket">[</span><a href="/w/index.php?title=Tarrow_Lighthouse&amp;action=edit&amp;section=1">edit</a><span
class="mw-editsection-bracket">]</span></span></h2>
<p>The lighthouse was designed by the engineer Alder Quist and built by the Pellerin Dock Company at a cost of
£4,100. It has been automated since 1991, when its last keeper retired after 29 years of service.</p>
<h2><span class="mw-headline" id="References">References</span></h2>
<div class="reflist"><ol class="references"><li id="cite_note-1"><a href="#cite_ref-1">^</a> Brund, Oskar (1990).
<i>Lights of the Northern Coast</i>. Harwick Press. p. 77.</li><li id="cite_note-2"><a href="#cite_ref-2">^</a>
"Pier light goes electric". Tarrow Gazette. 9 May 1936.</li></ol></div>
<table class="navbox"><tr><td><a href="/wiki/Osterby_Light">Osterby Light</a> · <a href="/wiki/Kallbrenn_Light">Kallbrenn
Light</a> · <a href="/wiki/Voss_Point_Light">Voss Point Light</a></td></tr></table>
</div></body></html>"""


def test_a_wiki_page_reads_without_edit_links_citation_markers_references_or_navboxes(tmp_path):
    page = tmp_path / "tarrow-lighthouse.html"
    page.write_text(WIKI_PAGE, encoding="utf-8")
    text = load_article(page).text
    assert "first lit on 2 March 1874. Its lamp" in text and "out to sea." in text  # no "[1]" after a sentence
    assert "[edit]" not in text and "edit" not in text.split("History")[1][:5]
    assert "History" in text and "Alder Quist" in text and "Edda Marsh" in text  # headings, text and infobox stay
    assert "Harwick Press" not in text and "Pier light goes electric" not in text  # the references
    assert "Voss Point Light" not in text  # the navigation box of related pages
    plain = tmp_path / "plain.html"  # a page with none of a wiki's markup reads as before
    plain.write_text("<html><body><article><p>The reference desk opens at 9:00.</p></article></body></html>")
    assert load_article(plain).text.strip() == "The reference desk opens at 9:00."


def test_ingest_imports_nothing_from_rag(fresh):
    """Data flows one way (sources → ingest → Chroma → rag): an ingest run, in a process of its own, stores
    the chunks, sentence vectors and word vectors that rag reads without loading any rag module."""
    import subprocess
    import sys

    code = ("import sys\n"
            "from ingest import run_ingest\n"
            "from sourcechat.settings import Settings\n"
            f"report = run_ingest(Settings(sources_dir={str(fresh.sources_dir)!r}, index_dir={str(fresh.index_dir)!r},"
            " _env_file=None))\n"
            "print(report.chunks, sorted(m for m in sys.modules if m == 'rag' or m.startswith('rag.')))\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    chunks, loaded = run.stdout.strip().split(" ", 1)
    assert int(chunks) > 0 and loaded == "[]"
    assert any((fresh.index_dir / "sentence_vectors").glob("*.f32"))


EMAIL_THREAD = ("From: Harriet Ashdown <clerk@wrenfold.example>\r\nDate: Wed, 11 Oct 2023 10:27:14 +0100\r\n"
                "Subject: RE: Village hall roof\r\n\r\nDear Renée,\r\n\r\nThe council accepted your revised price.\r\n\r\n"
                "On Fri, 6 Oct 2023 at 18:05, Bernard Quayle wrote:\r\n> Thanks for forwarding the figure.\r\n>\r\n"
                "> On Thu, 5 Oct 2023 at 16:42, Renée Castellan wrote:\r\n> > When we lifted a section of the north\r\n"
                "> > slope we found that about 40 square metres of the battens are\r\n> > rotten. I’m afraid this adds "
                "£660, so our revised price is\r\n> > £13,640 plus VAT.\r\n")

POSTMORTEM = """---
title: The sequence outage
---
Postmortem
==========

> **TL;DR** Shipments failed for *3 hours 40 minutes* on 16 March.

<!-- Reviewed by legal on 21 March. -->

Step 14 ran `sync_sequences.sh`, which **silently** wrote to the old primary[^1]. See our [notes][2].

```bash
$ ./scripts/sync_sequences.sh --target pg-main-02
Synced 214 sequences in 1.8s
```

[^1]: The script read PGHOST first.
[2]: https://example.com/notes
"""


def test_an_email_thread_and_markdown_read_without_quote_marks_or_markup(fresh, tmp_path):
    """A reply's quoted lines ("> ", "> > ") read as their text, so a sentence quoted across lines is one
    sentence; Markdown reads as rendered: no emphasis or code marks, comments, fences, footnote markers or
    link targets, while code lines and a footnote's text stay."""
    email = tmp_path / "roof-emails.txt"
    email.write_bytes(EMAIL_THREAD.encode("cp1252"))
    text = load_article(email).text
    assert "> " not in text and "\n>" not in text
    assert "When we lifted a section of the north\nslope we found that about 40 square metres" in text
    page = tmp_path / "postmortem.md"
    page.write_text(POSTMORTEM, encoding="utf-8")
    text = load_article(page).text
    assert "TL;DR Shipments failed for 3 hours 40 minutes on 16 March." in text
    assert "Step 14 ran sync_sequences.sh, which silently wrote to the old primary. See our notes." in text
    assert "Synced 214 sequences in 1.8s" in text and "[^1]: The script read PGHOST first." in text
    assert "legal" not in text and "```" not in text and "**" not in text and "`" not in text
    assert run_ingest(fresh, [str(email)]).added == 1
    result = Assistant(fresh).ask("How many square metres of battens were rotten?")
    assert result["citations"][0]["source"] == "roof-emails.txt"
    assert "40 square metres" in result["text"] and ">" not in result["citations"][0]["quote"]


SPEC_PAGE = """<html><head><title>The Heron class narrowboat</title></head><body><nav><a href="/">Home</a></nav>
<article><h1>The Heron class narrowboat</h1>
<p>The Heron is our mid-sized boat for four to six people, built at our own yard on the Denholme canal.</p>
<h2>Heron class at a glance</h2>
<dl><dt>Length</dt><dd>60 ft (18.3 m)</dd><dt>Engine</dt><dd>Marlow KD4 diesel, 43 hp</dd>
<div><dt>Water tank</dt><dd>180 gallons (818 litres)</dd></div></dl>
<p>Every boat has a cruiser stern and a fixed double bed in the rear cabin.</p></article></body></html>"""


def test_a_definition_list_reads_as_terms_and_their_definitions(fresh, tmp_path):
    """A `<dl>` of specifications: each definition keeps its term ("Length: 60 ft"), so a question about
    the length finds the row that says it (read as two list items, "60 ft" said nothing of length)."""
    page = tmp_path / "heron.html"
    page.write_text(SPEC_PAGE, encoding="utf-8")
    text = load_article(page).text
    assert "Length: 60 ft (18.3 m)" in text and "Water tank: 180 gallons (818 litres)" in text
    assert "cruiser stern" in text
    assert run_ingest(fresh, [str(page)]).added == 1
    result = Assistant(fresh).ask("How much water does the Heron's tank hold?")
    assert result["citations"][0]["source"] == "heron.html" and "180 gallons" in result["text"]


LIVE_PAGE = """<html><head><title>Floods live</title></head><body><nav><a href="/">Home</a></nav><main><article>
<h1>Marrowby floods live</h1>
<div class="share"><span>Share</span> <a href="#">Facebook</a> <a href="#">Email</a></div>
<div class="update"><p class="time"><time datetime="2025-02-18T16:42Z">16:42 GMT</time></p>
<h3>A7081 to stay shut until Thursday</h3>
<p>The A7081 between Marrowby and Holt End will not reopen until Thursday morning at the earliest, the county
council's highways team has said.</p></div>
<div class="ad-slot">Advertisement</div>
<div class="update"><p class="time"><time datetime="2025-02-18T11:15Z">11:15 GMT</time></p>
<h3>Main road closed</h3>
<p>Police have closed the A7081 between Marrowby and Holt End, and expect it to reopen at 18:00.</p></div>
<section class="recipe-card"><h2>The rest centre</h2><ul class="meta"><li>Beds: 40</li><li>Opens: 17:00</li></ul>
<p>The rest centre in St Aidan's church hall on Mill Lane takes families with pets as well as those without.</p>
</section>
<section class="comments"><p>Sam: my street flooded at 9am, not 11!</p></section>
</article></main><footer><p>Contact us</p></footer></body></html>"""


def test_an_articles_short_lines_that_trafilatura_drops_are_kept_in_place(tmp_path):
    """A live blog's update times and a card's "Key: value" lines are the article's facts, though trafilatura
    drops them as page furniture; share buttons, ads, comments and the footer stay out."""
    page = tmp_path / "floods-live.html"
    page.write_text(LIVE_PAGE, encoding="utf-8")
    text = load_article(page).text
    assert "16:42 GMT\nA7081 to stay shut until Thursday" in text  # each time over its update's headline
    assert text.index("11:15 GMT") < text.index("Main road closed") < text.index("reopen at 18:00")
    assert "Beds: 40" in text and "Opens: 17:00" in text
    for furniture in ("Facebook", "Advertisement", "my street flooded", "Contact us"):
        assert furniture not in text


def test_a_journal_pages_running_heads_and_page_numbers_do_not_break_a_sentence():
    """A journal numbers its pages through the volume ("212" on the PDF's second page) and may print a running
    head on one page only; neither may land inside the sentence that runs over the page break."""
    from ingest.load import join_pages

    first = ("Journal of Upland Soil Ecology 14(3): 211-212 (2024)\nRESEARCH ARTICLE\n"
             "© 2024 The Authors. Journal of Upland Soil Ecology, Vol. 14, No. 3 - page 211\n"
             "Grazing and soil microbes\nThe decline was best described by a linear model (R2 = 0.78, p")
    second = ("212\nJournal of Upland Soil Ecology\n"
              "© 2024 The Authors. Journal of Upland Soil Ecology, Vol. 14, No. 3 - page 212\n"
              "< 0.001); adding a quadratic term did not improve the fit.\nTable 1. Soil properties.")
    text = join_pages([first, second])
    assert "linear model (R2 = 0.78, p\n< 0.001); adding" in text
    assert "page 21" not in text and "\n212\n" not in text
    assert text.startswith("Journal of Upland Soil Ecology 14(3)")  # the first page's own lines stay


RECIPE_PAGE = """<html><head><title>Lemon tart</title></head><body><nav><a href="/">Recipes</a></nav><main><article>
<h1>Sharp lemon tart</h1>
<p>My grandmother baked this tart every August for the regatta, and it was sold by the slice on the quay.</p>
<section class="recipe-card"><h2>Sharp lemon tart</h2>
<ul class="recipe-meta"><li>Prep time: 40 mins</li><li>Servings: 10 slices</li></ul>
<h3>Method</h3><p>Bake the filled case for 25 to 30 minutes, until the centre still has a slight wobble.</p>
<h3>Nutrition (per slice)</h3>
<table><tr><th>Nutrient</th><th>Amount</th></tr><tr><td>Calories</td><td>312 kcal</td></tr>
<tr><td>Sugars</td><td>22 g</td></tr></table></section>
</article></main></body></html>"""


def test_a_value_under_a_key_the_question_does_not_name_is_not_its_answer(fresh, tmp_path):
    """"Servings: 10 slices" counts slices: asked how many calories a slice has, its number answers another
    question (the `other_key` feature), while the question about servings takes it."""
    page = tmp_path / "lemon-tart.html"
    page.write_text(RECIPE_PAGE, encoding="utf-8")
    assert run_ingest(fresh, [str(page)]).added == 1
    assistant = Assistant(fresh)
    calories = assistant.ask("How many calories are in one slice of the tart?")
    assert calories["answer"] != "10" and "312" in calories["text"], calories["text"]
    servings = assistant.ask("How many servings does the tart make?")
    assert "10" in servings["text"]


NOTES = ("The ferry leaves Brannock at 07:10 on weekdays. It reaches Lissan forty minutes later. "
         "On Saturdays the first sailing is at 08:30. The last boat back leaves Lissan at 19:45. "
         "Bicycles travel free until March. Dogs on a lead are welcome on the open deck. "
         "Tickets can be bought on board with cash or a card. A return costs £9.40 for an adult.\n")


def test_a_new_chunker_gives_the_same_text_a_new_version(fresh, tmp_path, monkeypatch):
    """A release that cuts text into other chunks or sentences re-ingests unchanged files; their chunks, sentence
    vectors and saved view data must then be another version's, or a restarted server keeps the old
    version's chunks and sentences (same text, same ids) beside the new sentences' vectors."""
    import ingest.pipeline as pipeline
    from ingest.chunk import chunk_article

    notes = tmp_path / "ferry-notes.txt"
    notes.write_text(NOTES, encoding="utf-8")
    assert run_ingest(fresh, [str(notes)]).added == 1
    first = Assistant(fresh)
    assert "07:10" in first.ask("When does the ferry leave Brannock on weekdays?")["text"]
    first.corpus.saved()  # the view a restart loads
    before = set(open_collection(fresh).get()["ids"])
    monkeypatch.setattr(pipeline, "CHUNKER_VERSION", "next")
    monkeypatch.setattr(pipeline, "chunk_article", lambda article, chars, overlap: chunk_article(article, 120, 0))
    assert run_ingest(fresh, [str(notes)]).updated == 1  # the same file, cut again by the new chunker
    after = set(open_collection(fresh).get()["ids"])
    assert after.isdisjoint(before) and len(after) > len(before)
    restarted = Assistant(fresh)
    article = restarted.corpus.snapshot().articles["ferry-notes.txt"]
    assert set(article.ids) == after
    assert "£9.40" in restarted.ask("How much is an adult return?")["text"]
