"""What can go wrong with an action on a show, in the domain's words.

`http/` maps each to a status code; nothing here knows about HTTP.
"""

from __future__ import annotations


class ShowActionError(Exception):
    """An action on a show that cannot be done; `message` says why, for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotOnAir(ShowActionError):
    """The show is not on air (not live yet, or over)."""


class NothingToUndo(ShowActionError):
    """Nothing is pinned, or no question is highlighted."""


class UnknownProduct(ShowActionError):
    """No such product in the catalog (deleted or never there)."""


class UnknownMessage(ShowActionError):
    """No such chat message in this show (or it was deleted)."""
