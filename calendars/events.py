"""Writing events: make one calendar hold (or no longer hold) one booking's event.

Both entry points are idempotent, which is what lets the Celery task retry blindly: the event
carries the booking's uid (an extended property), so when the stored item id is unknown or
stale we look the event up by uid before creating anything.
"""

from __future__ import annotations

from calendars.backends.base import CalendarTarget, EventData
from calendars.connect import backend_for
from calendars.errors import ExchangeError
from calendars.models import ExchangeConnection


def put(
    connection: ExchangeConnection, target: CalendarTarget, event: EventData, item_id: str = ""
) -> str:
    """Create the event, or move/update it in place; returns its item id."""
    backend = backend_for(connection)
    if item_id:
        try:
            return backend.update_event(target, item_id, event)
        except ExchangeError as exc:
            if exc.code != "item_not_found":
                raise
    found = backend.find_event(target, event.uid)
    if found:
        return backend.update_event(target, found, event)
    return backend.create_event(target, event)


def remove(
    connection: ExchangeConnection, target: CalendarTarget, uid: str, item_id: str = ""
) -> None:
    """Delete the event if it is there; an event already gone is success."""
    backend = backend_for(connection)
    found = item_id or backend.find_event(target, uid)
    if found:
        backend.delete_event(target, found)


def join_url(connection: ExchangeConnection, target: CalendarTarget, item_id: str) -> str | None:
    """The online meeting's join link of a written event (Teams, on Graph-backed calendars)."""
    return backend_for(connection).join_url(target, item_id)
