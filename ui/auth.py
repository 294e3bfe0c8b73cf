"""Who may do what in the web app: asking (open, or behind SOURCECHAT_ASK_PASSWORD) and changing the
collection (only with SOURCECHAT_ADMIN_PASSWORD; with none set, article changes go through the CLI).

The ask password is HTTP Basic auth on the whole app (any user name), so the chat, Gradio's API and file
routes and the `/source/` viewer are all behind it, and `gradio_client` passes it as a header. Passwords
are compared with `secrets.compare_digest`; a wrong one costs a short pause, to slow guessing.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import secrets
import time

from pydantic import SecretStr

log = logging.getLogger(__name__)

WRONG_PASSWORD_PAUSE = 0.5  # seconds; a guess per half second per connection instead of thousands
READ_ONLY = ("Article changes are turned off in the web app (no SOURCECHAT_ADMIN_PASSWORD is set); "
             "an admin changes the collection with the `sourcechat` command line on the server.")
WRONG_ADMIN = "Wrong admin password: the collection was not changed."


def secret_value(secret: SecretStr | None) -> str | None:
    """The password, or None when it is unset or empty (an empty variable means "no password")."""
    value = secret.get_secret_value() if secret is not None else ""
    return value or None


def password_matches(given: str | None, expected: str) -> bool:
    """Constant-time comparison of UTF-8 bytes (compare_digest refuses non-ASCII str)."""
    ok = secrets.compare_digest((given or "").encode("utf-8", "surrogatepass"), expected.encode("utf-8"))
    if not ok:
        time.sleep(WRONG_PASSWORD_PAUSE)
    return ok


def admin_refusal(admin_password: SecretStr | None, given: str | None) -> str | None:
    """Why an article change is refused, or None when the admin password was given."""
    expected = secret_value(admin_password)
    if expected is None:
        return READ_ONLY
    if not password_matches(given, expected):
        return WRONG_ADMIN
    return None


def basic_auth_password(header: bytes | None) -> str | None:
    """The password of an `Authorization: Basic …` header (the user name is ignored), else None."""
    if not header or header[:6].lower() != b"basic ":
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded.partition(":")[2]


class AskPasswordMiddleware:
    """ASGI middleware: every HTTP or websocket request needs the ask password as HTTP Basic auth."""

    def __init__(self, app, password: str, realm: str = "sourcechat"):
        self.app = app
        self.password = password
        self.realm = realm

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] not in {"http", "websocket"}:
            await self.app(scope, receive, send)
            return
        header = dict(scope.get("headers") or []).get(b"authorization")
        given = basic_auth_password(header)
        if given is not None and secrets.compare_digest(given.encode("utf-8", "surrogatepass"),
                                                        self.password.encode("utf-8")):
            await self.app(scope, receive, send)
            return
        if given is not None:
            client = (scope.get("client") or ("?",))[0]
            log.warning("wrong ask password from %s for %s", client, scope.get("path"))
            await asyncio.sleep(WRONG_PASSWORD_PAUSE)
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        await send({"type": "http.response.start", "status": 401, "headers": [
            (b"www-authenticate", f'Basic realm="{self.realm}", charset="UTF-8"'.encode()),
            (b"content-type", b"text/plain; charset=utf-8")]})
        await send({"type": "http.response.body", "body": b"The chat needs its password (HTTP Basic auth).\n"})
