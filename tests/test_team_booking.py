"""Team pages over the wire: the slots API and bookings of round-robin and collective pages,
each member's busy time read from their own Exchange calendar through the simulator."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from django.test import Client

from bookings import actions, team
from bookings.models import Booking, BookingMember, MemberState, TeamMode, WriteState
from tests.world import monday_after

pytestmark = [pytest.mark.django_db, pytest.mark.backends("ews", "graph")]


def post(slug: str, **data):  # type: ignore[no-untyped-def]
    body = {"name": "Ann Customer", "email": "ann@example.com", "timezone": "UTC"}
    body.update(data)
    return Client().post(f"/api/v1/pages/{slug}/bookings", body, content_type="application/json")


def starts(slug: str, day) -> list[str]:  # type: ignore[no-untyped-def]
    response = Client().get(
        f"/api/v1/pages/{slug}/slots",
        {"start": day.isoformat(), "end": day.isoformat(), "timezone": "UTC"},
    )
    assert response.status_code == 200, response.content
    return [s["start"] for s in response.json()["slots"]]


@pytest.fixture
def trio(world):  # type: ignore[no-untyped-def]
    return [world.staff(name) for name in ("ada", "ben", "cy")]


def test_a_round_robin_slot_is_offered_while_any_member_is_free(world, trio) -> None:
    ada, ben, cy = trio
    page = world.team_page(ada, trio, tz="UTC", hours=(time(9), time(11)))
    day = monday_after()
    for user in (ada, ben):
        world.sim.add_event(user.email, day.replace(hour=9), day.replace(hour=10), "Busy")
    offered = starts(page.slug, day.date())
    assert f"{day.date()}T09:00:00+00:00" in offered  # cy is free
    world.sim.add_event(cy.email, day.replace(hour=9), day.replace(hour=10), "Busy")
    team_busy_now = starts(page.slug, day.date())
    # Each member's answer is cached under their own key: cy's new meeting shows once the
    # cache is skipped (as a booking's fresh check does).
    from django.core.cache import cache

    cache.clear()
    assert f"{day.date()}T09:00:00+00:00" not in starts(page.slug, day.date()), team_busy_now


def test_a_collective_slot_needs_every_required_member_and_invites_free_optional_ones(
    world, trio, eager_writes, django_capture_on_commit_callbacks
) -> None:
    ada, ben, cy = trio
    page = world.team_page(
        ada, [ada, ben], optional=(cy,), mode=TeamMode.COLLECTIVE, tz="UTC",
        hours=(time(9), time(12)),
    )  # fmt: skip
    day = monday_after()
    world.sim.add_event(ben.email, day.replace(hour=9), day.replace(hour=10), "Busy")
    world.sim.add_event(cy.email, day.replace(hour=10), day.replace(hour=11), "Busy")
    offered = starts(page.slug, day.date())
    assert f"{day.date()}T09:00:00+00:00" not in offered  # ben, required, is busy
    assert f"{day.date()}T10:00:00+00:00" in offered  # cy is optional

    with django_capture_on_commit_callbacks(execute=True):
        response = post(page.slug, start=day.replace(hour=10).isoformat())
    assert response.status_code == 201, response.content
    booking = Booking.objects.get(pk=response.json()["id"])
    attendees = {a.user_id: a.required for a in booking.attendees.all()}
    assert attendees == {ada.pk: True, ben.pk: True}  # cy was busy: not invited
    assert {w.owner_email for w in booking.writes.all()} == {ada.email, ben.email}
    assert all(w.state == WriteState.DONE for w in booking.writes.all())
    for user in (ada, ben):
        assert [e.start for e in world.sim.events(user.email) if "Ann" in e.subject] == [
            day.replace(hour=10)
        ]
    # The booking blocks both members everywhere: their personal page too.
    personal = world.page(ben, tz="UTC", hours=(time(9), time(12)))
    assert f"{day.date()}T10:00:00+00:00" not in starts(personal.slug, day.date())


def test_round_robin_gives_the_slot_to_each_free_member_once_then_refuses(
    world, trio, eager_writes, django_capture_on_commit_callbacks
) -> None:
    page = world.team_page(trio[0], trio, tz="UTC", hours=(time(9), time(10)))
    start = monday_after().replace(hour=9).isoformat()
    hosts = []
    for i in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            response = post(page.slug, start=start, email=f"c{i}@example.com")
        assert response.status_code == 201, response.content
        hosts.append(Booking.objects.get(pk=response.json()["id"]).owner_id)
    assert sorted(hosts) == sorted(u.pk for u in trio)
    assert post(page.slug, start=start, email="late@example.com").status_code == 409
    # Each booking went into its member's own calendar, and only there.
    for user in trio:
        assert len([e for e in world.sim.events(user.email) if "Ann" in e.subject]) == 1


def test_round_robin_prefers_the_lower_tier_then_the_least_booked(
    world, trio, eager_writes
) -> None:
    ada, ben, cy = trio
    page = world.page(ada, roles={}, team_mode=TeamMode.ROUND_ROBIN, tz="UTC")
    world.add_member(page, ada, tier=1)
    world.add_member(page, ben)
    world.add_member(page, cy)
    day = monday_after()
    owners = []
    for hour in (9, 10, 11):
        response = post(page.slug, start=day.replace(hour=hour).isoformat())
        assert response.status_code == 201, response.content
        owners.append(Booking.objects.get(pk=response.json()["id"]).owner_id)
    # Tier 0 (ben, cy) alternate; ada, tier 1, only when neither is free.
    assert owners[0] != owners[1] and set(owners[:2]) == {ben.pk, cy.pk}
    assert owners[2] in {ben.pk, cy.pk}
    for user in (ben, cy):
        world.sim.add_event(user.email, day.replace(hour=14), day.replace(hour=15), "Busy")
    response = post(page.slug, start=day.replace(hour=14).isoformat())
    assert Booking.objects.get(pk=response.json()["id"]).owner_id == ada.pk


def test_a_member_taken_meanwhile_hands_the_booking_to_the_next_without_a_refusal(
    world, trio, monkeypatch
) -> None:
    ada, ben, _cy = trio
    page = world.team_page(ada, [ada, ben], tz="UTC")
    day = monday_after()
    first_choice = []
    real_rank = team.rank

    def rank_then_book_first(*args, **kwargs):  # type: ignore[no-untyped-def]
        order = real_rank(*args, **kwargs)
        first_choice.append(order[0])
        # The first-ranked member is booked on their own page after the check, before the
        # lock: only the re-check inside it can notice.
        member = page.members.get(pk=order[0])
        own = world.page(member.user, tz="UTC")
        customer = actions.CustomerDetails("Other", "o@example.com", "UTC")
        monkeypatch.setattr(team, "rank", real_rank)
        actions.book(own, day.replace(hour=10), customer)
        return order

    monkeypatch.setattr(team, "rank", rank_then_book_first)
    response = post(page.slug, start=day.replace(hour=10).isoformat())
    assert response.status_code == 201, response.content
    booking = Booking.objects.get(pk=response.json()["id"])
    assert booking.owner_id != page.members.get(pk=first_choice[0]).user_id


def test_a_customer_may_choose_the_member_where_the_page_allows_it(world, trio) -> None:
    ada, _ben, cy = trio
    page = world.team_page(ada, trio, tz="UTC")
    cy_member = page.members.get(user=cy)
    start = monday_after().replace(hour=9).isoformat()
    refused = post(page.slug, start=start, member=cy_member.pk)
    assert refused.status_code == 400 and "member" in refused.json()["errors"]
    page.customer_picks_member = True
    page.save()
    response = post(page.slug, start=start, member=cy_member.pk)
    assert response.status_code == 201, response.content
    assert Booking.objects.get(pk=response.json()["id"]).owner_id == cy.pk
    again = post(page.slug, start=start, member=cy_member.pk, email="b@example.com")
    assert again.status_code == 409
    assert "person" in again.json()["detail"]


def test_an_invited_member_takes_no_bookings_until_they_accept(world, trio) -> None:
    ada, ben, _ = trio
    page = world.team_page(ada, [ada], tz="UTC")
    invited = world.add_member(page, ben, state=MemberState.INVITED)
    world.sim.add_event(
        ada.email, monday_after().replace(hour=9), monday_after().replace(hour=17), "x"
    )
    assert starts(page.slug, monday_after().date()) == []
    invited.state = MemberState.ACTIVE
    invited.save()
    assert starts(page.slug, monday_after().date())


def test_reassigning_by_hand_moves_the_event_to_the_new_members_calendar(
    world, trio, eager_writes, django_capture_on_commit_callbacks
) -> None:
    ada, ben, cy = trio
    page = world.team_page(ada, [ben, cy], tz="UTC")
    start = monday_after().replace(hour=9)
    with django_capture_on_commit_callbacks(execute=True):
        booking = Booking.objects.get(pk=post(page.slug, start=start.isoformat()).json()["id"])
    other = cy if booking.owner_id == ben.pk else ben
    with django_capture_on_commit_callbacks(execute=True):
        new = team.reassign(booking, to=page.members.get(user=other).pk)
    assert new == page.members.get(user=other).pk
    booking.refresh_from_db()
    assert booking.owner_id == other.pk
    assert [a.user_id for a in BookingMember.objects.filter(booking=booking)] == [other.pk]
    assert [e.start for e in world.sim.events(other.email)] == [start]
    first = ben if other == cy else cy
    assert [e.start for e in world.sim.events(first.email)] == []
    assert booking.writes.filter(desired="absent", state=WriteState.DONE).count() == 1


def test_rescheduling_a_round_robin_booking_keeps_its_member_when_free(
    world, trio, eager_writes
) -> None:
    ada, ben, _ = trio
    page = world.team_page(ada, [ada, ben], tz="UTC")
    day = monday_after()
    booking = Booking.objects.get(
        pk=post(page.slug, start=day.replace(hour=9).isoformat()).json()["id"]
    )
    host = booking.owner_id
    moved = actions.reschedule(booking, day.replace(hour=11), by="staff")
    assert moved.owner_id == host and moved.start == day.replace(hour=11)
    assert moved.end - moved.start == timedelta(minutes=30)
