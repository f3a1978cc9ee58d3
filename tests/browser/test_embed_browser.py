"""The embed snippet in a real browser, on another website: a page served by a small HTTP
server at http://127.0.0.1:<port>, under a strict Content-Security-Policy of its own, embeds
the live server's booking page (http://localhost:<port>: another site, so Chromium treats
the frame as third-party, cookies included). The customer books inside the iframe, which
grows with the page; the popup opens and closes; and an origin that isn't allowed gets
nothing but Chromium's refusal."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from bookings import embedding
from bookings.models import Booking, BookingPage
from tests.browser.conftest import SIZES, watch

pytestmark = pytest.mark.parametrize("size", list(SIZES))


class HostSite:
    """Another website: serves the pages a test puts in `pages`, with a strict policy that
    lets in only the booking site's script and frame."""

    def __init__(self, booking_site: str) -> None:
        self.pages: dict[str, str] = {}
        site = self
        policy = (
            f"default-src 'none'; script-src {booking_site}; frame-src {booking_site}; "
            "style-src 'none'; img-src 'none'; base-uri 'none'"
        )

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = site.pages.get(self.path.split("?")[0])
                if body is None:
                    self.send_error(404)
                    return
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Security-Policy", policy)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def page_with(self, path: str, snippet: str) -> str:
        self.pages[path] = (
            "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            "<title>Analytical Engines Ltd</title></head><body>"
            f"<h1>Talk to us</h1>{snippet}<p id='after'>Our address: 12 Dorset Street</p>"
            "</body></html>"
        )
        return self.origin + path

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def host(live_server: Any, settings: Any) -> Iterator[HostSite]:
    site = HostSite(live_server.url)
    settings.SITE_URL = live_server.url
    settings.EMBED_ALLOWED_ORIGINS = [site.origin]
    yield site
    site.close()


@pytest.fixture
def tax_page(world: Any) -> BookingPage:
    return world.page(world.staff("olivia"), title="Tax advice")


def iframe_height(page: Page) -> float:
    return page.evaluate("document.querySelector('iframe').getBoundingClientRect().height")


def test_a_customer_books_inside_the_inline_embed_on_another_site(
    tabs: Callable[..., Page], host: HostSite, eager_writes: None, tax_page: BookingPage, size: str
) -> None:
    url = embedding.page_url(tax_page)
    # The page's own snippet, its address carrying Calendly-style prefill parameters.
    snippet = embedding.embed_snippet(tax_page, "inline").replace(
        f'data-scheduler-embed="{url}"',
        f'data-scheduler-embed="{url}?name=Ada+Lovelace&amp;email=ada%40example.com'
        '&amp;timezone=Europe/Paris&amp;lock_timezone=1"',
    )
    browser = tabs(size)
    browser.goto(host.page_with("/contact", snippet))

    frame = browser.frame_locator("iframe[title='Book a time']")
    expect(frame.get_by_role("heading", name="Tax advice")).to_be_visible()
    # Embed mode: the frame's page left its site header out.
    expect(frame.locator("body.embedded")).to_have_count(1)
    # The zone is locked to Paris: said, not offered.
    expect(frame.locator("#tz-name")).to_contain_text("Paris")
    expect(frame.get_by_role("combobox", name="Your time zone")).to_be_hidden()

    slot = frame.locator("#slot-list .slot-button").first
    expect(slot).to_be_visible()
    browser.wait_for_function(
        "() => document.querySelector('iframe').getBoundingClientRect().height !== 700"
    )
    before = iframe_height(browser)
    slot.click()
    expect(frame.get_by_label("Your name")).to_have_value("Ada Lovelace")
    expect(frame.get_by_label("Email")).to_have_value("ada@example.com")
    # The form appeared below the slots: the iframe grew with the page, no inner scrolling.
    browser.wait_for_function(
        f"() => document.querySelector('iframe').getBoundingClientRect().height > {before}"
    )
    inner = frame.locator("body").evaluate("b => Math.ceil(b.getBoundingClientRect().height)")
    assert abs(iframe_height(browser) - inner) <= 2
    assert browser.evaluate("innerWidth >= document.documentElement.scrollWidth")

    frame.get_by_role("button", name="Confirm booking").click()
    expect(frame.get_by_role("heading", name="You're booked")).to_be_visible()
    booking = Booking.objects.get(page=tax_page)
    assert booking.name == "Ada Lovelace" and booking.timezone == "Europe/Paris"
    # Still embedded, and the host page around it is untouched.
    expect(frame.locator("body.embedded")).to_have_count(1)
    expect(frame.locator("#manage-link")).to_have_attribute("target", "_blank")
    expect(browser.get_by_role("heading", name="Talk to us")).to_be_visible()
    assert browser.url.startswith(host.origin)


def test_the_popup_embed_opens_in_a_dialog_and_closes_with_escape_or_its_button(
    tabs: Callable[..., Page], host: HostSite, tax_page: BookingPage, size: str
) -> None:
    browser = tabs(size)
    browser.goto(host.page_with("/", embedding.embed_snippet(tax_page, "popup")))
    button = browser.get_by_role("button", name="Book a time")
    expect(browser.locator("iframe")).to_have_count(0)  # nothing loads before it's asked for

    button.click()
    dialog = browser.get_by_role("dialog", name="Book a time")
    expect(dialog).to_be_visible()
    frame = browser.frame_locator("dialog iframe")
    expect(frame.get_by_role("heading", name="Tax advice")).to_be_visible()
    expect(frame.locator("#slot-list .slot-button").first).to_be_visible()
    browser.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(button).to_be_focused()

    button.click()
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()
    expect(button).to_be_focused()
    expect(browser.locator("iframe")).to_have_count(1)  # loaded once, kept


@pytest.mark.parametrize(
    ("allowed", "directive"),
    [
        (["https://www.example.com"], "frame-ancestors https://www.example.com"),
        ([], "frame-ancestors 'none'"),
    ],
    ids=["another-site-allowed", "embedding-off"],
)
def test_a_site_not_in_the_setting_cannot_frame_the_page(
    chromium: Any,
    host: HostSite,
    settings: Any,
    tax_page: BookingPage,
    size: str,
    allowed: list[str],
    directive: str,
) -> None:
    settings.EMBED_ALLOWED_ORIGINS = allowed
    context = chromium.new_context(**SIZES[size])
    context.set_default_timeout(15_000)
    try:
        browser = context.new_page()
        problems = watch(browser)
        browser.goto(host.page_with("/", embedding.embed_snippet(tax_page, "inline")))
        frame_element = browser.locator("iframe")
        expect(frame_element).to_have_count(1)
        content = frame_element.element_handle().content_frame()
        assert content is not None
        content.wait_for_load_state()
        browser.wait_for_timeout(300)
        # Chromium says why on the console ("Framing 'http://localhost:…/' violates the
        # following Content Security Policy directive: …. The request has been blocked."):
        # the one error this test expects, and nothing else.
        expected = [p for p in problems if directive in p]
        assert expected, problems
        assert "violates the following Content Security Policy directive" in expected[0]
        assert "blocked" in expected[0]
        assert [p for p in problems if p not in expected] == []
        # And the frame shows Chromium's error page instead of ours.
        assert content.url == "chrome-error://chromewebdata/"
        assert content.get_by_text("Tax advice").count() == 0
    finally:
        context.close()
