"""Booking pages, the calendars that feed them, and the bookings made on them.

Datetimes are stored in UTC; every page and booking keeps an IANA zone name, and conversion
happens at the edges (availability rules, API output, emails, Exchange events).
"""

from __future__ import annotations

import itertools
import re
import secrets
import uuid
import zoneinfo
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils.timezone import now as utcnow
from django.utils.translation import gettext, gettext_lazy, ngettext
from django.utils.translation import gettext_lazy as _
from fernet_fields import EncryptedTextField

from calendars.membership import write_refusal
from calendars.models import CalendarRef, CalendarRole

DEFAULT_BLOCKING_STATUSES = ["Busy", "Tentative", "OOF", "WorkingElsewhere"]
ALL_STATUSES = ["Free", "Tentative", "Busy", "OOF", "WorkingElsewhere", "NoData"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def validate_timezone(value: str) -> None:
    if value not in available_timezones():
        raise ValidationError(
            gettext("%(zone)r is not a known IANA time zone.") % {"zone": value},
            code="timezone",
        )


_ZONES: frozenset[str] | None = None


def available_timezones() -> frozenset[str]:
    global _ZONES  # computed once per process: it reads the tz database
    if _ZONES is None:
        _ZONES = frozenset(zoneinfo.available_timezones())
    return _ZONES


def validate_blocking_statuses(value: Any) -> None:
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise ValidationError(gettext("Blocking statuses must be a list of free/busy statuses."))
    unknown = sorted(set(value) - set(ALL_STATUSES))
    if unknown:
        raise ValidationError(
            gettext("Unknown free/busy status: %(statuses)s.") % {"statuses": ", ".join(unknown)}
        )


slug_validator = RegexValidator(
    r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$",
    gettext_lazy(
        "Use lowercase letters, digits and hyphens (not at either end), at most 64 characters."
    ),
)
# Public pages live at /<slug>/, so a slug must never shadow one of the app's own paths.
RESERVED_SLUGS = {
    "admin",
    "api",
    "accounts",
    "book",
    "bookings",
    "branding",
    "calendar",
    "connection",
    "dashboard",
    "healthz",
    "manage",
    "pages",
    "static",
    "staff",
    "webhooks",
}


NO_MAIN_CALENDAR = gettext_lazy("Choose a main booking calendar: bookings are written there.")


def main_calendar_problem(main: PageCalendar | None) -> str:
    """The readiness rule (BookingPage.not_ready_reason), for a main calendar already read."""
    return str(NO_MAIN_CALENDAR) if main is None else main.problem()


def validate_slug_not_reserved(value: str) -> None:
    if value in RESERVED_SLUGS:
        raise ValidationError(
            gettext("%(value)s is reserved for the app's own pages.") % {"value": repr(value)},
            code="reserved",
        )


def validate_accent(value: str) -> None:
    from bookings import branding

    if value and (problem := branding.problem(value)):
        raise ValidationError(problem, code="contrast")


PAGE_LANGUAGES = [
    ("", "The visitor's browser language"),
    ("en", "English"),
    ("de", "Deutsch"),
    ("fr", "Français"),
]
MAX_REMINDER_MINUTES = 30 * 24 * 60


def default_reminders() -> list[int]:
    return [24 * 60, 60]


def validate_reminders(value: Any) -> None:
    if not isinstance(value, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        raise ValidationError(gettext("Reminders must be a list of whole minutes."))
    if any(not 5 <= v <= MAX_REMINDER_MINUTES for v in value):
        raise ValidationError(gettext("A reminder goes out between 5 minutes and 30 days before."))
    if len(set(value)) != len(value) or len(value) > 5:
        raise ValidationError(gettext("At most five reminders, each at a different time."))


class TeamMode(models.TextChoices):
    NONE = "", _("Me (a personal page)")
    ROUND_ROBIN = "round_robin", _("One of the team (round robin)")
    COLLECTIVE = "collective", _("The team together (collective)")


class BookingPage(models.Model):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="booking_pages"
    )
    slug = models.SlugField(
        max_length=64, unique=True, validators=[slug_validator, validate_slug_not_reserved]
    )
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True, max_length=5000)
    location = models.CharField(
        max_length=500,
        blank=True,
        help_text=_("An address, a phone number or a meeting link."),
    )
    active = models.BooleanField(default=True)

    duration_minutes = models.PositiveIntegerField(
        default=30, validators=[MinValueValidator(5), MaxValueValidator(24 * 60)]
    )
    interval_minutes = models.PositiveIntegerField(
        _("slot interval"),
        default=30,
        validators=[MinValueValidator(5), MaxValueValidator(24 * 60)],
        help_text=_("Spacing of start times, e.g. every 15 minutes."),
    )
    buffer_before_minutes = models.PositiveIntegerField(
        default=0, validators=[MaxValueValidator(24 * 60)]
    )
    buffer_after_minutes = models.PositiveIntegerField(
        default=0, validators=[MaxValueValidator(24 * 60)]
    )
    min_notice_minutes = models.PositiveIntegerField(
        _("minimum notice"),
        default=240,
        validators=[MaxValueValidator(365 * 24 * 60)],
        help_text=_("How long before a slot it can still be booked, cancelled or moved."),
    )
    window_days = models.PositiveIntegerField(
        _("booking window"),
        default=60,
        validators=[MinValueValidator(1), MaxValueValidator(730)],
        help_text=_("How many days ahead customers can book."),
    )
    max_per_day = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)]
    )
    max_per_week = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)]
    )
    timezone = models.CharField(
        max_length=64,
        default="UTC",
        validators=[validate_timezone],
        help_text=_("IANA name."),
    )
    blocking_statuses = models.JSONField(
        default=list,
        validators=[validate_blocking_statuses],
        help_text=_("Free/busy statuses that block a slot. Free never should."),
    )

    ask_phone = models.BooleanField(_("ask for a phone number"), default=False)
    ask_notes = models.BooleanField(_("ask for notes"), default=True)
    subject_template = models.CharField(
        max_length=200,
        blank=True,
        help_text=_(
            "Subject of the Exchange event; {title} and {name} are replaced. "
            "Blank: “{title}: {name}”."
        ),
    )
    send_exchange_invitation = models.BooleanField(
        default=False,
        help_text=_(
            "Also send Exchange's meeting invitation to the customer (they already get "
            "the app's confirmation email with an .ics file)."
        ),
    )
    create_teams_meeting = models.BooleanField(
        _("create a Microsoft Teams meeting"),
        default=False,
        help_text=_(
            "Each booking's event becomes a Teams meeting; its join link goes into the "
            "confirmation, the emails and the .ics. Needs a main booking calendar in Exchange "
            "Online (reached through Microsoft Graph): Exchange Server can't create Teams "
            "meetings."
        ),
    )
    use_owner_working_hours = models.BooleanField(
        _("use the owner's Outlook working hours"),
        default=False,
        help_text=_(
            "Take the weekly hours from the work hours the main booking calendar's owner "
            "set in Outlook (read from Exchange every few hours) instead of the hours below. "
            "Date overrides still apply."
        ),
    )
    # The copy of those hours last read from Exchange (bookings/owner_hours.py): kept when
    # Exchange can't be reached, so the page goes on offering the hours it knew.
    # [{"weekdays": [0, 1, 2, 3, 4], "start": "09:00", "end": "17:00"}], wall-clock in
    # owner_hours_zone (IANA) on each date; "end" "00:00" is midnight at the end of the day.
    owner_hours = models.JSONField(default=list, blank=True, editable=False)
    owner_hours_zone = models.CharField(max_length=64, blank=True, editable=False)
    owner_hours_zone_note = models.CharField(max_length=300, blank=True, editable=False)
    owner_hours_email = models.EmailField(blank=True, editable=False)  # whose hours they are
    owner_hours_read_at = models.DateTimeField(null=True, blank=True, editable=False)
    owner_hours_error = models.CharField(max_length=500, blank=True, editable=False)
    # Minutes before the meeting each reminder email goes out (bookings/reminders.py).
    reminder_minutes = models.JSONField(
        _("reminders"),
        default=default_reminders,
        blank=True,
        validators=[validate_reminders],
        help_text=_(
            "Minutes before the meeting a reminder email goes to the customer, e.g. "
            "[1440, 60] for a day and an hour before. Empty: no reminders."
        ),
    )
    remind_owner = models.BooleanField(
        _("also remind the owner"),
        default=False,
        help_text=_("Send the reminders to whoever the meeting is with too."),
    )
    language = models.CharField(
        _("language for customers"),
        max_length=8,
        blank=True,
        choices=PAGE_LANGUAGES,
        help_text=_("The language of the public page, the manage link and the customer's emails."),
    )
    accent_color = models.CharField(
        _("accent colour"),
        max_length=7,
        blank=True,
        validators=[validate_accent],
        help_text=_(
            "A colour like #1d55c9 for the page's buttons and links (blank: the "
            "site's). It must stay readable on white (WCAG AA, 4.5:1)."
        ),
    )
    # Team pages (TeamMember): "" is the owner's own page; round robin books one member,
    # collective books every required member at once (bookings/team.py).
    team_mode = models.CharField(
        _("who customers meet"),
        max_length=16,
        choices=TeamMode.choices,
        blank=True,
        default="",
    )
    customer_picks_member = models.BooleanField(
        _("customers may choose the team member"),
        default=False,
        help_text=_(
            "Round robin: the public page lists the members free at each time and the "
            "customer may pick one; otherwise the page assigns one."
        ),
    )
    members_own_hours = models.BooleanField(
        _("members may have their own hours"),
        default=False,
        help_text=_(
            "A member who set their own weekly hours on this page is offered within "
            "those instead of the page's hours. Date overrides apply to everyone."
        ),
    )
    fairness_days = models.PositiveIntegerField(
        _("fairness period"),
        default=30,
        validators=[MinValueValidator(1), MaxValueValidator(365)],
        help_text=_(
            "Round robin: bookings made in this many days count towards each member's share."
        ),
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)
    # Moves on every change to the page's weekly hours, date overrides or calendar roles
    # (bookings/signals.py, and replace_schedule() for its bulk writes): every process keeps
    # those in memory between slots requests, keyed by this number (bookings/slots.py).
    schedule_version = models.PositiveBigIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self.blocking_statuses and self._state.adding:
            self.blocking_statuses = list(DEFAULT_BLOCKING_STATUSES)
        super().save(*args, **kwargs)

    @staticmethod
    def schedule_changed(page_ids: Any) -> None:
        """Hours, overrides or calendars of these pages changed: forget what processes hold.
        `page_ids` is a pk, a list of pks or a queryset of pks."""
        ids = [page_ids] if isinstance(page_ids, int) else page_ids
        BookingPage.objects.filter(pk__in=ids).update(
            schedule_version=models.F("schedule_version") + 1
        )

    def replace_schedule(
        self,
        *,
        weekly_hours: Iterable[dict[str, Any]] | None = None,
        overrides: Iterable[dict[str, Any]] | None = None,
    ) -> None:
        """Replace the weekly hours and/or the date overrides wholesale (their rows have no
        identity worth keeping); None leaves that list as it is."""
        if weekly_hours is None and overrides is None:
            return
        if weekly_hours is not None:
            self.weekly_hours.all().delete()
            WeeklyHours.objects.bulk_create(WeeklyHours(page=self, **row) for row in weekly_hours)
        if overrides is not None:
            self.overrides.all().delete()
            DateOverride.objects.bulk_create(DateOverride(page=self, **row) for row in overrides)
        # bulk_create sends no signals (bookings/signals.py), so move the version here.
        BookingPage.schedule_changed(self.pk)

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    @property
    def is_team(self) -> bool:
        return bool(self.team_mode)

    @property
    def owner_hours_error_text(self) -> str:
        """Why the working hours were last not read, in the active language ("" when they
        were): stored in English (bookings/owner_hours.py); Exchange's own words, not in the
        catalog, pass through unchanged."""
        return gettext(self.owner_hours_error) if self.owner_hours_error else ""

    @property
    def owner_name(self) -> str:
        """How customers see the page's owner: their full name, else their user name."""
        return self.owner.get_full_name() or self.owner.get_username()

    @property
    def meeting_title(self) -> str:
        """What the meeting is called wherever the customer reads it (confirmation and manage
        pages, email subjects and bodies, the .ics SUMMARY, "add to calendar" links).

        The owner is named once: "Tax advice" becomes "Tax advice with Olivia Smith", but a
        title that already names them ("Intro call with Alice", owner Alice Liddell) is kept
        as typed. "Names them" means the owner's full name, first name, last name or user
        name appears as a whole word, in any case ("alice's office hours" counts, "Malice"
        doesn't)."""
        names = {
            self.owner_name,
            getattr(self.owner, "first_name", ""),
            getattr(self.owner, "last_name", ""),
            self.owner.get_username(),
        }
        for name in names:
            name = name.strip()
            if len(name) > 1 and re.search(rf"(?<!\w){re.escape(name)}(?!\w)", self.title, re.I):
                return self.title
        return gettext("%(title)s with %(name)s") % {"title": self.title, "name": self.owner_name}

    @property
    def duration(self) -> timedelta:
        return timedelta(minutes=self.duration_minutes)

    def public_url(self) -> str:
        return settings.SITE_URL + reverse("public-page", args=[self.slug])

    def subject_for(self, name: str) -> str:
        template = self.subject_template or "{title}: {name}"
        # str.replace, not str.format: a template typed by staff must not reach attributes.
        return template.replace("{title}", self.title).replace("{name}", name)[:255]

    def main_calendar(self) -> PageCalendar | None:
        """A personal page's main booking calendar (a team page's members have one each)."""
        mains = self.page_calendars.filter(role=CalendarRole.MAIN, member=None)
        return mains.select_related("calendar").first()

    def _team_problems(self) -> list[str]:
        """A team page's members who can't take bookings, by name, and the page's own
        readiness rule (bookings.team) when it fails."""
        from bookings import slots, team

        schedule = slots.schedule_for(self, fresh=True)
        if not schedule.members:
            return [gettext("Nobody on the team has accepted yet: add members (they accept on "
                            "their dashboard).")]  # fmt: skip
        by_id = {m.pk: m for m in self.members.select_related("user")}
        problems = [
            gettext("%(name)s: %(problem)s") % {"name": by_id[pk].name, "problem": problem}
            for pk, problem in team.member_problems(self, schedule).items()
            if problem
        ]
        # A round-robin page with some members ready still takes bookings: the others are
        # listed so the owner can fix them. What stops the whole page comes first.
        reason = team.not_ready_reason(self, schedule)
        return [reason, *problems] if reason else problems

    def not_ready_reason(self) -> str:
        """Why customers can't book here, in words the owner can act on ("" when they can).

        Without a main booking calendar a booking has nowhere to go, and slots would be
        computed without the busy time of the calendar it goes into; a main calendar the
        connection may no longer write to (PageCalendar.problem) can't keep a booking either.
        Such a page offers no slots and takes no bookings (bookings.slots.not_ready_reason
        asks the same from the schedule kept in memory, for the public pages and APIs)."""
        if self.is_team:
            from bookings import slots, team

            return team.not_ready_reason(self, slots.schedule_for(self, fresh=True))
        main = (
            self.page_calendars.filter(role=CalendarRole.MAIN)
            .select_related("calendar__connection", "page__owner")
            .first()
        )
        return main_calendar_problem(main)

    def setup_problems(self) -> list[str]:
        """What stops this page from taking bookings, in words the owner can act on."""
        problems = []
        if self.is_team:
            problems += self._team_problems()
        elif self.main_calendar() is None:
            problems.append(str(NO_MAIN_CALENDAR))
        own_calendars = self.page_calendars.filter(member=None).exclude(role="")
        for pc in own_calendars.select_related("calendar__connection"):
            problem = pc.problem()
            if problem:
                problems.append(problem)
        if self.use_owner_working_hours:
            if self.owner_hours_read_at is None:
                problem = gettext(
                    "The owner's Outlook working hours haven't been read from Exchange yet: "
                    "until they are, the page offers no slots."
                )
                problems.append(f"{problem} {self.owner_hours_error_text}".strip())
            elif not self.owner_hours:
                problems.append(
                    gettext(
                        "Exchange has no working hours for the main booking calendar's owner: "
                        "set them in Outlook (Options, Calendar, Work time) or use the page's "
                        "own hours."
                    )
                )
        elif not self.weekly_hours.exists() and not self.overrides.exclude(hours=[]).exists():
            problems.append(gettext("Set weekly hours: without them there are no slots."))
        return problems


class WeeklyHours(models.Model):
    """One range of bookable time on a weekday, in the page's time zone."""

    page = models.ForeignKey(BookingPage, on_delete=models.CASCADE, related_name="weekly_hours")
    weekday = models.PositiveSmallIntegerField(
        choices=list(enumerate(WEEKDAYS)), validators=[MaxValueValidator(6)]
    )
    start = models.TimeField()
    end = models.TimeField(help_text=_("00:00 means midnight at the end of the day."))

    class Meta:
        ordering = ["weekday", "start"]
        verbose_name_plural = _("weekly hours")

    def __str__(self) -> str:
        return f"{WEEKDAYS[self.weekday]} {self.start:%H:%M}-{self.end:%H:%M}"

    def clean(self) -> None:
        if self.start is not None and self.end is not None:
            check_range(self.start, self.end)


def check_range(start: time, end: time) -> None:
    if end != time(0) and end <= start:
        raise ValidationError(gettext("A range must end after it starts."))


def parse_ranges(value: Any) -> list[tuple[time, time]]:
    """[["09:00", "12:00"], ...] -> sorted, non-overlapping (start, end) pairs, or an error."""
    if not isinstance(value, list):
        raise ValidationError(gettext("Hours must be a list of [start, end] pairs."))
    ranges = []
    for pair in value:
        if not (isinstance(pair, list | tuple) and len(pair) == 2):
            raise ValidationError(
                gettext('Each range must be a [start, end] pair like ["09:00", "12:00"].')
            )
        try:
            start, end = (time.fromisoformat(str(p)) for p in pair)
        except ValueError:
            raise ValidationError(
                gettext("%(pair)s is not a pair of HH:MM times.") % {"pair": repr(pair)}
            ) from None
        check_range(start, end)
        ranges.append((start, end))
    ranges.sort()
    for (_start1, end1), (start2, _end2) in itertools.pairwise(ranges):
        if end1 == time(0) or start2 < end1:
            raise ValidationError(gettext("Ranges on the same day must not overlap."))
    return ranges


class DateOverride(models.Model):
    """A date with other hours than its weekday's; no hours at all closes the day."""

    page = models.ForeignKey(BookingPage, on_delete=models.CASCADE, related_name="overrides")
    date = models.DateField()
    hours = models.JSONField(default=list, blank=True, help_text=_('e.g. [["09:00", "12:00"]]'))

    class Meta:
        ordering = ["date"]
        constraints = [
            models.UniqueConstraint(fields=["page", "date"], name="one_override_per_date")
        ]

    def __str__(self) -> str:
        return f"{self.date}: {'closed' if not self.hours else self.hours}"

    def clean(self) -> None:
        parse_ranges(self.hours)

    @property
    def ranges(self) -> list[tuple[time, time]]:
        return parse_ranges(self.hours)


class QuestionKind(models.TextChoices):
    SHORT = "short", _("Short text")
    LONG = "long", _("Long text")
    CHOICE = "choice", _("Choice")


class Question(models.Model):
    page = models.ForeignKey(BookingPage, on_delete=models.CASCADE, related_name="questions")
    label = models.CharField(max_length=200)
    kind = models.CharField(max_length=8, choices=QuestionKind.choices, default=QuestionKind.SHORT)
    choices = models.JSONField(default=list, blank=True, help_text=_("Options for a choice."))
    required = models.BooleanField(default=False)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.label

    @property
    def key(self) -> str:
        return f"q{self.pk}"

    @property
    def max_length(self) -> int:
        return 5000 if self.kind == QuestionKind.LONG else 500

    def clean(self) -> None:
        if self.kind == QuestionKind.CHOICE:
            if not isinstance(self.choices, list) or len(self.choices) < 2:
                raise ValidationError(
                    {"choices": gettext("A choice question needs at least two options.")}
                )
            if not all(isinstance(c, str) and c.strip() for c in self.choices):
                raise ValidationError({"choices": gettext("Options must be non-empty text.")})
        elif self.choices:
            raise ValidationError({"choices": gettext("Only choice questions have options.")})


class PageCalendarOwner(models.Model):
    """Someone whose calendars this page may use, added by email (OnceHub's model)."""

    page = models.ForeignKey(BookingPage, on_delete=models.CASCADE, related_name="calendar_owners")
    # On a team page, the member whose calendars these are (None on a personal page).
    member = models.ForeignKey(
        "TeamMember", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    email = models.EmailField()
    added = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["added", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["page", "email"],
                condition=Q(member__isnull=True),
                name="one_owner_per_page",
            ),
            models.UniqueConstraint(
                fields=["member", "email"],
                condition=Q(member__isnull=False),
                name="one_owner_per_member",
            ),
        ]

    def __str__(self) -> str:
        return self.email


class PageCalendar(models.Model):
    """A calendar's role on one booking page."""

    page = models.ForeignKey(BookingPage, on_delete=models.CASCADE, related_name="page_calendars")
    # On a team page, the member this calendar serves (None on a personal page): each member
    # has their own main booking calendar and busy-time calendars, through their connection.
    member = models.ForeignKey(
        "TeamMember", on_delete=models.CASCADE, null=True, blank=True, related_name="calendars"
    )
    calendar = models.ForeignKey(CalendarRef, on_delete=models.CASCADE, related_name="+")
    role = models.CharField(max_length=16, choices=CalendarRole.choices, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["page", "calendar"],
                condition=Q(member__isnull=True),
                name="one_role_per_calendar",
            ),
            models.UniqueConstraint(
                fields=["member", "calendar"],
                condition=Q(member__isnull=False),
                name="one_role_per_member_calendar",
            ),
            models.UniqueConstraint(
                fields=["page"],
                condition=Q(role="main", member__isnull=True),
                name="one_main_calendar_per_page",
                violation_error_message=_("A page has exactly one main booking calendar."),
            ),
            models.UniqueConstraint(
                fields=["member"],
                condition=Q(role="main", member__isnull=False),
                name="one_main_calendar_per_member",
                violation_error_message=_("A team member has exactly one main booking calendar."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.page} / {self.calendar} ({self.role or 'none'})"

    def clean(self) -> None:
        if self.role and self.role not in self.calendar.allowed_roles:
            raise ValidationError(role_refusal(self.calendar, self.role))

    @property
    def user(self) -> Any:
        """Whose booking calendar this is: the team member's, or the page owner's."""
        return self.member.user if self.member_id else self.page.owner

    def problem(self) -> str:
        """Why this calendar can't serve its role any more (permission withdrawn), or ""."""
        cal = self.calendar
        where = f"{cal.owner_email} / {cal.name}"
        if cal.error:
            return gettext("%(calendar)s: %(error)s") % {
                "calendar": where,
                "error": cal.error_text,
            }
        if self.role in (CalendarRole.MAIN, CalendarRole.ADDITIONAL):
            if not cal.can_create:
                return gettext(
                    "%(calendar)s is the %(role)s but the connection may no longer create "
                    "events in it. %(hint)s"
                ) % {
                    "calendar": where,
                    "role": str(CalendarRole(self.role).label).lower(),
                    "hint": PERMISSION_HINT,
                }
            if refusal := write_refusal(self.user, cal.connection, cal.owner_email):
                return gettext("%(calendar)s: %(error)s") % {"calendar": where, "error": refusal}
        if (
            self.role == CalendarRole.MAIN
            and self.page.create_teams_meeting
            and not cal.reached_over_graph()
        ):
            return str(TEAMS_NEEDS_GRAPH).format(calendar=where)
        return ""


class MemberState(models.TextChoices):
    INVITED = "invited", _("Invited")
    ACTIVE = "active", _("Active")
    DECLINED = "declined", _("Declined")


class TeamMember(models.Model):
    """A staff member on a team page (BookingPage.team_mode).

    Added by the page's owner, a member takes bookings only once they accepted (or an
    administrator added them): nobody's calendar fills up with a page they never agreed to.
    Their busy time and bookings are read through their own connection (calendars.connect.
    connection_for), with the same calendar roles and permission rules as a personal page.
    """

    page = models.ForeignKey(BookingPage, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="team_memberships"
    )
    state = models.CharField(
        max_length=16, choices=MemberState.choices, default=MemberState.INVITED
    )
    tier = models.PositiveSmallIntegerField(
        _("priority tier"),
        default=0,
        validators=[MaxValueValidator(9)],
        help_text=_(
            "Round robin: members of a lower tier are offered first; a higher tier "
            "takes bookings only when nobody in the lower ones is free."
        ),
    )
    weight = models.PositiveSmallIntegerField(
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text=_(
            "Round robin: share of the bookings within the tier (2 takes twice as many as 1)."
        ),
    )
    required = models.BooleanField(
        default=True,
        help_text=_(
            "Collective: the meeting needs this member; an optional member is invited when free."
        ),
    )
    max_per_day = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)]
    )
    max_per_week = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)]
    )
    # The member's own weekly hours on this page, used when the page lets members' hours
    # differ (BookingPage.members_own_hours): [{"weekday": 0, "start": "09:00", "end":
    # "17:00"}], wall-clock in hours_zone (IANA; blank: the page's zone). Empty: the page's.
    weekly_hours = models.JSONField(default=list, blank=True)
    hours_zone = models.CharField(max_length=64, blank=True, validators=[validate_timezone])
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    added = models.DateTimeField(default=utcnow)
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["tier", "added", "id"]
        constraints = [
            models.UniqueConstraint(fields=["page", "user"], name="one_membership_per_page")
        ]

    def __str__(self) -> str:
        return f"{self.page} / {self.name}"

    @property
    def name(self) -> str:
        return self.user.get_full_name() or self.user.get_username()

    @property
    def is_active(self) -> bool:
        return self.state == MemberState.ACTIVE

    def clean(self) -> None:
        parse_member_hours(self.weekly_hours)

    def weekly(self) -> dict[int, list[tuple[time, time]]]:
        """weekly_hours as the availability engine reads them (weekday -> ranges)."""
        return parse_member_hours(self.weekly_hours)


PHOTO_TYPES = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg"}
MAX_PHOTO_BYTES = 200 * 1024


def photo_type(data: bytes) -> str:
    """The image type of an uploaded photo by its first bytes (PNG or JPEG), or ""."""
    for magic, kind in PHOTO_TYPES.items():
        if data.startswith(magic):
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return ""


class StaffProfile(models.Model):
    """What customers see of a staff member on team pages besides their name: a photo.

    Kept in the database (at most MAX_PHOTO_BYTES, PNG, JPEG or WebP by content, not by the
    uploaded name), so a deployment needs no media storage; served by the public page with
    its stored type and nosniff."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff_profile"
    )
    photo = models.BinaryField(blank=True, default=b"", editable=True)
    photo_type = models.CharField(max_length=32, blank=True)
    updated = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Profile of {self.user}"

    def clean(self) -> None:
        data = bytes(self.photo or b"")
        if len(data) > MAX_PHOTO_BYTES:
            raise ValidationError({"photo": gettext("A photo may be at most 200 KB.")})
        if data and not photo_type(data):
            raise ValidationError({"photo": gettext("Upload a PNG, JPEG or WebP image.")})
        self.photo_type = photo_type(data) if data else ""


def validate_image(data: bytes) -> str:
    """The image's type (PNG, JPEG or WebP by content), or a ValidationError in words."""
    if len(data) > MAX_PHOTO_BYTES:
        raise ValidationError(gettext("An image may be at most 200 KB."))
    kind = photo_type(data)
    if not kind:
        raise ValidationError(gettext("Upload a PNG, JPEG or WebP image."))
    return kind


class SiteBranding(models.Model):
    """The organisation's name, logo and accent colour on public pages, emails and the manage
    link (one row, edited in Django admin). Pages may override the colour and add an image."""

    organisation_name = models.CharField(max_length=200, blank=True)
    logo = models.BinaryField(blank=True, default=b"", editable=True)
    logo_type = models.CharField(max_length=32, blank=True, editable=False)
    accent_color = models.CharField(
        _("accent colour"),
        max_length=7,
        blank=True,
        validators=[validate_accent],
        help_text=_(
            "A colour like #1d55c9 for buttons and links; it must stay readable on white "
            "(WCAG AA, 4.5:1). Blank: the app's blue."
        ),
    )
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = verbose_name_plural = _("site branding")

    def __str__(self) -> str:
        return self.organisation_name or "Site branding"

    def clean(self) -> None:
        data = bytes(self.logo or b"")
        if data:
            try:
                self.logo_type = validate_image(data)
            except ValidationError as exc:
                raise ValidationError({"logo": exc.messages}) from None
        else:
            self.logo_type = ""

    @classmethod
    def current(cls) -> SiteBranding:
        """The site's branding (an unsaved blank one until an administrator sets it)."""
        return cls.objects.defer("logo").filter(pk=1).first() or cls(pk=1)


class PageImage(models.Model):
    """A booking page's own image, shown beside its details (kept apart from the page row,
    which every slots request reads)."""

    page = models.OneToOneField(BookingPage, on_delete=models.CASCADE, related_name="image")
    data = models.BinaryField()
    content_type = models.CharField(max_length=32)
    updated = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Image of {self.page}"


def parse_member_hours(value: Any) -> dict[int, list[tuple[time, time]]]:
    """[{"weekday": 0, "start": "09:00", "end": "17:00"}, ...] -> {0: [(09:00, 17:00)]}, or a
    ValidationError saying what is wrong."""
    if not isinstance(value, list):
        raise ValidationError(gettext("Hours must be a list of {weekday, start, end} rows."))
    by_day: dict[int, list[list[str]]] = {}
    for row in value:
        if not isinstance(row, dict) or set(row) != {"weekday", "start", "end"}:
            raise ValidationError(gettext('Each row needs "weekday", "start" and "end".'))
        day = row["weekday"]
        if not isinstance(day, int) or isinstance(day, bool) or not 0 <= day <= 6:
            raise ValidationError(gettext("A weekday is 0 (Monday) to 6 (Sunday)."))
        by_day.setdefault(day, []).append([row["start"], row["end"]])
    return {day: parse_ranges(pairs) for day, pairs in sorted(by_day.items())}


# A page that promises Teams links takes no booking it would confirm without one.
TEAMS_NEEDS_GRAPH = gettext_lazy(
    "{calendar} is on Exchange Server (reached through EWS), which can't create Microsoft "
    "Teams meetings. Choose a main booking calendar in Exchange Online, or turn off “Create a "
    "Microsoft Teams meeting”."
)


PERMISSION_HINT = gettext_lazy(
    "In Outlook or OWA, the calendar's owner opens the calendar's Sharing permissions (or "
    "Delegate Access) and gives the connected mailbox Editor or Delegate rights."
)


def role_refusal(calendar: CalendarRef, role: str) -> str:
    label = str(CalendarRole(role).label).lower()
    return gettext(
        "%(calendar)s can't be the %(role)s: the connection's permission on it is "
        "%(permission)s, and bookings need Editor or Delegate. %(hint)s"
    ) % {
        "calendar": f"{calendar.owner_email} / {calendar.name}",
        "role": label,
        "permission": calendar.permission_label,
        "hint": PERMISSION_HINT,
    }


def calendar_roles(calendar: CalendarRef, owner: Any) -> tuple[list[str], str]:
    """The roles `calendar` may have on `owner`'s pages, and why the booking roles are not
    among them ("" when they are): what the page's calendar list and the staff API show."""
    if calendar.error:
        return [], gettext("No role is possible: %(error)s") % {"error": calendar.error_text}
    if not calendar.can_create:
        return [CalendarRole.BUSY.value], role_refusal(calendar, CalendarRole.MAIN)
    if refusal := write_refusal(owner, calendar.connection, calendar.owner_email):
        return [CalendarRole.BUSY.value], refusal
    return calendar.allowed_roles, ""


def role_problem(calendar: CalendarRef, role: str, owner: Any) -> str:
    """Why `calendar` can't take `role` on `owner`'s page ("" when it can): the one rule the
    staff pages and the staff API both apply. Booking into someone else's calendar through
    the corporate connection also needs their consent (calendars.membership)."""
    if role and calendar.error:
        return gettext("%(calendar)s can't have a role: %(error)s") % {
            "calendar": calendar,
            "error": calendar.error_text,
        }
    if role and role not in calendar.allowed_roles:
        return role_refusal(calendar, role)
    booking_role = role in (CalendarRole.MAIN, CalendarRole.ADDITIONAL)
    if booking_role and (
        refusal := write_refusal(owner, calendar.connection, calendar.owner_email)
    ):
        return refusal
    return ""


def save_roles(page: BookingPage, roles: dict[int, str], member: TeamMember | None = None) -> None:
    """Set calendar roles (CalendarRef pk -> role, "" = none) in one transaction: the
    page's own calendars, or on a team page `member`'s."""
    with transaction.atomic():
        # The old main steps down before the new one takes over (one main per page/member).
        for pk, role in sorted(roles.items(), key=lambda item: item[1] == CalendarRole.MAIN):
            if role:
                PageCalendar.objects.update_or_create(
                    page=page, member=member, calendar_id=pk, defaults={"role": role}
                )
            else:
                PageCalendar.objects.filter(page=page, member=member, calendar_id=pk).delete()


class BookingStatus(models.TextChoices):
    CONFIRMED = "confirmed", _("Confirmed")
    CANCELLED = "cancelled", _("Cancelled")


class Booking(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Travels into the Exchange event and the .ics: a retried write finds its event by it.
    uid = models.CharField(max_length=128, unique=True, editable=False)
    page = models.ForeignKey(BookingPage, on_delete=models.PROTECT, related_name="bookings")
    # Denormalised from the page: bookings are serialised and limited per owner.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="bookings"
    )
    start = models.DateTimeField(db_index=True)
    end = models.DateTimeField()
    timezone = models.CharField(
        max_length=64, validators=[validate_timezone], help_text=_("The customer's IANA zone.")
    )
    name = models.CharField(max_length=200)
    email = models.EmailField()
    phone = models.CharField(max_length=40, blank=True)
    notes = models.TextField(max_length=5000, blank=True)
    answers = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        max_length=16, choices=BookingStatus.choices, default=BookingStatus.CONFIRMED
    )
    sequence = models.PositiveIntegerField(default=0, help_text=_("iCalendar SEQUENCE."))
    # The language the customer booked in (the page's, or their browser's): their later
    # emails (reminders, changes) are in it too.
    language = models.CharField(max_length=8, blank=True)
    created = models.DateTimeField(default=utcnow)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.CharField(max_length=16, blank=True)  # customer, staff, exchange
    cancel_reason = models.CharField(max_length=500, blank=True)
    # Set by the periodic check of written events (sync back from Exchange).
    conflict = models.CharField(max_length=500, blank=True)
    # The Teams meeting's join link, once Exchange Online created it with the main event.
    online_meeting_url = models.URLField(max_length=2000, blank=True)

    class Meta:
        ordering = ["start"]
        indexes = [models.Index(fields=["owner", "status", "start"])]

    def __str__(self) -> str:
        return f"{self.page.title}: {self.name} at {self.start:%Y-%m-%d %H:%M} UTC"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self.uid:
            self.uid = f"{self.id}@{settings.BOOKING_UID_DOMAIN}"
        super().save(*args, **kwargs)

    @property
    def is_cancelled(self) -> bool:
        return self.status == BookingStatus.CANCELLED

    @property
    def is_past(self) -> bool:
        return self.start <= utcnow()

    def local_start(self) -> datetime:
        return self.start.astimezone(zoneinfo.ZoneInfo(self.timezone))

    def local_end(self) -> datetime:
        return self.end.astimezone(zoneinfo.ZoneInfo(self.timezone))

    def manage_token(self) -> str:
        # Signed, not stored: unguessable without SECRET_KEY, and the same link every time.
        return signing.Signer(salt=MANAGE_SALT).sign(str(self.id))

    def manage_url(self) -> str:
        return settings.SITE_URL + reverse("manage-booking", args=[self.manage_token()])

    def can_be_changed_by_customer(self, now: datetime | None = None) -> bool:
        now = now or utcnow()
        notice = timedelta(minutes=self.page.min_notice_minutes)
        return not self.is_cancelled and self.start - notice > now

    def labelled_answers(self, *, include_removed: bool = True) -> list[tuple[str, str]]:
        """The customer's answers as (question label, answer), in the page's question order.

        Answers to questions deleted since the booking are kept under a generic label: the
        owner should still see everything the customer told them.
        """
        answers = {k: _answer_text(v) for k, v in (self.answers or {}).items()}
        answers = {k: v for k, v in answers.items() if v}
        result = []
        for question in self.page.questions.all():
            if question.key in answers:
                result.append((question.label, answers.pop(question.key)))
        if include_removed:
            result += [("(a question since removed)", value) for value in answers.values()]
        return result


class BookingMember(models.Model):
    """A team member a booking of a team page is with: the one assigned (round robin) or
    each attendee (collective). Their bookings on any page block their time, wherever they
    are the booking's owner or an attendee (bookings.slots)."""

    booking = models.ForeignKey(Booking, on_delete=models.CASCADE, related_name="attendees")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="team_bookings"
    )
    member = models.ForeignKey(TeamMember, on_delete=models.SET_NULL, null=True, related_name="+")
    required = models.BooleanField(default=True)
    # An optional member who deleted their event in Outlook: the meeting goes on without them.
    declined_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-required", "id"]
        constraints = [
            models.UniqueConstraint(fields=["booking", "user"], name="one_attendance_per_user")
        ]
        indexes = [models.Index(fields=["user", "booking"])]

    def __str__(self) -> str:
        return f"{self.booking_id}: {self.user}"

    @property
    def name(self) -> str:
        return self.user.get_full_name() or self.user.get_username()


def _answer_text(value: object) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


def notice_words(minutes: int) -> str:
    """240 → "4 hours", 1440 → "1 day", 90 → "90 minutes" (in the active language)."""
    if minutes >= 1440 and minutes % 1440 == 0:
        n = minutes // 1440
        return ngettext("%(count)d day", "%(count)d days", n) % {"count": n}
    if minutes >= 60 and minutes % 60 == 0:
        n = minutes // 60
        return ngettext("%(count)d hour", "%(count)d hours", n) % {"count": n}
    return ngettext("%(count)d minute", "%(count)d minutes", minutes) % {"count": minutes}


MANAGE_SALT = "bookings.manage"


def booking_for_token(token: str) -> Booking | None:
    try:
        booking_id = signing.Signer(salt=MANAGE_SALT).unsign(token)
    except signing.BadSignature:
        return None
    try:
        return Booking.objects.select_related("page", "owner").get(pk=booking_id)
    except (Booking.DoesNotExist, ValidationError, ValueError):
        return None


class Reminder(models.Model):
    """One reminder email of one booking for one recipient, at one of the page's reminder
    times: the row is what makes it go out exactly once (bookings/reminders.py).

    Keyed by the booking's start it was planned for, so a booking moved after a reminder
    went out gets its reminders again for the new time, and a row planned for the old time
    is skipped, never sent."""

    booking = models.ForeignKey(Booking, on_delete=models.CASCADE, related_name="reminders")
    minutes_before = models.PositiveIntegerField()
    start = models.DateTimeField()  # the booking's start when planned
    recipient = models.CharField(max_length=16)  # "customer" or "host"
    due_at = models.DateTimeField(db_index=True)
    # A worker claims the row until then with a conditional UPDATE, as calendar writes do:
    # two workers (or a retry after a restart) never both send it.
    lease_until = models.DateTimeField(null=True, blank=True)
    lease_holder = models.CharField(max_length=128, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    skipped = models.CharField(max_length=32, blank=True)  # why it never went out

    class Meta:
        ordering = ["due_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["booking", "minutes_before", "start", "recipient"],
                name="one_reminder_per_time",
            )
        ]

    def __str__(self) -> str:
        return f"{self.booking_id}: {self.minutes_before} min before, to {self.recipient}"


WEBHOOK_EVENTS = [
    "booking.created",
    "booking.rescheduled",
    "booking.cancelled",
    "booking.reassigned",
    "booking.write_failed",
]


def validate_webhook_events(value: Any) -> None:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ValidationError(gettext("Choose at least one event."))
    unknown = sorted(set(value) - set(WEBHOOK_EVENTS))
    if unknown:
        raise ValidationError(
            gettext("Unknown event: %(events)s.") % {"events": ", ".join(unknown)}
        )


def new_webhook_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


class WebhookEndpoint(models.Model):
    """An HTTPS endpoint that hears about bookings (bookings/webhooks.py).

    A staff member's endpoint hears about their pages (one page, or all of them); a
    site-wide one (no owner: made by an administrator in Django admin) about every page.
    The signing secret is stored encrypted and shown to its owner, who needs it to verify
    signatures, only on the endpoint's own page."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="webhooks",
        help_text=_("Empty: site-wide, every page's bookings."),
    )
    page = models.ForeignKey(
        BookingPage,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="webhooks",
        help_text=_("Empty: all of the owner's pages."),
    )
    url = models.URLField(_("endpoint URL"), max_length=2000)
    events = models.JSONField(default=list, validators=[validate_webhook_events])
    secret = EncryptedTextField(default=new_webhook_secret, editable=False)
    active = models.BooleanField(default=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created", "id"]

    def __str__(self) -> str:
        return self.url

    def clean(self) -> None:
        from calendars.errors import UrlNotAllowed
        from calendars.urlcheck import check_url

        if not (self.url or "").lower().startswith("https://"):
            raise ValidationError({"url": gettext("A webhook endpoint must start with https://.")})
        try:
            check_url(self.url, what="endpoint")
        except UrlNotAllowed as exc:
            raise ValidationError({"url": exc.message}) from None
        if self.page_id and self.owner_id and self.page.owner_id != self.owner_id:
            raise ValidationError({"page": gettext("Choose one of your own pages.")})


class DeliveryState(models.TextChoices):
    PENDING = "pending", _("Pending")
    DELIVERED = "delivered", _("Delivered")
    FAILED = "failed", _("Gave up")


class WebhookDelivery(models.Model):
    """One event for one endpoint: sent until the endpoint answers 2xx, with back-off, for
    WEBHOOK_RETRY_HOURS; a booking's deliveries to one endpoint go out in the order they
    happened (a later one waits while an earlier one is pending)."""

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event_id = models.UUIDField(default=uuid.uuid4, editable=False)  # stable across retries
    event = models.CharField(max_length=32)
    booking = models.ForeignKey(
        Booking, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    payload = models.JSONField()
    created = models.DateTimeField(default=utcnow)
    state = models.CharField(
        max_length=16, choices=DeliveryState.choices, default=DeliveryState.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=utcnow, db_index=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status = models.PositiveIntegerField(null=True, blank=True)  # the HTTP status
    last_error = models.CharField(max_length=500, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]
        verbose_name_plural = _("webhook deliveries")
        indexes = [models.Index(fields=["endpoint", "booking", "created"])]

    def __str__(self) -> str:
        return f"{self.event} → {self.endpoint.url}: {self.state}"


class WriteState(models.TextChoices):
    PENDING = "pending", _("Pending")
    DONE = "written", _("Written")
    FAILING = "failing", _("Failing")


class EventWrite(models.Model):
    """The booking's event in one Exchange calendar: what should be there, and what is.

    `desired` is what the booking needs (present with its current time, or absent after a
    cancellation); the write task converges Exchange towards it and records the result, so a
    retry after any failure does the right thing without knowing what happened before.
    """

    booking = models.ForeignKey(Booking, on_delete=models.CASCADE, related_name="writes")
    calendar = models.ForeignKey(
        CalendarRef, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    # Copied from the calendar so a write still knows its target if the ref is rediscovered.
    connection = models.ForeignKey(
        "calendars.ExchangeConnection", on_delete=models.SET_NULL, null=True, related_name="+"
    )
    owner_email = models.EmailField()
    folder_id = models.CharField(max_length=512, blank=True)
    calendar_name = models.CharField(max_length=255, blank=True)
    role = models.CharField(max_length=16, choices=CalendarRole.choices)
    # Whose booking calendar this is, when not the booking's owner's: a collective booking's
    # other attendees. The corporate connection's consent rule is theirs (bookings.writes).
    member_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    desired = models.CharField(max_length=8, default="present")  # present | absent
    item_id = models.CharField(max_length=512, blank=True)
    written_version = models.PositiveIntegerField(
        null=True, blank=True, help_text=_("The booking sequence the event in Exchange shows.")
    )
    state = models.CharField(max_length=16, choices=WriteState.choices, default=WriteState.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    last_error_code = models.CharField(max_length=32, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    done_at = models.DateTimeField(null=True, blank=True)
    alerted_at = models.DateTimeField(null=True, blank=True)
    # A worker claims the row until then, so a periodic retry and a Celery retry of the same
    # write never talk to Exchange at the same time (a conditional UPDATE, no held lock).
    lease_until = models.DateTimeField(null=True, blank=True)
    lease_holder = models.CharField(max_length=128, blank=True)  # host:pid of the worker

    class Meta:
        ordering = ["booking", "-role", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["booking", "owner_email", "folder_id"], name="one_write_per_calendar"
            )
        ]

    def __str__(self) -> str:
        return f"{self.booking_id} → {self.owner_email}/{self.calendar_name}: {self.state}"

    @classmethod
    def add_for(cls, booking: Booking, targets: Iterable[PageCalendar]) -> None:
        """A pending write of `booking` into each of these page calendars (a team member's
        are written on that member's behalf: the consent rule is theirs)."""
        for pc in targets:
            cal = pc.calendar
            cls.objects.create(
                booking=booking,
                calendar=cal,
                connection_id=cal.connection_id,
                owner_email=cal.owner_email,
                folder_id=cal.folder_id,
                calendar_name=cal.name,
                role=pc.role,
                member_user_id=pc.member.user_id if pc.member_id else None,
            )

    @property
    def target_label(self) -> str:
        return f"{self.owner_email} / {self.calendar_name or 'Calendar'}"


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())
