"""Attacks from a second client on loopback against a real `sourcechat serve` (issue 8's table). Bounded:
a handful of requests, loopback only. The main server has an admin password and runs with a socket spy
that records every connection it tries to open to anything but loopback (the offline test reads it); a
second one has no admin password (read-only Articles tab) and an ask password."""

from __future__ import annotations

import base64
import json
import os
import textwrap
import time
import urllib.error
import urllib.request

import pytest

from sourcechat.audit import read_audit
from tests.conftest import WIKI, cli, indexed_copy, ingested_copy, serving

ADMIN = "correct horse battery"
ASK = "open sesame"

SPY = textwrap.dedent('''
    import os, socket
    _log = os.environ["SOURCECHAT_TEST_SPY"]
    _connect = socket.socket.connect
    def _loopback(address):
        host = address[0] if isinstance(address, tuple) else str(address)
        return host.startswith("127.") or host in ("::1", "localhost") or not isinstance(address, tuple)
    def connect(self, address):
        if not _loopback(address):
            with open(_log, "a") as fh:
                fh.write(repr(address) + "\\n")
        return _connect(self, address)
    socket.socket.connect = connect
''')


@pytest.fixture(scope="module")
def served(tmp_path_factory, indexed):
    tmp, settings = ingested_copy(tmp_path_factory, "security", indexed)
    (tmp / "spy").mkdir()
    (tmp / "spy" / "sitecustomize.py").write_text(SPY)
    spy_log = tmp / "connections.log"
    # GRADIO_ANALYTICS_ENABLED is removed: the app itself must turn analytics off
    env = {"PYTHONPATH": os.pathsep.join([str(tmp / "spy"), os.environ.get("PYTHONPATH", "")]),
           "SOURCECHAT_TEST_SPY": str(spy_log), "GRADIO_ANALYTICS_ENABLED": None, "SOURCECHAT_ADMIN_PASSWORD": ADMIN,
           "GRADIO_TEMP_DIR": str(tmp / "uploads")}
    with serving(settings, tmp, env) as (url, _):
        yield url, settings, spy_log, tmp


def client(url: str, password: str | None = None):
    from gradio_client import Client

    headers = {"Authorization": "Basic " + base64.b64encode(f"reader:{password}".encode()).decode()} if password else None
    return Client(url, verbose=False, headers=headers)


def upload(path):
    from gradio_client import handle_file

    return [handle_file(str(path))]


def source_names(settings) -> list[str]:
    return sorted(p.name for p in settings.sources_dir.iterdir())


def test_foreign_host_header_is_refused(served):
    url, *_ = served
    assert urllib.request.urlopen(url, timeout=10).status == 200
    request = urllib.request.Request(url, headers={"Host": "evil.example"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 400


def test_url_field_takes_only_http_urls_and_never_reveals_local_files(served, tmp_path):
    url, settings, _, _ = served
    secret = tmp_path / "secret.txt"
    secret.write_text("The launch code is 0000.")
    before = sorted(p.name for p in settings.sources_dir.iterdir())
    c = client(url)
    replies = [c.predict(None, target, ADMIN, False, api_name="/ingest")[0]
               for target in (str(secret), str(tmp_path), str(tmp_path / "missing.txt"), f"file://{secret}")]
    assert all("Only http:// or https:// URLs" in r for r in replies), replies
    assert len(set(replies)) == 1  # an existing file, a folder and a missing path get the same answer
    assert sorted(p.name for p in settings.sources_dir.iterdir()) == before


def test_url_ingest_refuses_loopback_and_private_addresses(served):
    url, settings, _, _ = served
    c = client(url)
    for target in (url, "http://127.0.0.1:1/", "http://10.0.0.1/", "http://169.254.169.254/latest/meta-data/",
                   "http://[::1]/"):
        status = c.predict(None, target, ADMIN, False, api_name="/ingest")[0]
        assert "not a public address" in status, (target, status)
        assert "refused" in status.lower() and "Connection" not in status  # no port scanner


def test_a_raw_path_sent_as_an_upload_is_refused(served, tmp_path):
    """`mount_gradio_app` skips Gradio's "was this uploaded?" check, so the app makes it itself."""
    url, settings, _, _ = served
    secret = tmp_path / "secret.txt"  # a type the upload accepts, outside Gradio's upload folder
    secret.write_text("The vault is opened with the word Persimmon.")
    before = sorted(p.name for p in settings.sources_dir.iterdir())
    body = json.dumps({"data": [[{"path": str(secret), "meta": {"_type": "gradio.FileData"}}], "", ADMIN, False]}).encode()
    request = urllib.request.Request(url + "gradio_api/call/ingest", data=body,
                                     headers={"Content-Type": "application/json"})
    event = json.loads(urllib.request.urlopen(request, timeout=30).read())["event_id"]
    stream = urllib.request.urlopen(f"{url}gradio_api/call/ingest/{event}", timeout=120).read().decode()
    assert sorted(p.name for p in settings.sources_dir.iterdir()) == before
    assert "not an uploaded file" in stream or "not uploaded by a user" in stream, stream
    assert "Persimmon" not in client(url).predict("What word opens the vault?", api_name="/chat")


def test_odd_questions_never_show_a_python_exception(served):
    url, *_ = served
    c = client(url)
    for question in ("\x00\x07 Who mastered the song?\x1b[31m", "\ud800 Who mastered the song?", "", "   "):
        try:
            reply = c.predict(question, api_name="/chat")
        except Exception as exc:  # the transport may refuse invalid text itself; then nothing reached us
            assert "surrogate" in str(exc) or "encode" in str(exc), exc
            continue
        assert "Traceback" not in reply and "Error" not in reply.split("\n")[0], reply


def test_quotes_and_titles_render_as_text():
    from ui.app import render_reply

    quote = "Click ![x](http://host/track.png?who=reader) or [refund form](http://host/phish) <b>now</b>."
    result = {"answer": "[win](http://host/)", "refused": False, "kind": "factual", "citations": [
        {"n": 1, "source": "a.md", "title": "[t](http://host/)", "quote": quote, "start": 0, "end": 10}]}
    rendered = "".join(render_reply(result))
    assert "![x](" not in rendered and "[refund form](" not in rendered and "<b>" not in rendered
    assert "[win](" not in rendered
    assert "\\!\\[x\\]" in rendered or "\\[x\\]" in rendered  # escaped, shown as written


# --- roles: the admin password guards every article change, in the API and not only the buttons ---------


@pytest.fixture(scope="module")
def locked(tmp_path_factory, indexed):
    """A second server: no admin password (the Articles tab is read-only) and an ask password."""
    tmp, settings = ingested_copy(tmp_path_factory, "locked", indexed)
    env = {"SOURCECHAT_ASK_PASSWORD": ASK, "SOURCECHAT_ADMIN_PASSWORD": None}
    with serving(settings, tmp, env) as (url, _):
        yield url, settings


def test_ask_password_guards_the_whole_site(locked):
    url, settings = locked
    for path in ("", "source/" + WIKI, "gradio_api/info", "config"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url + path, timeout=10)
        assert refused.value.code == 401, path
    wrong = urllib.request.Request(url, headers={"Authorization": "Basic " + base64.b64encode(b"x:guess").decode()})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(wrong, timeout=10)
    assert refused.value.code == 401
    assert "Emerson Mancini" in client(url, ASK).predict("Who mastered the song?", api_name="/chat")


def test_without_admin_password_the_api_refuses_every_change(locked, tmp_path):
    url, settings = locked
    new = tmp_path / "intruder.txt"
    new.write_text("The Intruder\n\nThe castle gate code is 4471, said the intruder.\n")
    before = {p.name: p.read_bytes() for p in settings.sources_dir.iterdir() if p.is_file()}
    c = client(url, ASK)
    replies = [c.predict(upload(new), "", "", False, api_name="/ingest")[0],
               c.predict(upload(new), "", "any guess", True, api_name="/ingest")[0],
               c.predict("any guess", api_name="/reingest")[0],
               c.predict(WIKI, "", api_name="/remove")[0]]
    assert all("turned off in the web app" in r and "command line" in r for r in replies), replies
    after = {p.name: p.read_bytes() for p in settings.sources_dir.iterdir() if p.is_file()}
    assert after == before and not (settings.sources_dir / ".versions").exists()
    assert "Emerson Mancini" in c.predict("Who mastered the song?", api_name="/chat")  # still indexed
    assert "4471" not in c.predict("What is the castle gate code?", api_name="/chat")
    refused = [e for e in read_audit(settings) if e["result"].startswith("refused")]
    assert len(refused) == 4 and {e["client"] for e in refused} == {"web 127.0.0.1"}


@pytest.mark.browser
def test_without_admin_password_the_articles_tab_is_read_only(locked, tmp_path):
    from playwright.sync_api import sync_playwright

    from tests.test_ui import BROWSER_ARGS

    url, _ = locked
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=BROWSER_ARGS)
        try:
            page = browser.new_page(http_credentials={"username": "reader", "password": ASK})
            page.goto(url)
            page.get_by_role("tab", name="Articles").click()
            page.wait_for_selector("text=changes the collection with the", timeout=30000)
            # the list arrives with the page's load event, after the static notice: wait for it
            page.locator("text=" + WIKI).first.wait_for(timeout=30000)
            for name in ("Ingest", "Re-ingest all", "Remove"):
                assert not page.get_by_role("button", name=name, exact=True).is_visible()
            assert not page.locator("#upload").is_visible()
            page.screenshot(path=str(tmp_path / "read-only-articles.png"))
        finally:
            browser.close()


def test_wrong_admin_password_is_refused_and_the_right_one_works(served, tmp_path):
    url, settings, _, tmp = served
    new = tmp_path / "varnholm.txt"
    new.write_text("The Lighthouse of Varnholm\n\nThe lighthouse of Varnholm was painted teal in 1887 by the "
                   "keeper Ottilie Brask.\n")
    c = client(url)
    before = source_names(settings)
    wrong = c.predict(upload(new), "", "wrong horse", False, api_name="/ingest")[0]
    assert "Wrong admin password" in wrong and source_names(settings) == before
    right = c.predict(upload(new), "", ADMIN, False, api_name="/ingest")[0]
    assert "1 added" in right and "varnholm.txt" in source_names(settings)
    assert "Ottilie Brask" in c.predict("Who painted the lighthouse of Varnholm?", api_name="/chat")
    # Gradio's temp copies of what we ingested are gone
    leftovers = [p for p in (tmp / "uploads").rglob("*") if p.is_file() and "Varnholm" in p.read_text(errors="ignore")]
    assert leftovers == []
    events = read_audit(settings)
    assert any(e["action"] == "ingest" and e["target"] == "varnholm.txt" and e["result"] == "added"
               and e["client"] == "web 127.0.0.1" for e in events), events
    assert any(e["result"] == "refused: Wrong admin password: the collection was not changed." for e in events)


def test_same_name_upload_is_refused_unless_replaced_and_the_old_one_is_kept(served, tmp_path):
    url, settings, _, _ = served
    first = tmp_path / "one" / "harbour.txt"
    first.parent.mkdir()
    first.write_text("Harbour Notes\n\nThe harbour master of Skarvik is Ingrid Holm.\n")
    impostor = tmp_path / "two" / "harbour.txt"
    impostor.parent.mkdir()
    impostor.write_text("Harbour Notes\n\nThe harbour master of Skarvik is Mallory Crane.\n")
    c = client(url)
    assert "1 added" in c.predict(upload(first), "", ADMIN, False, api_name="/ingest")[0]
    assert "1 unchanged" in c.predict(upload(first), "", ADMIN, False, api_name="/ingest")[0]
    refused = c.predict(upload(impostor), "", ADMIN, False, api_name="/ingest")[0]
    assert "already exists with different content" in refused and "replace" in refused
    assert (settings.sources_dir / "harbour.txt").read_bytes() == first.read_bytes()
    assert "Ingrid Holm" in c.predict("Who is the harbour master of Skarvik?", api_name="/chat")

    replaced = c.predict(upload(impostor), "", ADMIN, True, api_name="/ingest")[0]
    assert "1 updated" in replaced, replaced
    assert (settings.sources_dir / "harbour.txt").read_bytes() == impostor.read_bytes()
    kept = list((settings.sources_dir / ".versions").glob("harbour.txt.*"))
    assert len(kept) == 1 and kept[0].read_bytes() == first.read_bytes()
    assert any(e["action"] == "replace" and e["target"] == "harbour.txt" and kept[0].name in e["result"]
               for e in read_audit(settings))


def test_dot_files_and_odd_names_get_safe_names_that_survive_a_reingest(served, tmp_path):
    """Gradio itself refuses a dot-file upload once its upload check is on; odd names get safe names (the
    CLI test below shows a dot-file copied in from a path gets one too)."""
    from gradio_client.exceptions import AppError

    url, settings, _, _ = served
    c = client(url)
    hidden = tmp_path / ".hidden.txt"
    hidden.write_text("Hidden\n\nThe hidden note mentions the walrus Sigrun.\n")
    before = source_names(settings)
    with pytest.raises(AppError, match="Dotfiles"):
        c.predict(upload(hidden), "", ADMIN, False, api_name="/ingest")
    assert source_names(settings) == before
    names = {"my notes (draft).TXT": "my-notes-draft.txt", "café über.md": "café-über.md"}
    for i, name in enumerate(names):
        f = tmp_path / name
        f.write_text(f"Odd Name {i}\n\nThe odd file number {i} mentions the walrus Bertil{i}.\n")
        status = c.predict(upload(f), "", ADMIN, False, api_name="/ingest")[0]
        assert "1 added" in status, (name, status)
    assert set(names.values()) <= set(source_names(settings))
    again = c.predict(ADMIN, api_name="/reingest")[0]
    assert "0 removed" in again and "0 added" in again, again
    assert set(names.values()) <= set(source_names(settings))
    assert "Bertil0" in c.predict("Which walrus does the odd file number 0 mention?", api_name="/chat")


def test_remove_keeps_the_file_and_is_audited(served, tmp_path):
    url, settings, _, _ = served
    f = tmp_path / "ephemeral.txt"
    f.write_text("Ephemeral\n\nThe ephemeral note says the kettle is blue.\n")
    c = client(url)
    assert "1 added" in c.predict(upload(f), "", ADMIN, False, api_name="/ingest")[0]
    assert "turned off" not in (wrong := c.predict("ephemeral.txt", "nope", api_name="/remove")[0]) and "Wrong" in wrong
    assert (settings.sources_dir / "ephemeral.txt").exists()
    status = c.predict("ephemeral.txt", ADMIN, api_name="/remove")[0]
    assert "Removed ephemeral.txt" in status and ".versions" in status
    assert not (settings.sources_dir / "ephemeral.txt").exists()
    kept = list((settings.sources_dir / ".versions").glob("ephemeral.txt.*"))
    assert len(kept) == 1 and kept[0].read_bytes() == f.read_bytes()
    assert "0 removed" in c.predict(ADMIN, api_name="/reingest")[0]  # .versions/ is not an article
    event = [e for e in read_audit(settings) if e["action"] == "remove" and e["target"] == "ephemeral.txt"][-1]
    assert event["result"].startswith("removed") and event["client"] == "web 127.0.0.1" and event["time"]


@pytest.mark.browser
def test_remove_choices_are_fresh_for_each_browser(served, tmp_path):
    from playwright.sync_api import sync_playwright

    from tests.test_ui import BROWSER_ARGS

    url, *_ = served
    f = tmp_path / "latecomer.txt"
    f.write_text("Latecomer\n\nThe latecomer arrived after the server started.\n")
    assert "1 added" in client(url).predict(upload(f), "", ADMIN, False, api_name="/ingest")[0]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=BROWSER_ARGS)
        try:
            page = browser.new_page()
            page.goto(url)
            page.get_by_role("tab", name="Articles").click()
            page.get_by_label("Article to remove").click()
            page.wait_for_selector("[role='option']:has-text('latecomer.txt')", timeout=30000)
        finally:
            browser.close()


def test_serve_opens_no_connection_but_loopback(served):
    url, _, spy_log, tmp = served
    client(url).predict("Who mastered the song?", api_name="/chat")
    time.sleep(1)
    attempts = spy_log.read_text() if spy_log.exists() else ""
    assert attempts == "", attempts
    log = (tmp / "serve.log").read_text()
    # the only tracebacks allowed are Gradio's own queue printing its refusals of the raw path and the dot-file
    assert log.count("Traceback") == log.count("gradio.exceptions.InvalidPathError: "), log


# --- the same rules on the command line: nothing lost, everything audited ------------------------------


def test_cli_replace_restore_and_remove_keep_every_version(indexed, tmp_path):
    fresh = indexed_copy(indexed, tmp_path / "ingested")
    original = (fresh.sources_dir / WIKI).read_bytes()
    impostor = tmp_path / "elsewhere" / WIKI
    impostor.parent.mkdir()
    impostor.write_bytes(original.replace(b"Emerson Mancini mastered", b"Mallory Crane mastered"))

    refused = cli(["ingest", str(impostor)], fresh)
    assert refused.returncode == 1 and "already exists with different content" in refused.stdout
    assert (fresh.sources_dir / WIKI).read_bytes() == original and "Traceback" not in refused.stderr
    same = cli(["ingest", "--json", str(fresh.sources_dir / WIKI)], fresh)
    assert json.loads(same.stdout)["unchanged"] == 1

    replaced = cli(["ingest", "--json", "--replace", str(impostor)], fresh)
    assert replaced.returncode == 0 and json.loads(replaced.stdout)["updated"] == 1
    assert "Mallory Crane" in cli(["ask", "Who mastered the song?"], fresh).stdout
    listed = cli(["restore"], fresh).stdout.split()
    assert len(listed) == 1 and listed[0].startswith(WIKI + ".")

    restored = cli(["restore", WIKI], fresh)
    assert restored.returncode == 0 and "1 updated" in restored.stdout, restored.stdout + restored.stderr
    assert (fresh.sources_dir / WIKI).read_bytes() == original
    assert "Emerson Mancini" in cli(["ask", "Who mastered the song?"], fresh).stdout
    kept = list((fresh.sources_dir / ".versions").iterdir())
    assert [p.read_bytes() for p in kept] == [impostor.read_bytes()]  # the impostor is kept in turn

    removed = cli(["remove", WIKI], fresh)
    assert removed.returncode == 0 and ".versions" in removed.stdout
    assert not (fresh.sources_dir / WIKI).exists() and len(list((fresh.sources_dir / ".versions").iterdir())) == 2
    assert "no article" in cli(["remove", "nothing.txt"], fresh).stderr
    assert cli(["restore", "nothing.txt"], fresh).returncode == 2

    events = read_audit(fresh)
    assert [e["action"] for e in events if e["target"] == WIKI and e["action"] != "ingest"] == \
        ["replace", "restore", "remove"]
    assert all(e["client"].startswith("cli") and e["time"] for e in events)
    assert any(e["result"].startswith("failed: an article named") for e in events)


def test_odd_names_copied_in_from_the_cli_are_safe_and_survive_a_full_ingest(fresh, tmp_path):
    from ingest import run_ingest, safe_name

    outside = tmp_path / "outside"
    outside.mkdir()
    for name in (".hidden.txt", "two  spaces.txt", "Ünïcode ☃.md"):
        (outside / name).write_text(f"Note\n\nThe note called {name} is about owls.\n")
    report = run_ingest(fresh, [str(outside / n) for n in (".hidden.txt", "two  spaces.txt", "Ünïcode ☃.md")])
    assert report.added == 3 and not report.failed
    names = {p.name for p in fresh.sources_dir.iterdir() if p.is_file()}
    assert {"hidden.txt", "two-spaces.txt", "Ünïcode.md"} <= names
    assert run_ingest(fresh).removed == 0  # nothing it added is pruned next time
    assert safe_name("../../etc/passwd") == "passwd" and safe_name("..") == "article"
    assert safe_name(".hidden.txt") == safe_name(".hidden.txt") == "hidden.txt"  # stable
