"""Collection changes outside an ingest run, shared by the web app and the CLI: removing an article keeps
its file (in `sources/.versions/`, restorable) and writes an audit line."""

from __future__ import annotations

from pathlib import Path

from ingest.pipeline import remove_article
from ingest.versions import VERSIONS_DIR, keep_version
from sourcechat.audit import audit
from sourcechat.errors import UserError
from sourcechat.settings import Settings


def remove_source(settings: Settings, source: str, client: str = "cli") -> str:
    """Drop one article's chunks from the index and move its file into `.versions/`. Returns a one-line
    report; an unknown name raises UserError (audited)."""
    path = settings.sources_dir / Path(source).name
    deleted = remove_article(settings, source)
    kept = keep_version(path) if path.is_file() else None
    if not deleted and kept is None:
        audit(settings, "remove", source, "failed: no such article", client)
        raise UserError(f"no article {source} to remove")
    where = f"; its file is kept as {VERSIONS_DIR}/{kept.name}" if kept else ""
    audit(settings, "remove", source, f"removed {deleted} chunks{where}", client)
    return f"Removed {source} ({deleted} chunks){where}."
