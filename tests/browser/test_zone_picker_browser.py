"""The public page's time zone combobox, date grid and details panel in a real browser, at
desktop (1280 px) and phone (390 px) widths; any console error fails the test.

The page is a London one (Monday to Friday, 9:00-17:00); `browser` and `phone` run in the
machine's zone, so each test first picks a zone it knows the answer for.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect

from bookings.models import BookingPage
from tests.browser.conftest import assert_fits, open_watched

WIDTHS = ["browser", "phone"]


@pytest.fixture(autouse=True)
def _live_server_first(live_server) -> None:  # type: ignore[no-untyped-def]
    """The live server (a transactional database) before `world` is set up."""


@pytest.fixture
def london_page(world) -> BookingPage:  # type: ignore[no-untyped-def]
    return world.page(world.staff("olivia"), tz="Europe/London", title="Tax advice")


def open_page(request: pytest.FixtureRequest, width: str, world, slug: str) -> Page:  # type: ignore[no-untyped-def]
    page: Page = request.getfixturevalue(width)
    page.goto(f"/{slug}/?tz=Europe/London")
    expect(page.locator("#slot-list .slot-button").first).to_be_visible()
    return page


def zone_box(page: Page):  # type: ignore[no-untyped-def]
    return page.get_by_role("combobox", name="Your time zone")


def day_label(key: str) -> str:
    """Tuesday 8 December, as the page writes days."""
    day = date.fromisoformat(key)
    return f"{day:%A} {day.day} {day:%B}"


@pytest.mark.parametrize("width", WIDTHS)
def test_searching_india_and_picking_kolkata_shows_the_times_in_kolkata(
    request: pytest.FixtureRequest, width: str, world, london_page: BookingPage
) -> None:
    page = open_page(request, width, world, london_page.slug)
    box = zone_box(page)
    expect(box).to_have_value("London")
    first = page.locator("#slot-list .slot-button").first
    london_start = first.get_attribute("data-start") or ""
    london_text = first.inner_text()

    box.click()
    box.fill("India")
    expect(box).to_have_attribute("aria-expanded", "true")
    option = page.get_by_role("option").first
    expect(option).to_contain_text("Kolkata \u2014 ")
    expect(option).to_contain_text("India \u00b7 IST \u00b7 UTC+5:30")
    expect(page.locator("#tz-count")).to_have_text(re.compile(r"^\d+ time zones found\.$"))
    option.click()

    expect(box).to_have_value("Kolkata")
    expect(box).to_have_attribute("aria-expanded", "false")
    expect(page.locator("#tz-name")).to_have_text("Kolkata time")
    # The same moment, now written in Kolkata time (+05:30).
    expect(first).not_to_have_text(london_text)
    kolkata_start = first.get_attribute("data-start") or ""
    assert kolkata_start.endswith("+05:30")
    assert datetime.fromisoformat(kolkata_start) >= datetime.fromisoformat(london_start)
    assert_fits(page)


@pytest.mark.parametrize(
    ("typed", "city"),
    [("new_york", "New York"), ("PST", "Los Angeles"), ("Germany", "Berlin"), ("CET", None)],
)
def test_the_combobox_is_usable_by_keyboard_alone(
    request: pytest.FixtureRequest, world, london_page: BookingPage, typed: str, city: str | None
) -> None:
    page = open_page(request, "browser", world, london_page.slug)
    box = zone_box(page)
    box.focus()
    page.keyboard.type(typed)
    page.keyboard.press("ArrowDown")
    active = page.locator("#tz-listbox [role=option][aria-selected=true]")
    expect(active).to_have_count(1)
    assert box.get_attribute("aria-activedescendant") == active.get_attribute("id")
    chosen = city or active.locator(".tz-opt-label").inner_text().split(" \u2014 ")[0]
    page.keyboard.press("Enter")
    expect(box).to_have_value(chosen)
    expect(page.locator("#tz-name")).to_have_text(f"{chosen} time")
    expect(page.locator("#slot-list .slot-button").first).to_be_visible()
    # Escape closes an open list and leaves the chosen zone as it was.
    page.keyboard.press("Control+A")
    page.keyboard.type("Tok")
    expect(box).to_have_attribute("aria-expanded", "true")
    page.keyboard.press("Escape")
    expect(box).to_have_attribute("aria-expanded", "false")
    page.keyboard.press("Escape")
    expect(box).to_have_value(chosen)


def test_an_unknown_zone_typed_is_refused_and_the_field_names_the_zone_of_the_times(
    request: pytest.FixtureRequest, world, london_page: BookingPage
) -> None:
    page = open_page(request, "browser", world, london_page.slug)
    box = zone_box(page)
    start = page.locator("#slot-list .slot-button").first.get_attribute("data-start")
    box.fill("Atlantis")
    expect(page.locator("#tz-count")).to_have_text(
        "No time zone matches \u201cAtlantis\u201d. Try a city or a country."
    )
    page.keyboard.press("Tab")
    expect(page.locator("#tz-error")).to_have_text(
        "No time zone matches \u201cAtlantis\u201d. The times are still shown in London time."
    )
    expect(box).to_have_value("London")
    expect(box).to_have_attribute("aria-invalid", "true")
    assert page.locator("#slot-list .slot-button").first.get_attribute("data-start") == start
    # A city typed in full is understood when the field is left.
    box.fill("new york")
    page.keyboard.press("Tab")
    expect(box).to_have_value("New York")
    expect(page.locator("#tz-error")).to_be_hidden()


@pytest.fixture
def in_kolkata(chromium, live_server, eager_writes, settings) -> Iterator[Page]:  # type: ignore[no-untyped-def]
    """A browser that names its zone the old way Chrome does: Asia/Calcutta."""
    settings.SITE_URL = live_server.url
    context = chromium.new_context(
        base_url=live_server.url,
        timezone_id="Asia/Calcutta",
        viewport={"width": 1280, "height": 900},
    )
    yield from open_watched(context)


def test_the_browsers_zone_is_preselected_in_its_canonical_form(
    in_kolkata: Page, london_page: BookingPage
) -> None:
    in_kolkata.goto(f"/{london_page.slug}/")
    expect(zone_box(in_kolkata)).to_have_value("Kolkata")
    expect(in_kolkata.locator("#tz-name")).to_have_text("Kolkata time")
    slot = in_kolkata.locator("#slot-list .slot-button").first
    expect(slot).to_be_visible()
    assert (slot.get_attribute("data-start") or "").endswith("+05:30")
    assert in_kolkata.locator("input[name=timezone]").input_value() == "Asia/Kolkata"


@pytest.mark.parametrize("width", WIDTHS)
def test_the_month_is_a_date_grid_moved_through_with_arrow_keys(
    request: pytest.FixtureRequest, width: str, world, london_page: BookingPage
) -> None:
    page = open_page(request, width, world, london_page.slug)
    grid = page.get_by_role("grid")
    expect(grid).to_be_visible()
    selected = page.locator(".calendar [aria-selected=true] > .cal-day")
    expect(selected).to_have_count(1)
    # One day is in the tab order: the selected one.
    expect(page.locator(".cal-day[tabindex='0']")).to_have_count(1)
    key = selected.get_attribute("data-day") or ""
    assert selected.get_attribute("tabindex") == "0"
    selected.focus()

    def focused_day() -> str:
        return page.evaluate("document.activeElement.dataset.day || ''")

    def shifted(days: int) -> str:
        return (date.fromisoformat(key) + timedelta(days=days)).isoformat()

    page.keyboard.press("ArrowRight")
    assert focused_day() == shifted(1)
    page.keyboard.press("ArrowLeft")
    assert focused_day() == key
    page.keyboard.press("ArrowDown")
    assert focused_day() == shifted(7)
    page.keyboard.press("ArrowUp")
    assert focused_day() == key
    weekday = date.fromisoformat(key).weekday()
    # Home and End: Monday and Sunday of the week, within the months the calendar shows
    # (none before this one).
    first_shown = date.today().replace(day=1).isoformat()
    page.keyboard.press("Home")
    assert focused_day() == max(shifted(-weekday), first_shown)  # Monday
    page.keyboard.press("End")
    assert focused_day() == shifted(6 - weekday)  # Sunday
    expect(page.locator(".cal-day[tabindex='0']")).to_have_count(1)

    # Page Down: the same day next month, if the booking window shows next month.
    if page.locator("[data-cal=next]").get_attribute("aria-disabled") != "true":
        day = date.fromisoformat(focused_day())
        month = page.locator("#cal-month").inner_text()
        page.keyboard.press("PageDown")
        expect(page.locator("#cal-month")).not_to_have_text(month)
        assert focused_day()[:7] != day.isoformat()[:7]
        page.keyboard.press("PageUp")
        expect(page.locator("#cal-month")).to_have_text(month)
        assert focused_day()[:7] == day.isoformat()[:7]

    # Enter on a day with free times selects it and says how many there are.
    page.locator(f'.cal-day[data-day="{key}"]').focus()
    page.keyboard.press("Enter")
    status = page.locator("#slot-status")
    expect(status).to_have_text(re.compile(rf"^\d+ times free on {day_label(key)}\.$"))
    count = page.locator("#slot-list .slot-button").count()
    assert count > 0
    expect(status).to_have_text(f"{count} times free on {day_label(key)}.")
    assert_fits(page)


def test_the_live_region_says_how_many_times_are_free_when_slots_load(
    request: pytest.FixtureRequest, world, london_page: BookingPage
) -> None:
    page = open_page(request, "browser", world, london_page.slug)
    key = page.locator(".calendar [aria-selected=true] > .cal-day").get_attribute("data-day")
    count = page.locator("#slot-list .slot-button").count()
    status = page.get_by_role("status").filter(has_text="free on")
    expect(status).to_have_text(f"{count} times free on {day_label(key or '')}.")
    # A weekend day (no hours) says so when chosen.
    page.locator(".cal-day[aria-disabled=true]").last.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#slot-status")).to_have_text(
        re.compile(r"^No free times on \w+ \d+ \w+\.$")
    )


@pytest.mark.parametrize("width", WIDTHS)
def test_next_month_says_why_it_stops_at_the_end_of_the_booking_window(
    request: pytest.FixtureRequest, width: str, world, london_page: BookingPage
) -> None:
    london_page.window_days = 10
    london_page.save()
    page = open_page(request, width, world, london_page.slug)
    next_month = page.get_by_role("button", name="Next month")
    for _ in range(2):
        if next_month.get_attribute("aria-disabled") == "true":
            break
        next_month.click()
        expect(page.locator("#slot-picker")).to_have_attribute("aria-busy", "false")
    expect(next_month).to_have_attribute("aria-disabled", "true")
    limit = page.locator("#cal-limit")
    expect(limit).to_be_visible()
    expect(limit).to_contain_text("Bookings open 10 days ahead: the last day you can book is ")
    # Screen readers hear it with the button, which stays focusable.
    assert next_month.get_attribute("aria-describedby") == "cal-limit"
    month = page.locator("#cal-month").inner_text()
    next_month.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#cal-month")).to_have_text(month)
    expect(page.locator("#slot-status")).to_contain_text("Bookings open 10 days ahead")
    assert_fits(page)


def test_the_details_sit_beside_the_picker_on_a_desktop_and_the_form_under_it(
    request: pytest.FixtureRequest, world, london_page: BookingPage
) -> None:
    london_page.location = "Room 4, Leeds"
    london_page.description = "Bring last year's return."
    london_page.save()
    page = open_page(request, "browser", world, london_page.slug)
    details = page.locator("#page-details")
    expect(details).to_contain_text("30 minutes")
    expect(details).to_contain_text("Room 4, Leeds")
    expect(details).to_contain_text("Bring last year's return.")
    panel = details.bounding_box()
    picker = page.locator("#slot-picker").bounding_box()
    assert panel and picker
    assert panel["x"] + panel["width"] <= picker["x"]  # beside it, on its left
    assert abs(panel["y"] - picker["y"]) < 2  # level with it
    assert picker["width"] > 500  # the picker has the room the details don't take

    page.locator("#slot-list .slot-button").first.click()
    booking_form = page.locator("#booking-form").bounding_box()
    assert booking_form
    assert abs(booking_form["x"] - picker["x"]) < 1  # aligned with the picker
    assert abs(booking_form["width"] - picker["width"]) < 1
    assert_fits(page)


def test_on_a_phone_the_details_stack_above_the_picker(
    request: pytest.FixtureRequest, world, london_page: BookingPage
) -> None:
    london_page.location = "A very long location name: " + "Conference room " * 6
    london_page.save()
    page = open_page(request, "phone", world, london_page.slug)
    panel = page.locator("#page-details").bounding_box()
    picker = page.locator("#slot-picker").bounding_box()
    assert panel and picker
    assert panel["y"] + panel["height"] <= picker["y"]
    zone_box(page).fill("a")  # the open list must fit the screen too
    expect(zone_box(page)).to_have_attribute("aria-expanded", "true")
    assert_fits(page)
