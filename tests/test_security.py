"""Attacks from a second client on loopback against a real `sourcechat serve` (issue 8's table, the rows
fixed so far). Bounded: a handful of requests, loopback only. The server runs with a socket spy that
records every connection it tries to open to anything but loopback: the offline test reads it."""

from __future__ import annotations

import json
import textwrap
import time
import urllib.error
import urllib.request

import pytest

from tests.conftest import cli, copy_sources, make_settings, serving

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
def served(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("security")
    settings = make_settings(tmp)
    copy_sources(settings.sources_dir)
    assert cli(["ingest", "--json"], settings).returncode == 0
    (tmp / "spy").mkdir()
    (tmp / "spy" / "sitecustomize.py").write_text(SPY)
    spy_log = tmp / "connections.log"
    # GRADIO_ANALYTICS_ENABLED is removed: the app itself must turn analytics off
    env = {"PYTHONPATH": str(tmp / "spy"), "SOURCECHAT_TEST_SPY": str(spy_log), "GRADIO_ANALYTICS_ENABLED": None}
    with serving(settings, tmp, env) as (url, _):
        yield url, settings, spy_log, tmp


def client(url: str):
    from gradio_client import Client

    return Client(url, verbose=False)


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
    replies = [c.predict(None, target, api_name="/ingest")[0]
               for target in (str(secret), str(tmp_path), str(tmp_path / "missing.txt"), f"file://{secret}")]
    assert all("Only http:// or https:// URLs" in r for r in replies), replies
    assert len(set(replies)) == 1  # an existing file, a folder and a missing path get the same answer
    assert sorted(p.name for p in settings.sources_dir.iterdir()) == before


def test_url_ingest_refuses_loopback_and_private_addresses(served):
    url, settings, _, _ = served
    c = client(url)
    for target in (url, "http://127.0.0.1:1/", "http://10.0.0.1/", "http://169.254.169.254/latest/meta-data/",
                   "http://[::1]/"):
        status = c.predict(None, target, api_name="/ingest")[0]
        assert "not a public address" in status, (target, status)
        assert "refused" in status.lower() and "Connection" not in status  # no port scanner


def test_a_raw_path_sent_as_an_upload_is_refused(served, tmp_path):
    """`mount_gradio_app` skips Gradio's "was this uploaded?" check, so the app makes it itself."""
    url, settings, _, _ = served
    secret = tmp_path / "secret.txt"  # a type the upload accepts, outside Gradio's upload folder
    secret.write_text("The vault is opened with the word Persimmon.")
    before = sorted(p.name for p in settings.sources_dir.iterdir())
    body = json.dumps({"data": [[{"path": str(secret), "meta": {"_type": "gradio.FileData"}}], ""]}).encode()
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


def test_serve_opens_no_connection_but_loopback(served):
    url, _, spy_log, tmp = served
    client(url).predict("Who mastered the song?", api_name="/chat")
    time.sleep(1)
    attempts = spy_log.read_text() if spy_log.exists() else ""
    assert attempts == "", attempts
    log = (tmp / "serve.log").read_text()
    # the only traceback allowed is Gradio's own queue printing its refusal of the raw path (InvalidPathError)
    assert log.count("Traceback") == log.count("InvalidPathError: Cannot move"), log
