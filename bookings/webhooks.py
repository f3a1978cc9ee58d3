"""Webhooks: booking events delivered to HTTPS endpoints staff and administrators register.

- Events: booking.created, booking.rescheduled, booking.cancelled (by the customer, staff or
  from Exchange: `data.booking.cancelled_by` says which), booking.reassigned (a team page's
  booking went to another member) and booking.write_failed (a calendar write keeps failing).
- Each event has one id (`id`, also the X-Scheduler-Delivery header) that stays the same
  across retries and "Send again", so a receiver can ignore one it has seen.
- Signed as Stripe and GitHub do: `X-Scheduler-Signature: t=<unix time>,v1=<hex>` where
  v1 is HMAC-SHA256 over "<t>.<body>" with the endpoint's secret; the README shows how to
  verify it (and to refuse an old t, against replays).
- At least once and in order per booking: a delivery is retried with back-off (30 s, then
  doubling up to an hour) until the endpoint answers 2xx or WEBHOOK_RETRY_HOURS have passed;
  a booking's later event waits while an earlier one to the same endpoint is pending. Rows
  are claimed with a conditional UPDATE (a lease), so two workers never send one at once.
- Endpoints pass the SSRF guard Exchange URLs pass (https, no private addresses unless
  allowed), when saved and on every connection (calendars/transport.py pins the address).
- The payload is the booking as the app knows it. Nothing read from Exchange events goes in.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from bookings.models import (
    Booking,
    BookingMember,
    DeliveryState,
    WebhookDelivery,
    WebhookEndpoint,
)

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)
TIMEOUT = 10  # seconds per attempt: a slow receiver must not hold a worker
SIGNATURE_HEADER = "X-Scheduler-Signature"


def endpoints_for(booking: Booking, event: str) -> list[WebhookEndpoint]:
    """The page owner's endpoints for this page or all their pages, and site-wide ones."""
    page = booking.page
    found = WebhookEndpoint.objects.filter(active=True).filter(
        Q(owner__isnull=True)
        | Q(owner_id=page.owner_id, page__isnull=True)
        | Q(owner_id=page.owner_id, page_id=page.pk)
    )
    return [e for e in found if event in e.events]


def emit(booking: Booking, event: str, **extra: Any) -> list[WebhookDelivery]:
    """Record `event` for every endpoint that hears it; each is sent once the caller's
    transaction commits (never for a booking that didn't happen)."""
    endpoints = endpoints_for(booking, event)
    if not endpoints:
        return []
    event_id = uuid.uuid4()
    body = payload(booking, event, event_id, **extra)
    now = timezone.now()
    deliveries = [
        WebhookDelivery.objects.create(
            endpoint=e,
            event_id=event_id,
            event=event,
            booking=booking,
            payload=body,
            created=now,
            next_attempt_at=now,
        )
        for e in endpoints
    ]
    for d in deliveries:
        transaction.on_commit(lambda pk=d.pk: deliver_webhook.delay(pk))
    return deliveries


def payload(booking: Booking, event: str, event_id: uuid.UUID, **extra: Any) -> dict[str, Any]:
    page = booking.page
    attendees = BookingMember.objects.filter(booking=booking).select_related("user")
    data: dict[str, Any] = {
        "id": str(booking.pk),
        "status": booking.status,
        "start": booking.start.isoformat(),
        "end": booking.end.isoformat(),
        "timezone": booking.timezone,
        "sequence": booking.sequence,
        "page": {"slug": page.slug, "title": page.title},
        "customer": {
            "name": booking.name,
            "email": booking.email,
            "phone": booking.phone,
            "notes": booking.notes,
            "answers": [{"question": q, "answer": a} for q, a in booking.labelled_answers()],
        },
        "with": [
            {
                "name": a.name,
                "email": a.user.email,
                "required": a.required,
                "declined": a.declined_at is not None,
            }
            for a in attendees
        ]
        or [{"name": page.owner_name, "email": page.owner.email, "required": True}],
        "cancelled_by": booking.cancelled_by,
        "cancel_reason": booking.cancel_reason,
        "manage_url": booking.manage_url(),
    }
    return {
        "id": str(event_id),
        "type": event,
        "created": timezone.now().isoformat(),
        "data": {"booking": data, **extra},
    }


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def backoff(attempts: int) -> timedelta:
    """30 s after the first failure, doubling, at most an hour apart."""
    return timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 3600))


def deliver(pk: int, now: datetime | None = None) -> str:
    """One attempt at one delivery, if it is due and ours to make; returns what happened
    ("delivered", "retry", "failed", "waiting" for an earlier one, or "" when not ours)."""
    now = now or timezone.now()
    claimed = (
        WebhookDelivery.objects.filter(pk=pk, state=DeliveryState.PENDING)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(lease_until=now + LEASE)
    )
    if not claimed:
        return ""
    d = WebhookDelivery.objects.select_related("endpoint").get(pk=pk)
    earlier = WebhookDelivery.objects.filter(
        endpoint_id=d.endpoint_id,
        booking_id=d.booking_id,
        state=DeliveryState.PENDING,
        created__lt=d.created,
    )
    if d.booking_id is not None and earlier.exists():
        # In order per booking: "cancelled" never arrives before "created".
        WebhookDelivery.objects.filter(pk=pk).update(
            lease_until=None, next_attempt_at=now + timedelta(seconds=10)
        )
        return "waiting"
    body = json.dumps(d.payload, separators=(",", ":"), sort_keys=True).encode()
    status, error = _post(d.endpoint, d.event, str(d.event_id), body)
    attempts = d.attempts + 1
    fields: dict[str, Any] = {
        "attempts": attempts,
        "last_attempt_at": now,
        "last_status": status,
        "last_error": error[:500],
        "lease_until": None,
    }
    if status is not None and 200 <= status < 300:
        fields.update(state=DeliveryState.DELIVERED, delivered_at=now)
        outcome = "delivered"
    elif now - d.created >= timedelta(hours=settings.WEBHOOK_RETRY_HOURS):
        fields.update(state=DeliveryState.FAILED)
        outcome = "failed"
    else:
        fields.update(next_attempt_at=now + backoff(attempts))
        outcome = "retry"
    WebhookDelivery.objects.filter(pk=pk).update(**fields)
    return outcome


def _post(
    endpoint: WebhookEndpoint, event: str, event_id: str, body: bytes
) -> tuple[int | None, str]:
    from calendars import transport
    from calendars.errors import UrlNotAllowed, url_refusal

    if not endpoint.url.lower().startswith("https://"):
        return None, "The endpoint URL must start with https://."
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "ExchangeScheduler-Webhooks/1",
        "X-Scheduler-Event": event,
        "X-Scheduler-Delivery": event_id,
        SIGNATURE_HEADER: signature(endpoint.secret, int(time.time()), body),
    }
    try:
        with transport.session() as http:
            # No redirects: a 3xx to an internal address must not be followed blindly (and
            # the pinning transport would refuse it anyway); it counts as a failure.
            response = http.post(
                endpoint.url, data=body, headers=headers, timeout=TIMEOUT, allow_redirects=False
            )
    except UrlNotAllowed as exc:
        return None, exc.message
    except Exception as exc:  # any network failure is a failed attempt, retried
        # The SSRF guard refuses inside the connection, under requests' ConnectionError.
        if (refusal := url_refusal(exc)) is not None:
            return None, refusal.message
        return None, f"{type(exc).__name__}: could not reach the endpoint."
    if 200 <= response.status_code < 300:
        return response.status_code, ""
    return response.status_code, f"The endpoint answered HTTP {response.status_code}."


def send_again(delivery: WebhookDelivery) -> WebhookDelivery:
    """Staff pressed "Send again": the same event (same id and body) as a new delivery."""
    now = timezone.now()
    again = WebhookDelivery.objects.create(
        endpoint=delivery.endpoint,
        event_id=delivery.event_id,
        event=delivery.event,
        booking=delivery.booking,
        payload=delivery.payload,
        created=now,
        next_attempt_at=now,
    )
    transaction.on_commit(lambda: deliver_webhook.delay(again.pk))
    return again


def due(now: datetime | None = None) -> list[int]:
    now = now or timezone.now()
    return list(
        WebhookDelivery.objects.filter(state=DeliveryState.PENDING, next_attempt_at__lte=now)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .order_by("created")
        .values_list("pk", flat=True)[:500]
    )


@shared_task
def deliver_webhook(pk: int) -> str:
    return deliver(pk)


@shared_task
def retry_due_webhooks() -> int:
    pks = due()
    for pk in pks:
        deliver(pk)
    return len(pks)
