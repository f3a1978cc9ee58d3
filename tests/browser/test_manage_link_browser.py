"""The manage link in a real browser, at desktop and phone widths: a summary with two actions,
rescheduling reached from its action, cancelling after a confirmation step, one notice after,
and a way to book again."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest
from playwright.sync_api import Page, expect

from bookings import actions
from bookings.models import Booking, BookingPage, BookingStatus
from tests.browser.conftest import assert_fits
from tests.world import monday_after


def book_directly(page: BookingPage) -> Booking:
    start = datetime.combine(monday_after().date(), time(10), tzinfo=UTC)
    customer = actions.CustomerDetails("Ada Lovelace", "ada@example.com", "Europe/London")
    return actions.book(page, start, customer)


@pytest.mark.parametrize("size", ["browser", "phone"])
def test_a_customer_reschedules_or_cancels_from_the_summary_and_books_again(
    size: str, request: pytest.FixtureRequest, live_server, world
) -> None:  # type: ignore[no-untyped-def]
    # live_server first: the browser fixture, looked up by name below, needs its database.
    tab: Page = request.getfixturevalue(size)
    owner = world.staff("alice")
    owner.first_name, owner.last_name = "Alice", "Liddell"
    owner.save()
    page = world.page(owner, tz="Europe/London", title="Intro call with Alice")
    booking = book_directly(page)
    token = booking.manage_token()

    # The confirmation page: the title names the owner once, and offers four calendars.
    tab.goto(f"/{page.slug}/confirmed/{token}/")
    expect(tab.locator(".details dd").first).to_have_text(page.title)
    for name in ("Download .ics file", "Add to Google Calendar", "Outlook.com", "Office 365"):
        expect(tab.get_by_role("link", name=name)).to_be_visible()
    assert_fits(tab)

    # The summary: the booking, two actions, nothing that changes it.
    tab.get_by_role("link", name="manage your booking").click()
    expect(tab.get_by_role("heading", name="Your booking")).to_be_visible()
    google = tab.get_by_role("link", name="Add to Google Calendar")
    href = google.get_attribute("href") or ""
    assert href.startswith("https://calendar.google.com/calendar/render?action=TEMPLATE&text=")
    expect(tab.locator("form")).to_have_count(0)
    assert_fits(tab)

    # Reschedule is one click away and shows the slot picker with free times.
    tab.get_by_role("link", name="Reschedule").click()
    expect(tab.get_by_role("heading", name="Reschedule", exact=True)).to_be_visible()
    expect(tab.locator("#slot-list .slot-button").first).to_be_visible()
    expect(tab.get_by_role("button", name="Move booking")).to_be_visible()
    assert_fits(tab)
    tab.get_by_role("link", name="Back to your booking").click()

    # Cancel asks first; keeping the booking changes nothing.
    tab.get_by_role("link", name="Cancel booking").click()
    expect(tab.get_by_role("heading", name="Cancel this booking?")).to_be_visible()
    assert_fits(tab)
    tab.get_by_role("link", name="Keep my booking").click()
    expect(tab.get_by_role("link", name="Cancel booking")).to_be_visible()
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CONFIRMED

    tab.get_by_role("link", name="Cancel booking").click()
    tab.get_by_label("Reason").fill("Found another time")
    tab.get_by_role("button", name="Yes, cancel booking").click()

    # One notice, no actions left, and a way back to the page.
    expect(tab.locator(".alert")).to_have_count(1)
    expect(tab.locator(".alert")).to_have_text(
        "Your booking is cancelled. We've sent you a confirmation."
    )
    expect(tab.get_by_role("link", name="Reschedule")).to_have_count(0)
    expect(tab.get_by_role("link", name="Add to Google Calendar")).to_have_count(0)
    assert_fits(tab)
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CANCELLED
    assert booking.cancel_reason == "Found another time"

    tab.get_by_role("link", name="Book a new time").click()
    expect(tab.get_by_role("heading", name=page.title)).to_be_visible()
    expect(tab.locator("#slot-list .slot-button").first).to_be_visible()
