"""Branding in a real browser, at desktop and phone widths: the organisation's logo and name
over the page, the page's image, and the accent colour really on the primary buttons (the
computed style, so the stylesheet passed the Content-Security-Policy and app.css reads its
custom properties), with white text at WCAG AA contrast. Any console error fails the test.
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta

import pytest
from playwright.sync_api import Page, expect

from bookings import branding
from bookings.models import Booking, PageImage, SiteBranding
from tests.browser.conftest import SIZES, assert_fits, login, open_watched
from tests.world import monday_after

GREEN = "#0b6e4f"


def png(
    width: int, height: int, rgb: tuple[int, int, int], to: tuple[int, int, int] | None = None
) -> bytes:
    """A real (decodable) PNG in one colour, or fading from `rgb` at the top to `to` at the
    bottom: a broken image would hide a broken logo."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    end = to or rgb

    def colour(y: int) -> bytes:
        share = y / max(1, height - 1)
        return bytes(round(a + (b - a) * share) for a, b in zip(rgb, end, strict=True))

    rows = b"".join(b"\0" + colour(y) * width for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def brand_site(name: str = "Contoso Advisers") -> SiteBranding:
    return SiteBranding.objects.update_or_create(
        pk=1,
        defaults={
            "organisation_name": name,
            "logo": png(120, 40, (11, 110, 79)),
            "logo_type": "image/png",
        },
    )[0]


def rgb(css: str) -> tuple[int, int, int]:
    r, g, b = (int(v) for v in re.findall(r"\d+", css)[:3])
    return r, g, b


@pytest.fixture(params=sorted(SIZES))
def customer(request, chromium, live_server, eager_writes, settings) -> Iterator[Page]:  # type: ignore[no-untyped-def]
    settings.SITE_URL = live_server.url
    context = chromium.new_context(base_url=live_server.url, locale="en-GB", **SIZES[request.param])
    yield from open_watched(context)


def test_the_branded_page_shows_the_logo_name_image_and_accent_buttons(
    customer: Page, world
) -> None:  # type: ignore[no-untyped-def]
    brand_site()
    page = world.page(world.staff("olivia"), title="Tax advice", accent_color=GREEN)
    PageImage.objects.create(
        page=page, data=png(300, 120, (220, 235, 228)), content_type="image/png"
    )
    customer.goto(f"/{page.slug}/", wait_until="networkidle")

    expect(customer.locator("#brand-bar .brand-name")).to_have_text("Contoso Advisers")
    for image in ("#brand-bar .brand-logo", "#page-image"):
        loaded = customer.locator(image).evaluate("img => img.complete && img.naturalWidth > 0")
        assert loaded, f"{image} did not load"
    button = customer.locator("#book-button")
    background = rgb(button.evaluate("b => getComputedStyle(b).backgroundColor"))
    text = rgb(button.evaluate("b => getComputedStyle(b).color"))
    assert branding.hex_of(background) == GREEN
    assert branding.contrast(background, text) >= branding.AA_NORMAL_TEXT
    link_colour = customer.locator("#page-details").evaluate(
        "el => getComputedStyle(document.documentElement).getPropertyValue('--c-focus').trim()"
    )
    assert link_colour == GREEN
    assert_fits(customer)


def test_the_manage_link_wears_the_pages_colour_too(customer: Page, world) -> None:  # type: ignore[no-untyped-def]
    brand_site()
    page = world.page(world.staff("olivia"), title="Tax advice", accent_color=GREEN)
    start = datetime.combine(monday_after().date() + timedelta(days=7), time(10), UTC)
    booking = Booking.objects.create(
        page=page,
        owner=page.owner,
        start=start,
        end=start + page.duration,
        timezone="Europe/London",
        name="Carol Customer",
        email="carol@example.com",
    )
    customer.goto(f"/manage/{booking.manage_token()}/", wait_until="networkidle")
    expect(customer.locator("#brand-bar .brand-name")).to_have_text("Contoso Advisers")
    button = customer.locator("#reschedule-link")
    background = rgb(button.evaluate("b => getComputedStyle(b).backgroundColor"))
    assert branding.hex_of(background) == GREEN
    assert_fits(customer)


def test_the_owner_sets_the_colour_and_image_in_the_editor(customer: Page, world, tmp_path) -> None:  # type: ignore[no-untyped-def]
    olivia = world.staff("olivia")
    page = world.page(olivia, title="Tax advice")
    login(customer, olivia.username)
    customer.goto(f"/pages/{page.pk}/")
    customer.get_by_label("Accent colour").fill("#ffd500")
    customer.get_by_role("button", name="Save changes").click()
    expect(customer.locator("#appearance")).to_contain_text("The nearest shade that passes is #")

    customer.get_by_label("Accent colour").fill(GREEN)
    image = tmp_path / "team.png"
    image.write_bytes(png(300, 120, (220, 235, 228)))
    customer.get_by_label("Image (optional)").set_input_files(image)
    customer.get_by_role("button", name="Save changes").click()
    expect(customer.locator("#current-image img")).to_be_visible()
    page.refresh_from_db()
    assert page.accent_color == GREEN and page.image.content_type == "image/png"
    assert_fits(customer)
