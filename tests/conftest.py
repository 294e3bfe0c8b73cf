"""Shared fixtures: real articles, a real Chroma index in a temp folder, the real bundled model."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

from sourcechat.settings import Settings  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "sources"
WIKI = "001_ac7605141e2d40cd.txt"
ESSAY = "000_4d2ff6d2b23e2ef2.txt"
HEADS = "002_31dfbbeb8fb3b9a2.txt"
REVIEW = "003_dbc4efc2e2110280.txt"


def pytest_terminal_summary(terminalreporter):
    """Print what tests recorded for the log (`record_property`), e.g. the gate's eval metrics."""
    for report in terminalreporter.stats.get("passed", []) + terminalreporter.stats.get("failed", []):
        for name, value in getattr(report, "user_properties", []):
            terminalreporter.write_line(f"{name}: {value}")


def make_settings(tmp: Path, **overrides) -> Settings:
    return Settings(sources_dir=tmp / "sources", index_dir=tmp / "index", _env_file=None, **overrides)


def copy_sources(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for f in SOURCES.glob("*.txt"):
        shutil.copy(f, dest / f.name)
    return dest


@pytest.fixture
def fresh(tmp_path: Path) -> Settings:
    """A private copy of the articles and an empty index."""
    settings = make_settings(tmp_path)
    copy_sources(settings.sources_dir)
    return settings


@pytest.fixture(scope="session")
def indexed(tmp_path_factory) -> Settings:
    """The four articles ingested once for the whole session (read-only for tests that use it)."""
    from ingest import run_ingest

    tmp = tmp_path_factory.mktemp("indexed")
    settings = make_settings(tmp)
    copy_sources(settings.sources_dir)
    report = run_ingest(settings)
    assert report.added == 4 and not report.failed
    return settings


@pytest.fixture(scope="session")
def assistant(indexed):
    from rag import Assistant

    return Assistant(indexed)


def cli(args: list[str], settings: Settings | None = None, env: dict | None = None, timeout: int = 300):
    """Run the real `sourcechat` command in a subprocess."""
    full_env = dict(os.environ)
    if settings is not None:
        full_env["SOURCECHAT_SOURCES_DIR"] = str(settings.sources_dir)
        full_env["SOURCECHAT_INDEX_DIR"] = str(settings.index_dir)
    full_env.update(env or {})
    exe = Path(sys.executable).parent / "sourcechat"
    cwd = settings.index_dir.parent if settings else None
    if cwd:
        cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.run([str(exe), *args], capture_output=True, text=True, env=full_env, timeout=timeout, cwd=cwd)


def indexed_copy(indexed: Settings, dest: Path, **overrides) -> Settings:
    """A private, writable copy of the session's ingested folder (the four articles and their index, as
    `run_ingest` left them): for tests whose subject comes after that ingest. Ingesting the four takes ~18 s
    here, a copy well under one; the first ingest itself is what tests/test_ingest.py checks."""
    shutil.copytree(indexed.sources_dir.parent, dest, dirs_exist_ok=True)
    return make_settings(dest, **overrides)


def ingested_copy(tmp_path_factory, name: str, indexed: Settings) -> tuple[Path, Settings]:
    """A temp folder holding an ingested copy of the articles: for tests that start their own server on it."""
    tmp = tmp_path_factory.mktemp(name)
    return tmp, indexed_copy(indexed, tmp)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serving(settings: Settings, workdir: Path, env: dict | None = None):
    """A real `sourcechat serve` on a free loopback port: yields (url, process); its output goes to
    workdir/serve.log. Stopped on exit."""
    port = free_port()
    full_env = dict(os.environ, SOURCECHAT_SOURCES_DIR=str(settings.sources_dir),
                    SOURCECHAT_INDEX_DIR=str(settings.index_dir), **(env or {}))
    full_env = {k: v for k, v in full_env.items() if v is not None}
    log = open(workdir / "serve.log", "w")
    proc = subprocess.Popen([str(Path(sys.executable).parent / "sourcechat"), "serve", "--port", str(port)],
                            env=full_env, cwd=workdir, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.time() + 300  # a loaded 2-core machine starts it slowly
        while True:
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except urllib.error.HTTPError:  # it answers (a password-protected server says 401)
                break
            except OSError:
                assert proc.poll() is None, (workdir / "serve.log").read_text()
                assert time.time() < deadline, "the chat server did not start"
                time.sleep(1)
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:  # uvicorn waits for clients' open streams; do not wait forever
            proc.kill()
            proc.wait(timeout=30)
        log.close()
