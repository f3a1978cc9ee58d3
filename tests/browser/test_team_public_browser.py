"""A customer books team pages in a real browser, at desktop and phone widths: a round-robin
page where they choose the member (and then "Any available"), and a collective page.

The members' busy time comes from their own calendars in the simulator, and the booking lands
there: writes run eagerly in the live server, so the event is in the member's calendar by the
time the confirmation shows. Any console error fails the test (tests/browser/conftest.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import time

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from bookings.models import Booking, TeamMode
from tests.browser.conftest import SIZES, assert_fits, open_watched
from tests.world import monday_after


@pytest.fixture(params=sorted(SIZES))
def customer(request, chromium, live_server, eager_writes, settings) -> Iterator[Page]:  # type: ignore[no-untyped-def]
    """A browser in UTC, at each size; set up before the world, so the live server sees it."""
    settings.SITE_URL = live_server.url
    context = chromium.new_context(
        base_url=live_server.url,
        timezone_id="UTC",
        locale="en-GB",
        **SIZES[request.param],
    )
    yield from open_watched(context)


@pytest.fixture
def pair(world) -> list[User]:  # type: ignore[no-untyped-def]
    people = []
    for name, first, last in (("ada", "Ada", "Lovelace"), ("ben", "Ben", "Okri")):
        user = world.staff(name)
        user.first_name, user.last_name = first, last
        user.save()
        people.append(user)
    return people


def slot(browser: Page, start: str):  # type: ignore[no-untyped-def]
    return browser.locator(f'#slot-list .slot-button[data-start="{start}"]')


def fill_and_book(browser: Page) -> None:
    browser.get_by_label("Your name").fill("Carol Customer")
    browser.get_by_label("Email").fill("carol@example.com")
    browser.get_by_role("button", name="Confirm booking").click()
    expect(browser.get_by_role("heading", name="You're booked")).to_be_visible()


def events(world, user: User) -> list:  # type: ignore[no-untyped-def]
    return [e.start for e in world.sim.events(user.email) if "Carol" in e.subject]


def test_a_customer_picks_a_team_member_then_books_anyone_available(
    customer: Page, world, pair
) -> None:
    browser = customer
    ada, ben = pair
    page = world.team_page(
        ada, pair, tz="UTC", hours=(time(9), time(12)), customer_picks_member=True
    )
    day = monday_after()
    world.sim.add_event(ada.email, day.replace(hour=9), day.replace(hour=10), "Dentist")
    nine = f"{day.date()}T09:00:00+00:00"
    ten = f"{day.date()}T10:00:00+00:00"
    url = f"/{page.slug}/?date={day.date()}&tz=UTC"

    browser.goto(url)
    expect(browser.get_by_text("with one of our team")).to_be_visible()
    expect(browser.get_by_role("radio", name="Any available")).to_be_checked()
    expect(slot(browser, nine)).to_be_visible()  # ben is free at nine
    assert_fits(browser)

    # Ada's times only: she is at the dentist at nine.
    browser.get_by_role("radio", name="Ada Lovelace").check()
    expect(slot(browser, nine)).to_have_count(0)
    expect(slot(browser, ten)).to_be_visible()
    slot(browser, ten).click()
    expect(browser.locator("#chosen-slot")).to_contain_text("with Ada Lovelace")
    fill_and_book(browser)
    expect(browser.locator(".details .with")).to_contain_text("Ada Lovelace")
    booking = Booking.objects.get(page=page, start=day.replace(hour=10))
    assert booking.owner_id == ada.pk
    assert events(world, ada) == [day.replace(hour=10)]
    assert_fits(browser)

    # Anyone: at nine only ben is free, so the booking is his.
    browser.goto(url)
    expect(browser.get_by_role("radio", name="Any available")).to_be_checked()
    slot(browser, nine).click()
    fill_and_book(browser)
    expect(browser.locator(".details .with")).to_contain_text("Ben Okri")
    assert Booking.objects.get(page=page, start=day.replace(hour=9)).owner_id == ben.pk
    assert events(world, ben) == [day.replace(hour=9)]


def test_a_customer_books_a_collective_page_with_the_whole_team(
    customer: Page, world, pair
) -> None:
    browser = customer
    ada, ben = pair
    page = world.team_page(ada, pair, mode=TeamMode.COLLECTIVE, tz="UTC", hours=(time(9), time(12)))
    day = monday_after()
    world.sim.add_event(ben.email, day.replace(hour=9), day.replace(hour=10), "Busy")
    browser.goto(f"/{page.slug}/?date={day.date()}&tz=UTC")
    expect(browser.get_by_text("with Ada Lovelace and Ben Okri")).to_be_visible()
    expect(browser.get_by_role("radio", name="Any available")).to_have_count(0)
    # Nine is no time for both of them.
    expect(slot(browser, f"{day.date()}T09:00:00+00:00")).to_have_count(0)
    ten = slot(browser, f"{day.date()}T10:00:00+00:00")
    expect(ten).to_be_visible()
    assert_fits(browser)
    ten.click()
    fill_and_book(browser)
    with_them = browser.locator(".details .with")
    expect(with_them).to_contain_text("Ada Lovelace")
    expect(with_them).to_contain_text("Ben Okri")
    assert_fits(browser)
    for user in pair:
        assert events(world, user) == [day.replace(hour=10)]
