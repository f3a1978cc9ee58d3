"""The bookings that take people's time, reused by the slots API while nobody's bookings
changed (bookings/taken.py): a booking, a cancellation, a move, a hand-over or a decline
shows in the very next slots answer; a change made behind the ORM's back shows within
BUSY_CACHE_SECONDS; a booking's own checks always read the database."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from bookings import taken
from bookings.models import Booking, BookingMember, BookingPage, BookingStatus, TeamMode
from tests.world import monday_after

pytestmark = [pytest.mark.django_db, pytest.mark.backends("ews")]

LONDON = ZoneInfo("Europe/London")


@pytest.fixture(autouse=True)
def _nothing_kept():
    taken.clear()
    yield
    taken.clear()


def ten_on_monday() -> datetime:
    return datetime.combine(monday_after().date(), time(10), tzinfo=LONDON).astimezone(UTC)


def offered(page: BookingPage) -> set[datetime]:
    day = monday_after().date().isoformat()
    response = Client().get(
        f"/api/v1/pages/{page.slug}/slots", {"start": day, "end": day, "timezone": "UTC"}
    )
    assert response.status_code == 200, response.content
    return {datetime.fromisoformat(s["start"]) for s in response.json()["slots"]}


def book(page: BookingPage, start: datetime, **fields: object) -> Booking:
    return Booking.objects.create(
        page=page,
        owner=fields.pop("owner", page.owner),
        start=start,
        end=start + timedelta(minutes=page.duration_minutes),
        timezone="Europe/London",
        name="Carol Customer",
        email="carol@example.com",
        **fields,
    )


def test_a_booking_made_after_a_slots_answer_is_not_offered_in_the_next_one(world) -> None:
    page = world.page(world.staff("olivia"), tz="Europe/London")
    assert ten_on_monday() in offered(page)
    book(page, ten_on_monday())
    assert ten_on_monday() not in offered(page)


def test_a_cancelled_booking_frees_its_time_in_the_next_answer(world) -> None:
    page = world.page(world.staff("olivia"), tz="Europe/London")
    booking = book(page, ten_on_monday())
    assert ten_on_monday() not in offered(page)
    booking.status = BookingStatus.CANCELLED
    booking.save()
    assert ten_on_monday() in offered(page)


def test_a_booking_on_another_page_of_the_owner_blocks_this_one_at_once(world) -> None:
    olivia = world.staff("olivia")
    first = world.page(olivia, tz="Europe/London")
    second = world.page(olivia, tz="Europe/London", roles={})
    assert ten_on_monday() in offered(first)
    book(second, ten_on_monday())
    assert ten_on_monday() not in offered(first)


def test_a_member_who_declines_a_collective_meeting_is_free_again_at_once(world) -> None:
    olivia, bob = world.staff("olivia"), world.staff("bob")
    team = world.team_page(olivia, [olivia], tz="Europe/London", mode=TeamMode.ROUND_ROBIN)
    bobs = world.page(bob, tz="Europe/London")
    # Bob attends a meeting of Olivia's team at ten: his own page doesn't offer ten.
    meeting = book(team, ten_on_monday())
    BookingMember.objects.create(booking=meeting, user=bob)
    assert ten_on_monday() not in offered(bobs)
    # He declines (a bulk update, as bookings.team makes it, which moves his generation).
    BookingMember.objects.filter(booking=meeting, user=bob).update(declined_at=datetime.now(UTC))
    taken.changed([bob.pk])
    assert ten_on_monday() in offered(bobs)


def test_a_change_behind_the_orms_back_shows_once_the_kept_rows_are_too_old(
    world, settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.BUSY_CACHE_SECONDS = 120
    page = world.page(world.staff("olivia"), tz="Europe/London")
    clock = [1000.0]
    monkeypatch.setattr(taken.time, "monotonic", lambda: clock[0])
    assert ten_on_monday() in offered(page)
    # bulk_create sends no signal: nothing tells the kept rows.
    Booking.objects.bulk_create(
        [
            Booking(
                page=page,
                owner=page.owner,
                start=ten_on_monday(),
                end=ten_on_monday() + timedelta(minutes=30),
                timezone="UTC",
                name="Dan",
                email="dan@example.com",
            )
        ]
    )
    assert ten_on_monday() in offered(page)
    clock[0] += 121
    assert ten_on_monday() not in offered(page)


def test_a_booking_checks_the_database_not_the_kept_rows(world) -> None:
    page = world.page(world.staff("olivia"), tz="Europe/London")
    lo, hi = ten_on_monday(), ten_on_monday() + timedelta(hours=1)
    assert taken.rows([page.owner_id], lo, hi, fresh=False) == {}
    Booking.objects.bulk_create(
        [
            Booking(
                page=page,
                owner=page.owner,
                start=lo,
                end=lo + timedelta(minutes=30),
                timezone="UTC",
                name="Dan",
                email="dan@example.com",
            )
        ]
    )
    assert taken.rows([page.owner_id], lo, hi, fresh=False) == {}  # kept, no signal
    (row,) = taken.rows([page.owner_id], lo, hi)[page.owner_id]  # fresh: the database
    assert row[1] == lo
    # And a booking through the public API refuses the time.
    response = Client().post(
        f"/api/v1/pages/{page.slug}/bookings",
        {"start": lo.isoformat(), "name": "Eve", "email": "eve@example.com", "timezone": "UTC"},
        content_type="application/json",
    )
    assert response.status_code == 409, response.content


def test_an_emptied_cache_never_brings_back_rows_kept_before(world) -> None:
    from django.core.cache import cache

    page = world.page(world.staff("olivia"), tz="Europe/London")
    lo, hi = ten_on_monday(), ten_on_monday() + timedelta(hours=1)
    assert taken.rows([page.owner_id], lo, hi, fresh=False) == {}
    cache.clear()  # generations gone: new random ones, never the old ones back
    book(page, lo)  # (its signal would move the generation anyway; clear again)
    cache.clear()
    assert page.owner_id in taken.rows([page.owner_id], lo, hi, fresh=False)


def test_a_page_without_limits_reads_only_the_bookings_its_slots_can_touch(world) -> None:
    olivia = world.staff("olivia")
    page = world.page(olivia, tz="UTC")
    monday = ten_on_monday()
    near = book(page, monday - timedelta(minutes=45))
    far = book(page, monday - timedelta(days=3))
    margin = timedelta(hours=1)

    unlimited = taken.rows(
        [olivia.pk], monday, monday + margin, reach=taken.reach_for(limited=False, margin=margin)
    )
    limited = taken.rows(
        [olivia.pk], monday, monday + margin, reach=taken.reach_for(limited=True, margin=margin)
    )

    # A page that counts bookings per day or week needs the whole week around; one that
    # doesn't, only what a slot with its buffers reaches (by whole UTC days).
    assert {row[0] for row in unlimited[olivia.pk]} == {near.pk}
    assert {row[0] for row in limited[olivia.pk]} == {near.pk, far.pk}
