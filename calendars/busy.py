"""Reading busy time: the one entry point booking code uses, with a short shared cache.

Only start, end and free/busy status ever leave this module. Primary calendars are read with
one batched free/busy request for all owners; sub-calendars with CalendarView; independent
requests in parallel (see EwsBackend.busy).

The cache keeps one answer per owner (their calendars the request read, the range) with the
owner's generation number; bumping an owner's generation (`invalidate`) makes their cached
answers unreachable, which is how a booking or cancellation made by this app shows up at once
everywhere. Owners missing from the cache are read together in one batched request, so a team
page's twenty members cost one free/busy request and are then shared with every other page
that reads any of them.
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
    generations: tuple[int, ...]  # the owner's generation the answer was read at
    result: BusyResult

    def answers(self, generations: tuple[int, ...], within: float) -> bool:
        """Still the answer: read at the owner's current generation, at most `within`
        seconds ago."""
        return self.generations == generations and time.time() - self.result.fetched_at <= within


@dataclass
class _OwnerEntry:
    calendars: list[CalendarRef]
    key: str
    generations: tuple[int, ...]
    kept: CachedBusy | None


def _lookup(
    connection: ExchangeConnection,
    calendars: Sequence[CalendarRef],
    start: datetime,
    end: datetime,
) -> dict[str, _OwnerEntry]:
    """In one round trip, per owner of these calendars: their cache key for the range, their
    generation now, and the answer kept for them (whatever generation it was read at).

    Kept per owner, not per set of calendars: a member's busy time is one entry whichever
    pages (personal or team, with whoever else) read it."""
    by_owner: dict[str, list[CalendarRef]] = {}
    for ref in calendars:
        by_owner.setdefault(ref.owner_email.lower(), []).append(ref)
    keys = {owner: _keys(connection, refs, start, end) for owner, refs in by_owner.items()}
    found = cache.get_many([k for key, gens in keys.values() for k in (key, *gens)])
    return {
        owner: _OwnerEntry(
            by_owner[owner], key, tuple(found.get(k, 0) for k in gens), found.get(key)
        )
        for owner, (key, gens) in keys.items()
    }


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
    entries = _lookup(connection, calendars, start, end)
    later(lambda: _remember(connection, calendars, start, end))
    within = settings.BUSY_CACHE_SECONDS
    hits = {
        owner: e.kept.result
        for owner, e in entries.items()
        if not fresh and e.kept is not None and e.kept.answers(e.generations, within)
    }
    missing = {owner: e for owner, e in entries.items() if owner not in hits}
    if not missing:
        merged = _merge(list(hits.values()))
        return lambda: merged

    def stale_or_raise(exc: ExchangeError) -> list[BusyResult]:
        if not exc.transient:
            raise exc
        # Each owner's last answer from Exchange, even from before this app's latest booking
        # (another generation): the app's own bookings are re-read from the database by
        # every caller anyway.
        answers = []
        for e in missing.values():
            last = e.kept.result if e.kept is not None else None
            if last is None or time.time() - last.fetched_at > settings.BUSY_CACHE_STALE_SECONDS:
                raise exc
            answers.append(BusyResult(last.intervals, stale=True, fetched_at=last.fetched_at))
        return answers

    # Every owner not in the cache in one batched request (one GetUserAvailability for all
    # primary calendars, whoever's they are).
    try:
        pending = _start_fetch(
            connection, [ref for e in missing.values() for ref in e.calendars], start, end
        )
    except ExchangeError as exc:
        merged = _merge([*hits.values(), *stale_or_raise(exc)])
        return lambda: merged

    def answer() -> BusyResult:
        try:
            result = pending()
        except ExchangeError as exc:
            return _merge([*hits.values(), *stale_or_raise(exc)])
        keep = max(settings.BUSY_CACHE_STALE_SECONDS, 1)
        entries_now = {
            e.key: CachedBusy(
                e.generations,
                BusyResult(
                    {ref.pk: result.intervals.get(ref.pk, []) for ref in e.calendars},
                    fetched_at=result.fetched_at,
                ),
            )
            for e in missing.values()
        }
        # Kept once the response is on its way (the visitor waiting has the answer); a
        # booking that moved a generation meanwhile makes it no answer, as it should.
        later(lambda: cache.set_many(entries_now, timeout=keep))
        return _merge([*hits.values(), result])

    return answer


def _merge(results: list[BusyResult]) -> BusyResult:
    """One answer from the owners' answers: stale if any was, as old as the oldest."""
    if len(results) == 1:
        return results[0]
    intervals: dict[int, list[BusyInterval]] = {}
    for r in results:
        intervals.update(r.intervals)
    return BusyResult(
        intervals,
        stale=any(r.stale for r in results),
        fetched_at=min((r.fetched_at for r in results), default=time.time()),
    )


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
        entries = _lookup(connection, refs, start, end).values()
        half = settings.BUSY_CACHE_SECONDS / 2
        if all(e.kept is not None and e.kept.answers(e.generations, half) for e in entries):
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
    """The cache key of this range's answer for these calendars (one owner's, from
    _lookup), and the generation keys of their owners (the answer is kept with the
    generations it was read at: one key serves as fresh answer and, once a generation moved
    on, as the stale fallback while Exchange is down)."""
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
