"""The staff pages for webhook endpoints: add, see the secret and the delivery log, send
again, pause, remove; only one's own endpoints; the SSRF guard's refusals in words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client

from bookings import webhooks
from bookings.models import Booking, BookingPage, WebhookDelivery, WebhookEndpoint

pytestmark = pytest.mark.django_db


@pytest.fixture
def olivia() -> User:
    return User.objects.create_user("olivia", "olivia@contoso.example", "pw", is_staff=True)


@pytest.fixture
def client(olivia: User) -> Client:
    c = Client()
    c.force_login(olivia)
    return c


def add(client: Client, url: str, **data: object):  # type: ignore[no-untyped-def]
    body = {"url": url, "events": ["booking.created", "booking.cancelled"], **data}
    return client.post("/webhooks/", body)


def test_a_staff_member_adds_an_endpoint_and_sees_its_secret(client, olivia, settings) -> None:
    settings.EXCHANGE_ALLOW_PRIVATE_HOSTS = True
    page = BookingPage.objects.create(owner=olivia, slug="advice", title="Advice")
    response = add(client, "https://127.0.0.1:9443/hooks", page=page.pk)
    assert response.status_code == 302
    hook = WebhookEndpoint.objects.get()
    assert (hook.owner, hook.page, hook.events) == (
        olivia,
        page,
        ["booking.created", "booking.cancelled"],
    )
    detail = client.get(response["Location"]).content.decode()
    assert hook.secret in detail and "No events yet" in detail
    assert "https://127.0.0.1:9443/hooks" in client.get("/webhooks/").content.decode()


def test_an_endpoint_the_guard_refuses_is_a_400_that_says_why(client, settings) -> None:
    settings.EXCHANGE_ALLOW_PRIVATE_HOSTS = False
    response = add(client, "https://10.0.0.5/hooks")
    assert response.status_code == 400
    assert "private or local network" in response.content.decode()
    response = add(client, "http://127.0.0.1/hooks")
    assert response.status_code == 400 and "https://" in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_the_delivery_log_shows_results_and_sends_one_again(client, olivia) -> None:
    page = BookingPage.objects.create(owner=olivia, slug="advice", title="Advice")
    hook = WebhookEndpoint.objects.create(
        owner=olivia, url="https://hooks.example.com/x", events=["booking.created"]
    )
    start = datetime(2027, 1, 12, 15, 0, tzinfo=UTC)
    booking = Booking.objects.create(
        page=page, owner=olivia, start=start, end=start + timedelta(minutes=30),
        timezone="UTC", name="Ann Customer", email="ann@example.com",
    )  # fmt: skip
    delivery = WebhookDelivery.objects.create(
        endpoint=hook, event="booking.created", booking=booking, payload={},
        attempts=2, last_status=500, last_error="The endpoint answered HTTP 500.",
    )  # fmt: skip
    detail = client.get(f"/webhooks/{hook.pk}/").content.decode()
    assert "booking.created" in detail and "HTTP 500" in detail and "Ann Customer" in detail
    response = client.post(f"/webhooks/{hook.pk}/deliveries/{delivery.pk}/send-again/")
    assert response.status_code == 302
    again = WebhookDelivery.objects.exclude(pk=delivery.pk).get()
    assert again.event_id == delivery.event_id
    client.post(f"/webhooks/{hook.pk}/", {"action": "pause"})
    hook.refresh_from_db()
    assert not hook.active
    assert webhooks.endpoints_for(booking, "booking.created") == []
    client.post(f"/webhooks/{hook.pk}/", {"action": "delete"})
    assert not WebhookEndpoint.objects.exists()


def test_someone_elses_endpoint_and_a_site_wide_one_are_not_found(client, olivia) -> None:
    other = User.objects.create_user("bob", "bob@contoso.example", is_staff=True)
    theirs = WebhookEndpoint.objects.create(
        owner=other, url="https://a.example/", events=["booking.created"]
    )
    site = WebhookEndpoint.objects.create(
        owner=None, url="https://b.example/", events=["booking.created"]
    )
    delivery = WebhookDelivery.objects.create(endpoint=theirs, event="booking.created", payload={})
    for hook in (theirs, site):
        assert client.get(f"/webhooks/{hook.pk}/").status_code == 404
        assert client.post(f"/webhooks/{hook.pk}/", {"action": "delete"}).status_code == 404
    url = f"/webhooks/{theirs.pk}/deliveries/{delivery.pk}/send-again/"
    assert client.post(url).status_code == 404
    assert WebhookEndpoint.objects.count() == 2
    assert theirs.secret not in client.get("/webhooks/").content.decode()
