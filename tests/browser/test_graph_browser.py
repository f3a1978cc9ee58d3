"""Exchange Online in a real browser: a staff member whose mailbox is in the cloud connects
with Microsoft (signing in on the identity provider's own login form), sets up a page that
makes every booking a Teams meeting, and customers at desktop and phone width book it and
get the meeting's join link on their confirmation and manage pages.

Calendar writes run eagerly in the live server's thread, so the Graph write (and the Teams
meeting it creates) is done by the time the browser shows the confirmation.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from bookings.models import Booking, BookingPage
from calendars.models import CalendarRole, ExchangeConnection, Protocol
from tests.browser.conftest import SIZES, assert_fits, login
from tests.world import World

pytestmark = pytest.mark.parametrize("protocol", ["graph"], indirect=True)


def connect_with_microsoft(tab: Page, email: str, password: str) -> None:
    """The staff member's side of "Connect with Microsoft", on the identity provider's form."""
    tab.goto("/connection/")
    tab.get_by_role("button", name="Connect with Microsoft").click()
    # Now on the identity provider (HTTPS, the test CA's certificate).
    tab.get_by_label("Email address").fill(email)
    tab.get_by_label("Password").fill(password)
    tab.get_by_role("button", name="Sign in").click()
    expect(tab.get_by_text(f"Connected to Microsoft 365 as {email}")).to_be_visible()


def create_teams_page(tab: Page, slug: str, owner: str) -> None:
    tab.goto("/pages/new/")
    tab.get_by_label("Title").fill("Teams call")
    tab.get_by_label("Public address").fill(slug)
    tab.get_by_label("Time zone").fill("Europe/London")
    tab.get_by_label("Minimum notice (minutes)").fill("0")
    tab.get_by_label("Create a Microsoft Teams meeting").check()
    tab.get_by_role("button", name="Create booking page").click()
    expect(tab.get_by_text("Booking page created.")).to_be_visible()
    # The calendars section: the owner's own cloud mailbox, its primary calendar made main.
    expect(tab.get_by_role("heading", name=owner)).to_be_visible()
    tab.get_by_label(f"Role of {owner} / Calendar").select_option("main")
    tab.get_by_role("button", name="Save calendar roles").click()
    expect(tab.get_by_text("Calendar roles saved.")).to_be_visible()


def book_first_slot(tab: Page, slug: str, name: str) -> str:
    """Books the first slot offered; returns its start as the page gave it."""
    tab.goto(f"/{slug}/")
    expect(tab.get_by_role("heading", name="Teams call")).to_be_visible()
    assert_fits(tab)
    slot = tab.locator("#slot-list .slot-button").first
    expect(slot).to_be_visible()
    start = slot.get_attribute("data-start") or ""
    slot.click()
    tab.get_by_label("Your name").fill(name)
    tab.get_by_label("Email").fill("ann@example.com")
    tab.get_by_role("button", name="Confirm booking").click()
    expect(tab.get_by_role("heading", name="You're booked")).to_be_visible()
    return start


def test_a_cloud_staff_member_connects_with_microsoft_and_customers_get_teams_links(
    cloud: World, tabs: Callable[..., Page]
) -> None:
    megan = cloud.person("megan")
    user = User.objects.create_user(
        f"megan-{cloud.tag}", megan.email, "staff-password", is_staff=True
    )
    slug = f"teams-{cloud.tag}"

    # The browser trusts no test CA: the identity provider's certificate is accepted as
    # Microsoft's would be, the app itself checks it against EXCHANGE_CA_BUNDLE.
    staff = tabs("desktop", ignore_https_errors=True)
    login(staff, user.username)
    connect_with_microsoft(staff, megan.email, megan.password)
    [conn] = ExchangeConnection.objects.filter(user=user)
    assert conn.protocol == Protocol.GRAPH
    create_teams_page(staff, slug, megan.email)
    page = BookingPage.objects.get(slug=slug)
    assert page.create_teams_meeting
    main = page.page_calendars.get(role=CalendarRole.MAIN).calendar
    assert main.connection == conn and main.owner_email == megan.email
    assert page.setup_problems() == []

    for size in SIZES:
        customer = tabs(size)
        name = f"Ann at {size} width"
        book_first_slot(customer, slug, name)
        booking = Booking.objects.get(page=page, name=name)
        [event] = [e for e in cloud.sim.events(megan.email) if e.start == booking.start]
        assert event.is_online_meeting and event.online_meeting_url
        assert booking.online_meeting_url == event.online_meeting_url

        join = customer.get_by_role("link", name="Join the Microsoft Teams meeting")
        expect(join).to_have_attribute("href", booking.online_meeting_url)
        assert f"/confirmed/{booking.manage_token()}/" in customer.url
        assert_fits(customer)

        customer.get_by_role("link", name="manage your booking").click()
        expect(customer.get_by_role("heading", name="Your booking")).to_be_visible()
        join = customer.get_by_role("link", name="Join the Microsoft Teams meeting")
        expect(join).to_have_attribute("href", booking.online_meeting_url)
        assert_fits(customer)
