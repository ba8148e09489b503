"""Row ids from paths and JSON bodies, checked against what SQLite can hold.

SQLite's INTEGER is 64-bit signed: a bigger number reaching a query raises OverflowError
(a 500). Ids are positive, so anything outside 1..MAX_ID names nothing.
"""

from __future__ import annotations

from aiohttp import web

from .errors import error
from .jsonbody import whole_number

MAX_ID = 2**63 - 1
"The largest SQLite INTEGER, so the largest rowid."


def path_id(request: web.Request, name: str, what: str) -> int:
    """The id in the path parameter `name`; 404 ("no such <what>") if it cannot be one."""
    text = request.match_info[name]
    if not text.isascii() or not text.isdigit() or len(text) > 19 or not 1 <= int(text) <= MAX_ID:
        raise error(404, f"no such {what}")
    return int(text)


def json_id(value: object, field: str) -> int:
    """An id sent in a JSON body; 422 naming `field` unless it is a whole number 1..MAX_ID."""
    number = whole_number(value)
    if number is None or not 1 <= number <= MAX_ID:
        raise error(422, f"{field} must be an id (a whole number from 1 to {MAX_ID})")
    return number
