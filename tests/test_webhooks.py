"""Webhooks (bookings/webhooks.py) delivered to a local HTTPS receiver: signatures a
receiver can verify, retries after failures, order per booking, "send again", and the SSRF
guard in front of every endpoint."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError

from bookings import actions, webhooks
from bookings.models import (
    Booking,
    BookingPage,
    DeliveryState,
    WebhookDelivery,
    WebhookEndpoint,
)
from calendars.simulator.tls import TestCA, server_context

pytestmark = pytest.mark.django_db


class Receiver:
    """An HTTPS endpoint on 127.0.0.1 that records what it got and answers `statuses` in
    turn (then 200)."""

    def __init__(self, ca: TestCA) -> None:
        self.received: list[dict[str, Any]] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append({"headers": dict(self.headers), "body": body})
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        issued = ca.issue_server_certificate()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = server_context(issued.cert_path, issued.key_path)
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def ca() -> Iterator[TestCA]:
    with TestCA(common_name="Contoso Corporate CA") as ca:
        yield ca


@pytest.fixture
def receiver(ca: TestCA, settings: Any) -> Iterator[Receiver]:
    settings.EXCHANGE_CA_BUNDLE = str(ca.ca_cert_path)
    settings.EXCHANGE_ALLOW_PRIVATE_HOSTS = True  # the receiver listens on 127.0.0.1
    settings.CELERY_TASK_ALWAYS_EAGER = False
    r = Receiver(ca)
    yield r
    r.close()


@pytest.fixture
def page() -> BookingPage:
    owner = User.objects.create_user("olivia", "olivia@contoso.example", first_name="Olivia")
    return BookingPage.objects.create(
        owner=owner, slug="advice", title="Advice", timezone="Europe/London"
    )


def booking(page: BookingPage) -> Booking:
    start = datetime(2027, 1, 12, 15, 0, tzinfo=UTC)
    return Booking.objects.create(
        page=page,
        owner=page.owner,
        start=start,
        end=start + timedelta(minutes=30),
        timezone="America/New_York",
        name="Ann Customer",
        email="ann@example.com",
    )


def endpoint(page: BookingPage, url: str, **fields: Any) -> WebhookEndpoint:
    fields.setdefault("events", ["booking.created", "booking.cancelled", "booking.rescheduled"])
    e = WebhookEndpoint(owner=page.owner, url=url, **fields)
    e.full_clean()
    e.save()
    return e


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """What the README tells a receiver to do."""
    parts = dict(p.split("=", 1) for p in headers["X-Scheduler-Signature"].split(","))
    expected = hmac.new(
        secret.encode(), parts["t"].encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(expected, parts["v1"])


def deliver_all(now: datetime | None = None) -> list[str]:
    return [webhooks.deliver(pk, now=now) for pk in webhooks.due(now)]


def test_a_booking_event_arrives_signed_with_the_endpoints_secret(page, receiver) -> None:
    hook = endpoint(page, receiver.url)
    b = booking(page)
    webhooks.emit(b, "booking.created")
    assert deliver_all() == ["delivered"]
    got = receiver.received[0]
    assert verify(hook.secret, got["headers"], got["body"])
    assert not verify("whsec_someone-else", got["headers"], got["body"])
    event = json.loads(got["body"])
    assert event["type"] == "booking.created"
    assert got["headers"]["X-Scheduler-Delivery"] == event["id"]
    assert event["data"]["booking"]["customer"]["email"] == "ann@example.com"
    assert event["data"]["booking"]["start"] == "2027-01-12T15:00:00+00:00"
    d = WebhookDelivery.objects.get()
    assert (d.state, d.last_status, d.attempts) == (DeliveryState.DELIVERED, 200, 1)


def test_a_failing_endpoint_is_retried_with_back_off_until_it_answers(page, receiver) -> None:
    endpoint(page, receiver.url)
    receiver.statuses = [500, 503]
    webhooks.emit(booking(page), "booking.created")
    t0 = WebhookDelivery.objects.get().created
    assert deliver_all(t0) == ["retry"]
    d = WebhookDelivery.objects.get()
    assert (d.last_status, d.next_attempt_at - t0) == (500, timedelta(seconds=30))
    assert "HTTP 500" in d.last_error
    assert deliver_all(t0 + timedelta(seconds=10)) == []  # not due yet
    assert deliver_all(t0 + timedelta(seconds=30)) == ["retry"]
    assert WebhookDelivery.objects.get().next_attempt_at == t0 + timedelta(seconds=90)
    assert deliver_all(t0 + timedelta(seconds=90)) == ["delivered"]
    # One event, three attempts, one id.
    ids = {r["headers"]["X-Scheduler-Delivery"] for r in receiver.received}
    assert len(receiver.received) == 3 and len(ids) == 1


def test_a_delivery_is_given_up_after_a_day(page, receiver, settings) -> None:
    endpoint(page, receiver.url)
    receiver.statuses = [500] * 5
    webhooks.emit(booking(page), "booking.created")
    t0 = WebhookDelivery.objects.get().created
    assert deliver_all(t0 + timedelta(hours=settings.WEBHOOK_RETRY_HOURS)) == ["failed"]
    assert WebhookDelivery.objects.get().state == DeliveryState.FAILED


def test_a_bookings_events_arrive_in_the_order_they_happened(page, receiver) -> None:
    endpoint(page, receiver.url)
    b = booking(page)
    receiver.statuses = [500]
    webhooks.emit(b, "booking.created")
    webhooks.emit(b, "booking.cancelled")
    t0 = timezone_now()
    # The first fails; the second must wait for it rather than overtake it.
    outcomes = deliver_all(t0)
    assert outcomes == ["retry", "waiting"]
    assert [json.loads(r["body"])["type"] for r in receiver.received] == ["booking.created"]
    later = t0 + timedelta(seconds=40)
    assert deliver_all(later) == ["delivered", "delivered"]
    assert [json.loads(r["body"])["type"] for r in receiver.received] == [
        "booking.created",
        "booking.created",
        "booking.cancelled",
    ]


def test_send_again_repeats_the_same_event_with_the_same_id(page, receiver) -> None:
    endpoint(page, receiver.url)
    webhooks.emit(booking(page), "booking.created")
    deliver_all()
    again = webhooks.send_again(WebhookDelivery.objects.get())
    assert webhooks.deliver(again.pk) == "delivered"
    first, second = (json.loads(r["body"]) for r in receiver.received)
    assert first == second


def test_booking_actions_emit_their_events_and_only_subscribed_endpoints_hear_them(
    page, receiver, django_capture_on_commit_callbacks
) -> None:
    endpoint(page, receiver.url, events=["booking.cancelled"])
    b = booking(page)
    with django_capture_on_commit_callbacks(execute=True):
        actions.cancel(b, by="staff")
    deliveries = list(WebhookDelivery.objects.all())
    assert [d.event for d in deliveries] == ["booking.cancelled"]
    assert deliveries[0].payload["data"]["booking"]["cancelled_by"] == "staff"


def test_an_endpoint_on_a_private_address_or_without_https_is_refused(page, settings) -> None:
    settings.EXCHANGE_ALLOW_PRIVATE_HOSTS = False
    for url, words in [
        ("http://hooks.example.com/x", "https://"),
        ("https://127.0.0.1/hooks", "private or local network"),
        ("https://169.254.169.254/latest/meta-data", "private or local network"),
        ("https://user:pw@hooks.example.com/", "user name or password"),
    ]:
        with pytest.raises(ValidationError, match=words):
            endpoint(page, url)


def test_a_saved_endpoint_that_now_resolves_privately_is_not_contacted(
    page, receiver, settings
) -> None:
    endpoint(page, receiver.url)
    settings.EXCHANGE_ALLOW_PRIVATE_HOSTS = False  # the guard is applied on every connection
    webhooks.emit(booking(page), "booking.created")
    assert deliver_all() == ["retry"]
    assert receiver.received == []
    assert "private or local network" in WebhookDelivery.objects.get().last_error


def test_the_payload_holds_nothing_read_from_exchange(page, receiver) -> None:
    endpoint(page, receiver.url)
    b = booking(page)
    Booking.objects.filter(pk=b.pk).update(conflict="Another busy event: Secret merger talks")
    b.refresh_from_db()
    webhooks.emit(b, "booking.created")
    deliver_all()
    assert b"Secret merger" not in receiver.received[0]["body"]


def timezone_now() -> datetime:
    from django.utils import timezone

    return timezone.now()


def test_an_admin_adds_a_site_wide_endpoint_and_sends_a_delivery_again(
    page, receiver, client
) -> None:
    admin = User.objects.create_superuser("root", "root@contoso.example", "pw")
    client.force_login(admin)
    response = client.post(
        "/admin/bookings/webhookendpoint/add/",
        {
            "url": receiver.url,
            "events": '["booking.created"]',
            "active": "on",
            "deliveries-TOTAL_FORMS": "0",
            "deliveries-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    hook = WebhookEndpoint.objects.get()
    assert hook.owner is None  # site-wide: every page's bookings
    webhooks.emit(booking(page), "booking.created")
    deliver_all()
    delivery = WebhookDelivery.objects.get()
    page_html = client.get(f"/admin/bookings/webhookendpoint/{hook.pk}/change/").content
    assert hook.secret.encode() in page_html and b"booking.created" in page_html
    response = client.post(
        "/admin/bookings/webhookdelivery/",
        {"action": "send_again", "_selected_action": [delivery.pk]},
    )
    assert response.status_code == 302
    assert WebhookDelivery.objects.count() == 2
