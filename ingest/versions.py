"""Names and versions of the files in the sources folder: nothing is lost or silently replaced.

A file that enters `sources/` (an upload, a CLI path, a fetched page) gets a safe, stable name, so the
next full ingest (which skips dot-files) keeps it. Writing over an article with different bytes is refused
unless the caller asks to replace it; then the old file is moved to `sources/.versions/<name>.<timestamp>`
first, and `restore_version` brings it back. Removing an article also keeps its file there.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from sourcechat.errors import SourceError, UserError

log = logging.getLogger(__name__)

VERSIONS_DIR = ".versions"
_STAMP = "%Y%m%dT%H%M%S%fZ"
_STAMP_RE = re.compile(r"\.(\d{8}T\d{12}Z)$")
MAX_STEM = 120


def safe_name(name: str) -> str:
    """A name that cannot leave the folder, hide from the next ingest or need quoting: the last path part,
    NFC, runs of anything but letters (any script), digits, `_`, `.` and `-` turned into one `-`, no leading
    or trailing dots or dashes, the suffix lower-cased. Stable: the same name always maps to the same one."""
    base = unicodedata.normalize("NFC", name.replace("\\", "/").rsplit("/", 1)[-1])
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    stem = re.sub(r"[^\w.-]+", "-", stem)
    stem = re.sub(r"-{2,}", "-", stem).strip(".-")[:MAX_STEM].strip(".-") or "article"
    suffix = re.sub(r"[^a-z0-9]", "", suffix.lower())
    return f"{stem}.{suffix}" if suffix else stem


@dataclass
class Placed:
    path: Path
    status: str  # "new" | "unchanged" | "replaced"
    version: Path | None = None  # where the replaced file was kept


def versions_dir(sources_dir: Path) -> Path:
    return sources_dir / VERSIONS_DIR


def keep_version(path: Path) -> Path:
    """Move an article's file into `.versions/` under its name and a UTC timestamp; returns the new path."""
    folder = versions_dir(path.parent)
    folder.mkdir(parents=True, exist_ok=True)
    kept = folder / f"{path.name}.{datetime.now(timezone.utc).strftime(_STAMP)}"
    path.replace(kept)
    log.info("kept %s as %s", path.name, kept)
    return kept


def place(data: bytes, name: str, sources_dir: Path, replace: bool = False) -> Placed:
    """Write `data` into the sources folder as `name` (already safe). Same bytes there → "unchanged";
    different bytes → refused unless `replace`, and then the old file is kept in `.versions/` first."""
    sources_dir.mkdir(parents=True, exist_ok=True)
    dest = sources_dir / name
    if dest.is_file():
        if dest.read_bytes() == data:
            return Placed(dest, "unchanged")
        if not replace:
            raise SourceError(f"an article named {name} already exists with different content; "
                              "choose “replace” to replace it (the old version is kept)")
        kept = keep_version(dest)
        dest.write_bytes(data)
        return Placed(dest, "replaced", kept)
    dest.write_bytes(data)
    return Placed(dest, "new")


def list_versions(sources_dir: Path, name: str | None = None) -> list[Path]:
    """Kept versions, oldest first; only those of `name` when given."""
    folder = versions_dir(sources_dir)
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if p.is_file() and _STAMP_RE.search(p.name)]
    if name is not None:
        found = [p for p in found if _STAMP_RE.sub("", p.name) == name]
    return sorted(found, key=lambda p: (m.group(1) if (m := _STAMP_RE.search(p.name)) else "", p.name))


def restore_version(sources_dir: Path, name: str, stamp: str | None = None) -> tuple[Path, Path | None]:
    """Put a kept version of `name` back (the newest, or the one with that timestamp). The current file,
    if any, is kept as a version first. Returns (restored file, where the current one was kept)."""
    name = Path(name).name
    candidates = list_versions(sources_dir, name)
    if stamp:
        candidates = [p for p in candidates if p.name.endswith("." + stamp)]
    if not candidates:
        raise UserError(f"no kept version of {name}" + (f" with timestamp {stamp}" if stamp else "")
                        + f" in {versions_dir(sources_dir)}")
    chosen = candidates[-1]
    dest = sources_dir / name
    kept = keep_version(dest) if dest.is_file() else None
    dest.write_bytes(chosen.read_bytes())
    chosen.unlink()
    return dest, kept
