"""The audit log: who changed the collection, when, and how it went.

Every ingest, replace, remove and restore (web app and CLI), and every refused change, becomes one JSON
line in `{index_dir}/audit.log` and one line on the `sourcechat.audit` logger. A refused input is a line,
never a traceback: the admin reads the file to see what was tried from where.
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import datetime, timezone
from typing import Any

from sourcechat.settings import Settings

log = logging.getLogger(__name__)
_lock = threading.Lock()  # one serving process writes from several request threads

AUDIT_FILE = "audit.log"


def audit(settings: Settings, action: str, target: str, result: str, client: str = "cli", **extra: Any) -> dict:
    """Append one event; returns it. Never raises: a full disk must not turn a change into a crash."""
    event = {"time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"), "action": action,
             "target": target, "result": result, "client": client, **extra}
    line = json.dumps(event, ensure_ascii=False)
    level = logging.WARNING if result.startswith(("refused", "failed")) else logging.INFO
    log.log(level, "%s %s: %s (from %s)", action, target, result, client)
    try:
        settings.index_dir.mkdir(parents=True, exist_ok=True)
        with _lock, open(settings.index_dir / AUDIT_FILE, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
    except OSError as exc:
        log.error("could not write the audit log: %s", exc)
    return event


def read_audit(settings: Settings) -> list[dict]:
    """All events so far, oldest first (for tests and for an admin's quick look)."""
    path = settings.index_dir / AUDIT_FILE
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
