"""A page without a main booking calendar, in a real browser: the customer sees plainly that
it isn't taking bookings (no slot grid, no form) at desktop and phone width; its owner
follows the link to the calendars page and makes their own calendar the main one in a click.
"""

from __future__ import annotations

from datetime import time

import pytest
from playwright.sync_api import Page, expect

from bookings.models import BookingPage, PageCalendarOwner
from tests.browser.conftest import assert_fits, login


def editor_page(world) -> BookingPage:  # type: ignore[no-untyped-def]
    """A page as the editor leaves it: hours, the owner's mailbox listed, no calendar roles."""
    owner = world.staff("olivia")
    page = world.page(owner, roles={}, title="Tax advice", hours=(time(9), time(17)))
    PageCalendarOwner.objects.create(page=page, email=owner.email)
    return page


@pytest.mark.parametrize("size", ["browser", "phone"])
def test_a_customer_sees_that_the_page_is_not_taking_bookings_and_no_slots(
    size: str, request: pytest.FixtureRequest, live_server, world
) -> None:  # type: ignore[no-untyped-def]
    # live_server first: the browser fixture, looked up by name below, needs its database.
    tab: Page = request.getfixturevalue(size)
    page = editor_page(world)
    tab.goto(f"/{page.slug}/")
    expect(tab.get_by_role("heading", name="Tax advice")).to_be_visible()
    expect(tab.get_by_role("heading", name="This page isn't taking bookings yet")).to_be_visible()
    expect(tab.get_by_text("Please come back later")).to_be_visible()
    # No calendar, no slots, no form, and nothing telling a customer what staff must fix.
    expect(tab.locator("form")).to_have_count(0)
    expect(tab.locator("button")).to_have_count(0)
    expect(tab.get_by_text("main booking calendar")).to_have_count(0)
    assert_fits(tab)


def test_its_owner_follows_the_link_and_uses_their_own_calendar_in_one_click(
    browser: Page, world
) -> None:  # type: ignore[no-untyped-def]
    page = editor_page(world)
    login(browser, page.owner.username)
    browser.goto(f"/{page.slug}/")
    expect(browser.get_by_text("Choose a main booking calendar")).to_be_visible()
    browser.get_by_role("link", name="Choose the page's calendars").click()
    banner = browser.locator("#not-ready")
    expect(banner).to_contain_text("Not taking bookings: choose a main booking calendar.")
    browser.get_by_role("button", name="Use as main booking calendar").click()
    expect(browser.get_by_text("is the main booking calendar: bookings go into it")).to_be_visible()
    expect(banner).to_have_count(0)
    main = page.main_calendar()
    assert main is not None and main.calendar.owner_email == page.owner.email
    browser.goto(f"/{page.slug}/")
    expect(browser.get_by_role("heading", name="Tax advice")).to_be_visible()
    expect(browser.get_by_text("isn't taking bookings yet")).to_have_count(0)
