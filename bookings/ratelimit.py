"""Per-client rate limiting of public requests, in the shared cache (fixed windows).

The client is scheduler_site.clientip.client_ip: the socket peer, or what a trusted proxy
says in X-Forwarded-For (never a header the client controls, which would let anyone pick a
fresh identity per request). An IPv6 client is counted by its /64, the block one household
or server gets, or it could take a new address for every request.
"""

from __future__ import annotations

import ipaddress
import math
import time
from dataclasses import dataclass
from typing import TypeVar

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponseBase

from scheduler_site.clientip import client_ip

R = TypeVar("R", bound=HttpResponseBase)


@dataclass(frozen=True)
class Limited:
    """A refused request: how long until the window that refused it ends."""

    retry_after: int  # whole seconds, at least 1

    def apply(self, response: R) -> R:
        response["Retry-After"] = str(self.retry_after)
        return response


def client_key(request: HttpRequest) -> str:
    address = client_ip(request)
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address  # "unknown"
    if parsed.version == 6:
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return address


def _count(key: str, window: int) -> tuple[int, int]:
    """Count one request under `key` in the current window: (count, seconds left)."""
    now = time.time()
    bucket = f"rl:{key}:{int(now // window)}"
    # incr() first: one cache round trip for every request but a window's first (this runs
    # on every slots request). incr and add are atomic on Redis and locmem; when two
    # requests open a window together, the one whose add() loses counts with incr().
    # The key dies with its window.
    try:
        count = cache.incr(bucket)
    except ValueError:  # the window's first request
        count = 1 if cache.add(bucket, 1, timeout=window + 1) else cache.incr(bucket)
    return count, max(1, math.ceil(window - now % window))


def _hit(*limits: tuple[str, int, int]) -> Limited | None:
    """Count one request against each (key, limit, window) in turn; refused at the first one
    over its limit. The later counters don't see a refused request, so a client hammering
    away past its own limit doesn't use up the page's budget for everyone else."""
    if hasattr(cache, "count_hits"):  # Redis: all counters in one round trip (a script)
        now = time.time()
        buckets = [
            (f"rl:{key}:{int(now // window)}", limit, window + 1) for key, limit, window in limits
        ]
        position, _ = cache.count_hits(buckets)
        if position:
            window = limits[position - 1][2]
            return Limited(max(1, math.ceil(window - now % window)))
        return None
    for key, limit, window in limits:
        count, left = _count(key, window)
        if count > limit:
            return Limited(left)
    return None


def check(request: HttpRequest, scope: str = "book") -> Limited | None:
    """A booking attempt ("book") or manage-link action ("manage"); None when allowed."""
    window = settings.BOOKING_RATE_WINDOW_SECONDS
    return _hit((f"{scope}:{client_key(request)}", settings.BOOKING_RATE_LIMIT, window))


def check_slots(request: HttpRequest, page_slug: str) -> Limited | None:
    """A slots API call: per client (all pages), and per page from all clients together."""
    window = settings.SLOTS_RATE_WINDOW_SECONDS
    return _hit(
        (f"slots:{client_key(request)}", settings.SLOTS_RATE_LIMIT, window),
        (f"slots-page:{page_slug}", settings.SLOTS_PAGE_RATE_LIMIT, window),
    )
