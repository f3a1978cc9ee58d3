"""A customer books, cancels and moves a booking in a real browser, on a page in another zone.

The page is a London one; the browser believes it is in New York. Calendar writes run eagerly
in the live server, so the simulator's calendar shows the event by the time the browser shows
the confirmation.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect

from bookings import actions
from bookings.models import Booking, BookingPage, BookingStatus
from tests.browser.conftest import open_watched
from tests.world import monday_after

NEW_YORK = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")


@pytest.fixture
def new_yorker(chromium, live_server, eager_writes, settings) -> Iterator[Page]:  # type: ignore[no-untyped-def]
    """A desktop browser whose clock and locale say New York."""
    settings.SITE_URL = live_server.url
    context = chromium.new_context(
        base_url=live_server.url,
        timezone_id="America/New_York",
        locale="en-US",
        viewport={"width": 1280, "height": 900},
    )
    yield from open_watched(context)


@pytest.fixture
def london_page(world) -> BookingPage:
    return world.page(world.staff("olivia"), tz="Europe/London", title="Tax advice")


def us_time(value: datetime) -> str:
    """How an en-US browser writes a time: 4:30 AM."""
    local = value.astimezone(NEW_YORK)
    return f"{local.hour % 12 or 12}:{local:%M} {'AM' if local.hour < 12 else 'PM'}"


def first_slot(browser: Page):  # type: ignore[no-untyped-def]
    """The first slot of the day the calendar picked (the month's first day with slots)."""
    slot = browser.locator("#slot-list .slot-button").first
    expect(slot).to_be_visible()
    return slot


def event_starts(world, owner_email: str) -> list[datetime]:  # type: ignore[no-untyped-def]
    """Read back with exchangelib, signed in as the calendar's owner."""
    return [start for _, start, _ in world.calendar_as_owner(owner_email)]


def book_directly(page: BookingPage, hour: int) -> Booking:
    day = monday_after().date()
    start = datetime.combine(day, time(hour), tzinfo=LONDON).astimezone(UTC)
    customer = actions.CustomerDetails("Ada Lovelace", "ada@example.com", "America/New_York")
    return actions.book(page, start, customer)


def test_a_new_york_customer_books_a_london_slot_then_cancels_it(
    new_yorker: Page, world, london_page: BookingPage
) -> None:
    browser = new_yorker
    owner_email = london_page.owner.email
    browser.goto(f"/{london_page.slug}/")
    expect(browser.get_by_role("heading", name="Tax advice")).to_be_visible()
    expect(browser.get_by_role("combobox", name="Your time zone")).to_have_value("New York")

    slot = first_slot(browser)
    start = datetime.fromisoformat(slot.get_attribute("data-start") or "")
    assert start.utcoffset() is not None
    expect(slot).to_have_text(us_time(start))  # shown in New York time

    # Keyboard: the slot is a real button; choosing it moves focus into the booking form.
    slot.focus()
    browser.keyboard.press("Enter")
    expect(slot).to_have_attribute("aria-pressed", "true")
    assert browser.evaluate("document.activeElement.closest('form')?.id") == "booking-form"
    expect(browser.locator("#chosen-slot")).to_contain_text(us_time(start))

    browser.get_by_label("Your name").fill("Ada Lovelace")
    browser.get_by_label("Email").fill("ada@example.com")
    browser.get_by_role("button", name="Confirm booking").click()

    expect(browser.get_by_role("heading", name="You're booked")).to_be_visible()
    booking = Booking.objects.get(page=london_page)
    assert booking.start == start.astimezone(UTC)
    assert booking.timezone == "America/New_York"
    assert f"/confirmed/{booking.manage_token()}/" in browser.url
    local = start.astimezone(NEW_YORK)
    expect(browser.locator(".when")).to_contain_text(f"{local:%H:%M}")
    expect(browser.locator(".when")).to_contain_text("New York time")
    assert event_starts(world, owner_email) == [booking.start]

    # The manage link cancels it, and the event leaves the owner's calendar.
    browser.get_by_role("link", name="manage your booking").click()
    expect(browser.get_by_role("heading", name="Your booking")).to_be_visible()
    browser.get_by_role("link", name="Cancel booking").click()
    browser.get_by_label("Reason").fill("Sorted it out myself")
    browser.get_by_role("button", name="Yes, cancel booking").click()
    expect(browser.get_by_text("Your booking is cancelled.")).to_be_visible()
    expect(browser.get_by_role("link", name="Cancel booking")).to_have_count(0)
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CANCELLED
    assert booking.cancel_reason == "Sorted it out myself"
    assert event_starts(world, owner_email) == []


def test_a_customer_moves_a_booking_and_the_event_moves_with_it(
    new_yorker: Page, world, london_page: BookingPage
) -> None:
    browser = new_yorker
    owner_email = london_page.owner.email
    booking = book_directly(london_page, 10)
    [(event_id, event_start, _)] = world.calendar_as_owner(owner_email)
    assert event_start == booking.start

    browser.goto(f"/manage/{booking.manage_token()}/")
    browser.get_by_role("link", name="Reschedule").click()
    expect(browser.get_by_role("combobox", name="Your time zone")).to_have_value("New York")
    # Go to the booking's own day and pick the slot two hours later.
    new_start = booking.start + timedelta(hours=2)
    day_key = booking.start.astimezone(NEW_YORK).date().isoformat()
    month_of = booking.start.astimezone(NEW_YORK).strftime("%B %Y")
    for _ in range(3):
        if browser.locator("#cal-month").inner_text() == month_of:
            break
        browser.get_by_role("button", name="Next month").click()
    expect(browser.locator("#cal-month")).to_have_text(month_of)
    browser.locator(f'.cal-day[data-day="{day_key}"]').click()
    browser.get_by_role("button", name=us_time(new_start), exact=True).click()
    assert browser.evaluate("document.activeElement.closest('form')?.id") == "move-form"
    browser.get_by_role("button", name="Move booking").click()

    expect(browser.get_by_text("Your booking has moved.")).to_be_visible()
    booking.refresh_from_db()
    assert booking.start == new_start
    expect(browser.locator(".when")).to_contain_text(f"{new_start.astimezone(NEW_YORK):%H:%M}")
    [(moved_id, moved_start, _)] = world.calendar_as_owner(owner_email)
    assert moved_id == event_id  # the same item, updated rather than recreated
    assert moved_start == new_start


def test_a_slot_taken_while_the_customer_types_asks_for_another(
    new_yorker: Page, london_page: BookingPage
) -> None:
    browser = new_yorker
    browser.goto(f"/{london_page.slug}/")
    slot = first_slot(browser)
    value = slot.get_attribute("data-start") or ""
    start = datetime.fromisoformat(value)
    slot.click()
    browser.get_by_label("Your name").fill("Ada Lovelace")
    browser.get_by_label("Email").fill("ada@example.com")
    other = actions.CustomerDetails("Grace Hopper", "grace@example.com", "UTC")
    actions.book(london_page, start, other)

    browser.get_by_role("button", name="Confirm booking").click()
    expect(browser.get_by_role("alert")).to_contain_text(
        "That time was just taken — please pick another."
    )
    # The slots were reloaded without the taken one.
    expect(browser.locator("#slot-list .slot-button").first).to_be_visible()
    taken = browser.locator(f'#slot-list .slot-button[data-start="{value}"]')
    expect(taken).to_have_count(0)
    assert Booking.objects.filter(page=london_page).count() == 1


def test_a_page_that_stops_taking_bookings_while_the_customer_types_says_so(
    new_yorker: Page, london_page: BookingPage
) -> None:
    browser = new_yorker
    browser.goto(f"/{london_page.slug}/")
    first_slot(browser).click()
    browser.get_by_label("Your name").fill("Ada Lovelace")
    browser.get_by_label("Email").fill("ada@example.com")
    london_page.page_calendars.filter(role="main").update(role="")

    browser.get_by_role("button", name="Confirm booking").click()
    expect(browser.get_by_role("alert")).to_contain_text(actions.NOT_TAKING_BOOKINGS)
    expect(browser.get_by_role("alert")).not_to_contain_text("just taken")
    assert not Booking.objects.filter(page=london_page).exists()


def test_field_errors_from_the_server_appear_next_to_their_fields(
    new_yorker: Page, london_page: BookingPage
) -> None:
    browser = new_yorker
    browser.goto(f"/{london_page.slug}/")
    first_slot(browser).click()
    browser.get_by_label("Your name").fill("Ada Lovelace")
    # Passes the browser's own check, fails the server's.
    browser.get_by_label("Email").fill("ada@example")
    browser.get_by_role("button", name="Confirm booking").click()
    error = browser.locator("#err_email")
    expect(error).to_have_text("Enter a valid email address.")
    email = browser.get_by_label("Email")
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(email).to_be_focused()
    assert "err_email" in (email.get_attribute("aria-describedby") or "")
    assert not Booking.objects.exists()


def test_the_page_says_plainly_when_availability_is_unknown(
    new_yorker: Page, world, london_page: BookingPage
) -> None:
    world.sim.go_down()
    new_yorker.goto(f"/{london_page.slug}/")
    expect(new_yorker.locator("#slot-alert")).to_have_text(
        "We can't check availability right now — please try again in a few minutes."
    )
    expect(new_yorker.locator("#slot-list .slot-button")).to_have_count(0)
    expect(new_yorker.locator("#slot-picker")).to_have_attribute("aria-busy", "false")


def test_the_booking_flow_works_on_a_phone(phone: Page, world, london_page: BookingPage) -> None:
    phone.goto(f"/{london_page.slug}/")
    slot = first_slot(phone)
    start = datetime.fromisoformat(slot.get_attribute("data-start") or "")
    # Nothing is wider than the screen.
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    box = slot.bounding_box()
    assert box is not None and box["height"] >= 44  # a comfortable touch target
    slot.tap()
    phone.get_by_label("Your name").fill("Ada Lovelace")
    phone.get_by_label("Email").fill("ada@example.com")
    phone.get_by_role("button", name="Confirm booking").tap()
    expect(phone.get_by_role("heading", name="You're booked")).to_be_visible()
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    booking = Booking.objects.get(page=london_page)
    assert booking.start == start.astimezone(UTC)
    assert event_starts(world, london_page.owner.email) == [booking.start]
