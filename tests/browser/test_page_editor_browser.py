"""The booking-page editor in a real browser, at desktop and phone width: every add and remove
control (weekly hours, dates and their ranges, questions) and moving questions up and down,
then a save, checked in the database and in the editor the save re-renders. The fixtures
fail the test on any console error."""

from __future__ import annotations

from datetime import date, time, timedelta

import pytest
from playwright.sync_api import Locator, Page, expect

from bookings.models import Question
from tests.browser.conftest import assert_fits, login, open_watched


def shown(locator: Locator) -> Locator:
    return locator.filter(visible=True)


def pinned(tab: Page, row: Locator) -> Locator:
    """The same question row wherever it moves (a .last or .nth locator follows the place)."""
    name = row.get_by_label("Question", exact=True).get_attribute("name")
    return tab.locator("[data-question]").filter(has=tab.locator(f'input[name="{name}"]'))


def question_labels(tab: Page) -> list[str]:
    rows = shown(tab.locator('[data-list="questions"] [data-question]'))
    return [row.get_by_label("Question", exact=True).input_value() for row in rows.all()]


@pytest.mark.parametrize("size", ["browser", "phone"])
def test_every_add_remove_and_move_control_of_the_editor_works_and_saves(
    request: pytest.FixtureRequest, size: str
) -> None:
    request.getfixturevalue("live_server")
    world = request.getfixturevalue("world")
    tab: Page = request.getfixturevalue(size)
    alice = world.staff("alice")
    page = world.page(alice, weekdays=[0, 1])  # Monday and Tuesday, 09:00-17:00
    Question.objects.create(page=page, label="Company", position=0)
    Question.objects.create(page=page, label="Topic", position=1)
    holiday, short_day, dropped = (date.today() + timedelta(days=n) for n in (20, 21, 22))

    login(tab, alice.username)
    tab.goto(f"/pages/{page.pk}/")
    hours = tab.locator("#weekly-hours")
    # Only the ranges that exist show: no blank rows, no Remove beside nothing.
    expect(shown(hours.locator(".range-row"))).to_have_count(2)
    expect(tab.locator('[data-weekday="2"] [data-closed-note]')).to_have_text("Closed")
    assert_fits(tab)

    # Weekly hours: Tuesday loses its range; Wednesday gets two, then one is removed.
    tab.get_by_role("button", name="Remove this Tuesday range").click()
    expect(tab.locator('[data-weekday="1"] [data-closed-note]')).to_be_visible()
    for start, end in (("10:00", "12:00"), ("13:00", "15:00")):
        tab.get_by_role("button", name="Add hours on Wednesday").click()
        expect(shown(tab.get_by_label("Wednesday from")).last).to_be_focused()
        shown(tab.get_by_label("Wednesday from")).last.fill(start)
        shown(tab.get_by_label("Wednesday to")).last.fill(end)
    expect(tab.locator('[data-weekday="2"] [data-closed-note]')).to_be_hidden()
    tab.get_by_role("button", name="Remove this Wednesday range").last.click()
    expect(shown(tab.get_by_label("Wednesday from"))).to_have_count(1)

    # Date overrides: one with two ranges (a third added and removed), one closed all day,
    # one added and removed again.
    dates = tab.locator('[data-list="overrides"] > .override-row')
    expect(shown(dates)).to_have_count(0)
    tab.get_by_role("button", name="Add a date").click()
    row = shown(dates).last
    expect(row.get_by_label("Date", exact=True)).to_be_focused()
    row.get_by_label("Date", exact=True).fill(short_day.isoformat())
    row.get_by_label("From", exact=True).fill("09:00")
    row.get_by_label("To", exact=True).fill("12:00")
    for start, end in (("14:00", "16:00"), ("17:00", "18:00")):
        row.get_by_role("button", name="Add hours").click()
        expect(shown(row.get_by_label("From", exact=True)).last).to_be_focused()
        shown(row.get_by_label("From", exact=True)).last.fill(start)
        shown(row.get_by_label("To", exact=True)).last.fill(end)
    row.get_by_role("button", name="Remove this range").last.click()
    expect(shown(row.get_by_label("From", exact=True))).to_have_count(2)

    tab.get_by_role("button", name="Add a date").click()
    row = shown(dates).last
    row.get_by_label("Date", exact=True).fill(holiday.isoformat())
    row.get_by_label("Closed all day").check()
    expect(row.get_by_label("From", exact=True)).to_be_hidden()

    tab.get_by_role("button", name="Add a date").click()
    row = shown(dates).last
    row.get_by_label("Date", exact=True).fill(dropped.isoformat())
    row.get_by_role("button", name="Remove this date").click()
    expect(shown(dates)).to_have_count(2)

    # Questions: one added then removed; one added and moved to the top; Company moved down.
    tab.get_by_role("button", name="Add a question").click()
    shown(tab.get_by_label("Question", exact=True)).last.fill("Never mind")
    shown(tab.get_by_role("button", name="Remove this question")).last.click()
    tab.get_by_role("button", name="Add a question").click()
    new = pinned(tab, shown(tab.locator("[data-question]")).last)
    expect(new.get_by_label("Question", exact=True)).to_be_focused()
    new.get_by_label("Question", exact=True).fill("Anything else?")
    expect(new.get_by_role("button", name="Move down")).to_be_disabled()
    new.get_by_role("button", name="Move up").click()
    expect(new.get_by_role("button", name="Move up")).to_be_focused()
    new.get_by_role("button", name="Move up").press("Enter")  # the keyboard moves it too
    assert question_labels(tab) == ["Anything else?", "Company", "Topic"]
    # At the top it can't go further up, and the focus moved to the button that still works.
    expect(new.get_by_role("button", name="Move up")).to_be_disabled()
    expect(new.get_by_role("button", name="Move down")).to_be_focused()
    expect(tab.locator("[data-move-status]")).to_have_text("“Anything else?” is now 1 of 3.")
    company = shown(tab.locator("[data-question]")).nth(1)
    company.get_by_role("button", name="Move down").click()
    assert question_labels(tab) == ["Anything else?", "Topic", "Company"]
    topic = shown(tab.locator("[data-question]")).nth(1)
    topic.get_by_role("button", name="Remove this question").click()
    assert question_labels(tab) == ["Anything else?", "Company"]
    assert_fits(tab)

    tab.get_by_role("button", name="Save changes").click()
    expect(tab.get_by_text("Saved.")).to_be_visible()

    assert sorted(page.weekly_hours.values_list("weekday", "start", "end")) == [
        (0, time(9), time(17)),
        (2, time(10), time(12)),
    ]
    assert list(page.overrides.values_list("date", "hours")) == [
        (holiday, []),
        (short_day, [["09:00", "12:00"], ["14:00", "16:00"]]),
    ]
    assert list(page.questions.values_list("label", "position")) == [
        ("Anything else?", 0),
        ("Company", 1),
    ]

    # The editor shows what was saved, still with no blank rows.
    expect(shown(hours.locator(".range-row"))).to_have_count(2)
    expect(shown(tab.get_by_label("Wednesday from"))).to_have_value("10:00")
    expect(tab.locator('[data-weekday="1"] [data-closed-note]')).to_be_visible()
    expect(shown(dates)).to_have_count(2)
    closed, other = shown(dates).all()
    expect(closed.get_by_label("Date", exact=True)).to_have_value(holiday.isoformat())
    expect(closed.get_by_label("Closed all day")).to_be_checked()
    expect(closed.get_by_label("From", exact=True)).to_be_hidden()
    expect(shown(other.get_by_label("From", exact=True))).to_have_count(2)
    expect(shown(other.get_by_label("To", exact=True)).last).to_have_value("16:00")
    assert question_labels(tab) == ["Anything else?", "Company"]
    expect(
        shown(tab.locator("[data-question]")).first.get_by_role("button", name="Move up")
    ).to_be_disabled()
    assert_fits(tab)


def test_a_refused_override_keeps_everything_typed_and_says_what_is_wrong(  # type: ignore[no-untyped-def]
    browser: Page, world
) -> None:
    alice = world.staff("alice")
    page = world.page(alice, weekdays=[0])
    login(browser, alice.username)
    browser.goto(f"/pages/{page.pk}/")
    browser.get_by_role("button", name="Add hours on Friday").click()
    shown(browser.get_by_label("Friday from")).last.fill("08:00")
    shown(browser.get_by_label("Friday to")).last.fill("10:00")
    browser.get_by_role("button", name="Add a date").click()
    row = shown(browser.locator(".override-row")).last
    row.get_by_label("Date", exact=True).fill((date.today() + timedelta(days=9)).isoformat())
    row.get_by_label("From", exact=True).fill("13:00")
    row.get_by_label("To", exact=True).fill("12:00")
    browser.get_by_role("button", name="Save changes").click()

    expect(browser.get_by_text("Nothing was saved")).to_be_visible()
    row = shown(browser.locator(".override-row")).last
    expect(row).to_contain_text("A range must end after it starts.")
    typed = shown(row.get_by_label("From", exact=True))
    expect(typed).to_have_value("13:00")
    expect(typed).to_have_attribute("aria-invalid", "true")
    expect(shown(browser.get_by_label("Friday from"))).to_have_value("08:00")
    assert not page.overrides.exists()
    assert not page.weekly_hours.filter(weekday=4).exists()


@pytest.fixture
def no_js(chromium, live_server, eager_writes, settings):  # type: ignore[no-untyped-def]
    settings.SITE_URL = live_server.url
    context = chromium.new_context(base_url=live_server.url, java_script_enabled=False)
    yield from open_watched(context)


def test_without_javascript_the_spare_rows_and_typed_order_still_edit_everything(  # type: ignore[no-untyped-def]
    no_js: Page, world
) -> None:
    alice = world.staff("alice")
    page = world.page(alice, weekdays=[0])
    Question.objects.create(page=page, label="Company", position=0)
    login(no_js, alice.username)
    no_js.goto(f"/pages/{page.pk}/")
    # No script-only buttons; a blank row to fill in on each list instead.
    expect(no_js.get_by_role("button", name="Add a date")).to_be_hidden()
    expect(no_js.get_by_role("button", name="Move up")).to_have_count(0)
    no_js.get_by_label("Tuesday from").fill("10:00")
    no_js.get_by_label("Tuesday to").fill("11:00")
    no_js.locator('[data-weekday="0"]').get_by_role("checkbox", name="Remove").first.check()
    spare = no_js.locator(".override-row").first
    day = date.today() + timedelta(days=12)
    spare.get_by_label("Date", exact=True).fill(day.isoformat())
    spare.get_by_label("From", exact=True).fill("08:00")
    spare.get_by_label("To", exact=True).fill("09:00")
    question = no_js.locator("[data-question]").last
    question.get_by_label("Question", exact=True).fill("First of all")
    question.get_by_label("Order").fill("0")  # typed before Company's 0: ties keep row order
    no_js.locator("[data-question]").first.get_by_label("Order").fill("1")
    no_js.get_by_role("button", name="Save changes").click()

    expect(no_js.get_by_text("Saved.")).to_be_visible()
    assert list(page.weekly_hours.values_list("weekday", "start", "end")) == [
        (1, time(10), time(11))
    ]
    assert list(page.overrides.values_list("date", "hours")) == [(day, [["08:00", "09:00"]])]
    assert list(page.questions.values_list("label", "position")) == [
        ("First of all", 0),
        ("Company", 1),
    ]
