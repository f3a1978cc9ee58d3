"""A corporate member is told precisely how the booking mailbox reaches their calendar:
as their delegate (and with which calendar permission), through a shared calendar only, or
not at all. Exchange shows a mailbox's delegate list (GetDelegate) only to the owner, to
accounts with FullAccess and to impersonation, so for a booking mailbox that is merely a
delegate the product says what the folder permission allows, and nothing goes wrong."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from bookings import actions, writes
from bookings.models import WriteState
from calendars.models import CorporateMember, DelegationState, SyncLogEntry
from tests.world import World, monday_after

pytestmark = pytest.mark.django_db

CUSTOMER = actions.CustomerDetails(name="Customer", email="c@example.com", timezone="UTC")


def member(world: World, name: str) -> tuple[User, str, str]:
    """A staff member whose calendar is not yet shared: (user, their mailbox, booking mailbox)."""
    user = world.staff(name, delegate=False)
    return user, user.email, world.corporate().email


def check_now(user: User) -> tuple[CorporateMember, str, str]:
    """Press "Check now"; (the member, their connection page, their dashboard)."""
    client = Client()
    client.force_login(user)
    client.post("/connection/check/")
    return (
        CorporateMember.objects.get(user=user),
        client.get("/connection/").content.decode(),
        client.get("/dashboard/").content.decode(),
    )


def book_into_own_calendar(world: World, user: User) -> None:
    page = world.page(user)
    booking = actions.book(page, monday_after().replace(hour=10), CUSTOMER)
    write = booking.writes.get(role="main")
    writes.perform(write.pk)
    write.refresh_from_db()
    assert write.state == WriteState.DONE, write.last_error


def test_an_editor_delegate_is_told_so_and_takes_bookings(world: World) -> None:
    alice, mailbox, booking_box = member(world, "alice")
    world.sim.add_delegate(mailbox, booking_box, level="Editor")
    world.sim.grant_full_access(mailbox, booking_box)  # so Exchange shows the delegate list

    state, page, dashboard = check_now(alice)

    assert state.delegation == DelegationState.DELEGATE
    assert state.delegate_permission == "Editor"
    said = f"{booking_box} is your delegate in Exchange, with Editor permission on your calendar."
    assert said in page and said in dashboard
    assert "It can add bookings." in page
    assert "How to grant access" not in page
    book_into_own_calendar(world, alice)
    assert len(world.sim.events(mailbox)) == 1


def test_a_reviewer_delegate_is_told_it_can_read_but_not_book(world: World) -> None:
    alice, mailbox, booking_box = member(world, "alice")
    world.sim.add_delegate(mailbox, booking_box, level="Reviewer")

    state, page, dashboard = check_now(alice)

    assert state.access_ok is False and state.calendar_permission == "Reviewer"
    for shown in (page, dashboard):
        assert f"{booking_box} can read but not add events to {mailbox}" in shown
        assert f"{booking_box} has Reviewer (read only) permission on your calendar." in shown
    assert "How to grant access" in page
    # A page whose main calendar can't be written to takes no booking it couldn't keep.
    with pytest.raises(actions.PageNotReady):
        actions.book(world.page(alice), monday_after().replace(hour=10), CUSTOMER)
    assert world.sim.events(mailbox) == []


def test_a_reviewer_delegate_with_full_access_is_told_why_it_books_anyway(world: World) -> None:
    # Full access (what lets Exchange show the delegate list) also lets it write anything.
    alice, mailbox, booking_box = member(world, "alice")
    world.sim.add_delegate(mailbox, booking_box, level="Reviewer")
    world.sim.grant_full_access(mailbox, booking_box)

    state, page, _ = check_now(alice)

    assert state.delegation == DelegationState.DELEGATE
    assert state.delegate_permission == "Reviewer"
    assert (
        "is your delegate in Exchange, with Reviewer (read only) permission on your calendar."
        in page
    )
    assert "your Exchange administrator gave it full access to your mailbox" in page
    book_into_own_calendar(world, alice)


def test_a_shared_calendar_without_delegation_still_works_and_is_described(
    world: World,
) -> None:
    alice, mailbox, booking_box = member(world, "alice")
    world.sim.set_permission(mailbox, booking_box, "Editor")
    world.sim.grant_full_access(mailbox, booking_box)

    state, page, dashboard = check_now(alice)

    assert state.delegation == DelegationState.PERMISSION_ONLY
    said = (
        f"{booking_box} is not your delegate in Exchange, but you shared your calendar with it "
        "(Editor permission). That is enough to add bookings."
    )
    assert said in page and said in dashboard
    assert "All calendars are working" in dashboard
    book_into_own_calendar(world, alice)


def test_when_exchange_wont_show_the_delegate_list_the_folder_permission_is_said_without_error(
    world: World,
) -> None:
    alice, mailbox, booking_box = member(world, "alice")
    world.sim.add_delegate(mailbox, booking_box)  # a delegate, but no full access

    state, page, dashboard = check_now(alice)

    assert state.access_ok is True and state.error == ""
    assert state.delegation == DelegationState.UNKNOWN
    said = f"{booking_box} has Editor permission on your calendar. It can add bookings."
    assert said in page and said in dashboard
    assert "Whether it is also your delegate" in page
    assert "All calendars are working" in dashboard
    assert "Problem" not in page
    # Asked and refused; an expected answer, so the sync log shows no failure to chase.
    refused = SyncLogEntry.objects.get(operation="GetDelegate")
    assert refused.target_mailbox == mailbox and refused.ok
    asked = [e.outcome for e in world.sim.log if e.operation == "GetDelegate"]
    assert asked == ["ErrorItemNotFound"]
    book_into_own_calendar(world, alice)


def test_a_member_who_shared_nothing_gets_the_instructions_and_no_delegation_claim(
    world: World,
) -> None:
    alice, mailbox, booking_box = member(world, "alice")

    state, page, _ = check_now(alice)

    assert state.access_ok is False and state.delegation == DelegationState.UNKNOWN
    assert f"{mailbox} has not delegated their calendar to {booking_box}." in page
    assert "How to grant access" in page
    assert "is your delegate" not in page and 'id="delegation"' not in page


def test_removing_the_delegate_in_outlook_shows_at_the_next_check(world: World) -> None:
    alice, mailbox, booking_box = member(world, "alice")
    world.sim.add_delegate(mailbox, booking_box)
    world.sim.grant_full_access(mailbox, booking_box)
    assert check_now(alice)[0].delegation == DelegationState.DELEGATE

    world.sim.remove_delegate(mailbox, booking_box)
    state, page, _ = check_now(alice)

    assert state.delegation == DelegationState.PERMISSION_ONLY
    assert f"{booking_box} is not your delegate in Exchange" in page


def test_admins_see_each_members_delegation_in_the_member_list(world: World) -> None:
    admin = world.staff("ada", superuser=True)
    alice, alice_box, booking_box = member(world, "alice")
    bob, bob_box, _ = member(world, "bob")
    world.sim.add_delegate(alice_box, booking_box, level="Editor")
    world.sim.grant_full_access(alice_box, booking_box)
    world.sim.set_permission(bob_box, booking_box, "Reviewer")
    check_now(alice)
    check_now(bob)

    client = Client()
    client.force_login(admin)
    listing = client.get("/admin/calendars/corporatemember/").content.decode()

    assert "Delegate (Editor)" in listing
    assert "Not known; calendar permission Reviewer (read only)" in listing
    delegates = client.get("/admin/calendars/corporatemember/?delegation=delegate")
    assert alice_box in delegates.content.decode()
    assert bob_box not in delegates.content.decode()
