"""The emails and .ics of team bookings: the customer is told who the meeting is with, every
member it is with gets the owner's notification, and a booking handed to another member
tells all three people.

Bookings are made over the wire (the booking API against the simulator), with the emails
sent by the Celery tasks run eagerly once the booking commits.
"""

from __future__ import annotations

import email
from datetime import time

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.test import Client
from django.utils import timezone
from icalendar import Calendar

from bookings import actions, team
from bookings.models import Booking, BookingPage, TeamMode
from tests.world import monday_after

pytestmark = [pytest.mark.django_db, pytest.mark.backends("ews", "graph")]

CUSTOMER = "carol@example.com"


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


@pytest.fixture
def send(eager_writes, django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    """Run `action()` and the emails it queues on commit; returns (its result, the emails)."""

    def run(action):  # type: ignore[no-untyped-def]
        mail.outbox.clear()
        with django_capture_on_commit_callbacks(execute=True):
            result = action()
        return result, list(mail.outbox)

    return run


def book(page: BookingPage, hour: int = 9, **data) -> Booking:  # type: ignore[no-untyped-def]
    body = {
        "name": "Carol Customer",
        "email": CUSTOMER,
        "timezone": "UTC",
        "start": monday_after().replace(hour=hour).isoformat(),
        **data,
    }
    response = Client().post(
        f"/api/v1/pages/{page.slug}/bookings", body, content_type="application/json"
    )
    assert response.status_code == 201, response.content
    return Booking.objects.get(pk=response.json()["id"])


def to(messages, address: str):  # type: ignore[no-untyped-def]
    found = [m for m in messages if m.to == [address]]
    assert len(found) == 1, [(m.to, m.subject) for m in messages]
    return found[0]


def invite(message) -> Calendar:  # type: ignore[no-untyped-def]
    """The invite.ics part, as a mail client receives it after the message is sent."""
    received = email.message_from_bytes(message.message().as_bytes())
    [part] = [p for p in received.walk() if p.get_filename()]
    assert part.get_filename() == "invite.ics"
    return Calendar.from_ical(part.get_payload(decode=True))


def event(message):  # type: ignore[no-untyped-def]
    return next(c for c in invite(message).walk() if c.name == "VEVENT")


def attendees(vevent) -> dict[str, tuple[str, str]]:  # type: ignore[no-untyped-def]
    found = vevent.get("attendee", [])
    found = found if isinstance(found, list) else [found]
    return {str(a).removeprefix("mailto:"): (a.params["CN"], a.params["ROLE"]) for a in found}


def html_of(message) -> str:  # type: ignore[no-untyped-def]
    return message.alternatives[0][0]


# --- Round robin ---------------------------------------------------------------------------


def test_a_round_robin_confirmation_names_the_member_and_only_they_are_notified(
    world, trio, send
) -> None:
    ada, ben, cy = trio
    page = world.team_page(ada, [ben, cy], tz="UTC", title="Intro call", customer_picks_member=True)
    cy_pk = page.members.get(user=cy).pk
    booking, sent = send(lambda: book(page, member=cy_pk))
    assert booking.owner_id == cy.pk

    customer = to(sent, CUSTOMER)
    assert customer.subject.startswith("Confirmed: Intro call with Cy Twombly, ")
    assert "What:  Intro call with Cy Twombly" in customer.body
    assert "Intro call with Cy Twombly" in html_of(customer)
    assert customer.reply_to == [cy.email]  # the member it is with, not the page's owner
    vevent = event(customer)
    assert str(vevent["summary"]) == "Intro call with Cy Twombly"
    assert str(vevent["organizer"]) == f"mailto:{cy.email}"
    assert vevent["organizer"].params["CN"] == "Cy Twombly"
    assert list(attendees(vevent)) == [CUSTOMER]  # round robin: one host, the organiser
    assert "With Cy Twombly." in str(vevent["description"])

    # The member it is with is notified; the page's owner and the other member are not.
    assert sorted(m.to[0] for m in sent) == sorted([CUSTOMER, cy.email])
    notice = to(sent, cy.email)
    assert notice.subject.startswith("New booking: Carol Customer, Intro call, ")
    assert "With:  Cy Twombly" in notice.body
    assert notice.reply_to == [CUSTOMER]


def test_the_downloaded_ics_of_a_team_booking_names_its_member_without_attendees(
    world, trio, send
) -> None:
    page = world.team_page(trio[0], trio[1:2], tz="UTC", title="Intro call")
    booking, _ = send(lambda: book(page))
    response = Client().get(f"/manage/{booking.manage_token()}/booking.ics")
    vevent = next(c for c in Calendar.from_ical(response.content).walk() if c.name == "VEVENT")
    assert str(vevent["summary"]) == "Intro call with Ben Okri"
    assert "attendee" not in vevent  # PUBLISH: a plain event
    assert "With Ben Okri." in str(vevent["description"])


# --- Collective ----------------------------------------------------------------------------


def test_a_collective_invitation_lists_everyone_attending_and_everyone_is_notified(
    world, trio, send
) -> None:
    ada, ben, cy = trio
    page = world.team_page(
        ada, [ada, ben], optional=(cy,), mode=TeamMode.COLLECTIVE, tz="UTC",
        title="Design review", hours=(time(9), time(12)),
    )  # fmt: skip
    day = monday_after()
    booking, sent = send(lambda: book(page))
    assert {a.user_id for a in booking.attendees.all()} == {ada.pk, ben.pk, cy.pk}

    customer = to(sent, CUSTOMER)
    assert "Design review with Ada Lovelace, Ben Okri and Cy Twombly" in customer.subject
    vevent = event(customer)
    assert str(vevent["organizer"]) == f"mailto:{booking.owner.email}"
    assert attendees(vevent) == {
        CUSTOMER: ("Carol Customer", "REQ-PARTICIPANT"),
        ada.email: ("Ada Lovelace", "REQ-PARTICIPANT"),
        ben.email: ("Ben Okri", "REQ-PARTICIPANT"),
        cy.email: ("Cy Twombly", "OPT-PARTICIPANT"),
    }
    for user in trio:
        notice = to(sent, user.email)
        assert "With:  Ada Lovelace, Ben Okri and Cy Twombly" in notice.body

    # An optional member who declined is no longer named, invited or told.
    booking.attendees.filter(user=cy).update(declined_at=timezone.now())
    _, sent = send(lambda: actions.reschedule(booking, day.replace(hour=11), by="customer"))
    customer = to(sent, CUSTOMER)
    assert "Design review with Ada Lovelace and Ben Okri" in customer.subject
    assert cy.email not in attendees(event(customer))
    assert sorted(m.to[0] for m in sent) == sorted([CUSTOMER, ada.email, ben.email])


def test_cancelling_a_collective_booking_tells_every_attendee(world, trio, send) -> None:
    ada, ben, _ = trio
    page = world.team_page(ada, [ada, ben], mode=TeamMode.COLLECTIVE, tz="UTC")
    booking, _ = send(lambda: book(page))
    _, sent = send(lambda: actions.cancel(booking, by="staff", reason="Both away"))
    customer = to(sent, CUSTOMER)
    assert customer.subject.startswith("Cancelled: Consultation with Ada Lovelace and Ben Okri")
    assert "Your booking has been cancelled." in customer.body
    assert invite(customer)["method"] == "CANCEL"
    for user in (ada, ben):
        notice = to(sent, user.email)
        assert notice.subject.startswith("Cancelled: Carol Customer, Consultation, ")
        assert "Reason: Both away" in notice.body


# --- Reassigned ----------------------------------------------------------------------------


def test_a_reassigned_booking_tells_the_customer_the_new_member_and_both_members(
    world, trio, send
) -> None:
    ada, ben, cy = trio
    page = world.team_page(ada, [ben, cy], tz="UTC", title="Intro call")
    booking, first = send(lambda: book(page))
    old = booking.owner
    new = cy if old == ben else ben
    old_sequence = event(to(first, CUSTOMER))["sequence"]

    moved, sent = send(lambda: team.reassign(booking, to=page.members.get(user=new).pk))
    assert moved == page.members.get(user=new).pk
    assert sorted(m.to[0] for m in sent) == sorted([CUSTOMER, old.email, new.email])

    name = new.get_full_name()
    customer = to(sent, CUSTOMER)
    assert customer.subject.startswith(f"Now with {name}: Intro call, ")
    assert f"Your meeting is now with {name}, at the same time." in customer.body
    assert f"What:  Intro call with {name}" in customer.body
    assert f"<b>{name}</b>" in html_of(customer)
    vevent = event(customer)
    assert invite(customer)["method"] == "REQUEST"
    assert vevent["sequence"] > old_sequence
    assert str(vevent["uid"]) == booking.uid  # the same event, updated
    assert str(vevent["summary"]) == f"Intro call with {name}"
    assert str(vevent["organizer"]) == f"mailto:{new.email}"

    taken = to(sent, new.email)
    assert taken.subject.startswith("Now yours: Carol Customer, Intro call, ")
    assert f"(it was {old.get_full_name()}'s)" in taken.body
    given = to(sent, old.email)
    assert given.subject.startswith(f"Moved to {name}: Carol Customer, Intro call, ")
    assert f"has moved to {name}" in given.body


def test_a_personal_pages_notification_still_goes_to_its_owner(world, send) -> None:
    owner = world.staff("olivia")
    page = world.page(owner, tz="UTC")
    _, sent = send(lambda: book(page))
    assert sorted(m.to[0] for m in sent) == sorted([CUSTOMER, owner.email])
    customer = to(sent, CUSTOMER)
    assert customer.reply_to == [owner.email]
    assert "With" not in str(event(customer)["description"])


def test_a_write_failing_in_a_members_calendar_alerts_that_member_too(
    world, trio, send, settings
) -> None:
    from bookings import emails

    settings.ADMINS = [("Ops", "ops@contoso.example")]
    ada, ben, _ = trio
    page = world.team_page(ada, [ben], tz="UTC")
    booking, _ = send(lambda: book(page))
    write = booking.writes.get(member_user=ben)
    mail.outbox.clear()
    emails.send_write_alert(write)
    [alert] = mail.outbox
    assert sorted(alert.to) == sorted([ada.email, ben.email, "ops@contoso.example"])
