"""Per-client rate limiting of booking attempts, in the shared cache (fixed windows).

The client is identified by REMOTE_ADDR: behind a reverse proxy, the proxy must set it (e.g.
gunicorn's --forwarded-allow-ips with a proxy that overwrites X-Forwarded-For), because a
header the client controls would let anyone pick a fresh identity per request.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest


def check(request: HttpRequest, scope: str = "book") -> bool:
    """Count one attempt; False when this client is over the limit for the current window."""
    window = settings.BOOKING_RATE_WINDOW_SECONDS
    client = request.META.get("REMOTE_ADDR", "unknown")
    key = f"rl:{scope}:{client}:{int(time.time() // window)}"
    # add() then incr() is atomic on Redis and locmem; the key dies with its window.
    cache.add(key, 0, timeout=window + 1)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=window + 1)
        count = 1
    return count <= settings.BOOKING_RATE_LIMIT
