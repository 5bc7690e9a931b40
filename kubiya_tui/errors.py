"""Errors that reach a user as one clear line."""

from __future__ import annotations


class UserError(Exception):
    """Something the user can fix: bad input, a missing key, an unreachable server."""

    exit_code = 1

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code
