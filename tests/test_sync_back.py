"""Two-way sync: what the owner does in Outlook to a booked event reaches the booking."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail

from bookings import actions, syncback, writes
from bookings.models import Booking, WriteState
from tests.world import monday_after

pytestmark = [pytest.mark.django_db, pytest.mark.backends("ews", "graph")]

CUSTOMER = actions.CustomerDetails("Ann Customer", "ann@example.com", "Europe/Paris")


def booked(world, **page_kwargs):  # type: ignore[no-untyped-def]
    owner = world.staff("olivia")
    page = world.page(owner, **page_kwargs)
    booking = actions.book(page, monday_after().replace(hour=10), CUSTOMER)
    for write in booking.writes.all():
        writes.perform(write.pk)
    main = booking.writes.get(role="main")
    main.refresh_from_db()
    assert main.state == WriteState.DONE
    return owner, booking, main


def test_an_event_deleted_in_outlook_cancels_the_booking_and_tells_the_customer(
    world, eager_writes, django_capture_on_commit_callbacks
) -> None:
    owner, booking, main = booked(world)
    world.sim.delete_event(owner.email, world.in_store(main.item_id))
    with django_capture_on_commit_callbacks(execute=True):
        result = syncback.sync_back()
    assert result.cancelled == [str(booking.pk)]
    booking.refresh_from_db()
    assert booking.status == "cancelled" and booking.cancelled_by == "exchange"
    assert any(m.to == ["ann@example.com"] and "cancel" in m.subject.lower() for m in mail.outbox)


def test_an_event_moved_in_outlook_moves_the_booking_and_its_copies(
    world, eager_writes, django_capture_on_commit_callbacks
) -> None:
    colleague = world.staff("peter")
    owner = world.staff("olivia")
    world.allow(colleague, owner)
    page = world.page(owner, roles={owner.email: "main", colleague.email: "additional"})
    booking = actions.book(page, monday_after().replace(hour=10), CUSTOMER)
    for write in booking.writes.all():
        writes.perform(write.pk)
    main = booking.writes.get(role="main")
    new_start = monday_after().replace(hour=15)
    world.sim.move_event(
        owner.email, world.in_store(main.item_id), new_start, new_start + timedelta(minutes=30)
    )

    with django_capture_on_commit_callbacks(execute=True):
        result = syncback.sync_back()

    assert result.moved == [str(booking.pk)]
    booking.refresh_from_db()
    assert booking.start == new_start and booking.sequence == 1
    # The copy in the colleague's calendar followed.
    assert [e.start for e in world.sim.events(colleague.email)] == [new_start]
    assert any("ann@example.com" in m.to for m in mail.outbox)
    # A second run finds nothing more to do.
    assert syncback.sync_back().moved == []


def test_a_conflicting_meeting_accepted_later_is_flagged_and_nothing_is_lost(world) -> None:
    owner, booking, _ = booked(world)
    world.sim.add_event(
        owner.email,
        booking.start - timedelta(minutes=15),
        booking.start + timedelta(minutes=15),
        "Board meeting",
    )
    result = syncback.sync_back()
    assert result.conflicts == [str(booking.pk)]
    booking.refresh_from_db()
    assert booking.status == "confirmed"
    assert "overlaps" in booking.conflict
    assert "Board meeting" not in booking.conflict  # staff see that, not what
    assert Booking.objects.count() == 1


def test_sync_back_leaves_bookings_alone_when_exchange_is_down(world) -> None:
    _, booking, _ = booked(world)
    world.sim.go_down()
    result = syncback.sync_back()
    assert result.errors and not result.cancelled
    booking.refresh_from_db()
    assert booking.status == "confirmed"
