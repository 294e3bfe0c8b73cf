"""Chroma in server mode (`chroma run`), chosen by a setting: the same ingest and answers over HTTP."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from ingest import run_ingest
from rag import Assistant
from tests.conftest import copy_sources, free_port, make_settings


@pytest.fixture
def chroma_server(tmp_path):
    exe = shutil.which("chroma", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.fail("the chroma command (from chromadb) is missing")
    port = free_port()
    proc = subprocess.Popen([exe, "run", "--path", str(tmp_path / "server-data"), "--host", "127.0.0.1",
                             "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=2)
            break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("chroma run did not start")
    yield port
    proc.terminate()
    proc.wait(timeout=30)


def test_ingest_and_answer_against_a_chroma_server(chroma_server, tmp_path):
    settings = make_settings(tmp_path, chroma_host="127.0.0.1", chroma_port=chroma_server)
    copy_sources(settings.sources_dir)
    first = run_ingest(settings)
    assert first.added == 4 and not first.failed
    assert run_ingest(settings).unchanged == 4
    assert not settings.chroma_dir.exists()  # nothing stored locally: the server holds the vectors
    result = Assistant(settings).ask("Who mastered the song?")
    assert result["answer"] == "Emerson Mancini" and not result["refused"]


def test_two_serve_processes_on_one_chroma_server_answer_the_same(chroma_server, tmp_path):
    """Scaling out: two `sourcechat serve` processes, each with its own local folder (as on two machines),
    read one `chroma run`; asked the same questions, they give the same replies."""
    from gradio_client import Client

    from tests.conftest import serving

    chroma = {"SOURCECHAT_CHROMA_HOST": "127.0.0.1", "SOURCECHAT_CHROMA_PORT": str(chroma_server)}
    first = make_settings(tmp_path / "a", chroma_host="127.0.0.1", chroma_port=chroma_server)
    copy_sources(first.sources_dir)
    assert run_ingest(first).added == 4
    second = make_settings(tmp_path / "b", chroma_host="127.0.0.1", chroma_port=chroma_server)
    copy_sources(second.sources_dir)  # the same articles on the other machine; it never ingests them
    questions = ["Who mastered the song?", "Why did Kendrick write the song?"]
    with serving(first, tmp_path / "a", env=chroma) as (one, _), serving(second, tmp_path / "b", env=chroma) as (two, _):
        clients = [Client(one, verbose=False), Client(two, verbose=False)]  # both up at once
        replies = [[c.predict(q, api_name="/chat") for c in clients] for q in questions]
    assert "Emerson Mancini" in replies[0][0]
    assert all(a == b for a, b in replies), replies
