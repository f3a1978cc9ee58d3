"""The customer's side of team pages: the slots and booking APIs' team fields, the public
page (who the customer meets, the member choice with and without JavaScript), the
confirmation and manage pages, and the members' photos.

Everything goes over the wire to the simulator: each member's busy time is read from their
own Exchange calendar, and bookings are checked against it.
"""

from __future__ import annotations

import re
from datetime import time, timedelta
from html import unescape

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils.http import http_date

from bookings.models import (
    Booking,
    BookingPage,
    MemberState,
    StaffProfile,
    TeamMember,
    TeamMode,
)
from tests.world import monday_after

pytestmark = [pytest.mark.django_db, pytest.mark.backends("ews", "graph")]

# The smallest files each type's magic bytes make: the photo view checks content, not names.
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64


@pytest.fixture
def trio(world) -> list[User]:  # type: ignore[no-untyped-def]
    people = []
    for name, first, last in (
        ("ada", "Ada", "Lovelace"),
        ("ben", "Ben", "Okri"),
        ("cy", "Cy", "Twombly"),
    ):
        user = world.staff(name)
        user.first_name, user.last_name = first, last
        user.save()
        people.append(user)
    return people


def slots(slug: str, day, **params: str) -> dict:  # type: ignore[no-untyped-def]
    query = {"start": day.isoformat(), "end": day.isoformat(), "timezone": "UTC", **params}
    response = Client().get(f"/api/v1/pages/{slug}/slots", query)
    assert response.status_code == 200, response.content
    return response.json()


def post(slug: str, **data):  # type: ignore[no-untyped-def]
    body = {"name": "Carol Customer", "email": "carol@example.com", "timezone": "UTC"}
    body.update(data)
    return Client().post(f"/api/v1/pages/{slug}/bookings", body, content_type="application/json")


def text(response) -> str:  # type: ignore[no-untyped-def]
    """The page's text as a screen reader reads it: tags, what is aria-hidden (the initials
    of an avatar) and runs of white space left out."""
    html = re.sub(r'<span[^>]*aria-hidden="true"[^>]*>[^<]*</span>', "", response.content.decode())
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def member(page: BookingPage, user: User) -> TeamMember:
    return page.members.get(user=user)


# --- The slots API ---------------------------------------------------------------------


def test_a_round_robin_page_that_lets_customers_choose_lists_the_members_free_at_each_slot(
    world, trio
) -> None:
    ada, ben, cy = trio
    page = world.team_page(
        ada, trio, tz="UTC", hours=(time(9), time(11)), customer_picks_member=True
    )
    day = monday_after()
    world.sim.add_event(ada.email, day.replace(hour=9), day.replace(hour=10), "Busy")
    body = slots(page.slug, day.date())
    by_start = {s["start"]: s["members"] for s in body["slots"]}
    nine, ten = f"{day.date()}T09:00:00+00:00", f"{day.date()}T10:00:00+00:00"
    assert by_start[nine] == [
        {"id": member(page, ben).pk, "name": "Ben Okri"},
        {"id": member(page, cy).pk, "name": "Cy Twombly"},
    ]
    assert [m["name"] for m in by_start[ten]] == ["Ada Lovelace", "Ben Okri", "Cy Twombly"]
    assert body["team"] == {
        "mode": "round_robin",
        "members": [
            {"id": member(page, u).pk, "name": n, "photo_url": None}
            for u, n in ((ada, "Ada Lovelace"), (ben, "Ben Okri"), (cy, "Cy Twombly"))
        ],
    }
    # Names only: nothing else about the members reaches the public.
    for user in trio:
        assert user.email not in str(body)


def test_a_page_that_assigns_the_member_says_who_is_on_the_team_but_not_who_is_free(
    world, trio
) -> None:
    page = world.team_page(trio[0], trio, tz="UTC", hours=(time(9), time(10)))
    body = slots(page.slug, monday_after().date())
    assert body["slots"] and all(set(s) == {"start", "end"} for s in body["slots"])
    assert body["team"]["mode"] == "round_robin"
    assert len(body["team"]["members"]) == 3


def test_only_members_who_accepted_are_shown(world, trio) -> None:
    ada, ben, cy = trio
    page = world.team_page(ada, [ada, ben], tz="UTC", customer_picks_member=True)
    world.add_member(page, cy, state=MemberState.INVITED)
    body = slots(page.slug, monday_after().date())
    assert [m["name"] for m in body["team"]["members"]] == ["Ada Lovelace", "Ben Okri"]
    assert all("Cy Twombly" not in str(s["members"]) for s in body["slots"])


def test_a_collective_page_answers_its_mode_and_team(world, trio) -> None:
    page = world.team_page(trio[0], trio[:2], mode=TeamMode.COLLECTIVE, tz="UTC")
    body = slots(page.slug, monday_after().date())
    assert body["team"]["mode"] == "collective"
    assert [m["name"] for m in body["team"]["members"]] == ["Ada Lovelace", "Ben Okri"]
    assert all("members" not in s for s in body["slots"])


def test_a_personal_pages_answer_has_no_team(world) -> None:
    page = world.page(world.staff("olivia"), tz="UTC")
    body = slots(page.slug, monday_after().date())
    assert "team" not in body
    assert body["slots"] and all(set(s) == {"start", "end"} for s in body["slots"])


# --- The booking API -------------------------------------------------------------------


def test_a_booking_with_a_chosen_member_answers_who_it_is_with(world, trio, eager_writes) -> None:
    ada, _, cy = trio
    page = world.team_page(ada, trio, tz="UTC", customer_picks_member=True)
    start = monday_after().replace(hour=9)
    response = post(page.slug, start=start.isoformat(), member=member(page, cy).pk)
    assert response.status_code == 201, response.content
    assert response.json()["with"] == ["Cy Twombly"]
    assert Booking.objects.get(pk=response.json()["id"]).owner_id == cy.pk


def test_a_collective_booking_answers_everyone_it_is_with(world, trio, eager_writes) -> None:
    page = world.team_page(trio[0], trio[:2], mode=TeamMode.COLLECTIVE, tz="UTC")
    response = post(page.slug, start=monday_after().replace(hour=9).isoformat())
    assert response.status_code == 201, response.content
    assert response.json()["with"] == ["Ada Lovelace", "Ben Okri"]


def test_a_personal_booking_answers_as_before(world) -> None:
    page = world.page(world.staff("olivia"), tz="UTC")
    response = post(page.slug, start=monday_after().replace(hour=9).isoformat())
    assert response.status_code == 201, response.content
    assert "with" not in response.json()


def test_a_member_that_is_not_a_number_is_a_400_naming_the_field(world, trio) -> None:
    page = world.team_page(trio[0], trio, tz="UTC", customer_picks_member=True)
    response = post(page.slug, start=monday_after().replace(hour=9).isoformat(), member="ada")
    assert response.status_code == 400
    assert "member" in response.json()["errors"]


# --- The public page -------------------------------------------------------------------


def test_a_round_robin_page_says_one_of_our_team_and_shows_the_team(world, trio) -> None:
    page = world.team_page(trio[0], trio, tz="UTC")
    response = Client().get(f"/{page.slug}/")
    assert response.status_code == 200
    page_text = text(response)
    assert "with one of our team" in page_text
    for name in ("Ada Lovelace", "Ben Okri", "Cy Twombly"):
        assert name in page_text
    # No photos: initials instead.
    assert re.search(r'class="avatar avatar-initials[^"]*"[^>]*>AL<', response.content.decode())
    # This page assigns the member itself: nothing to choose.
    assert 'name="member"' not in response.content.decode()


def test_a_collective_page_lists_who_the_customer_meets(world, trio) -> None:
    page = world.team_page(trio[0], trio, mode=TeamMode.COLLECTIVE, tz="UTC")
    page_text = text(Client().get(f"/{page.slug}/"))
    assert "with Ada Lovelace, Ben Okri and Cy Twombly" in page_text


def test_a_members_photo_is_shown_instead_of_their_initials(world, trio) -> None:
    ada, ben, _ = trio
    page = world.team_page(ada, [ada, ben], tz="UTC")
    StaffProfile.objects.create(user=ben, photo=PNG, photo_type="image/png")
    html = Client().get(f"/{page.slug}/").content.decode()
    photo = re.search(r'<img class="avatar" src="([^"]+)"', html)
    assert photo, html
    assert photo.group(1).startswith(f"/{page.slug}/members/{member(page, ben).pk}/photo?v=")
    assert Client().get(unescape(photo.group(1))).content == PNG


def test_without_javascript_the_member_choice_filters_the_times_and_books_that_member(
    world, trio, eager_writes
) -> None:
    ada, ben, _ = trio
    page = world.team_page(
        ada, [ada, ben], tz="UTC", hours=(time(9), time(11)), customer_picks_member=True
    )
    day = monday_after()
    world.sim.add_event(ben.email, day.replace(hour=9), day.replace(hour=10), "Busy")
    params = {"date": day.date().isoformat(), "tz": "UTC"}
    everyone = Client().get(f"/{page.slug}/", params).content.decode()
    assert "Who would you like to meet?" in everyone
    assert re.search(r'name="member" value=""[^>]*>\s*<span>Any available', everyone)
    assert f"{day.date()}T09:00:00+00:00" in everyone

    ben_pk = str(member(page, ben).pk)
    only_ben = Client().get(f"/{page.slug}/", {**params, "member": ben_pk}).content.decode()
    assert f'value="{day.date()}T09:00:00+00:00"' not in only_ben  # ben is busy at 9
    assert f'value="{day.date()}T10:00:00+00:00"' in only_ben
    assert f'name="member" value="{ben_pk}"' in only_ben  # carried into the booking form

    response = Client().post(
        f"/{page.slug}/book/",
        {
            "start": day.replace(hour=10).isoformat(),
            "timezone": "UTC",
            "name": "Carol Customer",
            "email": "carol@example.com",
            "member": ben_pk,
        },
    )
    assert response.status_code == 303, response.content
    booking = Booking.objects.get(page=page)
    assert booking.owner_id == ben.pk
    confirmed = Client().get(response["Location"])
    assert "With Ben Okri" in text(confirmed)


def test_an_unknown_member_in_the_picker_is_a_400_saying_so(world, trio) -> None:
    page = world.team_page(trio[0], trio, tz="UTC", customer_picks_member=True)
    other = world.team_page(trio[1], trio[1:], tz="UTC")
    for bad in ("nobody", str(member(other, trio[1]).pk), "9" * 30):
        response = Client().get(f"/{page.slug}/", {"member": bad})
        assert response.status_code == 400, bad
        assert "Choose one of the team&#x27;s members" in response.content.decode()


def test_the_form_refuses_a_member_on_a_page_that_assigns_them(world, trio) -> None:
    page = world.team_page(trio[0], trio, tz="UTC")
    response = Client().post(
        f"/{page.slug}/book/",
        {
            "start": monday_after().replace(hour=9).isoformat(),
            "timezone": "UTC",
            "name": "Carol Customer",
            "email": "carol@example.com",
            "member": str(member(page, trio[0]).pk),
        },
    )
    assert response.status_code == 400
    assert "This page chooses the team member itself." in text(response)
    assert not Booking.objects.filter(page=page).exists()


def test_the_confirmation_and_manage_pages_say_who_a_collective_meeting_is_with(
    world, trio, eager_writes
) -> None:
    page = world.team_page(
        trio[0], trio[:2], mode=TeamMode.COLLECTIVE, tz="UTC", title="Design review"
    )
    booking = Booking.objects.get(
        pk=post(page.slug, start=monday_after().replace(hour=9).isoformat()).json()["id"]
    )
    token = booking.manage_token()
    for url in (f"/{page.slug}/confirmed/{token}/", f"/manage/{token}/"):
        page_text = text(Client().get(url))
        assert "What Design review With" in page_text
        assert "Ada Lovelace" in page_text and "Ben Okri" in page_text
    cancel_step = text(Client().get(f"/manage/{token}/cancel/"))
    assert "Design review with Ada Lovelace and Ben Okri" in cancel_step


def test_a_round_robin_bookings_manage_page_names_its_member_to_contact(
    world, trio, eager_writes
) -> None:
    page = world.team_page(trio[0], trio, tz="UTC")
    booking = Booking.objects.get(
        pk=post(page.slug, start=monday_after().replace(hour=9).isoformat()).json()["id"]
    )
    host = booking.owner.get_full_name()
    # Too close to change online now: the customer is told whom to contact.
    page.min_notice_minutes = 60 * 24 * 30
    page.save()
    page_text = text(Client().get(f"/manage/{booking.manage_token()}/"))
    assert f"With {host}" in page_text
    assert f"Please contact {host} directly." in page_text


# --- Photos ----------------------------------------------------------------------------


def test_a_photo_is_served_with_its_type_nosniff_and_cache_headers(world, trio) -> None:
    ada, ben, _ = trio
    page = world.team_page(ada, [ada, ben], tz="UTC")
    profile = StaffProfile.objects.create(user=ben, photo=JPEG, photo_type="image/jpeg")
    url = f"/{page.slug}/members/{member(page, ben).pk}/photo"
    response = Client().get(url)
    assert response.status_code == 200
    assert response.content == JPEG
    assert response["Content-Type"] == "image/jpeg"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cache-Control"] == "public, max-age=300"
    assert response["Last-Modified"] == http_date(profile.updated.timestamp())
    # The page's address carries the version: that one may be kept for good.
    version = str(int(profile.updated.timestamp()))
    assert "immutable" in Client().get(url, {"v": version})["Cache-Control"]
    again = Client().get(url, headers={"if-modified-since": response["Last-Modified"]})
    assert again.status_code == 304 and not again.content


def test_a_photo_is_a_404_unless_its_member_is_active_on_that_active_team_page(world, trio) -> None:
    ada, ben, cy = trio
    page = world.team_page(ada, [ada, ben], tz="UTC")
    invited = world.add_member(page, cy, state=MemberState.INVITED)
    other = world.team_page(ben, [ben, cy], tz="UTC")
    personal = world.page(ada, tz="UTC")
    for user in trio:
        StaffProfile.objects.create(user=user, photo=PNG, photo_type="image/png")
    ok = f"/{page.slug}/members/{member(page, ben).pk}/photo"
    assert Client().get(ok).status_code == 200
    refused = [
        f"/{page.slug}/members/{invited.pk}/photo",  # hasn't accepted
        f"/{page.slug}/members/{member(other, cy).pk}/photo",  # another page's member
        f"/{personal.slug}/members/{member(page, ben).pk}/photo",  # not a team page
        f"/{page.slug}/members/{10**30}/photo",  # no id column holds that
        f"/no-such-page/members/{member(page, ben).pk}/photo",
    ]
    for url in refused:
        assert Client().get(url).status_code == 404, url
    TeamMember.objects.filter(page=page, user=ben).update(state=MemberState.DECLINED)
    assert Client().get(ok).status_code == 404  # left the team
    assert Client().get(f"/{page.slug}/members/{member(page, ada).pk}/photo").status_code == 200
    BookingPage.objects.filter(pk=page.pk).update(active=False)
    assert Client().get(f"/{page.slug}/members/{member(page, ada).pk}/photo").status_code == 404


def test_a_member_without_a_photo_or_with_a_file_that_is_no_image_is_a_404(world, trio) -> None:
    ada, ben, _ = trio
    page = world.team_page(ada, [ada, ben], tz="UTC")
    # Stored under an image type, but not an image: never served as one.
    StaffProfile.objects.create(user=ben, photo=b"<svg onload=alert(1)>", photo_type="image/png")
    for user in (ada, ben):
        url = f"/{page.slug}/members/{member(page, user).pk}/photo"
        assert Client().get(url).status_code == 404, url


def test_the_photo_address_changes_when_the_photo_does(world, trio, settings) -> None:
    # The slots API reuses the team's names and photos for READINESS_CACHE_SECONDS; the page
    # itself and the API after those seconds show the new address.
    settings.READINESS_CACHE_SECONDS = 0
    ada, ben, _ = trio
    page = world.team_page(ada, [ada, ben], tz="UTC")
    profile = StaffProfile.objects.create(user=ben, photo=PNG, photo_type="image/png")
    first = slots(page.slug, monday_after().date())["team"]["members"][1]["photo_url"]
    StaffProfile.objects.filter(pk=profile.pk).update(
        photo=JPEG, photo_type="image/jpeg", updated=profile.updated + timedelta(minutes=5)
    )
    second = slots(page.slug, monday_after().date())["team"]["members"][1]["photo_url"]
    assert first != second
    assert Client().get(second).content == JPEG
