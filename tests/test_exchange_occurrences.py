"""Exceptions in recurring series and private items, as the product reads them from Exchange.

Real calendars are full of moved and cancelled occurrences ("this week's stand-up is at
11:00"). Each test changes the owner's calendar the way Outlook does (exchangelib signed in
as the owner, over EWS, or the simulator's owner-side helpers) and asks the public slots API
for free slots, for a primary calendar (read with free/busy) and a sub-calendar (read with
CalendarView).
"""

from __future__ import annotations

import pickle
import zlib
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client

from calendars.models import SyncLogEntry
from tests.world import monday_after

pytestmark = [pytest.mark.django_db, pytest.mark.backends("ews", "graph")]

LONDON = ZoneInfo("Europe/London")
WHERE = pytest.mark.parametrize("where", ["primary", "sub-calendar"])


def page_reading(world, where: str, **fields):  # type: ignore[no-untyped-def]
    """(owner, page, calendar): a page whose busy time comes from the owner's primary
    calendar or from a sub-calendar; `calendar` is what add_event needs to reach it."""
    owner = world.staff("olivia")
    fields.setdefault("window_days", 400)
    if where == "primary":
        return owner, world.page(owner, **fields), None
    world.sub_calendar(owner.email, "Rota", "Reviewer")
    roles = {owner.email: "main", f"{owner.email}/Rota": "busy"}
    return owner, world.page(owner, roles=roles, **fields), "Rota"


def slots(page, first: date, last: date | None = None) -> list[datetime]:  # type: ignore[no-untyped-def]
    response = Client().get(
        f"/api/v1/pages/{page.slug}/slots",
        {"start": first.isoformat(), "end": (last or first).isoformat()},
    )
    assert response.status_code == 200, response.content
    return [datetime.fromisoformat(s["start"]).astimezone(UTC) for s in response.json()["slots"]]


def at(day: date, hour: int, minute: int = 0, zone: ZoneInfo = LONDON) -> datetime:
    return datetime.combine(day, time(hour, minute), zone).astimezone(UTC)


def next_spring_change(after_days: int = 14) -> date:
    """The Sunday London next moves its clocks forward, at least `after_days` ahead."""
    soon = datetime.now(UTC).date() + timedelta(days=after_days)
    year = soon.year
    while True:
        march_end = date(year, 3, 31)
        sunday = march_end - timedelta(days=(march_end.weekday() + 1) % 7)
        if sunday >= soon:
            return sunday
        year += 1


@WHERE
def test_a_moved_occurrence_blocks_its_new_time_and_frees_its_old_one(world, where) -> None:
    owner, page, calendar = page_reading(world, where, tz="UTC", hours=(time(9), time(17)))
    monday = monday_after().date()
    item_id = world.sim.add_event(
        owner.email,
        datetime.combine(monday, time(10), UTC),
        datetime.combine(monday, time(11), UTC),
        "Weekly 1:1",
        recurrence={"pattern": "weekly", "weekdays": ["Monday"], "count": 4},
        calendar=calendar,
    )
    # In Outlook: next week's 1:1 moves to Tuesday 14:00.
    account = world.outlook(owner.email, "Europe/London")
    (master,) = account.fetch(ids=[(item_id, None)])
    moved = master.occurrence(index=2)
    next_tuesday = monday + timedelta(days=8)
    moved.start = datetime.combine(next_tuesday, time(14), UTC).astimezone(account.default_timezone)
    moved.end = moved.start + timedelta(hours=1)
    moved.save(update_fields=["start", "end"])

    found = slots(page, monday, monday + timedelta(days=14))
    next_monday = monday + timedelta(days=7)
    assert datetime.combine(monday, time(10), UTC) not in found  # an occurrence: still busy
    assert datetime.combine(next_monday, time(10), UTC) in found  # its old time: free now
    assert datetime.combine(next_tuesday, time(14), UTC) not in found  # its new time: busy
    assert datetime.combine(next_tuesday, time(13), UTC) in found
    assert datetime.combine(monday + timedelta(days=14), time(10), UTC) not in found


@WHERE
def test_a_moved_occurrence_after_the_clocks_change_blocks_its_new_local_time(world, where) -> None:
    """A weekly 09:00 London stand-up in the week of the spring change; the first one after
    the change moves to 11:00 (BST). The page is in London, open 09:00-17:00."""
    owner, page, calendar = page_reading(
        world, where, tz="Europe/London", hours=(time(9), time(17))
    )
    change = next_spring_change()
    before, after, later = (
        change - timedelta(days=6),
        change + timedelta(days=1),
        change + timedelta(days=8),
    )
    item_id = world.sim.add_event(
        owner.email,
        datetime.combine(before, time(9), LONDON),
        datetime.combine(before, time(9, 30), LONDON),
        "Stand-up",
        tz="Europe/London",
        recurrence={"pattern": "weekly", "weekdays": ["Monday"], "count": 3},
        calendar=calendar,
    )
    world.sim.modify_occurrence(
        owner.email, item_id, 2, start=datetime.combine(after, time(11), LONDON)
    )

    found = slots(page, before, later)
    assert at(before, 9) not in found  # 09:00 GMT
    assert at(after, 9) in found  # its old time, 08:00 UTC: free
    assert at(after, 11) not in found  # its new time, 10:00 UTC
    assert at(after, 11, 30) in found
    assert at(later, 9) not in found  # the series goes on at 09:00 BST
    assert at(later, 11) in found


@WHERE
def test_a_deleted_occurrence_frees_its_time(world, where) -> None:
    owner, page, calendar = page_reading(world, where, tz="UTC", hours=(time(9), time(12)))
    monday = monday_after().date()
    world.sim.add_event(
        owner.email,
        datetime.combine(monday, time(10), UTC),
        datetime.combine(monday, time(11), UTC),
        "Weekly 1:1",
        recurrence={"pattern": "weekly", "weekdays": ["Monday"], "count": 3},
        calendar=calendar,
    )
    # In Outlook: "delete this occurrence" on next week's.
    account = world.outlook(owner.email, "Europe/London")
    folder = account.calendar if calendar is None else account.calendar / "Rota"
    view = folder.view(
        datetime.combine(monday + timedelta(days=7), time(0), UTC).astimezone(
            account.default_timezone
        ),
        datetime.combine(monday + timedelta(days=8), time(0), UTC).astimezone(
            account.default_timezone
        ),
    )
    (occurrence,) = list(view)
    occurrence.delete()

    found = slots(page, monday, monday + timedelta(days=14))
    assert datetime.combine(monday, time(10), UTC) not in found
    assert datetime.combine(monday + timedelta(days=7), time(10), UTC) in found
    assert datetime.combine(monday + timedelta(days=14), time(10), UTC) not in found


SECRETS = ("Oncology follow-up", "St Thomas' clinic", "Biopsy results are in")


def _raw_cache_values() -> list[bytes]:
    """Every value in the cache as stored (pickled): Redis's, the file cache's or the
    local-memory cache's."""
    backend = cache._connections[cache._alias]  # type: ignore[attr-defined]
    if hasattr(backend, "_cache") and hasattr(backend._cache, "get_client"):  # Redis
        client = backend._cache.get_client(write=False)
        return [v for k in client.scan_iter() if isinstance(v := client.get(k), bytes)]
    if hasattr(backend, "_dir"):  # FileBasedCache: a pickled expiry, then zlib(pickle)
        values = []
        for path in Path(backend._dir).glob("*.djcache"):
            with path.open("rb") as f:
                pickle.load(f)  # noqa: S301 (our own test cache)
                values.append(zlib.decompress(f.read()))
        return values
    return [v for v in backend._cache.values() if isinstance(v, bytes)]


def assert_nothing_of_it_is_kept() -> None:
    """No secret in any row the product stores, nor in its cache."""
    import io

    dump = io.StringIO()
    call_command("dumpdata", stdout=dump)
    stored = dump.getvalue()
    for row in SyncLogEntry.objects.all():
        stored += repr(vars(row))
    blobs = b"".join(_raw_cache_values())
    for secret in SECRETS:
        assert secret not in stored
        assert secret.encode() not in blobs


@WHERE
def test_a_private_item_blocks_its_time_and_nothing_of_it_reaches_the_product(world, where) -> None:
    owner, page, calendar = page_reading(world, where, tz="UTC", hours=(time(9), time(12)))
    monday = monday_after().date()
    subject, location, body = SECRETS
    world.sim.add_event(
        owner.email,
        datetime.combine(monday, time(10), UTC),
        datetime.combine(monday, time(11), UTC),
        subject,
        location=location,
        body=body,
        sensitivity="Private",
        calendar=calendar,
    )
    # A series with one private exception: the 1:1 moved and made private that week.
    series = world.sim.add_event(
        owner.email,
        datetime.combine(monday, time(9), UTC),
        datetime.combine(monday, time(9, 30), UTC),
        "Weekly 1:1",
        recurrence={"pattern": "weekly", "weekdays": ["Monday"], "count": 3},
        calendar=calendar,
    )
    world.sim.modify_occurrence(
        owner.email,
        series,
        2,
        start=datetime.combine(monday + timedelta(days=7), time(11), UTC),
        subject=subject,
        location=location,
        body=body,
        sensitivity="Private",
    )

    response = Client().get(
        f"/api/v1/pages/{page.slug}/slots",
        {"start": monday.isoformat(), "end": (monday + timedelta(days=7)).isoformat()},
    )
    found = [datetime.fromisoformat(s["start"]).astimezone(UTC) for s in response.json()["slots"]]
    assert datetime.combine(monday, time(10), UTC) not in found
    assert datetime.combine(monday, time(10, 30), UTC) not in found
    assert datetime.combine(monday + timedelta(days=7), time(11), UTC) not in found
    assert datetime.combine(monday + timedelta(days=7), time(9), UTC) in found
    html = Client().get(f"/{page.slug}/", {"date": monday.isoformat(), "tz": "UTC"}).content
    for secret in SECRETS:
        assert secret not in response.content.decode()
        assert secret not in html.decode()
    assert SyncLogEntry.objects.exists()
    assert_nothing_of_it_is_kept()
