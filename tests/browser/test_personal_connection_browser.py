"""The personal connection form in a real browser, at desktop and phone widths: the server
details fit (no dropdown cut off, no sideways scrolling) and a refused password gets advice
for on-premises Exchange."""

from __future__ import annotations

import os

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from tests.browser.conftest import assert_fits, login
from tests.world import World

# The chosen option's text fits the select's box beside its arrow (a select's scrollWidth
# doesn't grow with its text, so measure the text itself; Chromium's arrow takes ~20 px).
OPTION_FITS = """s => {
  const c = document.createElement('canvas').getContext('2d');
  const st = getComputedStyle(s);
  c.font = st.font;
  const text = c.measureText(s.options[s.selectedIndex].text).width;
  const room = s.clientWidth - parseFloat(st.paddingLeft) - parseFloat(st.paddingRight) - 24;
  return text <= room;
}"""


@pytest.mark.parametrize("size", ["browser", "phone"])
def test_the_server_details_fit_and_every_exchange_version_can_be_read(
    request: pytest.FixtureRequest, size: str
) -> None:
    request.getfixturevalue("live_server")
    world: World = request.getfixturevalue("world")
    page: Page = request.getfixturevalue(size)
    person = world.person("pat")
    User.objects.create_user(f"pat-{world.tag}", person.email, "staff-password")
    login(page, f"pat-{world.tag}")
    page.goto("/connection/personal/?details=1")

    version = page.get_by_label("Exchange version")
    expect(version).to_be_visible()
    for option in version.locator("option").all_inner_texts():
        version.select_option(label=option)
        assert version.evaluate(OPTION_FITS), f"{option!r} is cut off"
    assert page.get_by_label("Sign-in method").evaluate(OPTION_FITS)
    widest = page.locator("form.card .field-help").evaluate_all(
        "hs => Math.max(...hs.map(h => h.scrollWidth - h.clientWidth))"
    )
    assert widest <= 0, "a help text is wider than its field"
    if os.environ.get("G_SHOTS"):
        page.screenshot(path=f"/tmp/G-shots/personal-{size}.png", full_page=True)
    assert_fits(page)


def test_a_refused_password_gets_advice_for_on_premises_exchange(
    browser: Page, world: World
) -> None:
    person = world.person("pat")
    User.objects.create_user(f"pat-{world.tag}", person.email, "staff-password")
    login(browser, f"pat-{world.tag}")
    browser.goto("/connection/personal/")
    browser.get_by_label("Email address").fill(person.email)
    browser.get_by_label("Password").fill("not-the-password")
    browser.get_by_role("button", name="Connect").click()

    errors = browser.locator("#form-errors")
    expect(errors).to_contain_text("DOMAIN\\user")
    expect(errors).to_contain_text("locked")
    expect(browser.locator("main")).not_to_contain_text("app password")
    assert_fits(browser)
