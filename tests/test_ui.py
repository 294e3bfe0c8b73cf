"""The web chat for real: a `sourcechat serve` process, headless Chromium, gradio_client."""

from __future__ import annotations

import os
import shutil
import threading
import time

import pytest

from tests.conftest import ROOT, WIKI, cli, indexed_copy, ingested_copy, make_settings, serving

BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--no-first-run", "--disable-sync"]
ADMIN = "ui-admin"  # article changes in the web app need the admin password
NEW_ARTICLE = ("The Lighthouse of Varnholm\n\nThe lighthouse of Varnholm was painted teal in 1887 by the keeper "
               "Ottilie Brask. Its lamp can be seen from 31 kilometres away on a clear night.\n")


@pytest.fixture(scope="module")
def server(tmp_path_factory, indexed):
    tmp, settings = ingested_copy(tmp_path_factory, "ui", indexed)
    with serving(settings, tmp, {"SOURCECHAT_ADMIN_PASSWORD": ADMIN}) as (url, proc):
        yield url, settings, proc


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=BROWSER_ARGS)
        yield b
        b.close()


def ask_in_page(page, question: str) -> tuple[str, float]:
    """Type a question, return the bot's final reply and the seconds to its first visible text."""
    before = page.locator("[data-testid='bot']").count()
    box = page.locator("textarea").first
    box.fill(question)
    started = time.perf_counter()
    box.press("Enter")
    page.wait_for_function(
        "n => { const b = document.querySelectorAll(\"[data-testid='bot']\"); "
        "return b.length > n && b[b.length - 1].innerText.trim().length > 0; }", arg=before, timeout=60000)
    first_token = time.perf_counter() - started
    last = page.locator("[data-testid='bot']").last
    previous, stable_since = None, time.time()
    while time.time() - stable_since < 1.0:  # the stream has ended when the text stops changing
        text = last.inner_text()
        if text != previous:
            previous, stable_since = text, time.time()
        time.sleep(0.1)
    return previous, first_token


def upload(page, path) -> None:
    """Choose a file in the Articles tab and wait until Gradio has uploaded it and shows its name."""
    page.locator("#upload input[type='file']").set_input_files(str(path))
    page.locator("#upload").get_by_text(path.stem).first.wait_for(timeout=30000)


@pytest.mark.browser
def test_browser_chat_citation_viewer_and_upload(server, browser, tmp_path):
    url, settings, _ = server
    shots = tmp_path / "screenshots"
    shots.mkdir()
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.goto(url)
    page.wait_for_selector("textarea")
    page.screenshot(path=str(shots / "1-empty-chat.png"))

    reply, ttft = ask_in_page(page, "Who mastered the song?")
    print(f"\ntime to first token: {ttft * 1000:.0f} ms")
    (tmp_path / "ttft_ms.txt").write_text(f"{ttft * 1000:.0f}")
    assert "Emerson Mancini" in reply and "[1]" in reply and WIKI in reply
    page.screenshot(path=str(shots / "2-answer.png"))
    if os.environ.get("SOURCECHAT_UPDATE_SCREENSHOT"):
        shutil.copy(shots / "2-answer.png", ROOT / "docs" / "chat.png")

    with page.expect_popup() as popup:
        page.locator("[data-testid='bot'] a", has_text="[1]").last.click()
    viewer = popup.value
    viewer.wait_for_load_state()
    assert viewer.locator("h1").inner_text() == "We Cry Together"
    cited = viewer.locator("mark#cited")
    assert cited.inner_text() == "Emerson Mancini mastered it at Larrabee Studios in North Hollywood."
    assert viewer.evaluate("() => { const r = document.getElementById('cited').getBoundingClientRect();"
                           " return r.top >= 0 && r.bottom <= window.innerHeight; }")
    viewer.screenshot(path=str(shots / "3-source-viewer.png"))
    viewer.close()

    article = tmp_path / "varnholm.txt"
    article.write_text(NEW_ARTICLE, encoding="utf-8")
    page.get_by_role("tab", name="Articles").click()
    page.locator("#admin-password input").fill(ADMIN)
    upload(page, article)
    page.get_by_role("button", name="Ingest", exact=True).click()
    page.wait_for_selector("text=1 added", timeout=120000)
    page.locator("text=varnholm.txt").first.wait_for(timeout=30000)  # the list shows the new article
    page.screenshot(path=str(shots / "4-articles.png"))

    page.get_by_role("tab", name="Chat").click()
    reply, _ = ask_in_page(page, "Who painted the lighthouse of Varnholm?")
    assert "Ottilie Brask" in reply and "varnholm.txt" in reply
    page.screenshot(path=str(shots / "5-new-article-answer.png"))
    assert (settings.sources_dir / "varnholm.txt").exists()
    assert len(list(shots.glob("*.png"))) == 5


@pytest.mark.browser
def test_bad_input_in_the_page(server, browser, tmp_path):
    url, _, proc = server
    page = browser.new_page()
    page.goto(url)
    page.wait_for_selector("textarea")
    reply, _ = ask_in_page(page, "x" * 3000)
    assert "too long" in reply
    bad = tmp_path / "broken.pdf"
    bad.write_bytes(b"%PDF-1.4 not a pdf at all")
    page.get_by_role("tab", name="Articles").click()
    page.locator("#admin-password input").fill(ADMIN)
    upload(page, bad)
    page.get_by_role("button", name="Ingest", exact=True).click()
    page.wait_for_selector("text=was not ingested", timeout=60000)
    assert proc.poll() is None


def test_gradio_client_chat_and_concurrency(server):
    from gradio_client import Client

    url, _, _ = server
    client = Client(url, verbose=False)
    reply = client.predict("At what position did the song debut on the Billboard Hot 100?", api_name="/chat")
    assert "16" in reply and "[1]" in reply and WIKI.replace("_", "\\_") in reply

    questions = {"Who mastered the song?": "Emerson Mancini", "What musical key is the song set in?": "B-flat minor"}
    replies: dict[str, str] = {}

    def ask(q: str) -> None:
        replies[q] = Client(url, verbose=False).predict(q, api_name="/chat")

    threads = [threading.Thread(target=ask, args=(q,)) for q in questions]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for q, expected in questions.items():
        assert expected in replies[q]
        other = next(v for k, v in questions.items() if k != q)
        assert other not in replies[q]


def test_terminal_ingest_while_serving_is_refused_and_index_unharmed(server):
    url, settings, _ = server
    run = cli(["ingest"], settings)
    assert run.returncode == 2 and "sourcechat serve" in run.stderr and "Traceback" not in run.stderr
    from gradio_client import Client

    assert "Emerson Mancini" in Client(url, verbose=False).predict("Who mastered the song?", api_name="/chat")


def test_empty_index_says_so(tmp_path):
    from ui.app import EMPTY_INDEX, ChatService

    service = ChatService(make_settings(tmp_path))
    assert list(service.chat("When was it released?", [])) == [EMPTY_INDEX]
    assert service.article_rows() == []


def test_articles_tab_remove_and_reingest(indexed, tmp_path):
    from ui.app import ChatService

    settings = indexed_copy(indexed, tmp_path, admin_password=ADMIN)
    service = ChatService(settings)
    assert {r[1] for r in service.article_rows()} == {p.name for p in settings.sources_dir.iterdir()}
    assert "Wrong admin password" in service.remove(WIKI, "guess")[0]
    message, rows, _ = service.remove(WIKI, ADMIN)
    assert "Removed" in message and WIKI not in {r[1] for r in rows}
    assert not (settings.sources_dir / WIKI).exists()
    reply = "".join(service.chat("Who mastered the song?", []))
    assert "Emerson Mancini" not in reply  # gone from the chat at once, no restart
    status, rows = service.reingest_all(ADMIN, progress=lambda *a, **k: None)
    assert "0 added" in status and len(rows) == 3
