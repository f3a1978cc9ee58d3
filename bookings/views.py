"""The customer's pages: a booking page, its confirmation, and the manage link.

Thin views: they parse the request, call `bookings.actions` (the same code path as the JSON
API) and render. The pages work without JavaScript (a date form, server-rendered slot radios
and plain form posts); static/js/booking.js enhances them with a month calendar and a JSON
booking request.
"""

from __future__ import annotations

import functools
import zoneinfo
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.contrib import messages
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
)
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import translation
from django.utils.cache import get_conditional_response
from django.utils.html import escape
from django.utils.http import http_date
from django.utils.safestring import SafeString, mark_safe
from django.utils.timezone import now as utcnow
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from bookings import (
    actions,
    brand,
    calendar_links,
    embedding,
    ics,
    inputs,
    languages,
    ratelimit,
    team_public,
    zones,
)
from bookings.models import (
    Booking,
    BookingPage,
    MemberState,
    Question,
    QuestionKind,
    StaffProfile,
    TeamMember,
    TeamMode,
    booking_for_token,
    notice_words,
    photo_type,
)
from bookings.slots import AvailabilityUnknown, SlotsResult, not_ready_reason, slots_for

REASON_MAX_LENGTH = 500


def _active_page(slug: str) -> BookingPage:
    pages = BookingPage.objects.select_related("owner", *brand.PUBLIC_PAGE_RELATED)
    pages = pages.defer(*brand.PUBLIC_PAGE_DEFERRED)
    page = get_object_or_404(pages, slug=slug, active=True)
    languages.use_page(page)  # the page's own language, if it has one
    return page


def _booking_or_404(token: str) -> Booking:
    booking = booking_for_token(token)
    if booking is None:
        raise Http404("This link is not valid.")
    languages.use_page(booking.page)
    return booking


def _last_bookable_day(page: BookingPage) -> date:
    return utcnow().astimezone(page.zone).date() + timedelta(days=page.window_days - 1)


class SlotPicker:
    """What the slot picker (calendar, time zone, one day's slots) shows, server-side.

    Without JavaScript the visitor picks a date and a time zone with a GET form, and the
    page lists that day's free slots as radio buttons.
    """

    def __init__(
        self,
        page: BookingPage,
        params: Mapping[str, str],
        *,
        ignore_booking: Booking | None = None,
        default_tz: str | None = None,
    ) -> None:
        self.page = page
        self.errors: dict[str, str] = {}
        self.unavailable = False
        self.stale = False
        self.slots: list[tuple[datetime, datetime]] = []

        # The zone the times are in when the visitor names none (or one we don't know): the
        # booking's or the page's, in canonical form, so the picker can show it selected.
        fallback = zones.canonical(default_tz or "") or zones.canonical(page.timezone)
        fallback = fallback or page.timezone
        raw_tz = params.get("tz", "").strip()
        # An explicit zone in the URL wins over the browser's; booking.js only detects one
        # when the visitor hasn't chosen.
        self.tz_explicit = bool(raw_tz)
        # Aliases and cities are understood: Asia/Calcutta, "America/New York", "london".
        tz = zones.resolve(raw_tz) if raw_tz else None
        if raw_tz and tz is None:
            # The times stay in the fallback zone, and the message and the picker say so.
            shown = zones.zone_for(fallback).time_name
            self.errors["tz"] = _(
                "“%(typed)s” isn't a time zone we know. Pick a time zone from "
                "the list; the times are shown in %(shown)s."
            ) % {"typed": raw_tz[:64], "shown": shown}
        self.tz = tz or fallback

        # A round-robin page that lets customers choose: the member whose times are shown
        # (None: anyone's). Only members the page lists can be chosen.
        self.member: int | None = None
        self.member_choices: list[dict[str, Any]] = []
        # (Moving a booking keeps or re-ranks its member: no choice there.)
        picks = page.team_mode == TeamMode.ROUND_ROBIN and page.customer_picks_member
        if picks and ignore_booking is None:
            self.member_choices = member_choices(page)
            raw_member = params.get("member", "").strip()
            if raw_member:
                ids = {m["id"] for m in self.member_choices}
                if raw_member.isdigit() and int(raw_member) in ids:
                    self.member = int(raw_member)
                else:
                    self.errors["member"] = _(
                        "Choose one of the team's members, or anyone available."
                    )
            for choice in self.member_choices:
                choice["checked"] = choice["id"] == self.member

        self.day: date | None = None
        raw_day = params.get("date", "").strip()
        if raw_day:
            try:
                self.day = inputs.parse_day(raw_day)
            except inputs.BadInput as exc:
                self.errors["date"] = exc.message
        if self.day is not None:
            try:
                result = day_slots(page, self.day, self.tz, ignore_booking=ignore_booking)
            except AvailabilityUnknown:
                self.unavailable = True
            else:
                self.slots = result.slots
                if self.member is not None:
                    free = result.team or {}
                    self.slots = [s for s in self.slots if self.member in free.get(s, ())]
                self.stale = result.stale

    @property
    def status(self) -> int:
        if self.errors:
            return 400
        return 503 if self.unavailable else 200

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.tz)

    @property
    def zone_choice(self) -> zones.Zone:
        """The zone the times are in, with its friendly name ("New York time")."""
        return zones.zone_for(self.tz)

    @property
    def zone_options(self) -> SafeString:
        """The time zone <select>'s options by region, this picker's zone selected."""
        return zone_options_html(self.tz)

    def local_slots(self) -> list[dict[str, Any]]:
        return [
            {"value": start.isoformat(), "start": start.astimezone(self.zone)}
            for start, _ in self.slots
        ]

    def min_day(self) -> date:
        return utcnow().astimezone(self.zone).date()

    def max_day(self) -> date:
        return _last_bookable_day(self.page)

    @property
    def window_days(self) -> int:
        """How far ahead bookings open: why the calendar stops at max_day."""
        return self.page.window_days


def member_choices(page: BookingPage) -> list[dict[str, Any]]:
    """The page's active members as the page shows them: id, name, photo_url and the
    initials of an avatar without a photo."""
    return [
        {**m, "initials": team_public.initials(m["name"])} for m in team_public.public_team(page)
    ]


@functools.lru_cache(maxsize=6)
def _zone_options(minute: datetime, language: str) -> list[tuple[str, str]]:
    """(zone name, its <optgroup>/<option> markup) for every offered zone, its label saying
    the time there in `minute`. Built in Python once a minute: 400 options through the
    template engine cost ~100 ms a page."""
    rows: list[tuple[str, str]] = []
    for region, choices in zones.grouped_choices(minute):
        rows.append(("", f'<optgroup label="{escape(region)}">'))
        for c in choices:
            rows.append(
                (
                    c.name,
                    f'<option value="{escape(c.name)}" data-city="{escape(c.city)}" '
                    f'data-detail="{escape(c.detail)}" data-keys="{escape(c.keywords)}">'
                    f"{escape(c.label)}</option>",
                )
            )
        rows.append(("", "</optgroup>"))
    return rows


def zone_options_html(selected: str) -> SafeString:
    minute = utcnow().replace(second=0, microsecond=0)
    # Per language: the names, times and region labels are the visitor's.
    rows = _zone_options(minute, translation.get_language() or "en")
    html = [markup for _, markup in rows]
    if selected not in zones.offered():  # a page's own zone from before the list existed
        zone = zones.zone_for(selected)
        other = _("Other")
        html.append(
            f'<optgroup label="{escape(other)}"><option value="{escape(zone.name)}" selected>'
            f"{escape(zone.label(minute))}</option></optgroup>"
        )
    else:
        at = next(i for i, (name, _) in enumerate(rows) if name == selected)
        html[at] = html[at].replace("<option ", "<option selected ", 1)
    return mark_safe("".join(html))  # noqa: S308 (every value above is escaped)


def day_slots(
    page: BookingPage, day: date, tz: str, *, ignore_booking: Booking | None = None
) -> SlotsResult:
    """Free slots starting on `day` as the visitor's zone `tz` sees it."""
    zone = zoneinfo.ZoneInfo(tz)
    start = datetime.combine(day, time(0), zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), zone).astimezone(UTC)
    return slots_for(page, start, end, ignore_booking=ignore_booking)


def _question_fields(
    page: BookingPage, data: Mapping[str, str], errors: Mapping[str, list[str]]
) -> list[dict[str, Any]]:
    return [
        {
            "question": q,
            "key": q.key,
            "value": data.get(q.key, ""),
            "errors": errors.get(q.key, []),
            "is_long": q.kind == QuestionKind.LONG,
            "is_choice": q.kind == QuestionKind.CHOICE,
        }
        for q in page.questions.all()
    ]


def _field_errors(errors: Mapping[str, Any]) -> dict[str, list[str]]:
    """Flatten {"answers": {"q1": [...]}} and {"answers.q1": [...]} to {"q1": [...]}."""
    flat: dict[str, list[str]] = {}
    for key, value in errors.items():
        if isinstance(value, Mapping):
            for sub, sub_value in _field_errors(value).items():
                flat[sub] = sub_value
            continue
        if key.startswith("answers."):
            key = key.removeprefix("answers.")
        flat[key] = [value] if isinstance(value, str) else [str(v) for v in value]
    return flat


def _render_page(
    request: HttpRequest,
    page: BookingPage,
    picker: SlotPicker,
    *,
    form_data: Mapping[str, str] | None = None,
    form_errors: Mapping[str, list[str]] | None = None,
    form_message: str = "",
    status: int | None = None,
    prefilled: embedding.Prefill | None = None,
) -> HttpResponse:
    # ?name=, ?email=, answers, ?timezone= and embed mode from the page's address (also on
    # the no-script form's post, whose address keeps embed mode and the zone).
    prefilled = prefilled or embedding.prefill(page, request.GET)
    data = form_data or prefilled.data
    errors = dict(form_errors or {})
    team = member_choices(page) if page.is_team else []
    context = {
        "page": page,
        "owner_name": page.owner_name,
        "with_phrase": _with_phrase(page, team),
        "team": team,
        "picker": picker,
        "questions": _question_fields(page, data, errors),
        "data": data,
        "errors": errors,
        "form_message": form_message,
        "chosen_start": data.get("start", ""),
        "slots_url": reverse("api-slots", args=[page.slug]),
        "book_api_url": reverse("api-create-booking", args=[page.slug]),
        "confirm_url_template": reverse("booking-confirmed", args=[page.slug, "TOKEN"]),
        "manage_url_template": reverse("manage-booking", args=["TOKEN"]),
        "brand": brand.for_page(page, with_image=True),
        "prefill": prefilled,
    }
    return render(request, "bookings/public/page.html", context, status=status or picker.status)


def _with_phrase(page: BookingPage, team: list[dict[str, Any]]) -> str:
    """Under the page's title: "with Olivia Smith", "with one of our team" (round robin) or
    "with Ada, Ben and Cy" (collective)."""
    if page.is_team:
        return team_public.team_phrase(page, team)
    return _("with %(name)s") % {"name": page.owner_name}


TOO_MANY = gettext_lazy("Too many requests. Please wait a minute and try again.")
TAKEN_MEANWHILE = gettext_lazy("That time was just taken — please pick another.")
TOO_MANY_ATTEMPTS = gettext_lazy("Too many attempts. Please wait a minute and try again.")
PICK_A_TIME = gettext_lazy("Pick one of the available times.")


def _not_ready(request: HttpRequest, page: BookingPage, *, status: int) -> HttpResponse | None:
    """The page a customer sees instead of slots and a form when the page takes no bookings
    (no main booking calendar it can write to); its owner also sees what to fix."""
    reason = not_ready_reason(page)
    if not reason:
        return None
    user = request.user
    is_owner = user.is_authenticated and (user.pk == page.owner_id or user.is_superuser)
    context = {
        "page": page,
        "owner_name": page.owner_name,
        "with_phrase": _with_phrase(page, member_choices(page) if page.is_team else []),
        "reason": reason if is_owner else "",
        "calendars_url": reverse("page-calendars", args=[page.pk]) if is_owner else "",
        "brand": brand.for_page(page),
    }
    return render(request, "bookings/public/not_ready.html", context, status=status)


@require_GET
def public_page(request: HttpRequest, slug: str) -> HttpResponse:
    page = _active_page(slug)
    if (refused := _not_ready(request, page, status=200)) is not None:
        return refused
    # A chosen day costs a busy-time lookup, like a slots API call: the same limits.
    if request.GET.get("date") and (limited := ratelimit.check_slots(request, page.slug)):
        picker = SlotPicker(page, {"tz": request.GET.get("tz", "")})
        response = _render_page(request, page, picker, form_message=TOO_MANY, status=429)
        return limited.apply(response)
    prefilled = embedding.prefill(page, request.GET)
    picker = SlotPicker(page, prefilled.picker_params(request.GET))
    return _render_page(request, page, picker, prefilled=prefilled)


def _form_data(request: HttpRequest, questions: list[Question]) -> dict[str, Any]:
    post = request.POST
    data: dict[str, Any] = {
        key: post.get(key, "")
        for key in ("start", "name", "email", "timezone", "phone", "notes", "member")
    }
    data["answers"] = {q.key: post.get(q.key, "") for q in questions}
    return data


@require_POST
def book(request: HttpRequest, slug: str) -> HttpResponse:
    """The booking form without JavaScript: the same checks and actions as the JSON API."""
    page = _active_page(slug)
    if (refused := _not_ready(request, page, status=409)) is not None:
        return refused
    questions = list(page.questions.all())
    data = _form_data(request, questions)
    flat_data = {**{k: v for k, v in data.items() if k != "answers"}, **data["answers"]}

    tz = zones.canonical(data["timezone"]) or zones.canonical(page.timezone) or page.timezone
    start = actions.start_or_none(data["start"])
    # Re-show the chosen day's slots with the form, whatever went wrong.
    params = {"tz": tz}
    if start is not None:
        params["date"] = start.astimezone(zoneinfo.ZoneInfo(tz)).date().isoformat()
    chosen_member = data["member"].strip() if isinstance(data["member"], str) else ""

    def again(
        status: int, errors: Mapping[str, list[str]] | None = None, message: str = ""
    ) -> HttpResponse:
        # A rate-limited client, or Exchange being down, must not cause another busy lookup.
        show_slots = status not in (429, 503)
        shown = params if show_slots else {"tz": tz}
        if chosen_member and not (errors or {}).get("member"):
            shown = {**shown, "member": chosen_member}  # the same person's times again
        return _render_page(
            request,
            page,
            SlotPicker(page, shown),
            form_data=flat_data,
            form_errors=errors,
            form_message=message,
            status=status,
        )

    if (limited := ratelimit.check(request)) is not None:
        return limited.apply(again(429, message=TOO_MANY_ATTEMPTS))

    try:
        errors: dict[str, list[str]] = {}
        customer = None
        try:
            start = actions.parse_start(data["start"])
        except actions.InvalidBooking:
            errors["start"] = [PICK_A_TIME]
        try:
            customer = actions.parse_customer(page, data)
        except actions.InvalidBooking as e:
            errors.update(e.errors)
        member = None
        try:
            member = actions.parse_member(chosen_member)
        except actions.InvalidBooking as e:
            errors.update(e.errors)
        if errors or start is None or customer is None:
            raise actions.InvalidBooking(errors)
        booking = actions.book(page, start, customer, member=member)
    except actions.InvalidBooking as e:
        return again(400, _field_errors(e.errors), e.message)
    except actions.SlotUnavailable as e:
        # Each refusal says which rule it broke; a time taken meanwhile keeps its old words.
        taken = e.code == actions.SlotUnavailable.code
        return again(409, message=TAKEN_MEANWHILE if taken else e.message)
    except actions.PageNotReady as e:  # its main calendar went while the customer typed
        return _not_ready(request, page, status=409) or again(409, message=e.message)
    except actions.BookingError as e:  # CannotConfirm (503) says "try again shortly" itself
        return again(e.status, message=e.message)
    url = reverse("booking-confirmed", args=[page.slug, booking.manage_token()])
    return HttpResponseRedirect(url, status=303)


@never_cache
@require_GET
def confirmed(request: HttpRequest, slug: str, token: str) -> HttpResponse:
    booking = _booking_or_404(token)
    if booking.page.slug != slug:
        raise Http404("This link is not valid.")
    context = _booking_context(booking, token)
    return render(request, "bookings/public/confirmed.html", context)


def _booking_context(booking: Booking, token: str) -> dict[str, Any]:
    page = booking.page
    answers = [
        {"label": label, "value": value}
        for label, value in booking.labelled_answers(include_removed=False)
    ]
    # Adding a cancelled or past booking to a calendar helps nobody.
    addable = not booking.is_cancelled and not booking.is_past
    return {
        "booking": booking,
        "page": page,
        "owner_name": page.owner_name,
        "meeting_title": team_public.meeting_title(booking),
        "with_people": _with_people(booking),
        "answers": answers,
        "token": token,
        "manage_url": reverse("manage-booking", args=[token]),
        "reschedule_url": reverse("manage-reschedule", args=[token]),
        "cancel_url": reverse("manage-cancel", args=[token]),
        "ics_url": reverse("manage-booking-ics", args=[token]) if addable else "",
        "calendar_links": calendar_links.links(booking) if addable else [],
        "brand": brand.for_page(page),
    }


def _with_people(booking: Booking) -> list[dict[str, Any]]:
    """A team booking's members as its pages show them (name, photo or initials); [] on a
    personal page, whose title names its owner."""
    if not booking.page.is_team:
        return []
    people = team_public.attending(booking)
    # A photo only for members still on the team: the photo view serves no one else.
    active = set(booking.page.members.filter(state=MemberState.ACTIVE).values_list("pk", flat=True))
    versions = team_public.photo_versions([a.user_id for a in people])
    rows = []
    for a in people:
        member = TeamMember(pk=a.member_id, page=booking.page, user_id=a.user_id)
        url = None
        if a.member_id in active and a.user_id in versions:
            url = team_public.photo_url(booking.page, member, versions[a.user_id])
        rows.append({"name": a.name, "photo_url": url, "initials": team_public.initials(a.name)})
    if not rows:
        name = team_public.person_name(booking.owner)
        rows.append({"name": name, "photo_url": None, "initials": team_public.initials(name)})
    return rows


def why_unchangeable(booking: Booking) -> str:
    """Why the customer can no longer cancel or move this booking, or ""."""
    if booking.is_cancelled:
        return _("This booking has been cancelled.")
    if booking.is_past:
        return _("The time of this booking has passed, so it can no longer be changed.")
    if not booking.can_be_changed_by_customer():
        return _(
            "Bookings can be changed online until %(notice)s before they start. "
            "Please contact %(name)s directly."
        ) % {
            "notice": notice_words(booking.page.min_notice_minutes),
            "name": team_public.contact_name(booking),
        }
    return ""


def cancelled_notice(booking: Booking) -> str:
    """The one notice a cancelled booking's manage page shows."""
    if booking.cancelled_by == "customer":
        return _("Your booking is cancelled. We've sent you a confirmation.")
    if booking.page.is_team:
        return _("This booking was cancelled by the team.")
    return _("This booking was cancelled by %(name)s.") % {"name": booking.page.owner_name}


# The manage link has three steps: a summary with two actions, and one page per action.
# Changes are posted to the summary's address (action=cancel or action=reschedule); the
# action pages only show, so following a link (or a prefetch) never changes a booking.
MANAGE_TEMPLATES = {
    "summary": "bookings/public/manage.html",
    "reschedule": "bookings/public/manage_reschedule.html",
    "cancel": "bookings/public/manage_cancel.html",
}


@never_cache
@require_http_methods(["GET", "POST"])
def manage(request: HttpRequest, token: str) -> HttpResponse:
    booking = _booking_or_404(token)
    if request.method == "POST":
        return _manage_post(request, booking, token)
    # The no-script date form of a page opened before the steps existed lands here.
    if "date" in request.GET or "tz" in request.GET:
        return _reschedule_step(request, booking, token)
    return _render_manage(request, booking, token, "summary")


@never_cache
@require_GET
def manage_reschedule(request: HttpRequest, token: str) -> HttpResponse:
    return _reschedule_step(request, _booking_or_404(token), token)


@never_cache
@require_GET
def manage_cancel(request: HttpRequest, token: str) -> HttpResponse:
    """Asks to confirm: cancelling is the POST its form sends, never this page."""
    return _render_manage(request, _booking_or_404(token), token, "cancel")


def _reschedule_step(request: HttpRequest, booking: Booking, token: str) -> HttpResponse:
    if why_unchangeable(booking):  # no slots to compute: say why and link back
        return _render_manage(request, booking, token, "reschedule")
    if request.GET.get("date") and (limited := ratelimit.check_slots(request, booking.page.slug)):
        picker = SlotPicker(booking.page, {"tz": request.GET.get("tz", "")}, ignore_booking=booking)
        response = _render_manage(
            request, booking, token, "reschedule", picker, status=429, message=TOO_MANY
        )
        return limited.apply(response)
    picker = SlotPicker(
        booking.page, request.GET, ignore_booking=booking, default_tz=booking.timezone
    )
    return _render_manage(request, booking, token, "reschedule", picker, status=picker.status)


def _render_manage(
    request: HttpRequest,
    booking: Booking,
    token: str,
    step: str,
    picker: SlotPicker | None = None,
    *,
    status: int = 200,
    message: str = "",
    errors: Mapping[str, list[str]] | None = None,
    reason: str = "",
) -> HttpResponse:
    page = booking.page
    context = _booking_context(booking, token)
    ended = booking.is_cancelled or booking.is_past
    context.update(
        {
            "step": step,
            "picker": picker,
            "why_unchangeable": why_unchangeable(booking),
            "cancelled_notice": cancelled_notice(booking) if booking.is_cancelled else "",
            "book_again_url": reverse("public-page", args=[page.slug])
            if ended and page.active
            else "",
            "message": message,
            "status_code": status,
            "errors": errors or {},
            "reason": reason,
            "slots_url": reverse("manage-slots", args=[token]),
            "reason_max_length": REASON_MAX_LENGTH,
        }
    )
    return render(request, MANAGE_TEMPLATES[step], context, status=status)


def _manage_post(request: HttpRequest, booking: Booking, token: str) -> HttpResponse:
    action = request.POST.get("action", "")
    tz = request.POST.get("timezone", "")
    tz = zones.canonical(tz) or zones.canonical(booking.timezone) or booking.timezone
    reason = request.POST.get("reason", "")
    start = actions.start_or_none(request.POST.get("start", ""))
    params = {"tz": tz}
    if action == "reschedule" and start is not None:
        # Without JavaScript, show the chosen day's times again next to the message.
        params["date"] = start.astimezone(zoneinfo.ZoneInfo(tz)).date().isoformat()

    def again(
        status: int, message: str = "", errors: Mapping[str, list[str]] | None = None
    ) -> HttpResponse:
        """The step the customer posted from, with what went wrong."""
        step = action if action in ("cancel", "reschedule") else "summary"
        picker = None
        if step == "reschedule" and not why_unchangeable(booking):
            show_slots = status not in (429, 503)
            picker = SlotPicker(
                booking.page, params if show_slots else {"tz": tz}, ignore_booking=booking
            )
        return _render_manage(
            request,
            booking,
            token,
            step,
            picker,
            status=status,
            message=message,
            errors=errors,
            reason=reason,
        )

    # Each attempt can ask Exchange for fresh busy time: limit them like booking attempts.
    if (limited := ratelimit.check(request, scope="manage")) is not None:
        return limited.apply(again(429, TOO_MANY_ATTEMPTS))
    try:
        if action == "cancel":
            problem = ""
            if len(reason) > REASON_MAX_LENGTH:
                problem = _("Keep the reason under %(limit)d characters.") % {
                    "limit": REASON_MAX_LENGTH
                }
            elif inputs.has_nul(reason):
                problem = _(inputs.NO_NUL)
            if problem:
                message = _("Please correct the highlighted field.")
                return again(400, message, {"reason": [problem]})
            # No flash message: the summary of a cancelled booking says so itself, once.
            actions.cancel(booking, by="customer", reason=reason.strip())
        elif action == "reschedule":
            if start is None:
                errors = {"start": [PICK_A_TIME]}
                return again(400, _("Pick a new time first."), errors)
            booking = actions.reschedule(booking, start, by="customer")
            moved = _("Your booking has moved. We've sent you the new details.")
            messages.success(request, moved)
        else:
            return again(400, _("Choose whether to cancel or to move the booking."))
    except actions.BookingError as e:
        booking.refresh_from_db()
        return again(e.status, e.message)
    return HttpResponseRedirect(reverse("manage-booking", args=[token]), status=303)


@never_cache
@require_GET
def booking_ics(request: HttpRequest, token: str) -> HttpResponse:
    """The booking as a plain event with a reminder, to open in any calendar app (the
    emails carry the iTIP invitation instead); a cancelled one's file removes the event."""
    booking = _booking_or_404(token)
    method = "CANCEL" if booking.is_cancelled else "PUBLISH"
    response = HttpResponse(
        ics.booking_ics(booking, method=method), content_type="text/calendar; charset=utf-8"
    )
    response["Content-Disposition"] = 'attachment; filename="booking.ics"'
    return response


# Served as stored: the type checked by content when the photo was uploaded, checked again
# here, so nothing but these three image types ever leaves this view.
PHOTO_TYPES = {"image/png", "image/jpeg", "image/webp"}


@require_GET
def member_photo(request: HttpRequest, slug: str, member_pk: int) -> HttpResponse:
    """A team member's photo on a team page: only for an active member of an active team
    page, so a photo is public exactly while its owner is shown on a page."""
    page = _active_page(slug)
    # A number no id column can hold is no member (and must not reach the database).
    if not page.is_team or not 0 < member_pk < 2**31:
        raise Http404("No such member.")
    member = get_object_or_404(TeamMember, pk=member_pk, page=page, state=MemberState.ACTIVE)
    profile = StaffProfile.objects.filter(user_id=member.user_id).first()
    data = bytes(profile.photo or b"") if profile is not None else b""
    kind = profile.photo_type if profile is not None else ""
    if not data or kind not in PHOTO_TYPES or photo_type(data) != kind:
        raise Http404("No photo.")
    assert profile is not None
    last_modified = profile.updated.timestamp()
    # The page links photos with ?v=<when saved>: that address never changes its content.
    versioned = request.GET.get("v") == str(int(last_modified))
    not_modified = get_conditional_response(request, last_modified=int(last_modified))
    response = not_modified or HttpResponse(data, content_type=kind)
    response["Last-Modified"] = http_date(last_modified)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = (
        "public, max-age=31536000, immutable" if versioned else "public, max-age=300"
    )
    return response
