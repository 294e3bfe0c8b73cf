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
