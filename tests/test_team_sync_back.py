"""Two-way sync on team pages: what one member does in Outlook to their event of a team
booking reaches the booking, the customer and the other members, as that member may decide.

Each test deletes or moves the event as the member would in Outlook (the simulator's store,
as tests/test_sync_back.py does), then runs sync back over the wire."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.core.cache import cache
from django.test import Client

from bookings import actions, syncback, writes
from bookings.models import Booking, EventWrite, TeamMode, WriteState
from tests.world import monday_after

pytestmark = [pytest.mark.django_db, pytest.mark.backends("ews", "graph")]

CUSTOMER = actions.CustomerDetails("Ann Customer", "ann@example.com", "UTC")


@pytest.fixture
def trio(world):  # type: ignore[no-untyped-def]
    return [world.staff(name) for name in ("ada", "ben", "cy")]


def book(page, hour: int = 10) -> Booking:  # type: ignore[no-untyped-def]
    booking = actions.book(page, monday_after().replace(hour=hour), CUSTOMER)
    for write in booking.writes.all():
        writes.perform(write.pk)
    assert not booking.writes.exclude(state=WriteState.DONE).exists()
    mail.outbox.clear()
    return booking


def main_write(booking: Booking, user: User) -> EventWrite:
    return booking.writes.get(member_user=user, role="main")


def delete_as(world, booking: Booking, user: User) -> str:  # type: ignore[no-untyped-def]
    """`user` deletes their event of `booking` in Outlook: it goes to Deleted Items, under
    the id returned."""
    item = world.in_store(main_write(booking, user).item_id)
    trashed = world.sim.delete_event(user.email, item)
    assert trashed is not None
    return trashed


def still_in_deleted_items(world, user: User, item_id: str) -> bool:  # type: ignore[no-untyped-def]
    """The event `user` deleted was left alone: deleting it again would purge it for good."""
    return item_id in [i.id for i in world.sim.deleted_items(user.email)]


def move_as(world, booking: Booking, user: User, hour: int) -> None:  # type: ignore[no-untyped-def]
    start = booking.start.replace(hour=hour)
    item = world.in_store(main_write(booking, user).item_id)
    world.sim.move_event(user.email, item, start, start + (booking.end - booking.start))


def sync(django_capture_on_commit_callbacks) -> syncback.SyncResult:  # type: ignore[no-untyped-def]
    with django_capture_on_commit_callbacks(execute=True):
        return syncback.sync_back()


def booked_starts(world, user: User) -> list:  # type: ignore[no-untyped-def]
    return [e.start for e in world.sim.events(user.email) if "Ann" in e.subject]


def mail_to(address: str) -> list:  # type: ignore[no-untyped-def]
    return [m for m in mail.outbox if address in m.to]


# --- Round robin --------------------------------------------------------------------------


@pytest.fixture
def round_robin(world, trio):  # type: ignore[no-untyped-def]
    """ada's page; ben (tier 0) takes bookings first, cy (tier 1) when ben can't. Each has
    a copy in their own "Team" calendar too."""
    ada, ben, cy = trio
    page = world.page(ada, roles={}, team_mode=TeamMode.ROUND_ROBIN, tz="UTC")
    for tier, user in enumerate((ben, cy)):
        world.sub_calendar(user.email, "Team")
        world.add_member(
            page, user, roles={user.email: "main", f"{user.email}/Team": "additional"}, tier=tier
        )
    return page


def test_a_round_robin_event_deleted_by_its_member_goes_to_another_free_member(
    world, trio, round_robin, eager_writes, django_capture_on_commit_callbacks
) -> None:
    _, ben, cy = trio
    booking = book(round_robin)
    assert booking.owner_id == ben.pk
    trashed = delete_as(world, booking, ben)

    result = sync(django_capture_on_commit_callbacks)

    assert result.reassigned == [str(booking.pk)] and not result.cancelled
    booking.refresh_from_db()
    assert booking.status == "confirmed" and booking.owner_id == cy.pk
    assert [a.user_id for a in booking.attendees.all()] == [cy.pk]
    assert booked_starts(world, cy) == [booking.start]
    assert [e.start for e in world.sim.events(cy.email, "Team")] == [booking.start]
    # ben's writes all end absent: the copy in his Team calendar removed, the event he
    # deleted left alone.
    assert booked_starts(world, ben) == [] and world.sim.events(ben.email, "Team") == []
    assert still_in_deleted_items(world, ben, trashed)
    ben_writes = booking.writes.filter(member_user=ben)
    assert {(w.role, w.desired, w.state) for w in ben_writes} == {
        ("main", "absent", WriteState.DONE),
        ("additional", "absent", WriteState.DONE),
    }
    assert main_write(booking, ben).item_id == ""
    assert mail_to("ann@example.com"), "the customer is told who they meet now"
    assert mail_to(cy.email) and mail_to(ben.email), "both members are told"
    # The next run finds nothing more to do.
    assert syncback.sync_back() == syncback.SyncResult()


def test_a_round_robin_event_deleted_when_nobody_else_is_free_cancels_the_booking(
    world, trio, round_robin, eager_writes, django_capture_on_commit_callbacks
) -> None:
    _, ben, cy = trio
    booking = book(round_robin)
    world.sim.add_event(cy.email, booking.start, booking.end, "Dentist")
    trashed = delete_as(world, booking, ben)

    result = sync(django_capture_on_commit_callbacks)

    assert result.cancelled == [str(booking.pk)] and not result.reassigned
    booking.refresh_from_db()
    assert booking.status == "cancelled" and booking.cancelled_by == "exchange"
    assert ben.username in booking.cancel_reason and "no other member" in booking.cancel_reason
    assert booking.owner_id == ben.pk  # nobody took it
    assert not booking.writes.filter(desired="present").exists()
    assert not booking.writes.exclude(state=WriteState.DONE).exists()
    assert world.sim.events(ben.email, "Team") == []
    assert still_in_deleted_items(world, ben, trashed)
    assert booked_starts(world, cy) == []
    assert any("cancel" in m.subject.lower() for m in mail_to("ann@example.com"))


def test_a_round_robin_booking_never_goes_to_a_member_who_cant_take_bookings(
    world, trio, round_robin, eager_writes, django_capture_on_commit_callbacks
) -> None:
    _, ben, cy = trio
    # dee is on the team but has no booking calendar yet: free, as far as Exchange knows.
    world.add_member(round_robin, world.staff("dee"), roles={})
    booking = book(round_robin)
    world.sim.add_event(cy.email, booking.start, booking.end, "Dentist")
    delete_as(world, booking, ben)

    result = sync(django_capture_on_commit_callbacks)

    assert result.cancelled == [str(booking.pk)], result
    booking.refresh_from_db()
    assert booking.status == "cancelled" and booking.owner_id == ben.pk


def test_a_round_robin_booking_is_not_cancelled_when_the_others_busy_time_cant_be_read(
    world, trio, round_robin, eager_writes, django_capture_on_commit_callbacks
) -> None:
    _, ben, cy = trio
    booking = book(round_robin)
    delete_as(world, booking, ben)
    # Exchange is too busy to answer once sync back has read ben's event, and no recent
    # answer about cy is kept: whether cy is free is unknown.
    cache.clear()
    read_event = "graph:getEvent" if world.graph else "GetItem"
    world.sim.before(read_event, lambda: world.sim.throttle(count=50, back_off_ms=10))

    result = sync(django_capture_on_commit_callbacks)

    assert result.errors and not result.cancelled and not result.reassigned
    booking.refresh_from_db()
    assert booking.status == "confirmed" and booking.owner_id == ben.pk
    assert mail.outbox == []
    # Next time Exchange answers, and the change is looked at again.
    world.sim.clear_faults()
    assert sync(django_capture_on_commit_callbacks).reassigned == [str(booking.pk)]
    booking.refresh_from_db()
    assert booking.owner_id == cy.pk


def test_a_round_robin_event_moved_by_its_member_moves_the_booking_and_its_copy(
    world, trio, round_robin, eager_writes, django_capture_on_commit_callbacks
) -> None:
    _, ben, _ = trio
    booking = book(round_robin)
    move_as(world, booking, ben, hour=15)

    result = sync(django_capture_on_commit_callbacks)

    assert result.moved == [str(booking.pk)]
    booking.refresh_from_db()
    assert booking.start.hour == 15 and booking.owner_id == ben.pk
    assert [e.start for e in world.sim.events(ben.email, "Team")] == [booking.start]
    assert mail_to("ann@example.com")


# --- Collective ---------------------------------------------------------------------------


@pytest.fixture
def meeting(world, trio):  # type: ignore[no-untyped-def]
    """A collective booking with ada and ben (required) and cy (optional), all free."""
    ada, ben, cy = trio
    page = world.team_page(
        ada, [ada, ben], optional=(cy,), mode=TeamMode.COLLECTIVE, tz="UTC",
        hours=(time(9), time(17)),
    )  # fmt: skip
    booking = book(page)
    assert {a.user_id for a in booking.attendees.all()} == {ada.pk, ben.pk, cy.pk}
    assert booking.owner_id == ada.pk  # the organiser: the first required attendee
    return booking


def test_a_required_attendee_deleting_their_event_cancels_the_meeting_for_everyone(
    world, trio, meeting, eager_writes, django_capture_on_commit_callbacks
) -> None:
    ben = trio[1]
    trashed = delete_as(world, meeting, ben)

    result = sync(django_capture_on_commit_callbacks)

    assert result.cancelled == [str(meeting.pk)]
    meeting.refresh_from_db()
    assert meeting.status == "cancelled" and ben.username in meeting.cancel_reason
    # Everyone else's event removed; ben's, already deleted, left where he put it.
    for user in trio:
        assert booked_starts(world, user) == []
    assert still_in_deleted_items(world, ben, trashed)
    assert not meeting.writes.exclude(desired="absent", state=WriteState.DONE).exists()
    assert any("cancel" in m.subject.lower() for m in mail_to("ann@example.com"))


def test_the_organiser_deleting_their_event_cancels_the_meeting_too(
    world, trio, meeting, eager_writes, django_capture_on_commit_callbacks
) -> None:
    ada, ben, cy = trio
    delete_as(world, meeting, ada)
    assert sync(django_capture_on_commit_callbacks).cancelled == [str(meeting.pk)]
    assert booked_starts(world, ben) == booked_starts(world, cy) == []


def test_an_optional_attendee_deleting_their_event_declines_and_the_meeting_goes_on(
    world, trio, meeting, eager_writes, django_capture_on_commit_callbacks
) -> None:
    ada, ben, cy = trio
    before = {u.pk: world.sim.events(u.email)[0].id for u in (ada, ben)}
    trashed = delete_as(world, meeting, cy)

    result = sync(django_capture_on_commit_callbacks)

    assert result.declined == [str(meeting.pk)] and not result.cancelled
    meeting.refresh_from_db()
    assert meeting.status == "confirmed" and meeting.sequence == 0
    cy_attendance = meeting.attendees.get(user=cy)
    assert cy_attendance.declined_at is not None
    cy_write = main_write(meeting, cy)
    assert (cy_write.desired, cy_write.state, cy_write.item_id) == ("absent", WriteState.DONE, "")
    assert still_in_deleted_items(world, cy, trashed)
    # Nobody else's event changed, and nobody was emailed.
    for user in (ada, ben):
        (event,) = world.sim.events(user.email)
        assert (event.id, event.start) == (before[user.pk], meeting.start)
    assert mail.outbox == []
    assert meeting.conflict == ""
    # cy's time is hers again: her own page offers it.
    personal = world.page(cy, tz="UTC")
    day = meeting.start.date().isoformat()
    slots = Client().get(
        f"/api/v1/pages/{personal.slug}/slots", {"start": day, "end": day, "timezone": "UTC"}
    )
    assert meeting.start.isoformat() in [s["start"] for s in slots.json()["slots"]]
    assert syncback.sync_back() == syncback.SyncResult()


def test_the_organiser_moving_their_event_moves_the_meeting_for_everyone(
    world, trio, meeting, eager_writes, django_capture_on_commit_callbacks
) -> None:
    ada = trio[0]
    move_as(world, meeting, ada, hour=15)

    result = sync(django_capture_on_commit_callbacks)

    assert result.moved == [str(meeting.pk)]
    meeting.refresh_from_db()
    assert meeting.start.hour == 15 and meeting.sequence == 1
    for user in trio:
        assert booked_starts(world, user) == [meeting.start]
    assert mail_to("ann@example.com")
    # The other attendees' copies now at the new time are no move of theirs.
    again = syncback.sync_back()
    assert again.moved == again.conflicts == []
    meeting.refresh_from_db()
    assert meeting.conflict == ""


def test_another_attendee_moving_their_copy_leaves_the_meeting_and_shows_a_conflict(
    world, trio, meeting, eager_writes, django_capture_on_commit_callbacks
) -> None:
    ada, ben, cy = trio
    move_as(world, meeting, ben, hour=15)

    result = sync(django_capture_on_commit_callbacks)

    assert result.conflicts == [str(meeting.pk)] and result.moved == []
    meeting.refresh_from_db()
    assert meeting.status == "confirmed" and meeting.start.hour == 10 and meeting.sequence == 0
    assert ben.username in meeting.conflict and "moved their copy" in meeting.conflict
    assert booked_starts(world, ada) == booked_starts(world, cy) == [meeting.start]
    assert booked_starts(world, ben) == [meeting.start.replace(hour=15)]
    assert mail.outbox == []
    # Another calendar of the meeting checked later doesn't wipe what ben's said.
    later = meeting.start + timedelta(hours=3)
    world.sim.add_event(ada.email, later, later + timedelta(hours=1), "Lunch")
    syncback.sync_back()
    meeting.refresh_from_db()
    assert "moved their copy" in meeting.conflict
    # Once ben moves it back, the conflict is gone.
    move_as(world, meeting, ben, hour=10)
    syncback.sync_back()
    meeting.refresh_from_db()
    assert meeting.conflict == "" and meeting.start.hour == 10
