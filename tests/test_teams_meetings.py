"""Pages that create Microsoft Teams meetings: only on Exchange Online (Graph), the join link
on the booking, its emails, .ics and pages, kept across a reschedule, gone with a cancel."""

from __future__ import annotations

import html
from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client

from bookings import actions
from bookings.models import Booking
from tests.world import monday_after

pytestmark = [pytest.mark.django_db, pytest.mark.backends("graph")]


def post(slug: str, start: str):  # type: ignore[no-untyped-def]
    body = {"name": "Ann Customer", "email": "ann@example.com", "timezone": "Europe/Berlin"}
    return Client().post(
        f"/api/v1/pages/{slug}/bookings", {**body, "start": start}, content_type="application/json"
    )


@pytest.fixture
def page(world):  # type: ignore[no-untyped-def]
    return world.page(world.staff("tessa"), title="Advice call", create_teams_meeting=True)


def book(page, start, capture):  # type: ignore[no-untyped-def]
    with capture(execute=True):
        response = post(page.slug, start.isoformat())
    assert response.status_code == 201, response.content
    return Booking.objects.get(pk=response.json()["id"])


def test_a_booking_becomes_a_teams_meeting_and_the_customer_gets_its_link(
    world, page, eager_writes, django_capture_on_commit_callbacks
) -> None:
    start = monday_after().replace(hour=10)
    booking = book(page, start, django_capture_on_commit_callbacks)

    [event] = world.sim.events(page.owner.email)
    assert event.is_online_meeting and event.online_meeting_url
    booking.refresh_from_db()
    assert booking.online_meeting_url == event.online_meeting_url

    to_customer = [m for m in mail.outbox if m.to == ["ann@example.com"]]
    # The confirmation at once, then the link as soon as Exchange Online made the meeting.
    assert [m.subject.split(":")[0] for m in to_customer] == ["Confirmed", "Teams link"]
    link_mail = to_customer[1]
    assert event.online_meeting_url in link_mail.body
    body = link_mail.alternatives[0][0]
    assert f'href="{event.online_meeting_url}"' in body
    ics = link_mail.attachments[0].get_payload(decode=True).decode()
    assert f"X-MICROSOFT-SKYPETEAMSMEETINGURL:{event.online_meeting_url}" in ics.replace(
        "\r\n ", ""
    )

    manage = Client().get(booking.manage_url())
    assert "Join the Microsoft Teams meeting" in manage.content.decode()
    assert event.online_meeting_url in manage.content.decode()


def test_a_reschedule_keeps_the_link_and_a_cancel_removes_the_meeting(
    world, page, eager_writes, django_capture_on_commit_callbacks
) -> None:
    start = monday_after().replace(hour=10)
    booking = book(page, start, django_capture_on_commit_callbacks)
    booking.refresh_from_db()
    link = booking.online_meeting_url
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        actions.reschedule(booking, start + timedelta(hours=3), by="customer")
    [event] = world.sim.events(page.owner.email)
    assert event.start == start + timedelta(hours=3)
    assert event.online_meeting_url == link
    booking.refresh_from_db()
    assert booking.online_meeting_url == link
    # The reschedule email carries the same link; no second "Teams link" email.
    subjects = [m.subject for m in mail.outbox if m.to == ["ann@example.com"]]
    assert len(subjects) == 1 and not subjects[0].startswith("Teams link")
    assert link in mail.outbox[0].body

    with django_capture_on_commit_callbacks(execute=True):
        actions.cancel(booking, by="customer")
    assert world.sim.events(page.owner.email) == []
    cancellation = [m for m in mail.outbox if m.to == ["ann@example.com"]][-1]
    assert link not in cancellation.body


def test_the_confirmation_page_says_the_link_is_on_its_way_until_it_exists(
    world, page, django_capture_on_commit_callbacks
) -> None:
    # No eager writes: the calendar write is still queued when the customer sees the page.
    booking = book(page, monday_after().replace(hour=10), django_capture_on_commit_callbacks)
    assert booking.online_meeting_url == ""
    page_html = Client().get(booking.manage_url()).content.decode()
    assert "The Microsoft Teams link is being created" in page_html


@pytest.mark.parametrize("protocol", ["ews"], indirect=True)
def test_a_page_on_exchange_server_that_promises_teams_takes_no_bookings(world) -> None:
    owner = world.staff("ewan")
    page = world.page(owner, create_teams_meeting=True)
    response = post(page.slug, monday_after().replace(hour=10).isoformat())
    assert response.status_code == 409
    assert response.json()["code"] == "not_taking_bookings"
    assert not Booking.objects.exists()
    # The owner is told why (customers only that the page isn't taking bookings).
    assert "can't create Microsoft Teams meetings" in page.not_ready_reason()

    client = Client()
    client.force_login(owner)
    editor = html.unescape(client.get(f"/pages/{page.pk}/").content.decode())
    assert "Exchange Server (EWS), which can't create Microsoft Teams meetings" in editor
