"""The public JSON API: free slots and bookings. Thin: parse, call, answer.

Public endpoints take no authentication (so no session and no CSRF) and answer only with slot
times and the page's own texts, never anything read from an Exchange event.
"""

from __future__ import annotations

import zoneinfo
from datetime import date, datetime, time, timedelta
from typing import Any

from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import (
    api_view,
    authentication_classes,
    permission_classes,
    renderer_classes,
)
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from bookings import actions, ratelimit
from bookings.models import Booking, BookingPage, available_timezones, booking_for_token
from bookings.slots import AvailabilityUnknown, slots_for

MAX_RANGE_DAYS = 62


def _error(status: int, detail: str, errors: dict[str, list[str]] | None = None) -> Response:
    body: dict[str, Any] = {"detail": detail}
    if errors:
        body["errors"] = errors
    return Response(body, status=status)


def _page(slug: str) -> BookingPage:
    return get_object_or_404(BookingPage.objects.select_related("owner"), slug=slug, active=True)


def _date_param(request: Request, name: str, errors: dict[str, list[str]]) -> date | None:
    raw = request.query_params.get(name, "")
    if not raw:
        errors[name] = [f"'{name}' is required, as YYYY-MM-DD."]
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors[name] = [f"'{name}' must be a date as YYYY-MM-DD, not {raw[:20]!r}."]
        return None


def _slot_serializer() -> serializers.Serializer:
    return inline_serializer(
        "Slot",
        {"start": serializers.DateTimeField(), "end": serializers.DateTimeField()},
        many=True,
    )


@extend_schema(
    summary="Free slots of a booking page",
    parameters=[
        OpenApiParameter("start", OpenApiTypes.DATE, required=True, description="First day."),
        OpenApiParameter("end", OpenApiTypes.DATE, required=True, description="Last day."),
        OpenApiParameter("timezone", str, description="IANA zone; default: the page's."),
    ],
    responses={
        200: inline_serializer(
            "Slots",
            {
                "page": serializers.CharField(),
                "timezone": serializers.CharField(),
                "duration_minutes": serializers.IntegerField(),
                "stale": serializers.BooleanField(),
                "slots": _slot_serializer(),
            },
        )
    },
)
@api_view(["GET"])
@authentication_classes([])
@permission_classes([AllowAny])
@renderer_classes([JSONRenderer])
def slots(request: Request, slug: str) -> Response:
    page = _page(slug)
    if (limited := ratelimit.check_slots(request, page.slug)) is not None:
        return limited.apply(_error(429, "Too many requests. Please wait a minute."))
    return _slots_answer(request, page)


@extend_schema(exclude=True)
@api_view(["GET"])
@authentication_classes([])
@permission_classes([AllowAny])
@renderer_classes([JSONRenderer])
def manage_slots(request: Request, token: str) -> Response:
    """Free slots for moving a booking (behind its manage link): the public slots answer, but
    the booking's own time and buffers don't count as taken, so it can move by less than its
    length."""
    booking = booking_for_token(token)
    if booking is None:
        raise Http404("This link is not valid.")
    if (limited := ratelimit.check_slots(request, booking.page.slug)) is not None:
        return limited.apply(_error(429, "Too many requests. Please wait a minute."))
    return _slots_answer(request, booking.page, ignore_booking=booking)


def _slots_answer(
    request: Request, page: BookingPage, *, ignore_booking: Booking | None = None
) -> Response:
    errors: dict[str, list[str]] = {}
    zone_name = request.query_params.get("timezone") or page.timezone
    if zone_name not in available_timezones():
        errors["timezone"] = [f"{zone_name[:64]!r} is not a known IANA time zone."]
    first = _date_param(request, "start", errors)
    last = _date_param(request, "end", errors)
    if first and last:
        if last < first:
            errors["end"] = ["'end' must not be before 'start'."]
        elif (last - first).days + 1 > MAX_RANGE_DAYS:
            errors["end"] = [f"At most {MAX_RANGE_DAYS} days per request."]
    if errors:
        return _error(400, "Invalid query parameters.", errors)
    assert first and last
    zone = zoneinfo.ZoneInfo(zone_name)
    start = datetime.combine(first, time(0), tzinfo=zone)
    end = datetime.combine(last + timedelta(days=1), time(0), tzinfo=zone)
    try:
        result = slots_for(page, start, end, ignore_booking=ignore_booking)
    except AvailabilityUnknown as exc:
        return _error(503, exc.message)
    response = Response(
        {
            "page": page.slug,
            "timezone": zone_name,
            "duration_minutes": page.duration_minutes,
            "stale": result.stale,
            "slots": [
                {"start": s.astimezone(zone).isoformat(), "end": e.astimezone(zone).isoformat()}
                for s, e in result.slots
            ],
        }
    )
    response["Cache-Control"] = "no-store"
    return response


def booking_payload(booking: Booking) -> dict[str, Any]:
    zone = zoneinfo.ZoneInfo(booking.timezone)
    return {
        "id": str(booking.pk),
        "status": booking.status,
        "start": booking.start.astimezone(zone).isoformat(),
        "end": booking.end.astimezone(zone).isoformat(),
        "timezone": booking.timezone,
        "manage_url": booking.manage_url(),
    }


@extend_schema(
    summary="Book a slot",
    request=inline_serializer(
        "BookingRequest",
        {
            "start": serializers.DateTimeField(),
            "name": serializers.CharField(),
            "email": serializers.EmailField(),
            "timezone": serializers.CharField(),
            "phone": serializers.CharField(required=False),
            "notes": serializers.CharField(required=False),
            "answers": serializers.DictField(child=serializers.CharField(), required=False),
        },
    ),
    responses={
        201: inline_serializer(
            "BookingCreated",
            {
                "id": serializers.UUIDField(),
                "status": serializers.CharField(),
                "start": serializers.DateTimeField(),
                "end": serializers.DateTimeField(),
                "timezone": serializers.CharField(),
                "manage_url": serializers.URLField(),
            },
        )
    },
)
@api_view(["POST"])
@authentication_classes([])
@permission_classes([AllowAny])
@renderer_classes([JSONRenderer])
def create_booking(request: Request, slug: str) -> Response:
    page = _page(slug)
    if (limited := ratelimit.check(request)) is not None:
        message = "Too many booking attempts. Please wait a minute and try again."
        return limited.apply(_error(429, message))
    data = request.data
    if not isinstance(data, dict):
        return _error(400, "Send a JSON object.")
    try:
        errors: dict[str, list[str]] = {}
        try:
            start = actions.parse_start(data.get("start"))
        except actions.InvalidBooking as exc:
            errors.update(exc.errors)
        try:
            customer = actions.parse_customer(page, data)
        except actions.InvalidBooking as exc:
            errors.update(exc.errors)
        if errors:
            raise actions.InvalidBooking(errors)
        booking = actions.book(page, start, customer)
    except actions.InvalidBooking as exc:
        return _error(400, exc.message, exc.errors)
    except actions.BookingError as exc:
        return _error(exc.status, exc.message)
    return Response(booking_payload(booking), status=201)
