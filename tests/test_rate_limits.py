"""Rate limits on the public endpoints (bookings/ratelimit.py): the slots API per client and
per page, clients told behind trusted proxies, and Retry-After on every 429.

Requests here mostly leave out the slots query, so they are counted and answered 400 without
a busy-time lookup: the limit is checked before anything else.
"""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest
from django.test import Client
from django.urls import reverse

from bookings import actions
from bookings.models import Booking, BookingPage
from tests.world import monday_after

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("mid_window")]

NGINX = "10.0.0.5"


@pytest.fixture
def page(world) -> BookingPage:  # type: ignore[no-untyped-def]
    return world.page(world.staff("olivia"), tz="UTC", hours=(time(9), time(17)))


def slots(slug: str, peer: str = "203.0.113.7", forwarded_for: str = "", **query: str):  # type: ignore[no-untyped-def]
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return Client(REMOTE_ADDR=peer).get(f"/api/v1/pages/{slug}/slots", query, headers=headers)


def retry_after(response) -> int:  # type: ignore[no-untyped-def]
    value = int(response["Retry-After"])
    assert 1 <= value <= 60
    return value


def test_the_slots_api_limits_each_client_and_says_when_to_retry(page, settings) -> None:
    settings.SLOTS_RATE_LIMIT = 2
    day = monday_after().date().isoformat()
    assert slots(page.slug, start=day, end=day).status_code == 200
    assert slots(page.slug).status_code == 400
    refused = slots(page.slug, start=day, end=day)
    assert refused.status_code == 429
    assert refused["Content-Type"] == "application/json"
    assert "Too many requests" in refused.json()["detail"]
    retry_after(refused)
    # Someone else is not affected.
    assert slots(page.slug, peer="198.51.100.1").status_code == 400


def test_a_client_over_its_limit_is_refused_on_every_page(world, page, settings) -> None:
    settings.SLOTS_RATE_LIMIT = 2
    other = world.page(world.staff("oscar"), tz="UTC")
    assert [slots(page.slug).status_code for _ in range(2)] == [400, 400]
    assert slots(other.slug).status_code == 429


def test_one_pages_calls_from_everyone_together_have_a_ceiling(world, page, settings) -> None:
    settings.SLOTS_PAGE_RATE_LIMIT = 3
    codes = [slots(page.slug, peer=f"203.0.113.{i}").status_code for i in range(1, 5)]
    assert codes == [400, 400, 400, 429]
    retry_after(slots(page.slug, peer="203.0.113.99"))
    # Another page has its own ceiling.
    other = world.page(world.staff("oscar"), tz="UTC")
    assert slots(other.slug, peer="203.0.113.99").status_code == 400


def test_a_client_hammering_past_its_own_limit_does_not_use_up_the_pages(page, settings) -> None:
    settings.SLOTS_RATE_LIMIT = 2
    settings.SLOTS_PAGE_RATE_LIMIT = 5
    assert [slots(page.slug).status_code for _ in range(10)] == [400] * 2 + [429] * 8
    # The page has used 2 of its 5: three other visitors still get through.
    others = [slots(page.slug, peer=f"198.51.100.{i}").status_code for i in range(1, 4)]
    assert others == [400, 400, 400]


def test_the_manage_links_slots_count_against_the_same_limits(page, settings) -> None:
    start = datetime.combine(monday_after().date(), time(10), tzinfo=UTC)
    customer = actions.CustomerDetails("Ada Lovelace", "ada@example.com", "Europe/London")
    booking = actions.book(page, start, customer)
    settings.SLOTS_RATE_LIMIT = 1
    assert slots(page.slug).status_code == 400
    url = reverse("manage-slots", args=[booking.manage_token()])
    refused = Client(REMOTE_ADDR="203.0.113.7").get(url)
    assert refused.status_code == 429
    retry_after(refused)


def test_the_booking_page_without_javascript_counts_a_chosen_day_as_a_slots_call(
    page, settings
) -> None:
    settings.SLOTS_RATE_LIMIT = 1
    day = monday_after().date().isoformat()
    client = Client(REMOTE_ADDR="203.0.113.7")
    assert client.get(f"/{page.slug}/").status_code == 200  # no day chosen: no lookup
    assert client.get(f"/{page.slug}/", {"date": day}).status_code == 200
    refused = client.get(f"/{page.slug}/", {"date": day})
    assert refused.status_code == 429
    assert "Too many requests" in refused.content.decode()
    retry_after(refused)


def test_behind_a_trusted_proxy_each_client_has_its_own_budget(page, settings) -> None:
    settings.TRUSTED_PROXIES = [f"{NGINX}/32"]
    settings.SLOTS_RATE_LIMIT = 1
    assert slots(page.slug, peer=NGINX, forwarded_for="203.0.113.7").status_code == 400
    assert slots(page.slug, peer=NGINX, forwarded_for="203.0.113.7").status_code == 429
    assert slots(page.slug, peer=NGINX, forwarded_for="198.51.100.1").status_code == 400
    # A client prepending addresses of its own is still the address nginx saw.
    spoofed = slots(page.slug, peer=NGINX, forwarded_for="192.0.2.1, 203.0.113.7")
    assert spoofed.status_code == 429


def test_a_made_up_forwarded_for_does_not_buy_a_fresh_budget(page, settings) -> None:
    settings.TRUSTED_PROXIES = [f"{NGINX}/32"]
    settings.SLOTS_RATE_LIMIT = 1
    assert slots(page.slug, forwarded_for="192.0.2.1").status_code == 400
    assert slots(page.slug, forwarded_for="192.0.2.2").status_code == 429


def test_ipv6_clients_are_counted_by_their_64_block(page, settings) -> None:
    settings.SLOTS_RATE_LIMIT = 1
    assert slots(page.slug, peer="2001:db8:1:2::1").status_code == 400
    assert slots(page.slug, peer="2001:db8:1:2:ffff::9").status_code == 429
    assert slots(page.slug, peer="2001:db8:1:3::1").status_code == 400


def test_the_booking_api_says_when_to_retry(page, settings) -> None:
    settings.BOOKING_RATE_LIMIT = 1
    client = Client(REMOTE_ADDR="203.0.113.7")
    url = f"/api/v1/pages/{page.slug}/bookings"
    assert client.post(url, {}, content_type="application/json").status_code == 400
    refused = client.post(url, {}, content_type="application/json")
    assert refused.status_code == 429
    assert "Too many booking attempts" in refused.json()["detail"]
    retry_after(refused)


def test_the_booking_form_says_when_to_retry(page, settings) -> None:
    settings.BOOKING_RATE_LIMIT = 1
    client = Client(REMOTE_ADDR="203.0.113.7")
    assert client.post(f"/{page.slug}/book/", {}).status_code == 400
    refused = client.post(f"/{page.slug}/book/", {})
    assert refused.status_code == 429
    retry_after(refused)
    assert not Booking.objects.exists()


def test_the_manage_link_says_when_to_retry(page, settings) -> None:
    start = datetime.combine(monday_after().date(), time(10), tzinfo=UTC)
    customer = actions.CustomerDetails("Ada Lovelace", "ada@example.com", "Europe/London")
    booking = actions.book(page, start, customer)
    settings.BOOKING_RATE_LIMIT = 1
    client = Client(REMOTE_ADDR="203.0.113.7")
    url = f"/manage/{booking.manage_token()}/"
    assert client.post(url, {"action": "reschedule"}).status_code == 400
    refused = client.post(url, {"action": "cancel"})
    assert refused.status_code == 429
    retry_after(refused)
