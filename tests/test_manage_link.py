"""The customer's manage link: a summary with two actions (reschedule, cancel after a
confirmation step), and ways to add the booking to a calendar."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core import signing
from django.test import Client
from django.utils.timezone import now as utcnow

from bookings import actions
from bookings.models import MANAGE_SALT, Booking, BookingPage, BookingStatus
from tests.world import monday_after

pytestmark = pytest.mark.django_db

LONDON = ZoneInfo("Europe/London")


def london(hour: int, minute: int = 0) -> datetime:
    """hour:minute London time on that Monday, in UTC."""
    day = monday_after().date()
    return datetime.combine(day, time(hour, minute), tzinfo=LONDON).astimezone(UTC)


@pytest.fixture
def page(world) -> BookingPage:
    return world.page(world.staff("olivia"), title="Tax advice", interval_minutes=15)


def book(page: BookingPage, start: datetime) -> Booking:
    customer = actions.CustomerDetails("Ada Lovelace", "ada@example.com", "America/New_York")
    return actions.book(page, start, customer)


def manage_url(booking: Booking) -> str:
    return f"/manage/{booking.manage_token()}/"


def test_it_shows_a_summary_with_two_actions(page: BookingPage) -> None:
    booking = book(page, london(10))
    token = booking.manage_token()
    response = Client().get(manage_url(booking))
    assert response.status_code == 200
    html = response.content.decode()
    local = booking.start.astimezone(ZoneInfo("America/New_York"))
    assert f"{local:%H:%M}\u2013" in html and "(New York time)" in html
    assert f"Tax advice with {page.owner_name}" in html
    assert f'href="/manage/{token}/reschedule/" id="reschedule-link">Reschedule</a>' in html
    assert f'href="/manage/{token}/cancel/" id="cancel-link">Cancel booking</a>' in html
    # The summary changes nothing by itself: no forms, no slot picker.
    assert "<form" not in html and 'id="slot-picker"' not in html


def test_the_reschedule_step_offers_the_slot_picker(page: BookingPage) -> None:
    booking = book(page, london(10))
    html = Client().get(f"{manage_url(booking)}reschedule/").content.decode()
    assert 'id="move-form"' in html and 'id="cancel-form"' not in html
    # The picker starts in the customer's zone (its markup belongs to the public page).
    assert 'id="tz"' in html and 'name="timezone" value="America/New_York"' in html
    assert f'action="{manage_url(booking)}"' in html
    assert f'href="{manage_url(booking)}" id="back-link"' in html


def test_the_cancel_step_asks_to_confirm_and_changes_nothing(page: BookingPage) -> None:
    booking = book(page, london(10))
    response = Client().get(f"{manage_url(booking)}cancel/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Cancel this booking?" in html
    assert 'id="cancel-form"' in html and 'name="reason"' in html
    assert ">Yes, cancel booking</button>" in html
    assert f'href="{manage_url(booking)}" id="keep-link">Keep my booking</a>' in html
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CONFIRMED


@pytest.mark.parametrize("suffix", ["", "cancel/", "reschedule/"])
def test_cancelling_with_a_get_does_nothing(page: BookingPage, suffix: str) -> None:
    booking = book(page, london(10))
    Client().get(f"{manage_url(booking)}{suffix}", {"action": "cancel", "reason": "x"})
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CONFIRMED


def test_the_action_steps_take_no_posts(page: BookingPage) -> None:
    booking = book(page, london(10))
    for suffix in ("cancel/", "reschedule/"):
        response = Client().post(f"{manage_url(booking)}{suffix}", {"action": "cancel"})
        assert response.status_code == 405
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CONFIRMED


def test_a_tampered_or_unknown_token_is_a_404(page: BookingPage) -> None:
    booking = book(page, london(10))
    token = booking.manage_token()
    forged = signing.dumps(str(booking.pk), salt="another-salt")
    unknown = signing.dumps("6b1f6a6e-8c1e-4d0f-9e1e-1d2b3c4d5e6f", salt=MANAGE_SALT)
    for bad in (token[:-3] + "abc", str(booking.pk), forged, unknown):
        assert Client().get(f"/manage/{bad}/").status_code == 404
        assert Client().get(f"/manage/{bad}/booking.ics").status_code == 404
        response = Client().post(f"/manage/{bad}/", {"action": "cancel"})
        assert response.status_code == 404
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CONFIRMED


def test_the_customer_can_cancel_with_a_reason(page: BookingPage) -> None:
    booking = book(page, london(10))
    client = Client()
    response = client.post(manage_url(booking), {"action": "cancel", "reason": "Feeling better"})
    assert response.status_code == 303
    assert response["Location"] == manage_url(booking)
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CANCELLED
    assert booking.cancelled_by == "customer"
    assert booking.cancel_reason == "Feeling better"


def test_after_cancelling_one_notice_and_a_way_to_book_again(page: BookingPage) -> None:
    booking = book(page, london(10))
    client = Client()
    response = client.post(manage_url(booking), {"action": "cancel"}, follow=True)
    html = response.content.decode()
    assert html.count('class="alert') == 1
    assert "Your booking is cancelled. We&#x27;ve sent you a confirmation." in html
    assert "has been cancelled" not in html
    assert f'href="/{page.slug}/" id="book-again">Book a new time</a>' in html
    assert 'id="reschedule-link"' not in html and 'id="cancel-link"' not in html
    # Nothing to add to a calendar any more.
    assert "booking.ics" not in html and "calendar.google.com" not in html
    # The link leads to the page, which offers times again.
    assert client.get(f"/{page.slug}/").status_code == 200


def test_a_booking_cancelled_by_the_owner_says_who_cancelled(page: BookingPage) -> None:
    booking = book(page, london(10))
    actions.cancel(booking, by="staff")
    html = Client().get(manage_url(booking)).content.decode()
    assert html.count('class="alert') == 1
    assert f"This booking was cancelled by {page.owner_name}." in html
    assert 'id="book-again"' in html


def test_no_book_again_link_when_the_page_is_no_longer_active(page: BookingPage) -> None:
    booking = book(page, london(10))
    actions.cancel(booking, by="customer")
    page.active = False
    page.save()
    html = Client().get(manage_url(booking)).content.decode()
    assert "Your booking is cancelled." in html
    assert 'id="book-again"' not in html


def test_the_steps_of_a_cancelled_booking_say_so_and_offer_nothing(page: BookingPage) -> None:
    booking = book(page, london(10))
    actions.cancel(booking, by="customer")
    for suffix in ("cancel/", "reschedule/"):
        html = Client().get(f"{manage_url(booking)}{suffix}").content.decode()
        assert "This booking has been cancelled." in html
        assert "<form" not in html and 'id="slot-picker"' not in html
        assert f'href="{manage_url(booking)}" id="back-link"' in html


def test_a_cancelled_booking_cannot_be_cancelled_again(page: BookingPage) -> None:
    booking = book(page, london(10))
    actions.cancel(booking, by="customer")
    response = Client().post(manage_url(booking), {"action": "cancel"})
    assert response.status_code == 409
    html = response.content.decode()
    assert "This booking was already cancelled." in html
    assert html.count('class="alert') == 1


def test_a_cancelled_booking_cannot_be_moved(page: BookingPage) -> None:
    booking = book(page, london(10))
    actions.cancel(booking, by="customer")
    response = Client().post(
        manage_url(booking), {"action": "reschedule", "start": london(11).isoformat()}
    )
    assert response.status_code == 409
    booking.refresh_from_db()
    assert booking.start == london(10)


def test_an_overlong_reason_is_refused(page: BookingPage) -> None:
    booking = book(page, london(10))
    response = Client().post(manage_url(booking), {"action": "cancel", "reason": "x" * 501})
    assert response.status_code == 400
    assert re.search(r'id="err_reason">\s*Keep the reason under 500', response.content.decode())
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CONFIRMED


def test_the_customer_can_move_the_booking(page: BookingPage) -> None:
    booking = book(page, london(10))
    client = Client()
    response = client.post(
        manage_url(booking), {"action": "reschedule", "start": london(14).isoformat()}
    )
    assert response.status_code == 303
    booking.refresh_from_db()
    assert booking.start == london(14)
    assert booking.end == london(14, 30)
    assert booking.sequence == 1
    assert booking.status == BookingStatus.CONFIRMED
    html = client.get(response["Location"]).content.decode()
    assert html.count('class="alert') == 1
    assert "Your booking has moved." in html


def test_a_booking_can_move_by_less_than_its_length(page: BookingPage) -> None:
    booking = book(page, london(10))
    response = Client().post(
        manage_url(booking), {"action": "reschedule", "start": london(10, 15).isoformat()}
    )
    assert response.status_code == 303
    booking.refresh_from_db()
    assert booking.start == london(10, 15)


def test_moving_to_a_taken_slot_is_a_409(page: BookingPage) -> None:
    booking = book(page, london(10))
    book(page, london(14))
    response = Client().post(
        manage_url(booking), {"action": "reschedule", "start": london(14).isoformat()}
    )
    assert response.status_code == 409
    assert "not available any more" in response.content.decode()
    booking.refresh_from_db()
    assert booking.start == london(10)


def test_moving_without_a_time_asks_for_one(page: BookingPage) -> None:
    booking = book(page, london(10))
    response = Client().post(manage_url(booking), {"action": "reschedule", "start": ""})
    assert response.status_code == 400
    assert "Pick one of the available times." in response.content.decode()


def test_an_unknown_action_is_a_400(page: BookingPage) -> None:
    booking = book(page, london(10))
    assert Client().post(manage_url(booking), {"action": "delete"}).status_code == 400


def test_changes_through_the_manage_link_are_rate_limited(
    page: BookingPage, settings, mid_window
) -> None:
    booking = book(page, london(10))
    settings.BOOKING_RATE_LIMIT = 2
    client = Client()
    for _ in range(2):
        assert client.post(manage_url(booking), {"action": "reschedule"}).status_code == 400
    response = client.post(manage_url(booking), {"action": "cancel"})
    assert response.status_code == 429
    assert "Too many attempts" in response.content.decode()
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CONFIRMED


def test_the_manage_forms_need_a_csrf_token(page: BookingPage) -> None:
    booking = book(page, london(10))
    response = Client(enforce_csrf_checks=True).post(manage_url(booking), {"action": "cancel"})
    assert response.status_code == 403
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CONFIRMED


def test_without_javascript_the_move_form_lists_the_days_slots(page: BookingPage) -> None:
    booking = book(page, london(10))
    day = booking.start.astimezone(LONDON).date()
    response = Client().get(manage_url(booking), {"date": day.isoformat(), "tz": "Europe/London"})
    html = response.content.decode()
    offered = re.findall(r'name="start" value="[^"]+"[^>]*> (\d\d:\d\d)', html)
    # The booking's own time is free for itself, so it can move by a quarter of an hour.
    assert {"09:45", "10:00", "10:15"} <= set(offered)


def test_the_slots_for_moving_ignore_the_booking_itself(page: BookingPage) -> None:
    booking = book(page, london(10))
    day = booking.start.astimezone(LONDON).date().isoformat()
    params = {"start": day, "end": day, "timezone": "Europe/London"}
    public = Client().get(f"/api/v1/pages/{page.slug}/slots", params).json()
    moving = Client().get(f"/manage/{booking.manage_token()}/slots", params).json()

    def times(body: dict) -> set[str]:
        return {s["start"][11:16] for s in body["slots"]}

    assert not {"09:45", "10:00", "10:15"} & times(public)
    assert {"09:45", "10:00", "10:15"} <= times(moving)
    assert moving["timezone"] == "Europe/London" and moving["stale"] is False


def test_the_slots_for_moving_refuse_bad_parameters(page: BookingPage) -> None:
    booking = book(page, london(10))
    url = f"/manage/{booking.manage_token()}/slots"
    day = monday_after().date()
    too_far = (day + timedelta(days=62)).isoformat()
    cases = [
        {"start": day.isoformat(), "end": day.isoformat(), "timezone": "Mars/Olympus"},
        {"start": "soon", "end": day.isoformat(), "timezone": "UTC"},
        {"start": day.isoformat(), "end": too_far, "timezone": "UTC"},
    ]
    for params in cases:
        response = Client().get(url, params)
        assert response.status_code == 400, params
        assert response.json()["detail"]


def test_the_slots_for_moving_say_when_availability_is_unknown(world, page: BookingPage) -> None:
    booking = book(page, london(10))
    world.sim.go_down()
    day = monday_after().date().isoformat()
    response = Client().get(
        f"/manage/{booking.manage_token()}/slots",
        {"start": day, "end": day, "timezone": "UTC"},
    )
    assert response.status_code == 503
    assert "right now" in response.json()["detail"]


def test_inside_the_minimum_notice_it_says_why_and_offers_no_buttons(
    page: BookingPage,
) -> None:
    booking = book(page, london(10))
    page.min_notice_minutes = 30 * 24 * 60  # the booking is now less than 30 days away
    page.save()
    client = Client()
    html = client.get(manage_url(booking)).content.decode()
    assert "Bookings can be changed online until 30 days before they start." in html
    assert 'id="reschedule-link"' not in html and 'id="cancel-link"' not in html
    for suffix in ("cancel/", "reschedule/"):
        html = client.get(f"{manage_url(booking)}{suffix}").content.decode()
        assert "Bookings can be changed online until 30 days" in html
        assert 'id="cancel-form"' not in html and 'id="move-form"' not in html
    # And posting anyway is refused.
    response = client.post(manage_url(booking), {"action": "cancel"})
    assert response.status_code == 409
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CONFIRMED


def test_a_past_booking_says_so_and_offers_no_buttons(page: BookingPage) -> None:
    booking = book(page, london(10))
    Booking.objects.filter(pk=booking.pk).update(
        start=utcnow() - timedelta(days=1), end=utcnow() - timedelta(days=1, minutes=-30)
    )
    html = Client().get(manage_url(booking)).content.decode()
    assert "The time of this booking has passed" in html
    assert html.count('class="alert') == 1
    assert 'id="cancel-link"' not in html and 'id="reschedule-link"' not in html
    assert 'id="book-again"' in html
    assert "booking.ics" not in html and "calendar.google.com" not in html


def test_the_ics_download_is_a_plain_event_with_a_reminder(page: BookingPage) -> None:
    booking = book(page, london(10))
    response = Client().get(f"/manage/{booking.manage_token()}/booking.ics")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="booking.ics"'
    body = response.content.decode()
    assert "METHOD:PUBLISH" in body
    assert f"UID:{booking.uid}" in body
    assert "BEGIN:VALARM" in body and "ACTION:DISPLAY" in body and "TRIGGER:-PT15M" in body
    assert "ATTENDEE" not in body


def test_the_summary_offers_the_ics_and_web_calendars(page: BookingPage) -> None:
    booking = book(page, london(10))
    html = Client().get(manage_url(booking)).content.decode()
    assert f'href="/manage/{booking.manage_token()}/booking.ics" download="booking.ics"' in html
    assert 'href="https://calendar.google.com/calendar/render?action=TEMPLATE&amp;text=' in html
    assert 'href="https://outlook.live.com/calendar/0/deeplink/compose?path=' in html
    assert 'href="https://outlook.office.com/calendar/0/deeplink/compose?path=' in html
    for label in ("Add to Google Calendar", "Outlook.com", "Office 365"):
        assert label in html


def test_a_cancelled_bookings_ics_is_a_cancellation(page: BookingPage) -> None:
    booking = book(page, london(10))
    actions.cancel(booking, by="customer")
    body = Client().get(f"/manage/{booking.manage_token()}/booking.ics").content.decode()
    assert "METHOD:CANCEL" in body
    assert f"UID:{booking.uid}" in body


def test_html_in_answers_is_escaped_on_the_manage_page(page: BookingPage) -> None:
    customer = actions.CustomerDetails(
        "<b>Ada</b>", "ada@example.com", "UTC", notes="<script>alert(1)</script>"
    )
    booking = actions.book(page, london(10), customer)
    html = Client().get(manage_url(booking)).content.decode()
    assert "&lt;b&gt;Ada&lt;/b&gt;" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)" not in html


def test_the_confirmation_page_offers_the_ics_and_web_calendars(page: BookingPage) -> None:
    booking = book(page, london(10))
    token = booking.manage_token()
    html = Client().get(f"/{page.slug}/confirmed/{token}/").content.decode()
    assert f'href="/manage/{token}/booking.ics" download="booking.ics"' in html
    for key in ("google", "outlook", "office365"):
        assert f'id="add-{key}" target="_blank" rel="noopener noreferrer"' in html


def test_a_title_that_names_the_owner_is_said_once_on_both_pages(page: BookingPage) -> None:
    page.owner.first_name, page.owner.last_name = "Olivia", "Smith"
    page.owner.save()
    page.title = "Tax advice with Olivia"
    page.save()
    booking = book(page, london(10))
    token = booking.manage_token()
    for url in (f"/{page.slug}/confirmed/{token}/", manage_url(booking)):
        html = Client().get(url).content.decode()
        assert "<dd>Tax advice with Olivia</dd>" in html
        assert "Olivia Smith" not in html.split("<dl", 1)[1].split("</dl>", 1)[0]
