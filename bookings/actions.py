"""The only code that creates, cancels or reschedules a booking.

Every path (the JSON API, the HTML form, the manage link, staff pages) goes through here, so
the guarantees hold everywhere:
- a slot is re-checked against fresh busy time from Exchange (not the cache) before anything
  is stored, and Exchange being unreachable means "can't confirm", never a guess;
- bookings of one owner are serialised in a transaction that locks the owner's row
  (PostgreSQL: SELECT ... FOR UPDATE; SQLite: IMMEDIATE transactions serialise all writers),
  and the owner's bookings are re-read inside it, so two customers can't take one slot;
- the booking row and its pending calendar writes commit together, and only after commit are
  the Celery write task and the emails queued: a confirmed booking is never lost.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop, ngettext

from bookings import inputs, languages, zones
from bookings.availability import Refusal
from bookings.models import (
    Booking,
    BookingPage,
    BookingStatus,
    EventWrite,
    QuestionKind,
    WriteState,
    available_timezones,
    main_calendar_problem,
    notice_words,
)
from bookings.slots import (
    AvailabilityUnknown,
    Schedule,
    refusal_for,
    schedule_for,
    slots_for,
)
from calendars import busy
from calendars.models import CalendarRole

# Messages kept in English here (tests and other modules compare them) and translated when
# raised: BookingError looks its message up in the active language.
CANNOT_CONFIRM = gettext_noop(
    "We can't confirm bookings right now. Please try again in a few minutes."
)


class BookingError(Exception):
    status = 400
    # Stable and machine-readable: the API's error JSON carries it as `code`.
    code = "invalid"

    def __init__(self, message: str, code: str = "") -> None:
        # The customer's language: a constant marked with gettext_noop is translated here; a
        # message already translated where it was built finds no entry and stays as it is.
        message = _(message) if message else message
        super().__init__(message)
        self.message = message
        self.code = code or self.code


class InvalidBooking(BookingError):
    status = 400

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(gettext_noop("Please correct the highlighted fields."))
        self.errors = errors


class SlotUnavailable(BookingError):
    """The time is not a free slot; `code` says which rule refused it (availability.Refusal)."""

    status = 409
    code = Refusal.TAKEN.value


class PageNotReady(BookingError):
    """The page has no main booking calendar it can write to (BookingPage.not_ready_reason):
    it takes no bookings, whatever the time."""

    status = 409
    code = "not_taking_bookings"


class CannotConfirm(BookingError):
    status = 503
    code = "cannot_confirm"


class NotChangeable(BookingError):
    status = 409
    code = "not_changeable"


NOT_TAKING_BOOKINGS = gettext_noop("This booking page isn't taking bookings yet.")
TAKEN = gettext_noop("That time is not available any more. Please pick another time.")


@dataclass
class CustomerDetails:
    name: str
    email: str
    timezone: str
    phone: str = ""
    notes: str = ""
    answers: dict[str, str] = field(default_factory=dict)
    # The language the customer is being answered in: their later emails are in it too.
    language: str = ""


def _text(data: Mapping[str, Any], key: str, limit: int, errors: dict, required: bool) -> str:
    value = data.get(key, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        errors.setdefault(key, []).append(_("Must be text."))
        return ""
    value = value.strip()
    if required and not value:
        errors.setdefault(key, []).append(_("This field is required."))
    elif inputs.has_nul(value):
        errors.setdefault(key, []).append(_(inputs.NO_NUL))
    elif len(value) > limit:
        message = ngettext("At most %(limit)d character.", "At most %(limit)d characters.", limit)
        errors.setdefault(key, []).append(message % {"limit": limit})
    return value


def parse_customer(page: BookingPage, data: Mapping[str, Any]) -> CustomerDetails:
    """Validate what a customer typed, field by field; raise InvalidBooking with every error."""
    errors: dict[str, list[str]] = {}
    name = _text(data, "name", 200, errors, required=True)
    email = _text(data, "email", 254, errors, required=True)
    if email and "email" not in errors:
        try:
            validate_email(email)
        except ValidationError:
            errors["email"] = [_("Enter a valid email address.")]
    zone = _text(data, "timezone", 64, errors, required=False) or page.timezone
    # An alias (Asia/Calcutta, US/Eastern) is stored as the zone people pick: Asia/Kolkata.
    zone = zones.canonical(zone) or zone
    if "timezone" not in errors and zone not in available_timezones():
        errors["timezone"] = [_("%(zone)r is not a known time zone.") % {"zone": zone}]
    phone = _text(data, "phone", 40, errors, required=False) if page.ask_phone else ""
    notes = _text(data, "notes", 5000, errors, required=False) if page.ask_notes else ""

    raw_answers = data.get("answers") or {}
    answers: dict[str, str] = {}
    if not isinstance(raw_answers, Mapping):
        errors["answers"] = [_("Must be an object of answers.")]
        raw_answers = {}
    for question in page.questions.all():
        key = question.key
        sub: dict[str, list[str]] = {}
        value = _text(raw_answers, key, question.max_length, sub, required=question.required)
        if value and question.kind == QuestionKind.CHOICE and value not in question.choices:
            sub.setdefault(key, []).append(_("Choose one of the options."))
        if sub:
            errors[f"answers.{key}"] = sub[key]
        elif value:
            answers[key] = value
    if errors:
        raise InvalidBooking(errors)
    return CustomerDetails(name, email, zone, phone, notes, answers, languages.current())


def parse_start(value: Any) -> datetime:
    """The slot's start as the API documents it (RFC 3339: 2027-01-04T10:00:00+01:00, or Z),
    in UTC. A naive time would be ambiguous, so it is refused; so is a time near the ends of
    the calendar, where adding the slot's length would overflow."""
    if not isinstance(value, str) or not value:
        raise InvalidBooking({"start": [_("Give the slot's start as ISO 8601 with an offset.")]})
    try:
        return inputs.parse_moment(value.strip())
    except inputs.BadInput as exc:
        raise InvalidBooking({"start": [exc.message]}) from None


def parse_member(value: Any) -> int | None:
    """The team member a customer chose (a TeamMember id; absent or blank: none)."""
    if value in (None, ""):
        return None
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 2**31:
        raise InvalidBooking({"member": [_("Choose one of the team's members.")]})
    return value


def start_or_none(value: Any) -> datetime | None:
    """parse_start for callers that only re-display a choice: None instead of an error."""
    try:
        return parse_start(value)
    except InvalidBooking:
        return None


def _check_slot_is_free(
    page: BookingPage,
    start: datetime,
    *,
    ignore: Booking | None,
    busy: list[Any] | None = None,
    now: datetime | None = None,
    schedule: Schedule | None = None,
) -> list[Any]:
    """Raise unless `start` is a free slot. Without `busy`, reads busy time fresh from
    Exchange (never the cache); returns the busy intervals it used, so the re-check inside
    the lock can reuse them and hold the lock only for database work. `schedule`: the page's
    hours and calendars as the caller read them afresh (else read here)."""
    end = start + page.duration
    try:
        result = slots_for(
            page,
            start,
            start + timedelta(seconds=1),
            ignore_booking=ignore,
            fresh=True,
            busy_intervals=busy,
            now=now,
            schedule=schedule,
        )
    except AvailabilityUnknown:
        raise CannotConfirm(CANNOT_CONFIRM) from None
    if (start, end) not in result.slots:
        reason = refusal_for(page, start, ignore_booking=ignore, now=now or timezone.now())
        raise SlotUnavailable(refusal_message(page, reason), reason.value)
    return result.busy or []


def refusal_message(page: BookingPage, reason: Refusal) -> str:
    """What the customer (or staff moving a booking) is told about a refused time, in the
    active language."""
    if reason == Refusal.TOO_SOON:
        if not page.min_notice_minutes:
            return _("That time has already passed. Please pick a later time.")
        return _(
            "That time is too soon: bookings close %(notice)s before they start. "
            "Please pick a later time."
        ) % {"notice": notice_words(page.min_notice_minutes)}
    if reason == Refusal.TOO_FAR:
        return _(
            "That time is too far ahead: this page takes bookings up to %(window)s ahead. "
            "Please pick an earlier time."
        ) % {"window": notice_words(page.window_days * 24 * 60)}
    if reason == Refusal.OUTSIDE_HOURS:
        return _(
            "That time is outside the hours this page takes bookings. Please pick another time."
        )
    if reason == Refusal.OFF_GRID:
        return _(
            "Bookings start at set times, every %(every)s, and that isn't one of them. "
            "Please pick one of the times offered."
        ) % {"every": notice_words(page.interval_minutes)}
    if reason == Refusal.DAY_FULL:
        return ngettext(
            "That day is fully booked: this page takes at most %(limit)d booking a day. "
            "Please pick another day.",
            "That day is fully booked: this page takes at most %(limit)d bookings a day. "
            "Please pick another day.",
            page.max_per_day,
        ) % {"limit": page.max_per_day}
    if reason == Refusal.WEEK_FULL:
        return ngettext(
            "That week is fully booked: this page takes at most %(limit)d booking a week. "
            "Please pick another week.",
            "That week is fully booked: this page takes at most %(limit)d bookings a week. "
            "Please pick another week.",
            page.max_per_week,
        ) % {"limit": page.max_per_week}
    return _(TAKEN)


def _lock_owner(page: BookingPage) -> None:
    # One row per owner to serialise on: their bookings on every page share the lock.
    get_user_model().objects.select_for_update().filter(pk=page.owner_id).first()


def _targets(page: BookingPage) -> list[Any]:
    return list(
        page.page_calendars.filter(role__in=[CalendarRole.MAIN, CalendarRole.ADDITIONAL])
        .select_related("calendar__connection", "page__owner")
        .order_by("-role")  # main first
    )


def book(
    page: BookingPage, start: datetime, customer: CustomerDetails, *, member: int | None = None
) -> Booking:
    """Book `start` on `page` for `customer`. On a round-robin team page that lets customers
    choose, `member` (a TeamMember pk) is the person they chose (bookings.team)."""
    if not page.active:
        raise PageNotReady(gettext_noop("This booking page is not taking bookings."))
    if page.is_team:
        from bookings import team

        return team.book(page, start, customer, member=member, now=timezone.now(), errors=_me())
    if member is not None:
        raise InvalidBooking({"member": [_("This page has no team to choose from.")]})
    targets = _targets(page)
    # No main calendar, or one the connection may no longer write to: refused before asking
    # Exchange anything (the page offers no slots either). The calendars just read say so.
    main = next((pc for pc in targets if pc.role == CalendarRole.MAIN), None)
    if main_calendar_problem(main):
        raise PageNotReady(NOT_TAKING_BOOKINGS)
    start = start.astimezone(UTC)
    # Fresh from Exchange, outside the lock: the slow part must not hold up other bookings.
    now = timezone.now()
    # The page's schedule read afresh once: the re-check inside the lock is about bookings.
    schedule = schedule_for(page, fresh=True)
    busy_now = _check_slot_is_free(page, start, ignore=None, now=now, schedule=schedule)
    with transaction.atomic():
        _lock_owner(page)
        # Inside the lock only our own bookings can have changed: same Exchange answer,
        # bookings re-read from the database.
        _check_slot_is_free(page, start, ignore=None, busy=busy_now, now=now, schedule=schedule)
        booking = Booking.objects.create(
            page=page,
            owner_id=page.owner_id,
            start=start,
            end=start + page.duration,
            timezone=customer.timezone,
            name=customer.name,
            email=customer.email,
            phone=customer.phone,
            notes=customer.notes,
            answers=customer.answers,
            language=customer.language,
        )
        EventWrite.add_for(booking, targets)
        transaction.on_commit(lambda: _after_change(booking, "booked"))
    return booking


def cancel(booking: Booking, *, by: str, reason: str = "") -> Booking:
    with transaction.atomic():
        booking = Booking.objects.select_for_update().select_related("page").get(pk=booking.pk)
        _check_changeable(booking, by)
        booking.status = BookingStatus.CANCELLED
        booking.cancelled_at = timezone.now()
        booking.cancelled_by = by
        booking.cancel_reason = reason.strip()[:500]
        booking.sequence += 1
        booking.save()
        booking.writes.update(desired="absent", state=WriteState.PENDING, next_attempt_at=None)
        transaction.on_commit(lambda: _after_change(booking, "cancelled"))
    return booking


def reschedule(booking: Booking, new_start: datetime, *, by: str) -> Booking:
    page = booking.page
    _check_changeable(booking, by)
    if page.is_team:
        from bookings import team

        return team.reschedule(booking, new_start, by=by, now=timezone.now(), errors=_me())
    new_start = new_start.astimezone(UTC)
    now = timezone.now()
    # The page's schedule read afresh once: the re-check inside the lock is about bookings.
    schedule = schedule_for(page, fresh=True)
    busy_now = _check_slot_is_free(page, new_start, ignore=booking, now=now, schedule=schedule)
    with transaction.atomic():
        _lock_owner(page)
        booking = Booking.objects.select_for_update().select_related("page").get(pk=booking.pk)
        _check_changeable(booking, by)
        _check_slot_is_free(
            page, new_start, ignore=booking, busy=busy_now, now=now, schedule=schedule
        )
        old_start = booking.start
        booking.start = new_start
        booking.end = new_start + page.duration
        booking.sequence += 1
        booking.save()
        booking.writes.filter(desired="present").update(
            state=WriteState.PENDING, next_attempt_at=None
        )
        transaction.on_commit(lambda: _after_change(booking, "rescheduled", old_start))
    return booking


def _me() -> Any:
    # This module, for bookings.team: it raises our errors and reuses our messages without
    # importing us at load time (we import it lazily too).
    import sys

    return sys.modules[__name__]


def _check_changeable(booking: Booking, by: str) -> None:
    if booking.is_cancelled:
        raise NotChangeable(gettext_noop("This booking was already cancelled."))
    if booking.is_past:
        raise NotChangeable(gettext_noop("This booking is in the past."))
    if by == "customer" and not booking.can_be_changed_by_customer():
        notice = notice_words(booking.page.min_notice_minutes)
        raise NotChangeable(
            _(
                "Bookings can't be changed online less than %(notice)s before they start. "
                "Please contact the organiser."
            )
            % {"notice": notice}
        )


WEBHOOK_EVENTS = {
    "booked": "booking.created",
    "cancelled": "booking.cancelled",
    "rescheduled": "booking.rescheduled",
}


def _after_change(booking: Booking, what: str, old_start: datetime | None = None) -> None:
    from bookings import tasks, webhooks

    extra = {"previous_start": old_start.isoformat()} if old_start else {}
    webhooks.emit(booking, WEBHOOK_EVENTS[what], **extra)

    busy.invalidate(
        [booking.page.owner.email, *booking.writes.values_list("owner_email", flat=True)]
    )
    tasks.enqueue_writes(booking)
    previous = old_start.isoformat() if old_start else None
    tasks.send_booking_emails(str(booking.pk), what, previous)


def retry_write(write: EventWrite) -> None:
    """Staff pressed "Retry now": forget the back-off and queue the write at once."""
    from bookings import tasks

    EventWrite.objects.filter(pk=write.pk).exclude(state=WriteState.DONE).update(
        next_attempt_at=None, lease_until=None
    )
    tasks.write_event.delay(write.pk)


# --- Changes made in Outlook (two-way sync; see bookings/syncback.py) ---------------------


def cancel_from_exchange(
    booking: Booking, *, gone: EventWrite | None = None, reason: str = ""
) -> Booking:
    """The owner deleted the event in Outlook: the booking is cancelled and the customer told.
    The event of `gone` (default: the main calendar's) is already gone, so it is not deleted
    again; every other copy (additional calendars, a collective booking's other attendees) is
    removed."""
    with transaction.atomic():
        booking = Booking.objects.select_for_update().select_related("page").get(pk=booking.pk)
        already = (
            booking.writes.filter(pk=gone.pk)
            if gone
            else booking.writes.filter(role=CalendarRole.MAIN)
        )
        gone_ids = list(already.values_list("pk", flat=True))
        if booking.is_cancelled:
            # Cancelled a moment ago (another attendee deleted theirs first): this event is
            # gone too, so its pending removal has nothing left to do, unless a worker is on it.
            if gone is not None:
                already.filter(
                    Q(lease_until__isnull=True) | Q(lease_until__lt=timezone.now())
                ).update(desired="absent", item_id="", state=WriteState.DONE)
            return booking
        booking.status = BookingStatus.CANCELLED
        booking.cancelled_at = timezone.now()
        booking.cancelled_by = "exchange"
        booking.cancel_reason = (
            reason[:500] or "The event was deleted from the organiser's calendar."
        )
        booking.sequence += 1
        booking.save()
        already.update(
            desired="absent", item_id="", state=WriteState.DONE, written_version=booking.sequence
        )
        booking.writes.exclude(pk__in=gone_ids).update(
            desired="absent", state=WriteState.PENDING, next_attempt_at=None
        )
        transaction.on_commit(lambda: _after_change(booking, "cancelled"))
    return booking


def move_from_exchange(
    booking: Booking, start: datetime, end: datetime, *, moved: EventWrite | None = None
) -> Booking:
    """The owner moved the event in Outlook: the booking follows, copies are moved too, and
    the customer gets an updated invitation. No availability check: the owner decided.
    `moved` (default: the main calendar's) is the event already at the new time; every other
    copy, a collective booking's other attendees' too, is rewritten."""
    with transaction.atomic():
        booking = Booking.objects.select_for_update().select_related("page").get(pk=booking.pk)
        if booking.is_cancelled or (booking.start, booking.end) == (start, end):
            return booking
        old_start = booking.start
        booking.start, booking.end = start, end
        booking.sequence += 1
        booking.save()
        there = (
            booking.writes.filter(pk=moved.pk)
            if moved
            else booking.writes.filter(role=CalendarRole.MAIN)
        )
        there_ids = list(there.values_list("pk", flat=True))
        there.update(written_version=booking.sequence)
        booking.writes.exclude(pk__in=there_ids).filter(desired="present").update(
            state=WriteState.PENDING, next_attempt_at=None
        )
        transaction.on_commit(lambda: _after_change(booking, "rescheduled", old_start))
    return booking
