"""The one error the catalog raises for bad input: which field, and what is wrong with it."""

from __future__ import annotations


class FieldError(ValueError):
    """A value a user got wrong; `str()` is a message safe to show, naming the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class InvalidInput(ValueError):
    """One or more fields are wrong; `errors` lists them all, `str()` joins their messages."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors
