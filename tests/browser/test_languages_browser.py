"""A customer books a German page in a real browser (an English one), at desktop and phone
widths: the page, booking.js's texts and dates, the confirmation and the manage link are
German. Console errors (a CSP violation by the JavaScript catalog included) fail the test."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from bookings.models import Booking, BookingPage
from tests.browser.conftest import SIZES, assert_fits, open_watched

pytestmark = pytest.mark.browser


@pytest.fixture(params=sorted(SIZES))
def visitor(request, chromium, live_server, eager_writes, settings) -> Iterator[Page]:  # type: ignore[no-untyped-def]
    """An English-speaking browser in Berlin, at each size."""
    settings.SITE_URL = live_server.url
    context = chromium.new_context(
        base_url=live_server.url,
        timezone_id="Europe/Berlin",
        locale="en-US",
        **SIZES[request.param],
    )
    yield from open_watched(context)


@pytest.fixture
def german_page(world: Any) -> BookingPage:
    page = world.page(world.staff("olivia"), tz="Europe/Berlin", title="Steuerberatung")
    page.language = "de"
    page.save()
    return page


def test_a_customer_books_a_german_page_in_german(visitor: Page, german_page: BookingPage) -> None:
    browser = visitor
    browser.goto(f"/{german_page.slug}/")
    expect(browser.locator("html")).to_have_attribute("lang", "de")
    expect(browser.get_by_role("heading", name="Zeit wählen")).to_be_visible()
    expect(browser.get_by_role("combobox", name="Ihre Zeitzone")).to_be_visible()
    # booking.js: the month and the live region in German, from the JavaScript catalog.
    months = "Januar|Februar|März|April|Mai|Juni|Juli|August|September|Oktober|November|Dezember"
    expect(browser.locator("#cal-month")).to_have_text(re.compile(rf"^({months}) \d{{4}}$"))
    expect(browser.locator("#slot-status")).to_contain_text("frei am")
    assert_fits(browser)

    slot = browser.locator("#slot-list .slot-button").first
    expect(slot).to_be_visible()
    slot.click()
    chosen = browser.locator("#chosen-slot")
    expect(chosen).to_contain_text(re.compile(r"^(Montag|Dienstag|Mittwoch|Donnerstag|Freitag), "))

    # An error from the server in German, placed by booking.js.
    browser.get_by_label("Ihr Name").fill("Anna Schmidt")
    browser.get_by_label("E-Mail").fill("anna@example")
    browser.get_by_role("button", name="Buchung bestätigen").click()
    expect(browser.locator("#form-alert")).to_contain_text("Bitte korrigieren Sie")
    browser.get_by_label("E-Mail").fill("anna@example.com")
    browser.get_by_role("button", name="Buchung bestätigen").click()

    expect(browser.get_by_role("heading", name="Sie sind gebucht")).to_be_visible()
    weekdays = "Montag|Dienstag|Mittwoch|Donnerstag|Freitag"
    expect(browser.locator(".details .when")).to_contain_text(re.compile(rf"^({weekdays}), \d+\. "))
    assert_fits(browser)
    booking = Booking.objects.get()
    assert booking.language == "de"

    browser.get_by_role("link", name="Buchung verwalten").click()
    expect(browser.get_by_role("heading", name="Ihre Buchung", exact=True)).to_be_visible()
    browser.get_by_role("link", name="Verschieben").click()
    expect(browser.get_by_role("heading", name="Neue Zeit wählen")).to_be_visible()
    expect(browser.locator("#chosen-slot")).to_have_text("Wählen Sie oben eine neue Zeit.")
    assert_fits(browser)
