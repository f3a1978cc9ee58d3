"""Who reaches what of a team page in the staff UI: its owner manages the team; a member
reaches their own membership, their own calendars on the page and the bookings they are on;
everyone else, and every other combination of ids, gets a 404."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from bookings import actions
from bookings.models import Booking, MemberState, TeamMember, TeamMode
from tests.world import World, monday_after

pytestmark = pytest.mark.django_db


def as_user(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def customer(name: str = "Ann Customer") -> actions.CustomerDetails:
    return actions.CustomerDetails(name, "ann@example.com", "UTC")


@pytest.fixture
def team(world: World) -> dict:  # type: ignore[type-arg]
    """Ada's round-robin page with Ben and Cy on it, Dee invited; Eve is staff, not on it."""
    ada, ben, cy, dee, eve = (world.staff(n) for n in ("ada", "ben", "cy", "dee", "eve"))
    page = world.team_page(ada, [ben, cy], tz="UTC")
    invited = TeamMember.objects.create(page=page, user=dee, invited_by=ada)
    start = monday_after().replace(hour=9)
    first = actions.book(page, start, customer("First"))
    # Whoever didn't take the first takes the second (the same time: the other is busy).
    second = actions.book(page, start, customer("Second"))
    assert {first.owner, second.owner} == {ben, cy}
    return {
        "page": page,
        "users": {"ada": ada, "ben": ben, "cy": cy, "dee": dee, "eve": eve},
        "members": {m.user.username.split("-")[0]: m for m in page.members.all()},
        "invited": invited,
        "bookings": {b.owner.username.split("-")[0]: b for b in (first, second)},
    }


def test_someone_not_on_the_team_reaches_nothing_of_it(team: dict) -> None:  # type: ignore[type-arg]
    page, eve = team["page"], team["users"]["eve"]
    client = as_user(eve)
    ben = team["members"]["ben"]
    gets = [
        f"/pages/{page.pk}/",
        f"/pages/{page.pk}/team/",
        f"/pages/{page.pk}/team/{ben.pk}/calendars/",
        *(f"/bookings/{b.pk}/" for b in team["bookings"].values()),
    ]
    for url in gets:
        assert client.get(url).status_code == 404, url
    posts = [
        (f"/pages/{page.pk}/team/", {"action": "add", "who": eve.username}),
        (f"/pages/{page.pk}/team/", {"action": "remove", "member": ben.pk}),
        (f"/pages/{page.pk}/team/{ben.pk}/calendars/", {"action": "use_own_main"}),
        (f"/pages/{page.pk}/team/{team['invited'].pk}/answer/", {"answer": "accept"}),
        (f"/bookings/{team['bookings']['ben'].pk}/reassign/", {"member": ben.pk}),
    ]
    for url, data in posts:
        assert client.post(url, data).status_code == 404, url
    assert page.members.count() == 3
    team["invited"].refresh_from_db()
    assert team["invited"].state == MemberState.INVITED
    listing = client.get("/bookings/").content.decode()
    assert "First" not in listing and "Second" not in listing


def test_a_member_cant_change_the_team_or_open_the_pages_settings(team: dict) -> None:  # type: ignore[type-arg]
    page, ben = team["page"], team["users"]["ben"]
    cy = team["members"]["cy"]
    client = as_user(ben)
    assert client.get(f"/pages/{page.pk}/team/").status_code == 200
    assert client.get(f"/pages/{page.pk}/").status_code == 404
    assert client.get(f"/pages/{page.pk}/calendars/").status_code == 404
    for data in (
        {"action": "add", "who": team["users"]["eve"].username},
        {"action": "remove", "member": cy.pk},
        {"action": "update", "member": cy.pk, f"m{cy.pk}-tier": 0, f"m{cy.pk}-weight": 50},
    ):
        assert client.post(f"/pages/{page.pk}/team/", data).status_code == 404, data
    cy.refresh_from_db()
    assert cy.weight == 1
    assert page.members.count() == 3


def test_only_the_member_opens_or_changes_their_calendars_on_the_page(team: dict) -> None:  # type: ignore[type-arg]
    page, users = team["page"], team["users"]
    ben = team["members"]["ben"]
    url = f"/pages/{page.pk}/team/{ben.pk}/calendars/"
    assert as_user(users["ben"]).get(url).status_code == 200
    # Not a colleague on the team, not even the page's owner: it is Ben's consent to give.
    for name in ("cy", "ada"):
        assert as_user(users[name]).get(url).status_code == 404, name
        r = as_user(users[name]).post(url, {"action": "remove_owner", "owner": 1})
        assert r.status_code == 404, name
    assert ben.calendars.get().role == "main"


def test_a_members_ids_only_work_together_with_their_own_page(team: dict, world: World) -> None:  # type: ignore[type-arg]
    ben = team["members"]["ben"]
    other = world.team_page(team["users"]["ben"], [team["users"]["ben"]])
    client = as_user(team["users"]["ben"])
    assert client.get(f"/pages/{other.pk}/team/{ben.pk}/calendars/").status_code == 404
    assert client.get(f"/pages/{team['page'].pk}/team/99999999/calendars/").status_code == 404


def test_only_the_invited_member_answers_their_invitation(team: dict) -> None:  # type: ignore[type-arg]
    page, users, invited = team["page"], team["users"], team["invited"]
    url = f"/pages/{page.pk}/team/{invited.pk}/answer/"
    for name in ("ada", "ben", "eve"):
        assert as_user(users[name]).post(url, {"answer": "accept"}).status_code == 404, name
    invited.refresh_from_db()
    assert invited.state == MemberState.INVITED
    assert as_user(users["dee"]).get(url).status_code == 405  # answers are posted
    r = as_user(users["dee"]).post(url, {"answer": "maybe"})
    assert r.status_code == 302
    invited.refresh_from_db()
    assert invited.state == MemberState.INVITED
    as_user(users["dee"]).post(url, {"answer": "accept"})
    invited.refresh_from_db()
    assert invited.state == MemberState.ACTIVE


def test_a_member_sees_the_bookings_they_are_on_and_not_their_colleagues(team: dict) -> None:  # type: ignore[type-arg]
    users, bookings = team["users"], team["bookings"]
    client = as_user(users["ben"])
    assert client.get(f"/bookings/{bookings['ben'].pk}/").status_code == 200
    assert client.get(f"/bookings/{bookings['cy'].pk}/").status_code == 404
    assert client.post(f"/bookings/{bookings['cy'].pk}/cancel/", {}).status_code == 404
    listing = client.get("/bookings/").content.decode()
    assert bookings["ben"].name in listing and bookings["cy"].name not in listing
    # Filtering by the team page (theirs as a member) works too.
    r = client.get(f"/bookings/?page={team['page'].pk}")
    assert r.status_code == 200 and bookings["ben"].name in r.content.decode()


def test_the_pages_owner_sees_every_booking_of_the_team_page(team: dict) -> None:  # type: ignore[type-arg]
    client = as_user(team["users"]["ada"])
    listing = client.get("/bookings/").content.decode()
    for booking in team["bookings"].values():
        assert booking.name in listing
        assert client.get(f"/bookings/{booking.pk}/").status_code == 200


def test_a_collective_booking_is_listed_once_for_an_owner_who_attends_it(world: World) -> None:
    ada, ben = world.staff("ada"), world.staff("ben")
    page = world.team_page(ada, [ada, ben], mode=TeamMode.COLLECTIVE, tz="UTC")
    booking = actions.book(page, monday_after().replace(hour=9), customer("Only Once"))
    assert booking.attendees.count() == 2
    for user in (ada, ben):
        listing = as_user(user).get("/bookings/").content.decode()
        assert listing.count(f'href="/bookings/{booking.pk}/"') == 1, user
    assert Booking.objects.count() == 1


def test_signed_out_visitors_are_sent_to_sign_in(team: dict) -> None:  # type: ignore[type-arg]
    page, ben = team["page"], team["members"]["ben"]
    for url in (
        f"/pages/{page.pk}/team/",
        f"/pages/{page.pk}/team/{ben.pk}/calendars/",
        "/staff/profile/",
    ):
        r = Client().get(url)
        assert r.status_code == 302 and r["Location"].startswith("/accounts/login/"), url
