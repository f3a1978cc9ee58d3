"""The bookings that take people's time, as the slots engine needs them: every confirmed
booking a person owns or attends (not declined), on any page. One query for any number of
people, and on the slots API's path reused from memory while nobody's bookings changed.

Why reused: a slots answer served from the busy cache read these rows on every request, and
the query (a UNION over bookings and attendees) was a fifth of a twenty-member team page's
answer. Each person has a generation in the cache, replaced whenever a booking of theirs is
saved or deleted or they decline one (bookings/signals.py, and `changed` where rows are
updated in bulk); rows read at one set of generations are the rows while those stand. The
generation moves at once (the writer's own transaction then reads afresh) and again after
commit (everyone else does), and a reading that can't have seen a change is at most
BUSY_CACHE_SECONDS old, as busy time from Exchange may be. A booking's own checks never use
it: they read the database inside the lock (`fresh`).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Collection, Iterable
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from bookings.models import Booking, BookingMember, BookingStatus

Row = tuple[int, datetime, datetime, int]  # booking pk, start, end, page pk

# A week and a day either side of the range covers the daily and weekly limits (a page-local
# Monday-based week, in any zone).
LIMITS_REACH = timedelta(days=8)
_KEPT = 1000

_kept: OrderedDict[tuple, tuple[float, dict[int, list[Row]]]] = OrderedDict()
_lock = threading.Lock()


def rows(
    user_ids: Collection[int],
    lo: datetime,
    hi: datetime,
    *,
    ignore: int | None = None,
    fresh: bool = True,
    reach: timedelta = LIMITS_REACH,
) -> dict[int, list[Row]]:
    """user id -> their confirmed bookings, owned or attended, within `reach` of [lo, hi)
    (see `reach_for`); `ignore` leaves one booking out (the one being moved). `fresh=False`
    may answer from memory."""
    users = tuple(sorted(set(user_ids)))
    # Whole UTC days: lo moves with "now" on every request. A wider reach adds bookings the
    # engine ignores (neither near a slot nor in a week that holds one).
    since = _midnight(lo - reach)
    until = _midnight(hi + reach) + timedelta(days=1)
    if fresh:
        return _read(users, since, until, ignore)
    key = (users, _generations(users), since, until, ignore)
    now = time.monotonic()
    with _lock:
        kept = _kept.get(key)
    if kept is not None and now - kept[0] <= settings.BUSY_CACHE_SECONDS:
        return kept[1]
    found = _read(users, since, until, ignore)
    with _lock:
        _kept[key] = (now, found)
        _kept.move_to_end(key)
        while len(_kept) > _KEPT:
            _kept.popitem(last=False)
    return found


def reach_for(*, limited: bool, margin: timedelta) -> timedelta:
    """How far either side of a range bookings can matter to its slots: a week and a day
    when bookings are counted per day or week, else only as far as a slot with its buffers
    reaches (`margin`). Why it matters: a booking's two checks read these rows, and a busy
    owner's 17 days of bookings were a fifth of a booking's CPU when only the hour mattered."""
    return LIMITS_REACH if limited else margin


def changed(user_ids: Iterable[int]) -> None:
    """These people's bookings changed: a new generation now, and again after commit."""
    users = {u for u in user_ids if u is not None}
    if not users:
        return
    _bump(users)
    transaction.on_commit(lambda: _bump(users))


def _read(
    users: tuple[int, ...], since: datetime, until: datetime, ignore: int | None
) -> dict[int, list[Row]]:
    window = {"status": BookingStatus.CONFIRMED, "start__lt": until, "end__gt": since}
    owned = Booking.objects.filter(owner_id__in=users, **window)
    attended = BookingMember.objects.filter(
        user_id__in=users,
        declined_at__isnull=True,
        **{f"booking__{name}": value for name, value in window.items()},
    )
    if ignore is not None:
        owned = owned.exclude(pk=ignore)
        attended = attended.exclude(booking_id=ignore)
    # One round trip (UNION ALL, which takes no ORDER BY: the models' default orderings
    # cleared); a booking both owned and attended is counted once below.
    union = (
        owned.order_by()
        .values_list("owner_id", "pk", "start", "end", "page_id")
        .union(
            attended.order_by().values_list(
                "user_id", "booking_id", "booking__start", "booking__end", "booking__page_id"
            ),
            all=True,
        )
    )
    seen: dict[int, dict[int, Row]] = {}
    for user_id, pk, begins, ends, page_id in union:
        seen.setdefault(user_id, {})[pk] = (pk, begins, ends, page_id)
    return {user_id: list(found.values()) for user_id, found in seen.items()}


def _generations(users: tuple[int, ...]) -> tuple[str, ...]:
    keys = [_key(u) for u in users]
    found = cache.get_many(keys)
    missing = [k for k in keys if k not in found]
    if missing:
        # A person nobody asked about since the cache was emptied: a new random generation
        # (never 0, which would match rows kept from before the cache was emptied).
        for k in missing:
            cache.add(k, secrets.token_hex(8), timeout=None)
        found |= cache.get_many(missing)
    return tuple(str(found.get(k, "")) for k in keys)


def _bump(users: set[int]) -> None:
    cache.set_many({_key(u): secrets.token_hex(8) for u in users}, timeout=None)


def _key(user_id: int) -> str:
    return f"bookings-gen:{user_id}"


def _midnight(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def clear() -> None:
    with _lock:
        _kept.clear()
