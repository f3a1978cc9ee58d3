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
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.decorators import (
    api_view,
    authentication_classes,
    parser_classes,
    permission_classes,
    renderer_classes,
)
from rest_framework.parsers import JSONParser
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from bookings import actions, inputs, languages, ratelimit, team_public, zones
from bookings.models import (
    Booking,
    BookingPage,
    TeamMode,
    available_timezones,
    booking_for_token,
)
from bookings.slots import AvailabilityUnknown, NotReady, not_ready_reason, slots_for
from scheduler_site.compiled import Compiled

MAX_RANGE_DAYS = 62


def _error(
    status: int, detail: str, errors: dict[str, list[str]] | None = None, *, code: str = ""
) -> Response:
    body: dict[str, Any] = {"detail": detail}
    if code:
        body["code"] = code
    if errors:
        body["errors"] = errors
    return Response(body, status=status)


def _not_taking_bookings() -> Response:
    """The 409 of a page that takes no bookings (no main booking calendar it can write to):
    its slots would be times it can't keep. What to fix (not_ready_reason) is for its owner,
    not the public."""
    return _error(409, _(actions.NOT_TAKING_BOOKINGS), code=actions.PageNotReady.code)


def _page(slug: str) -> BookingPage:
    # With the owner: whether they may book into the main calendar is asked on every request.
    page = get_object_or_404(BookingPage.objects.select_related("owner"), slug=slug, active=True)
    languages.use_page(page)  # answers in the page's language, if it has one
    return page


def _page_for_slots(slug: str) -> BookingPage:
    """_page for the slots API: the page row alone, by SQL compiled once per process (its
    most frequent query; scheduler_site.compiled). The owner is read only if asked for, which
    a slots answer does only when its readiness isn't remembered."""
    found = _active_page(slug)
    if not found:
        raise Http404(_("There is no such booking page."))
    languages.use_page(found[0])
    return found[0]


_active_page = Compiled(
    BookingPage,
    lambda slug: BookingPage.objects.filter(slug=slug, active=True)[:1],
    "\x00a slug no page has",
)


def _date_param(request: Request, name: str, errors: dict[str, list[str]]) -> date | None:
    raw = request.query_params.get(name, "")
    if not raw:
        errors[name] = [_("'%(name)s' is required, as YYYY-MM-DD.") % {"name": name}]
        return None
    try:
        return inputs.parse_day(raw)
    except inputs.BadInput as exc:
        errors[name] = [f"'{name}': {exc.message}"]
        return None


# The `code` of a refused booking or slots request: stable, unlike the `detail` wording.
ERROR_CODES = [
    ("not_taking_bookings", "the page has no main booking calendar it can write to"),
    ("too_soon", "the time is in the past or within the page's minimum notice"),
    ("too_far", "the time is after the page's booking window"),
    ("outside_hours", "the slot is not within the page's hours on that day"),
    ("off_grid", "within the hours, but not one of the slot start times"),
    ("day_full", "the page's daily booking limit is reached on that day"),
    ("week_full", "the page's weekly booking limit is reached in that week"),
    ("taken", "busy in Exchange, or booked (with buffers) meanwhile"),
    ("cannot_confirm", "Exchange can't be reached to confirm the time now"),
]

# What every error answer looks like: `errors` names the fields or parameters at fault.
ErrorResponse = inline_serializer(
    "Error",
    {
        "detail": serializers.CharField(),
        "code": serializers.ChoiceField(
            choices=ERROR_CODES,
            required=False,
            help_text="Why, for programs: stable, unlike `detail`. On a refused booking (409, "
            "503) and a page not taking bookings (409).",
        ),
        "errors": serializers.DictField(
            child=serializers.ListField(child=serializers.CharField()), required=False
        ),
    },
)

NOT_READY_409 = OpenApiResponse(
    ErrorResponse,
    description="The page is not taking bookings yet (`code` `not_taking_bookings`): it has "
    "no main booking calendar, or the connection may no longer write to it.",
)

DAY_FORMAT = f"YYYY-MM-DD, {inputs.DAY_RANGE}"


def _slot_serializer() -> serializers.Serializer:
    return inline_serializer(
        "Slot",
        {
            "start": serializers.DateTimeField(),
            "end": serializers.DateTimeField(),
            "members": inline_serializer(
                "SlotMember",
                {"id": serializers.IntegerField(), "name": serializers.CharField()},
                many=True,
                required=False,
                help_text="Round-robin team pages that let the customer choose: the members "
                "free at this time (send one's `id` as the booking's `member`).",
            ),
        },
        many=True,
    )


def _team_serializer() -> serializers.Serializer:
    return inline_serializer(
        "PublicTeam",
        {
            "mode": serializers.ChoiceField(choices=[m for m in TeamMode.values if m]),
            "members": inline_serializer(
                "PublicTeamMember",
                {
                    "id": serializers.IntegerField(),
                    "name": serializers.CharField(),
                    "photo_url": serializers.CharField(allow_null=True),
                },
                many=True,
            ),
        },
        required=False,
        help_text="Team pages only: `round_robin` (the customer meets one of the members) or "
        "`collective` (all of them), and the members who accepted.",
    )


@extend_schema(
    summary="Free slots of a booking page",
    parameters=[
        OpenApiParameter(
            "start", OpenApiTypes.DATE, required=True, description=f"First day: {DAY_FORMAT}."
        ),
        OpenApiParameter(
            "end",
            OpenApiTypes.DATE,
            required=True,
            description=f"Last day (included): {DAY_FORMAT}; at most {MAX_RANGE_DAYS} days "
            "after the first.",
        ),
        OpenApiParameter(
            "timezone",
            str,
            description="IANA zone the days are in; an alias (Asia/Calcutta) is "
            "answered in its canonical zone (Asia/Kolkata). Default: the page's.",
        ),
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
                "team": _team_serializer(),
            },
        ),
        400: ErrorResponse,
        404: ErrorResponse,
        409: NOT_READY_409,
        429: ErrorResponse,
        503: ErrorResponse,
    },
)
@api_view(["GET"])
@authentication_classes([])
@permission_classes([AllowAny])
@renderer_classes([JSONRenderer])
def slots(request: Request, slug: str) -> Response:
    """Free slots starting on the days from `start` to `end` as `timezone` sees them.

    Days are written YYYY-MM-DD (nothing else) from 1900-01-01 to 9998-12-31. Days outside
    the page's booking window, in the past or too far ahead, are answered with no slots. A
    malformed or out-of-range day, `end` before `start`, more than 62 days or an unknown
    zone is a 400 whose `errors` name the parameter. 409: the page is not taking bookings yet
    (`code` `not_taking_bookings`). 503: Exchange can't be reached and no recent answer is
    kept.
    """
    page = _page_for_slots(slug)
    if (limited := ratelimit.check_slots(request, page.slug)) is not None:
        return limited.apply(_error(429, _("Too many requests. Please wait a minute.")))
    return _slots_answer(request, page, check_ready=True)


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
    languages.use_page(booking.page)
    if (limited := ratelimit.check_slots(request, booking.page.slug)) is not None:
        return limited.apply(_error(429, _("Too many requests. Please wait a minute.")))
    return _slots_answer(request, booking.page, ignore_booking=booking)


def _slots_answer(
    request: Request,
    page: BookingPage,
    *,
    ignore_booking: Booking | None = None,
    check_ready: bool = False,
) -> Response:
    errors: dict[str, list[str]] = {}
    zone_name = request.query_params.get("timezone") or page.timezone
    # An alias (Asia/Calcutta, US/Eastern) answers in its canonical zone (Asia/Kolkata).
    zone_name = zones.canonical(zone_name) or zone_name
    if zone_name not in available_timezones():
        message = _("%(zone)r is not a known IANA time zone.") % {"zone": zone_name[:64]}
        errors["timezone"] = [message]
    first = _date_param(request, "start", errors)
    last = _date_param(request, "end", errors)
    if first and last:
        if last < first:
            errors["end"] = [_("'end' must not be before 'start'.")]
        elif (last - first).days + 1 > MAX_RANGE_DAYS:
            per_request = _("At most %(days)d days per request.") % {"days": MAX_RANGE_DAYS}
            errors["end"] = [per_request]
    if errors:
        return _error(400, _("Invalid query parameters."), errors)
    assert first and last
    zone = zoneinfo.ZoneInfo(zone_name)
    start = datetime.combine(first, time(0), tzinfo=zone)
    end = datetime.combine(last + timedelta(days=1), time(0), tzinfo=zone)
    try:
        result = slots_for(page, start, end, ignore_booking=ignore_booking, check_ready=check_ready)
    except NotReady:
        return _not_taking_bookings()
    except AvailabilityUnknown as exc:
        return _error(503, _(exc.message))
    body: dict[str, Any] = {
        "page": page.slug,
        "timezone": zone_name,
        "duration_minutes": page.duration_minutes,
        "stale": result.stale,
        "slots": [
            {"start": s.astimezone(zone).isoformat(), "end": e.astimezone(zone).isoformat()}
            for s, e in result.slots
        ],
    }
    if page.is_team:
        team = team_public.public_team_reused(page)
        if page.team_mode == TeamMode.ROUND_ROBIN and page.customer_picks_member:
            # Who is free at each time, in the team's order: the customer may pick one.
            free = result.team or {}
            for row, slot in zip(body["slots"], result.slots, strict=True):
                ids = set(free.get(slot, ()))
                row["members"] = [
                    {"id": m["id"], "name": m["name"]} for m in team if m["id"] in ids
                ]
        body["team"] = {"mode": page.team_mode, "members": team}
    response = Response(body)
    response["Cache-Control"] = "no-store"
    return response


def booking_payload(booking: Booking) -> dict[str, Any]:
    zone = zoneinfo.ZoneInfo(booking.timezone)
    payload: dict[str, Any] = {
        "id": str(booking.pk),
        "status": booking.status,
        "start": booking.start.astimezone(zone).isoformat(),
        "end": booking.end.astimezone(zone).isoformat(),
        "timezone": booking.timezone,
        "manage_url": booking.manage_url(),
    }
    if booking.page.is_team:
        payload["with"] = team_public.with_names(booking)
    return payload


@extend_schema(
    summary="Book a slot",
    description="Book the slot that starts at `start`, one of the slots answered by the "
    "slots API, written the same way. 400: `errors` names each field at fault (answers as "
    "`answers.<key>`); 409: the page is not taking bookings yet, or the time is not a free "
    "slot, and `code` says why (`too_soon`, `too_far`, `outside_hours`, `off_grid`, "
    "`day_full`, `week_full`, `taken`, `not_taking_bookings`); 503: Exchange can't confirm it "
    "right now (`cannot_confirm`).",
    request=inline_serializer(
        "BookingRequest",
        {
            "start": serializers.DateTimeField(
                help_text="RFC 3339 with an offset: 2027-01-04T10:00:00+01:00 or "
                "2027-01-04T09:00:00Z."
            ),
            "name": serializers.CharField(max_length=200),
            "email": serializers.EmailField(max_length=254),
            "timezone": serializers.CharField(
                max_length=64,
                required=False,
                help_text="The customer's IANA zone, for emails; default: the page's.",
            ),
            "phone": serializers.CharField(
                max_length=40, required=False, allow_blank=True, help_text="If the page asks."
            ),
            "notes": serializers.CharField(
                max_length=5000, required=False, allow_blank=True, help_text="If the page asks."
            ),
            "answers": serializers.DictField(
                child=serializers.CharField(allow_blank=True),
                required=False,
                help_text="The page's questions' answers by question key.",
            ),
            "member": serializers.IntegerField(
                required=False,
                allow_null=True,
                min_value=1,
                max_value=2**31 - 1,
                help_text="Round-robin team pages that let the customer choose: the `id` of "
                "one of the members the slots API lists as free at `start`. Absent or null: "
                "the page assigns a member. A 400 on any other page.",
            ),
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
                "with": serializers.ListField(
                    child=serializers.CharField(),
                    required=False,
                    help_text="Team pages: the names of the members the meeting is with.",
                ),
            },
        ),
        400: ErrorResponse,
        404: ErrorResponse,
        409: OpenApiResponse(
            ErrorResponse,
            description="Refused: `code` says why (the page is not taking bookings, or which "
            "rule the time breaks), `detail` says it in words for the customer.",
        ),
        429: ErrorResponse,
        503: ErrorResponse,
    },
)
@api_view(["POST"])
@authentication_classes([])
@permission_classes([AllowAny])
@parser_classes([JSONParser])
@renderer_classes([JSONRenderer])
def create_booking(request: Request, slug: str) -> Response:
    page = _page(slug)
    if (limited := ratelimit.check(request)) is not None:
        message = _("Too many booking attempts. Please wait a minute and try again.")
        return limited.apply(_error(429, message))
    # Before the fields: a customer must not correct a form the page can't take anyway. The
    # slots API's answer (from memory, seconds old at most) is enough to say so early:
    # actions.book checks the page afresh before anything is saved.
    if not_ready_reason(page):
        return _not_taking_bookings()
    data = request.data
    if not isinstance(data, dict):
        return _error(400, _("Send a JSON object."))
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
        try:
            member = actions.parse_member(data.get("member"))
        except actions.InvalidBooking as exc:
            errors.update(exc.errors)
        if errors:
            raise actions.InvalidBooking(errors)
        booking = actions.book(page, start, customer, member=member)
    except actions.InvalidBooking as exc:
        return _error(400, exc.message, exc.errors)
    except actions.BookingError as exc:
        return _error(exc.status, exc.message, code=exc.code)
    return Response(booking_payload(booking), status=201)
