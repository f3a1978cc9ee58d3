"""Team pages set up in a real browser, at desktop and phone width: the owner creates a
round-robin page and a collective page in the editor and adds members in the team section;
an invited member accepts on their dashboard and picks their calendar; the owner then sees
them ready, and a customer books each page into the members' calendars. The fixtures fail
the test on any console error."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from bookings.models import Booking, BookingPage, MemberState, PageCalendar, TeamMode
from tests.browser.conftest import assert_fits, login
from tests.world import monday_after


def create_team_page(tab: Page, title: str, slug: str, mode_label: str) -> BookingPage:
    tab.goto("/pages/new/")
    tab.get_by_label("Title").fill(title)
    tab.get_by_label("Public address").fill(slug)
    tab.get_by_label("Time zone").fill("Europe/London")
    tab.get_by_label(mode_label).check()
    assert_fits(tab)
    tab.get_by_role("button", name="Create booking page").click()
    expect(tab.get_by_role("heading", name="Members")).to_be_visible()
    expect(tab.get_by_text("Team page created.")).to_be_visible()
    return BookingPage.objects.get(slug=slug)


def add_member(tab: Page, who: str) -> None:
    tab.get_by_label("Username or email of a staff member").fill(who)
    tab.get_by_role("button", name="Add member").click()


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_an_owner_builds_two_team_pages_and_a_member_accepts_and_picks_a_calendar(
    request: pytest.FixtureRequest, size: str, tabs: Any, settings: Any
) -> None:
    # live_server before world: the world's rows must be in the live server's database.
    live_server = request.getfixturevalue("live_server")
    world = request.getfixturevalue("world")
    request.getfixturevalue("eager_writes")
    settings.SITE_URL = live_server.url
    ada, ben = world.staff("ada"), world.staff("ben")

    owner = tabs(size)
    login(owner, ada.username)
    rr = create_team_page(
        owner, "Support call", f"support-{world.tag}", "One of the team (round robin)"
    )
    assert rr.team_mode == TeamMode.ROUND_ROBIN
    add_member(owner, ada.username)
    expect(owner.get_by_text("is on the team.")).to_be_visible()
    add_member(owner, ben.email)
    expect(owner.get_by_text("is invited:")).to_be_visible()
    ben_card = owner.locator(f'[data-member="{ben.username}"]')
    expect(ben_card.get_by_text("Invited", exact=True)).to_be_visible()
    assert_fits(owner)

    # Ada, on her own team, chooses her calendar from the team section.
    owner.get_by_role("link", name="Choose your calendars").click()
    owner.get_by_role("button", name="Use as main booking calendar").click()
    expect(owner.get_by_text("is the main booking calendar")).to_be_visible()
    assert_fits(owner)

    collective = create_team_page(
        owner, "Panel interview", f"panel-{world.tag}", "The team together (collective)"
    )
    add_member(owner, ada.username)
    add_member(owner, ben.username)
    expect(owner.locator(f'[data-member="{ben.username}"]')).to_be_visible()

    # Ben accepts both invitations on his dashboard and picks his own calendar each time.
    member = tabs(size)
    login(member, ben.username)
    member.goto("/dashboard/")
    teams = member.locator("#teams")
    expect(teams.get_by_role("link", name="Support call")).to_be_visible()
    assert_fits(member)
    for title in ("Panel interview", "Support call"):
        member.goto("/dashboard/")
        member.get_by_role("button", name=f"Accept the invitation to {title}").click()
        expect(member.get_by_text(f"You are on the team of “{title}”.")).to_be_visible()
        expect(member.get_by_text("choose your main booking calendar")).to_be_visible()
        member.get_by_label(f"Role of {ben.email} / Calendar").select_option("main")
        member.get_by_role("button", name="Save calendar roles").click()
        expect(member.get_by_text("Calendar roles saved.")).to_be_visible()
        assert_fits(member)
    for page in (rr, collective):
        m = page.members.get(user=ben)
        assert m.state == MemberState.ACTIVE
        assert PageCalendar.objects.get(member=m).role == "main"

    # The owner sees Ben ready on both pages. The collective page still waits for Ada, who
    # is required there and hasn't picked her calendar on it; round robin takes bookings.
    for page in (collective, rr):
        owner.goto(f"/pages/{page.pk}/team/")
        card = owner.locator(f'[data-member="{ben.username}"]')
        expect(card.get_by_text("Ready: takes bookings.")).to_be_visible()
        expect(card.get_by_text(f"{ben.email} / Calendar (main booking calendar)")).to_be_visible()
        assert_fits(owner)
        if page == collective:
            expect(owner.locator("#team-not-ready")).to_be_visible()
    expect(owner.locator("#team-not-ready")).to_have_count(0)

    # Ada picks her calendar on the collective page too, and customers book both pages the
    # owner built: the round-robin booking goes to one of them, the collective one to both.
    owner.goto(f"/pages/{collective.pk}/team/")
    owner.get_by_role("link", name="Choose your calendars").click()
    owner.get_by_role("button", name="Use as main booking calendar").click()
    expect(owner.get_by_text("is the main booking calendar")).to_be_visible()
    customer = tabs(size)
    day = monday_after().date()
    for page, hosts in ((rr, 1), (collective, 2)):
        customer.goto(f"/{page.slug}/?date={day}&tz=Europe/London")
        customer.locator("#slot-list .slot-button").first.click()
        customer.get_by_label("Your name").fill("Carol Customer")
        customer.get_by_label("Email").fill("carol@example.com")
        customer.get_by_role("button", name="Confirm booking").click()
        expect(customer.get_by_role("heading", name="You're booked")).to_be_visible()
        assert_fits(customer)
        booking = Booking.objects.get(page=page)
        assert booking.attendees.count() == hosts
        for attendee in booking.attendees.all():
            starts = [
                e.start for e in world.sim.events(attendee.user.email) if "Carol" in e.subject
            ]
            assert booking.start in starts  # Ada may hold the round-robin one too
