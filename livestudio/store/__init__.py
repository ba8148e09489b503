"""Persistence: one SQLite file through one Store; imports nothing from media/ or http/."""

from livestudio.store.analytics import ClickRow, SessionRow, TimedEvent
from livestudio.store.auth import ApiTokenRecord, LoginSessionRecord, generate_password
from livestudio.store.base import ConflictError, NotFoundError, ValidationError
from livestudio.store.clips import ClipRecord
from livestudio.store.db import Store
from livestudio.store.destinations import DestinationRecord
from livestudio.store.moderation import BanRecord, ChatSettingsRecord
from livestudio.store.products import ProductRecord
from livestudio.store.schema import MIGRATIONS, SHOW_STATES
from livestudio.store.shows import EventRecord, ShowRecord, normalize_starts_at, validate_title

__all__ = [
    "MIGRATIONS",
    "SHOW_STATES",
    "ApiTokenRecord",
    "BanRecord",
    "ChatSettingsRecord",
    "ClickRow",
    "ClipRecord",
    "ConflictError",
    "DestinationRecord",
    "EventRecord",
    "LoginSessionRecord",
    "NotFoundError",
    "ProductRecord",
    "SessionRow",
    "ShowRecord",
    "Store",
    "TimedEvent",
    "ValidationError",
    "generate_password",
    "normalize_starts_at",
    "validate_title",
]
