"""Errors meant for the user: the CLI prints their message on one line, with no traceback."""


class UserError(Exception):
    """Bad input or a state the user can fix (no index yet, an unreadable file, a busy index)."""


class SourceError(UserError):
    """One article could not be read; ingest reports it and goes on with the others."""
