"""Reading busy time: the one entry point booking code uses, with a short shared cache.

Only start, end and free/busy status ever leave this module. Primary calendars are read with
one batched free/busy request for all owners; sub-calendars with CalendarView; independent
requests in parallel (see EwsBackend.busy).

The cache is keyed by the calendars, the range and a per-owner generation number; bumping an
owner's generation (`invalidate`) makes every cached answer that includes them unreachable,
which is how a booking or cancellation made by this app shows up at once everywhere.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.core.cache import cache

from calendars.backends.base import BusyInterval, CalendarTarget
from calendars.connect import backend_for
from calendars.errors import ExchangeError
from calendars.models import CalendarRef, ExchangeConnection
from scheduler_site.afterresponse import later

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BusyResult:
    intervals: dict[int, list[BusyInterval]]  # CalendarRef pk -> busy intervals
    stale: bool = False  # served from a cache older than BUSY_CACHE_SECONDS: Exchange is down
    fetched_at: float = 0.0  # unix time the answer came from Exchange


@dataclass(frozen=True)
class CachedBusy:
    generations: tuple[int, ...]  # the owners' generations the answer was read at
    result: BusyResult

    def answers(self, generations: tuple[int, ...], within: float) -> bool:
        """Still the answer: read at the owners' current generations, at most `within`
        seconds ago."""
        return self.generations == generations and time.time() - self.result.fetched_at <= within


def _lookup(
    connection: ExchangeConnection,
    calendars: Sequence[CalendarRef],
    start: datetime,
    end: datetime,
) -> tuple[str, tuple[int, ...], CachedBusy | None]:
    """In one round trip: this range's cache key, the owners' generations now, and the
    answer kept for the range (whatever generations it was read at)."""
    key, generation_keys = _keys(connection, calendars, start, end)
    found = cache.get_many([key, *generation_keys])
    return key, tuple(found.get(k, 0) for k in generation_keys), found.get(key)


def target_for(ref: CalendarRef) -> CalendarTarget:
    # Primary calendars go through free/busy (batched, and the only way in with free/busy-only
    # permission); other folders through CalendarView, which needs read rights.
    folder = "" if ref.is_primary else ref.folder_id
    return CalendarTarget(owner_email=ref.owner_email, folder_id=folder)


def busy_intervals(
    connection: ExchangeConnection,
    calendars: Sequence[CalendarRef],
    start: datetime,
    end: datetime,
    *,
    fresh: bool = False,
) -> BusyResult:
    """Busy time per calendar in [start, end). Raises ExchangeError when Exchange can't answer
    and no usable cached answer exists; `fresh` skips the cache (the re-check at booking)."""
    return start_busy_intervals(connection, calendars, start, end, fresh=fresh)()


def start_busy_intervals(
    connection: ExchangeConnection,
    calendars: Sequence[CalendarRef],
    start: datetime,
    end: datetime,
    *,
    fresh: bool = False,
) -> Callable[[], BusyResult]:
    """`busy_intervals` in two steps: the requests to Exchange leave now, and the returned
    function waits for the answer (raising as busy_intervals does), so the caller can do its
    own work while Exchange answers."""
    if not calendars:
        empty = BusyResult({}, fetched_at=time.time())
        return lambda: empty
    key, generations, kept = _lookup(connection, calendars, start, end)
    later(lambda: _remember(connection, calendars, start, end))
    if not fresh and kept is not None and kept.answers(generations, settings.BUSY_CACHE_SECONDS):
        return lambda: kept.result

    def stale_or_raise(exc: ExchangeError) -> BusyResult:
        if not exc.transient:
            raise exc
        # The last answer Exchange gave, even from before this app's latest booking (other
        # generations): the app's own bookings are re-read from the database by every
        # caller anyway.
        if kept is not None and time.time() - kept.result.fetched_at <= (
            settings.BUSY_CACHE_STALE_SECONDS
        ):
            last = kept.result
            return BusyResult(last.intervals, stale=True, fetched_at=last.fetched_at)
        raise exc

    try:
        pending = _start_fetch(connection, calendars, start, end)
    except ExchangeError as exc:
        result = stale_or_raise(exc)
        return lambda: result

    def answer() -> BusyResult:
        try:
            result = pending()
        except ExchangeError as exc:
            return stale_or_raise(exc)
        keep = max(settings.BUSY_CACHE_STALE_SECONDS, 1)
        # Kept once the response is on its way (the visitor waiting has the answer); a
        # booking that moved a generation meanwhile makes it no answer, as it should.
        later(lambda: cache.set(key, CachedBusy(generations, result), timeout=keep))
        return result

    return answer


def _start_fetch(
    connection: ExchangeConnection,
    calendars: Sequence[CalendarRef],
    start: datetime,
    end: datetime,
) -> Callable[[], BusyResult]:
    targets = {ref.pk: target_for(ref) for ref in calendars}
    pending = backend_for(connection).start_busy(
        sorted(set(targets.values()), key=lambda t: (t.owner_email, t.folder_id)),
        start.astimezone(UTC),
        end.astimezone(UTC),
    )

    def answer() -> BusyResult:
        by_target = pending()
        return BusyResult(
            {pk: by_target.get(target, []) for pk, target in targets.items()},
            fetched_at=time.time(),
        )

    return answer


# --- Warming: keep busy time of ranges customers are looking at fresh in the cache --------

RECENT_KEY = "busy-recent"
MAX_RECENT = 500


def _remember(
    connection: ExchangeConnection, calendars: Sequence[CalendarRef], start: datetime, end: datetime
) -> None:
    """Note that someone asked for this range; `warm` refreshes it while traffic lasts.
    Read-modify-write without a lock: a lost update only means one range isn't pre-warmed."""
    entry = (
        connection.pk,
        tuple(sorted(ref.pk for ref in calendars)),
        start.astimezone(UTC).isoformat(),
        end.astimezone(UTC).isoformat(),
    )
    # A cheap add() per request; the shared list is rewritten at most every few seconds
    # per range, not on every hit.
    digest = hashlib.sha256(repr(entry).encode()).hexdigest()[:32]
    if not cache.add(f"busy-seen:{digest}", 1, timeout=5):
        return
    now = time.time()
    recent: dict = cache.get(RECENT_KEY) or {}
    recent[entry] = now
    cutoff = now - settings.BUSY_WARM_FOR_SECONDS
    recent = {k: v for k, v in recent.items() if v >= cutoff}
    if len(recent) > MAX_RECENT:
        recent = dict(sorted(recent.items(), key=lambda kv: kv[1])[-MAX_RECENT:])
    cache.set(RECENT_KEY, recent, timeout=settings.BUSY_WARM_FOR_SECONDS)


def warm() -> int:
    """Re-read from Exchange every recently requested range whose cached answer is past half
    its life, so customers keep getting cache hits. Returns how many ranges were refreshed."""
    refreshed = 0
    recent: dict = cache.get(RECENT_KEY) or {}
    # The connections and calendars of every range in two queries, not two per range.
    connections = ExchangeConnection.objects.in_bulk({conn_pk for conn_pk, *_ in recent})
    all_refs = CalendarRef.objects.in_bulk({pk for _, pks, *_ in recent for pk in pks})
    for conn_pk, ref_pks, start_iso, end_iso in list(recent):
        connection = connections.get(conn_pk)
        refs = [all_refs[pk] for pk in ref_pks if pk in all_refs]
        if connection is None or len(refs) != len(ref_pks):
            continue
        start, end = datetime.fromisoformat(start_iso), datetime.fromisoformat(end_iso)
        _, generations, kept = _lookup(connection, refs, start, end)
        if kept is not None and kept.answers(generations, settings.BUSY_CACHE_SECONDS / 2):
            continue
        try:
            busy_intervals(connection, refs, start, end, fresh=True)
        except ExchangeError as exc:
            log.info("warming busy time for connection %s failed: %s", conn_pk, exc.code)
            continue
        refreshed += 1
    return refreshed


def invalidate(owner_emails: Iterable[str]) -> None:
    """Forget cached busy time of these owners (this app just booked or cancelled)."""
    for email in {e.lower() for e in owner_emails}:
        cache.set(_generation_key(email), time.time_ns(), timeout=None)


def _generation_key(email: str) -> str:
    return f"busy-gen:{email}"


def _keys(
    connection: ExchangeConnection,
    calendars: Sequence[CalendarRef],
    start: datetime,
    end: datetime,
) -> tuple[str, list[str]]:
    """The cache key of this range's answer, and the generation keys of its owners (the
    answer is kept with the generations it was read at: one key serves as fresh answer and,
    once a generation moved on, as the stale fallback while Exchange is down)."""
    owners = sorted({ref.owner_email.lower() for ref in calendars})
    parts = [
        str(connection.pk),
        str(connection.credential_version),
        # How each calendar is read, not only which: a rediscovered folder is a new answer.
        ",".join(
            f"{ref.pk}:{ref.is_primary}:{ref.folder_id}"
            for ref in sorted(calendars, key=lambda r: r.pk)
        ),
        start.astimezone(UTC).isoformat(),
        end.astimezone(UTC).isoformat(),
        ",".join(owners),
    ]
    key = "busy:" + hashlib.sha256("|".join(parts).encode()).hexdigest()
    return key, [_generation_key(o) for o in owners]
