"""No double booking under load: 50 customers race for one slot against a running server."""

from __future__ import annotations

import time as time_module
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from bookings.models import Booking
from tests.world import monday_after

# Fifty clients hold fifty database connections: two such races at once on two test workers
# would pass PostgreSQL's default max_connections (100). One group runs on one worker.
pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.xdist_group("fifty-clients")]


def test_fifty_concurrent_requests_for_one_slot_give_exactly_one_booking(
    transactional_db, world, live_server, settings, monkeypatch
) -> None:
    settings.BOOKING_RATE_LIMIT = 1000
    # Widen the window between "is it free?" and "insert" that the owner lock protects, as a
    # slow database would: without the lock, this test sees several 201s.
    from bookings import actions

    check = actions._check_slot_is_free

    def slow_check(*args, **kwargs):  # type: ignore[no-untyped-def]
        check(*args, **kwargs)
        if kwargs.get("busy") is not None:  # the re-check inside the lock
            time_module.sleep(0.2)

    monkeypatch.setattr(actions, "_check_slot_is_free", slow_check)
    owner = world.staff("olivia")
    page = world.page(owner, tz="Europe/London")
    other_page = world.page(owner, title="Second page")
    start = monday_after().replace(hour=10).isoformat()
    world.sim.set_latency(0.02)  # every re-check really goes to Exchange and takes time

    def attempt(i: int) -> int:
        slug = page.slug if i % 2 else other_page.slug  # the lock is per owner, not per page
        response = requests.post(
            f"{live_server.url}/api/v1/pages/{slug}/bookings",
            json={
                "start": start,
                "name": f"Customer {i}",
                "email": f"c{i}@example.com",
                "timezone": "UTC",
            },
            timeout=60,
        )
        return response.status_code

    with ThreadPoolExecutor(max_workers=50) as pool:
        codes = list(pool.map(attempt, range(50)))

    assert sorted(codes) == [201] + [409] * 49, codes
    assert Booking.objects.filter(owner=owner).count() == 1
