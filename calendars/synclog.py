"""The sync log: one row per call the app makes to Exchange.

Rows carry the operation, the mailbox and the outcome; never a secret, a subject or a body.
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, TypeVar

from django.db import connections, router, transaction
from django.utils import timezone

from calendars.errors import ExchangeError, translate
from scheduler_site.afterresponse import later

if TYPE_CHECKING:
    from calendars.models import ExchangeConnection

log = logging.getLogger(__name__)

T = TypeVar("T")

# Calls made from worker threads (parallel busy-time reads) must not touch the database from
# those threads: their connections would sit outside the caller's transaction and never be
# closed. Jobs run through a `Collector` gather their rows here; the calling thread writes them.
_sink: contextvars.ContextVar[list | None] = contextvars.ContextVar("synclog_sink", default=None)


class Collector:
    """Runs jobs in other threads with their sync log rows gathered for the calling thread,
    which writes them with `flush()` (after its response, inside a web request)."""

    def __init__(self) -> None:
        self.rows: list = []
        self._context = contextvars.copy_context()
        self._context.run(_sink.set, self.rows)

    def submit(self, pool: Executor, job: Callable[[], T]) -> Future[T]:
        # Each job in its own copy of the caller's context (a Context runs in one thread at
        # a time), every copy reporting into the same rows.
        return pool.submit(self._context.copy().run, job)

    def run(self, job: Callable[[], T]) -> T:
        """Run `job` in this thread, its rows gathered with the others'."""
        return self._context.copy().run(job)

    def flush(self) -> None:
        rows, self.rows = self.rows, []
        if rows:
            later(lambda: _write(rows))


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
        if sink is not None:
            sink.append(entry)
        else:
            later(lambda: _write([entry]))


def _write(rows: list) -> None:
    """Insert log rows without waiting for the disk (and, inside a web request, after its
    response was sent: scheduler_site/afterresponse.py). On PostgreSQL, outside any transaction
    of the caller's, they commit with synchronous_commit off: a slots request that read busy
    time doesn't wait for a WAL flush (one to several milliseconds) for its log row, and a
    crash can lose the last fraction of a second of log rows, nothing else. Inside a
    caller's transaction (a booking's final check) the rows simply commit with it: the
    setting must never reach a transaction that holds a booking."""
    from calendars.models import SyncLogEntry

    try:
        db = connections[router.db_for_write(SyncLogEntry)]
        if db.vendor != "postgresql" or db.in_atomic_block:
            SyncLogEntry.objects.using(db.alias).bulk_create(rows)
            return
        with transaction.atomic(using=db.alias):
            with db.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
            SyncLogEntry.objects.using(db.alias).bulk_create(rows)
    except Exception:
        # The log must never turn a working Exchange call into a failure.
        log.exception("could not write the sync log")


def prune(days: int) -> int:
    from calendars.models import SyncLogEntry

    cutoff = timezone.now() - timedelta(days=days)
    deleted, _ = SyncLogEntry.objects.filter(created__lt=cutoff).delete()
    return deleted
