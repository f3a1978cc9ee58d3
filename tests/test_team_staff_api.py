"""The staff API for team pages, over the wire: the page's team settings, its members (with
their readiness and load), invitations, each member's own calendars, the bookings a member
sees, and handing a round-robin booking to another member. Members' calendars are in the
simulator."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from django.test import Client
from knox.models import AuthToken
from rest_framework.test import APIClient

from bookings.models import (
    Booking,
    BookingPage,
    MemberState,
    PageCalendar,
    TeamMember,
    TeamMode,
    WriteState,
)
from tests.world import monday_after

pytestmark = pytest.mark.django_db

API = "/api/v1/staff"


def client_for(user) -> APIClient:  # type: ignore[no-untyped-def]
    _, token = AuthToken.objects.create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def book(page: BookingPage, start, **data) -> Booking:  # type: ignore[no-untyped-def]
    """A booking made by a customer through the public API."""
    body = {"name": "Ann Customer", "email": "ann@example.com", "timezone": "UTC"}
    body.update(start=start.isoformat(), **data)
    response = Client().post(
        f"/api/v1/pages/{page.slug}/bookings", body, content_type="application/json"
    )
    assert response.status_code == 201, response.content
    return Booking.objects.get(pk=response.json()["id"])


@pytest.fixture
def trio(world):  # type: ignore[no-untyped-def]
    return [world.staff(name) for name in ("ada", "ben", "cy")]


def members_url(page: BookingPage, member: TeamMember | None = None, tail: str = "") -> str:
    url = f"{API}/pages/{page.pk}/members/"
    return f"{url}{member.pk}/{tail}" if member is not None else url


# --- the page's team settings -----------------------------------------------------------


def test_the_team_settings_are_read_and_written_with_the_page(world, trio) -> None:
    ada = trio[0]
    page = world.page(ada)
    client = client_for(ada)
    response = client.patch(
        f"{API}/pages/{page.pk}/",
        {
            "team_mode": "round_robin",
            "customer_picks_member": True,
            "members_own_hours": True,
            "fairness_days": 14,
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    body = client.get(f"{API}/pages/{page.pk}/").json()
    assert body["team_mode"] == "round_robin"
    assert body["customer_picks_member"] is body["members_own_hours"] is True
    assert body["fairness_days"] == 14
    assert "Nobody on the team has accepted yet" in " ".join(body["problems"])

    refused = client.patch(f"{API}/pages/{page.pk}/", {"fairness_days": 0}, format="json")
    assert refused.status_code == 400
    assert "fairness_days" in refused.json()
    refused = client.patch(f"{API}/pages/{page.pk}/", {"team_mode": "solo"}, format="json")
    assert refused.status_code == 400
    assert "team_mode" in refused.json()


def test_a_page_with_upcoming_bookings_stays_personal_or_team(world, trio) -> None:
    ada, ben, _ = trio
    personal = world.page(ada, tz="UTC")
    book(personal, monday_after().replace(hour=9))
    client = client_for(ada)
    refused = client.patch(
        f"{API}/pages/{personal.pk}/", {"team_mode": "collective"}, format="json"
    )
    assert refused.status_code == 400
    assert refused.json()["team_mode"] == [
        "This page has 1 upcoming booking: it can become a team page once they are over or "
        "cancelled (or make a new page for the team)."
    ]
    personal.refresh_from_db()
    assert personal.team_mode == ""

    team = world.team_page(ada, [ada, ben], tz="UTC")
    book(team, monday_after().replace(hour=9))
    refused = client.patch(f"{API}/pages/{team.pk}/", {"team_mode": ""}, format="json")
    assert refused.status_code == 400
    assert "can become a personal page" in refused.json()["team_mode"][0]
    # Round robin and collective are both team pages: the bookings keep their attendees.
    moved = client.patch(f"{API}/pages/{team.pk}/", {"team_mode": "collective"}, format="json")
    assert moved.status_code == 200, moved.content


def test_the_page_calendars_of_a_team_page_are_its_own_not_its_members(world, trio) -> None:
    ada, ben, _ = trio
    page = world.team_page(ada, [ben])
    body = client_for(ada).get(f"{API}/pages/{page.pk}/calendars/").json()
    assert body["owners"] == []  # ben's calendar is his, on his member's list


# --- members ----------------------------------------------------------------------------


def test_the_owner_lists_the_team_with_readiness_and_load(world, trio) -> None:
    ada, ben, cy = trio
    page = world.team_page(ada, [ada, ben], tz="UTC", customer_picks_member=True)
    world.add_member(page, cy, roles={})  # accepted, but no main booking calendar
    bens = page.members.get(user=ben)
    book(page, monday_after().replace(hour=9), member=bens.pk)

    response = client_for(ada).get(members_url(page))
    assert response.status_code == 200, response.content
    rows = {row["username"]: row for row in response.json()}
    assert set(rows) == {ada.username, ben.username, cy.username}
    assert rows[ben.username]["load"]["recent"] == 1
    assert rows[ben.username]["load"]["upcoming"] == 1
    assert rows[ben.username]["load"]["last"] is not None
    assert rows[ada.username]["load"] == {"recent": 0, "last": None, "upcoming": 0}
    assert rows[ben.username]["problem"] == ""
    assert "Choose a main booking calendar" in rows[cy.username]["problem"]
    assert rows[ben.username]["state"] == "active"
    assert {"tier", "weight", "required", "max_per_day", "max_per_week"} <= set(rows[ada.username])


def test_the_owner_invites_staff_by_user_name_or_email(world, trio) -> None:
    ada, ben, cy = trio
    page = world.team_page(ada, [])
    client = client_for(ada)
    by_name = client.post(members_url(page), {"user": ben.username}, format="json")
    assert by_name.status_code == 201, by_name.content
    assert by_name.json()["state"] == "invited"
    assert by_name.json()["problem"] == "Hasn't accepted the invitation yet."
    by_email = client.post(members_url(page), {"user": cy.email.upper()}, format="json")
    assert by_email.status_code == 201, by_email.content
    member = page.members.get(user=cy)
    assert member.state == MemberState.INVITED and member.invited_by == ada

    again = client.post(members_url(page), {"user": ben.username}, format="json")
    assert again.status_code == 400
    assert "already on this team" in again.json()["errors"]["user"][0]
    nobody = client.post(members_url(page), {"user": "nobody@example.com"}, format="json")
    assert nobody.status_code == 400
    assert "There is no staff member 'nobody@example.com'" in nobody.json()["detail"]
    assert client.post(members_url(page), [1], format="json").status_code == 400


def test_an_administrator_adds_members_at_once(world, trio) -> None:
    ada, ben, _ = trio
    root = world.staff("root", superuser=True)
    page = world.team_page(ada, [])
    response = client_for(root).post(members_url(page), {"user": ben.username}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["state"] == "active"


def test_a_personal_page_has_no_team_to_add_to(world, trio) -> None:
    ada, ben, _ = trio
    page = world.page(ada)
    response = client_for(ada).post(members_url(page), {"user": ben.username}, format="json")
    assert response.status_code == 400
    assert response.json()["detail"] == "This is a personal page: make it a team page first."


def test_the_owner_changes_a_members_tier_weight_required_and_limits(world, trio) -> None:
    ada, ben, _ = trio
    page = world.team_page(ada, [ben])
    member = page.members.get()
    client = client_for(ada)
    response = client.patch(
        members_url(page, member),
        {"tier": 2, "weight": 3, "required": False, "max_per_day": 4, "max_per_week": 10},
        format="json",
    )
    assert response.status_code == 200, response.content
    member.refresh_from_db()
    assert (member.tier, member.weight, member.required) == (2, 3, False)
    assert (member.max_per_day, member.max_per_week) == (4, 10)
    for bad in ({"weight": 0}, {"tier": 10}, {"max_per_day": 0}):
        response = client.patch(members_url(page, member), bad, format="json")
        assert response.status_code == 400, bad
        assert set(bad) <= set(response.json())
    # What only the member or their answer decides is not the owner's to set.
    client.patch(members_url(page, member), {"state": "declined"}, format="json")
    member.refresh_from_db()
    assert member.state == MemberState.ACTIVE


def test_a_member_with_upcoming_bookings_stays_on_the_team(world, trio) -> None:
    ada, ben, _ = trio
    page = world.team_page(ada, [ben], tz="UTC")
    member = page.members.get()
    booking = book(page, monday_after().replace(hour=9))
    client = client_for(ada)
    refused = client.delete(members_url(page, member))
    assert refused.status_code == 400
    assert "has 1 upcoming booking on this page" in refused.json()["detail"]
    assert page.members.filter(pk=member.pk).exists()

    Booking.objects.filter(pk=booking.pk).update(status="cancelled")
    assert client.delete(members_url(page, member)).status_code == 204
    assert not page.members.exists()
    assert not PageCalendar.objects.filter(member_id=member.pk).exists()


# --- invitations and a member's own calendars -------------------------------------------


def test_an_invited_member_accepts_and_chooses_their_calendars(world, trio) -> None:
    ada, ben, _ = trio
    page = world.team_page(ada, [])
    client_for(ada).post(members_url(page), {"user": ben.username}, format="json")
    bens = client_for(ben)

    invitations = bens.get(f"{API}/invitations/").json()
    assert [(i["page"]["id"], i["page"]["title"], i["state"]) for i in invitations] == [
        (page.pk, page.title, "invited")
    ]
    assert invitations[0]["invited_by"] == ada.username
    accepted = bens.post(f"{API}/invitations/{invitations[0]['id']}/accept/")
    assert accepted.status_code == 200, accepted.content
    assert accepted.json()["state"] == "active"
    assert bens.get(f"{API}/invitations/").json() == []
    member = page.members.get()
    assert member.answered_at is not None

    # His own mailbox is listed on his calendars at once; he picks the main one.
    calendars = bens.get(members_url(page, member, "calendars/"))
    assert calendars.status_code == 200, calendars.content
    owners = calendars.json()["owners"]
    assert [o["email"] for o in owners] == [ben.email]
    primary = next(c for c in owners[0]["calendars"] if c["is_primary"])
    assert primary["allowed_roles"] == ["main", "busy", "additional"]
    assert "Choose a main booking calendar" in calendars.json()["problems"][0]
    saved = bens.put(
        members_url(page, member, "roles/"), {"roles": {str(primary["id"]): "main"}}, "json"
    )
    assert saved.status_code == 200, saved.content
    assert saved.json()["problems"] == []
    assert PageCalendar.objects.get(member=member).role == "main"
    assert page.setup_problems() == []
    # The page's owner sees them, and may not change them.
    assert client_for(ada).get(members_url(page, member, "calendars/")).status_code == 200
    refused = client_for(ada).put(
        members_url(page, member, "roles/"), {"roles": {str(primary["id"]): ""}}, "json"
    )
    assert refused.status_code == 403
    assert PageCalendar.objects.get(member=member).role == "main"


def test_a_member_books_only_into_calendars_the_rules_allow_them(world, trio) -> None:
    ada, ben, cy = trio
    page = world.team_page(ada, [ben])
    member = page.members.get()
    bens = client_for(ben)
    # Cy hasn't let ben book into her calendar (the consent rule, checked for the member, not
    # the page's owner): it can block his slots, not take his bookings.
    added = bens.post(members_url(page, member, "owners/"), {"email": cy.email}, format="json")
    assert added.status_code == 200, added.content
    owners = {o["email"]: o["calendars"] for o in added.json()["owners"]}
    cys = next(c for c in owners[cy.email] if c["is_primary"])
    assert cys["allowed_roles"] == ["busy"]
    refused = bens.put(
        members_url(page, member, "roles/"), {"roles": {str(cys["id"]): "main"}}, "json"
    )
    assert refused.status_code == 400
    assert (
        "has not allowed you to book into their calendar"
        in (refused.json()["errors"][str(cys["id"])][0])
    )
    ok = bens.put(members_url(page, member, "roles/"), {"roles": {str(cys["id"]): "busy"}}, "json")
    assert ok.status_code == 200, ok.content
    mine = next(c for c in owners[ben.email] if c["is_primary"])
    assert {pc.calendar_id: pc.role for pc in member.calendars.all()} == {
        mine["id"]: "main",
        cys["id"]: "busy",
    }

    world.allow(cy, ben)
    two_mains = bens.put(
        members_url(page, member, "roles/"), {"roles": {str(cys["id"]): "main"}}, "json"
    )
    assert two_mains.status_code == 400
    assert two_mains.json()["errors"] == {"roles": ["Choose exactly one main booking calendar."]}
    swapped = bens.put(
        members_url(page, member, "roles/"),
        {"roles": {str(cys["id"]): "main", str(mine["id"]): "busy"}},
        "json",
    )
    assert swapped.status_code == 200, swapped.content
    assert member.calendars.get(role="main").calendar_id == cys["id"]


def test_an_invited_member_declines(world, trio) -> None:
    ada, ben, _ = trio
    page = world.team_page(ada, [])
    client_for(ada).post(members_url(page), {"user": ben.username}, format="json")
    member = page.members.get()
    bens = client_for(ben)
    declined = bens.post(f"{API}/invitations/{member.pk}/decline/")
    assert declined.status_code == 200, declined.content
    member.refresh_from_db()
    assert member.state == MemberState.DECLINED
    assert bens.post(f"{API}/invitations/{member.pk}/accept/").status_code == 404
    # The owner may invite him again.
    again = client_for(ada).post(members_url(page), {"user": ben.username}, format="json")
    assert again.status_code == 201
    assert again.json()["state"] == "invited"


# --- who reaches what -------------------------------------------------------------------


def test_another_staff_member_gets_404_for_someone_elses_team(world, trio) -> None:
    ada, ben, cy = trio
    page = world.team_page(ada, [ada], tz="UTC")
    client_for(ada).post(members_url(page), {"user": ben.username}, format="json")
    invited = page.members.get(user=ben)
    adas = page.members.get(user=ada)
    booking = book(page, monday_after().replace(hour=9))
    intruder = client_for(cy)

    assert intruder.get(members_url(page)).status_code == 404
    assert intruder.post(members_url(page), {"user": cy.username}, format="json").status_code == 404
    for member in (invited, adas):
        assert intruder.get(members_url(page, member)).status_code == 404
        assert intruder.patch(members_url(page, member), {"tier": 5}, "json").status_code == 404
        assert intruder.delete(members_url(page, member)).status_code == 404
        assert intruder.get(members_url(page, member, "calendars/")).status_code == 404
        for action in ("owners", "roles"):
            send = intruder.post if action == "owners" else intruder.put
            assert send(members_url(page, member, f"{action}/"), {}, "json").status_code == 404
    assert intruder.get(f"{API}/invitations/").json() == []
    assert intruder.get(f"{API}/invitations/{invited.pk}/").status_code == 404
    assert intruder.post(f"{API}/invitations/{invited.pk}/accept/").status_code == 404
    assert intruder.post(f"{API}/invitations/{invited.pk}/decline/").status_code == 404
    assert intruder.get(f"{API}/bookings/").json() == []
    assert intruder.get(f"{API}/bookings/{booking.pk}/").status_code == 404
    reassign = intruder.post(f"{API}/bookings/{booking.pk}/reassign/", {"member": adas.pk}, "json")
    assert reassign.status_code == 404

    invited.refresh_from_db()
    assert invited.state == MemberState.INVITED and invited.tier == 0
    assert set(page.members.values_list("user", flat=True)) == {ada.pk, ben.pk}
    # The page's owner can't answer for the member, nor a member manage the team.
    assert client_for(ada).post(f"{API}/invitations/{invited.pk}/accept/").status_code == 404
    assert client_for(ben).get(members_url(page)).status_code == 404
    assert client_for(ben).get(members_url(page, adas, "calendars/")).status_code == 404


def test_a_member_reaches_their_own_calendars_but_not_the_teams(world, trio) -> None:
    ada, ben, cy = trio
    page = world.team_page(ada, [ben, cy])
    bens, cys = page.members.get(user=ben), page.members.get(user=cy)
    client = client_for(ben)
    assert client.get(members_url(page, bens, "calendars/")).status_code == 200
    assert client.get(members_url(page, cys, "calendars/")).status_code == 404
    assert client.get(members_url(page, bens)).status_code == 404
    assert client.get(f"{API}/pages/{page.pk}/").status_code == 404


@pytest.mark.parametrize("page_pk", ["x", "²", "99999999999999999999999"])
def test_a_page_id_that_is_not_a_number_is_no_such_page(world, trio, page_pk: str) -> None:
    response = client_for(trio[0]).get(f"{API}/pages/{page_pk}/members/")
    assert response.status_code == 404
    assert response.json()["detail"]


# --- bookings ---------------------------------------------------------------------------


def test_staff_see_the_bookings_of_their_team_pages_and_those_they_attend(world, trio) -> None:
    ada, ben, cy = trio
    page = world.team_page(
        ada, [ben, cy], mode=TeamMode.COLLECTIVE, tz="UTC", hours=(time(9), time(12))
    )
    booking = book(page, monday_after().replace(hour=9))
    own = world.page(cy, tz="UTC")
    personal = book(own, monday_after().replace(hour=11))

    def listed(user) -> list[str]:  # type: ignore[no-untyped-def]
        return [b["id"] for b in client_for(user).get(f"{API}/bookings/").json()]

    assert listed(ada) == [str(booking.pk)]  # the page's owner, not attending
    assert listed(ben) == [str(booking.pk)]  # attending, organiser
    assert listed(cy) == [str(booking.pk), str(personal.pk)]  # attending, and her own page
    body = client_for(ben).get(f"{API}/bookings/{booking.pk}/").json()
    assert body["page"] == page.pk and body["name"] == "Ann Customer"
    assert body["with"] == [
        {"member": page.members.get(user=ben).pk, "name": ben.username, "required": True,
         "declined": False},
        {"member": page.members.get(user=cy).pk, "name": cy.username, "required": True,
         "declined": False},
    ]  # fmt: skip
    assert client_for(cy).get(f"{API}/bookings/{personal.pk}/").json()["with"] == []


@pytest.mark.backends("ews", "graph")
def test_the_owner_hands_a_round_robin_booking_to_another_free_member(
    world, trio, eager_writes, django_capture_on_commit_callbacks
) -> None:
    ada, ben, cy = trio
    page = world.team_page(ada, [ben, cy], tz="UTC", customer_picks_member=True)
    bens, cys = page.members.get(user=ben), page.members.get(user=cy)
    start = monday_after().replace(hour=9)
    with django_capture_on_commit_callbacks(execute=True):
        booking = book(page, start, member=bens.pk)
    assert [e.start for e in world.sim.events(ben.email) if "Ann" in e.subject] == [start]

    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(ada).post(
            f"{API}/bookings/{booking.pk}/reassign/", {"member": cys.pk}, format="json"
        )
    assert response.status_code == 200, response.content
    assert response.json()["owner"] == cy.username
    assert [a["member"] for a in response.json()["with"]] == [cys.pk]
    booking.refresh_from_db()
    assert booking.owner == cy
    assert [e.start for e in world.sim.events(cy.email) if "Ann" in e.subject] == [start]
    assert not [e for e in world.sim.events(ben.email) if "Ann" in e.subject]
    assert all(w.state == WriteState.DONE for w in booking.writes.all())


def test_a_booking_goes_only_to_a_member_free_at_its_time(world, trio) -> None:
    ada, ben, cy = trio
    page = world.team_page(ada, [ben, cy], tz="UTC", customer_picks_member=True)
    bens, cys = page.members.get(user=ben), page.members.get(user=cy)
    start = monday_after().replace(hour=9)
    booking = book(page, start, member=bens.pk)
    world.sim.add_event(cy.email, start, start + timedelta(hours=1), "Dentist")
    client = client_for(ada)
    url = f"{API}/bookings/{booking.pk}/reassign/"

    busy = client.post(url, {"member": cys.pk}, format="json")
    assert busy.status_code == 409
    assert busy.json()["detail"] == f"{cy.username} isn't free at that time."
    already = client.post(url, {"member": bens.pk}, format="json")
    assert already.status_code == 400
    assert already.json()["errors"]["member"] == [f"{ben.username} already has this booking."]
    for bad in ({"member": 0}, {"member": "x"}, {}, [1]):
        assert client.post(url, bad, format="json").status_code == 400, bad
    outsider = world.team_page(ada, [ada]).members.get()
    response = client.post(url, {"member": outsider.pk}, format="json")
    assert response.status_code == 400
    booking.refresh_from_db()
    assert booking.owner == ben


def test_a_member_who_cant_take_bookings_is_not_handed_one(world, trio) -> None:
    ada, ben, cy = trio
    page = world.team_page(ada, [ben], tz="UTC")
    cys = world.add_member(page, cy, roles={})
    booking = book(page, monday_after().replace(hour=9))
    response = client_for(ada).post(
        f"{API}/bookings/{booking.pk}/reassign/", {"member": cys.pk}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["detail"].startswith(f"{cy.username} can't take bookings: Choose a")


def test_collective_and_personal_bookings_are_not_reassigned(world, trio) -> None:
    ada, ben, _ = trio
    collective = world.team_page(ada, [ada, ben], mode=TeamMode.COLLECTIVE, tz="UTC")
    together = book(collective, monday_after().replace(hour=9))
    personal = book(world.page(ada, tz="UTC"), monday_after().replace(hour=10))
    client = client_for(ada)
    for booking in (together, personal):
        response = client.post(
            f"{API}/bookings/{booking.pk}/reassign/", {"member": 1}, format="json"
        )
        assert response.status_code == 400
        assert response.json()["detail"].startswith("Only a round-robin booking")
