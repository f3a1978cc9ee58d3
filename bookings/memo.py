"""Answers a process may reuse for READINESS_CACHE_SECONDS: what a slots request reads that
moves no schedule version (a main calendar's permission and consent, a team's readiness,
the team's names and photos). Each costs queries on every request otherwise; served from
here it may be that many seconds old, as busy time may be BUSY_CACHE_SECONDS old. Bookings
never rely on it: they read afresh."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from time import monotonic
from typing import Generic, TypeVar

from django.conf import settings

T = TypeVar("T")
KEPT = 1000  # entries per memo, least recently used out first


class Memo(Generic[T]):
    def __init__(self) -> None:
        self._kept: OrderedDict[Hashable, tuple[float, T]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], T], *, reuse: bool = True) -> T:
        """The answer kept for `key` if it is fresh enough and `reuse`, else `compute()`
        (kept for the next caller). `key` must hold everything the answer depends on that
        can change without time passing (the page's version, whose calendars...)."""
        ttl = settings.READINESS_CACHE_SECONDS
        now = monotonic()
        if reuse and ttl > 0:
            with self._lock:
                kept = self._kept.get(key)
            if kept is not None and kept[0] > now:
                return kept[1]
        value = compute()
        if ttl > 0:
            with self._lock:
                self._kept[key] = (now + ttl, value)
                self._kept.move_to_end(key)
                while len(self._kept) > KEPT:
                    self._kept.popitem(last=False)
        return value
