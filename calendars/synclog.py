"""The sync log: one row per call the app makes to Exchange.

Rows carry the operation, the mailbox and the outcome; never a secret, a subject or a body.
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING

from django.utils import timezone

from calendars.errors import ExchangeError, translate

if TYPE_CHECKING:
    from calendars.models import ExchangeConnection

log = logging.getLogger(__name__)

# Calls made from worker threads (parallel busy-time reads) must not touch the database from
# those threads: their connections would sit outside the caller's transaction and never be
# closed. Inside `collecting()`, rows are gathered here and written by the calling thread.
_sink: contextvars.ContextVar[list | None] = contextvars.ContextVar("synclog_sink", default=None)


@contextmanager
def collecting() -> Iterator[None]:
    from calendars.models import SyncLogEntry

    rows: list = []
    token = _sink.set(rows)
    try:
        yield
    finally:
        _sink.reset(token)
        try:
            SyncLogEntry.objects.bulk_create(rows)
        except Exception:
            log.exception("could not write the sync log")


@contextmanager
def record(
    connection: ExchangeConnection | None, direction: str, operation: str, target: str
) -> Iterator[None]:
    from calendars.models import SyncLogEntry

    started = time.monotonic()
    outcome, ok = "ok", True
    try:
        yield
    except Exception as exc:
        error = exc if isinstance(exc, ExchangeError) else translate(exc)
        outcome, ok = error.code, False
        raise
    finally:
        elapsed = int((time.monotonic() - started) * 1000)
        entry = SyncLogEntry(
            direction=direction,
            operation=operation,
            connection=connection if connection and connection.pk else None,
            target_mailbox=target[:254],
            ok=ok,
            outcome=outcome,
            duration_ms=elapsed,
        )
        sink = _sink.get()
        try:
            if sink is not None:
                sink.append(entry)
            else:
                entry.save()
        except Exception:
            # The log must never turn a working Exchange call into a failure.
            log.exception("could not write the sync log")


def prune(days: int) -> int:
    from calendars.models import SyncLogEntry

    cutoff = timezone.now() - timedelta(days=days)
    deleted, _ = SyncLogEntry.objects.filter(created__lt=cutoff).delete()
    return deleted
