"""Forms of the staff booking-page editor: the page's settings, its weekly hours, date
overrides and questions.

Weekly hours and overrides are edited as rows (any number per weekday or date); a row left
blank is ignored, so the editor can always offer an empty row to fill in without JavaScript.
"""

from __future__ import annotations

import itertools
import re
from collections import defaultdict
from datetime import date, time
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy, ngettext

from bookings import zones
from bookings.models import (
    ALL_STATUSES,
    DEFAULT_BLOCKING_STATUSES,
    MAX_PHOTO_BYTES,
    WEEKDAYS,
    BookingPage,
    BookingStatus,
    MemberState,
    PageImage,
    Question,
    QuestionKind,
    TeamMember,
    TeamMode,
    check_range,
    default_reminders,
    notice_words,
    parse_member_hours,
    photo_type,
    validate_image,
    validate_reminders,
    validate_timezone,
)

STATUS_LABELS = {
    "Busy": gettext_lazy("Busy"),
    "Tentative": gettext_lazy("Tentative"),
    "OOF": gettext_lazy("Out of office"),
    "WorkingElsewhere": gettext_lazy("Working elsewhere"),
    "Free": gettext_lazy("Free"),
    "NoData": gettext_lazy("No information (Exchange has no free/busy data)"),
}


_DURATION = re.compile(r"^(\d+)\s*(d|days?|h|hours?|m|min|mins|minutes?)$", re.I)


def parse_durations(text: str) -> list[int]:
    """ "1 day, 1 hour" / "24h, 30m" -> [1440, 60] / [1440, 30], largest first; a
    ValidationError naming what it couldn't read."""
    minutes = []
    for part in re.split(r"[,;]", text):
        part = part.strip()
        if not part:
            continue
        found = _DURATION.match(part)
        if found is None:
            raise ValidationError(
                gettext(
                    "“%(text)s” isn't a time before the meeting: write e.g. 1 day, 2 hours or "
                    "30 minutes."
                )
                % {"text": part[:40]}
            )
        n, unit = int(found.group(1)), found.group(2).lower()
        minutes.append(n * (1440 if unit.startswith("d") else 60 if unit.startswith("h") else 1))
    return sorted(minutes, reverse=True)


class BookingPageForm(forms.ModelForm):
    blocking_statuses = forms.MultipleChoiceField(
        label=gettext_lazy("Statuses that block a slot"),
        choices=[(s, STATUS_LABELS[s]) for s in ALL_STATUSES],
        widget=forms.CheckboxSelectMultiple,
        error_messages={
            "required": gettext_lazy("Choose at least one free/busy status that blocks a slot.")
        },
        help_text=gettext_lazy(
            "An event in an associated calendar with one of these statuses makes the "
            "time unavailable. Free events should not block."
        ),
    )
    # The page's image beside its details on the public page (a PageImage row, see save_image).
    image_upload = forms.FileField(
        label=gettext_lazy("Image"),
        required=False,
        help_text=gettext_lazy(
            "PNG, JPEG or WebP, at most 200 KB. Shown beside the page's details."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": "image/png,image/jpeg,image/webp"}),
    )
    remove_image = forms.BooleanField(label=gettext_lazy("Remove the image"), required=False)
    # BookingPage.reminder_minutes, typed as people say it: "1 day, 1 hour".
    reminders = forms.CharField(
        label=gettext_lazy("Reminder emails"),
        required=False,
        max_length=200,
        help_text=gettext_lazy(
            "When customers are reminded before the meeting, e.g. “1 day, 1 hour” or "
            "“2 days, 30 minutes”. Blank: no reminders."
        ),
    )

    class Meta:
        model = BookingPage
        fields = [
            "title",
            "slug",
            "description",
            "location",
            "active",
            "duration_minutes",
            "interval_minutes",
            "buffer_before_minutes",
            "buffer_after_minutes",
            "min_notice_minutes",
            "window_days",
            "max_per_day",
            "max_per_week",
            "timezone",
            "use_owner_working_hours",
            "blocking_statuses",
            "ask_phone",
            "ask_notes",
            "subject_template",
            "send_exchange_invitation",
            "create_teams_meeting",
            "team_mode",
            "customer_picks_member",
            "members_own_hours",
            "fairness_days",
            "accent_color",
            "language",
            "remind_owner",
        ]
        labels = {
            "slug": gettext_lazy("Public address"),
            "active": gettext_lazy("Active (takes bookings)"),
            "duration_minutes": gettext_lazy("Duration (minutes)"),
            "interval_minutes": gettext_lazy("Slot interval (minutes)"),
            "buffer_before_minutes": gettext_lazy("Buffer before (minutes)"),
            "buffer_after_minutes": gettext_lazy("Buffer after (minutes)"),
            "min_notice_minutes": gettext_lazy("Minimum notice (minutes)"),
            "window_days": gettext_lazy("Booking window (days)"),
            "max_per_day": gettext_lazy("Maximum bookings per day"),
            "max_per_week": gettext_lazy("Maximum bookings per week"),
            "timezone": gettext_lazy("Time zone"),
            "subject_template": gettext_lazy("Event subject"),
            "send_exchange_invitation": gettext_lazy("Send Exchange's meeting invitation"),
            "create_teams_meeting": gettext_lazy("Create a Microsoft Teams meeting"),
            "use_owner_working_hours": gettext_lazy("Use the owner's Outlook working hours"),
            "team_mode": gettext_lazy("Who customers meet"),
            "customer_picks_member": gettext_lazy(
                "Customers may choose the team member (round robin)"
            ),
            "members_own_hours": gettext_lazy("Members may have their own weekly hours"),
            "fairness_days": gettext_lazy("Fairness period (days, round robin)"),
            "language": gettext_lazy("Language for customers"),
            "remind_owner": gettext_lazy("Also remind whoever the meeting is with"),
        }
        help_texts = {
            "slug": gettext_lazy("The page's link: lowercase letters, digits and hyphens."),
            "max_per_day": gettext_lazy("Blank: no limit."),
            "max_per_week": gettext_lazy("Blank: no limit (weeks start on Monday)."),
            "timezone": gettext_lazy(
                "A city or an IANA name, e.g. London or Europe/London. Weekly hours "
                "are in this zone."
            ),
            "buffer_before_minutes": gettext_lazy("Free time kept before each booking."),
            "buffer_after_minutes": gettext_lazy("Free time kept after each booking."),
        }
        error_messages = {
            "slug": {"unique": gettext_lazy("Another booking page already uses this address.")},
        }
        widgets = {
            "description": forms.Textarea(attrs={"rows": 4}),
            "timezone": forms.TextInput(
                attrs={"list": "timezones", "autocomplete": "off", "spellcheck": "false"}
            ),
            "team_mode": forms.RadioSelect,
            "accent_color": forms.TextInput(
                attrs={"placeholder": "#1d55c9", "autocomplete": "off", "spellcheck": "false"}
            ),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.instance.pk and "blocking_statuses" not in self.initial:
            self.initial["blocking_statuses"] = list(DEFAULT_BLOCKING_STATUSES)
        if "reminders" not in self.initial:
            minutes = self.instance.reminder_minutes if self.instance.pk else default_reminders()
            self.initial["reminders"] = ", ".join(notice_words(m) for m in minutes)
        # Only round robin reads it: a personal page's form (or a client that predates team
        # pages) may leave it out and keeps what the page has.
        self.fields["fairness_days"].required = False

    def clean_reminders(self) -> list[int]:
        if "reminders" not in self.data:
            # A client that predates the field keeps what the page has (a new page: the
            # default), rather than losing its reminders.
            return list(self.instance.reminder_minutes)
        minutes = parse_durations(self.cleaned_data.get("reminders") or "")
        validate_reminders(minutes)
        # Not one of Meta.fields (typed as words, stored as minutes): set on the page here.
        self.instance.reminder_minutes = minutes
        return minutes

    def clean_image_upload(self) -> bytes | None:
        upload = self.cleaned_data.get("image_upload")
        if not upload:
            return None
        if upload.size > MAX_PHOTO_BYTES:
            raise ValidationError(
                gettext("This image is %(size)s KB: at most 200 KB.")
                % {"size": upload.size // 1024}
            )
        data = upload.read(MAX_PHOTO_BYTES + 1)
        validate_image(data)
        return data

    def save_image(self, page: BookingPage) -> None:
        """Store, replace or remove the page's image (after the page itself is saved)."""
        data = self.cleaned_data.get("image_upload")
        if data:
            PageImage.objects.update_or_create(
                page=page, defaults={"data": data, "content_type": validate_image(data)}
            )
        elif self.cleaned_data.get("remove_image"):
            PageImage.objects.filter(page=page).delete()

    def clean_fairness_days(self) -> int:
        days = self.cleaned_data.get("fairness_days")
        return days if days is not None else self.instance.fairness_days

    def clean_slug(self) -> str:
        return self.cleaned_data["slug"].strip().lower()

    def clean_team_mode(self) -> str:
        mode = self.cleaned_data["team_mode"]
        page = self.instance
        # Upcoming bookings belong to one person (a personal page) or to members (a team
        # page): switching between the two would leave them with nobody, or with the wrong
        # people, so it waits until they are over or cancelled.
        if page.pk and bool(mode) != page.is_team:
            upcoming = page.bookings.filter(
                status=BookingStatus.CONFIRMED, end__gte=timezone.now()
            ).count()
            if upcoming:
                if mode:
                    message = ngettext(
                        "This page can't become a team page while it has %(count)d upcoming "
                        "booking: cancel or move it first, or make a new page.",
                        "This page can't become a team page while it has %(count)d upcoming "
                        "bookings: cancel or move them first, or make a new page.",
                        upcoming,
                    )
                else:
                    message = ngettext(
                        "This page can't become a personal page while it has %(count)d upcoming "
                        "booking: cancel or move it first, or make a new page.",
                        "This page can't become a personal page while it has %(count)d upcoming "
                        "bookings: cancel or move them first, or make a new page.",
                        upcoming,
                    )
                raise ValidationError(message % {"count": upcoming})
        return mode

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        # Only a round-robin page assigns one member a customer could choose.
        if data.get("team_mode") != TeamMode.ROUND_ROBIN:
            data["customer_picks_member"] = False
        return data

    def clean_timezone(self) -> str:
        # "London", "new york" or an alias (Asia/Calcutta) mean their canonical zone; any
        # other valid IANA name (Etc/GMT+5) is kept as typed, and the model refuses the rest.
        typed = self.cleaned_data["timezone"].strip()
        return zones.resolve(typed) or typed


DASH = "\u2013"  # an en dash between the ends of a time range


def _fmt(t: time) -> str:
    return t.strftime("%H:%M")


# --- weekly hours --------------------------------------------------------------------------


class HoursRowForm(forms.Form):
    """One range on one weekday; both times blank means "no range" (an unused row)."""

    weekday = forms.TypedChoiceField(
        choices=list(enumerate(WEEKDAYS)), coerce=int, widget=forms.HiddenInput
    )
    start = forms.TimeField(
        required=False, label=gettext_lazy("From"), widget=forms.TimeInput(attrs={"type": "time"})
    )
    end = forms.TimeField(
        required=False,
        label=gettext_lazy("To"),
        widget=forms.TimeInput(attrs={"type": "time"}),
        help_text=gettext_lazy("00:00 means midnight at the end of the day."),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start is None and end is None:
            if not self.has_error("start") and not self.has_error("end"):
                data["empty"] = True
            return data
        if start is None:
            self.add_error("start", gettext("Give the time the range starts."))
        elif end is None:
            self.add_error("end", gettext("Give the time the range ends."))
        else:
            try:
                check_range(start, end)
            except ValidationError as exc:
                self.add_error("end", exc)
        return data

    @property
    def is_blank(self) -> bool:
        """Neither time given: the spare row offered to fill in without JavaScript."""
        if self.is_bound and self.errors:
            return False
        return not (self["start"].value() or self["end"].value())


class BaseHoursFormSet(forms.BaseFormSet):
    def clean(self) -> None:
        if any(form.errors for form in self.forms if not self._should_delete_form(form)):
            return
        by_day: dict[int, list[tuple[time, time, forms.Form]]] = defaultdict(list)
        for form in self.forms:
            data = form.cleaned_data
            if self._should_delete_form(form) or data.get("empty"):
                continue
            by_day[data["weekday"]].append((data["start"], data["end"], form))
        for rows in by_day.values():
            rows.sort(key=lambda row: row[0])
            for (start1, end1, _), (start2, _, form) in itertools.pairwise(rows):
                if end1 == time(0) or start2 < end1:
                    form.add_error(
                        "start",
                        gettext("Overlaps %(range)s: ranges can't overlap.")
                        % {"range": f"{_fmt(start1)}{DASH}{_fmt(end1)}"},
                    )

    def ranges(self) -> list[tuple[int, time, time]]:
        """(weekday, start, end) of every filled-in row; call after is_valid()."""
        rows = []
        for form in self.forms:
            data = form.cleaned_data
            if self._should_delete_form(form) or data.get("empty"):
                continue
            rows.append((data["weekday"], data["start"], data["end"]))
        return sorted(rows)

    def by_weekday(self) -> list[tuple[int, str, list[forms.Form]]]:
        """The rows grouped for display: (weekday, its name, its forms)."""
        days: dict[int, list[forms.Form]] = {day: [] for day in range(7)}
        for form in self.forms:
            day = _weekday_of(form)
            days.setdefault(day, []).append(form)
        return [(day, WEEKDAYS[day], days[day]) for day in range(7)]


def _weekday_of(form: forms.Form) -> int:
    raw = form["weekday"].value()
    try:
        day = int(raw)
    except (TypeError, ValueError):
        return 0
    return day if 0 <= day <= 6 else 0


HoursFormSet = forms.formset_factory(
    HoursRowForm, formset=BaseHoursFormSet, extra=0, can_delete=True, max_num=7 * 48
)


def hours_initial(ranges: list[tuple[int, time, time]]) -> list[dict[str, Any]]:
    """Existing ranges plus one empty row per weekday, to fill in without JavaScript (with
    it, the spare rows stay out of sight until "Add hours" asks for a row)."""
    rows = [{"weekday": day, "start": start, "end": end} for day, start, end in sorted(ranges)]
    rows += [{"weekday": day} for day in range(7)]
    return sorted(rows, key=lambda row: (row["weekday"], "start" not in row))


# --- date overrides ------------------------------------------------------------------------


class RangesWidget(forms.Widget):
    """Any number of time ranges, posted as pairs of repeated `<name>-start` / `<name>-end`
    time inputs (the same control as the weekly hours). Unnumbered, so the editor's script
    adds or removes a range without renumbering anything; each pair stays in page order."""

    def value_from_datadict(self, data: Any, files: Any, name: str) -> list[list[str]]:
        getlist = getattr(data, "getlist", None)
        if getlist is None:
            return []
        starts, ends = getlist(f"{name}-start"), getlist(f"{name}-end")
        pairs = itertools.zip_longest(starts, ends, fillvalue="")
        return [[str(start).strip(), str(end).strip()] for start, end in pairs]


class RangesField(forms.Field):
    """The ranges as typed, [["09:00", "12:00"], ...]; a pair left blank is an unused row.
    The form checks them (it reports each problem beside its own range)."""

    widget = RangesWidget

    def to_python(self, value: Any) -> list[list[str]]:
        if not isinstance(value, list | tuple):
            return []
        pairs = [
            [str(p[0]), str(p[1])] for p in value if isinstance(p, list | tuple) and len(p) == 2
        ]
        return [pair for pair in pairs if pair[0] or pair[1]]

    def has_changed(self, initial: Any, data: Any) -> bool:
        return self.to_python(initial or []) != self.to_python(data)


def check_pairs(pairs: list[list[str]]) -> tuple[list[list[str]], dict[int, list[str]]]:
    """Typed ranges -> (sorted "HH:MM" pairs, {index of a bad pair: its problems})."""
    errors: dict[int, list[str]] = defaultdict(list)
    parsed: list[tuple[time, time, int]] = []
    for i, (start_text, end_text) in enumerate(pairs):
        if not start_text:
            errors[i].append(gettext("Give the time the range starts."))
            continue
        if not end_text:
            errors[i].append(gettext("Give the time the range ends."))
            continue
        try:
            start, end = _time(start_text), _time(end_text)
            check_range(start, end)
        except ValidationError as exc:
            errors[i].extend(exc.messages)
            continue
        parsed.append((start, end, i))
    parsed.sort()
    for (start1, end1, _), (start2, _, i) in itertools.pairwise(parsed):
        if end1 == time(0) or start2 < end1:
            errors[i].append(
                gettext("Overlaps %(range)s: ranges can't overlap.")
                % {"range": f"{_fmt(start1)}{DASH}{_fmt(end1)}"}
            )
    return [[_fmt(start), _fmt(end)] for start, end, _ in parsed], dict(errors)


def _time(text: str) -> time:
    try:
        return time.fromisoformat(text.zfill(5))
    except ValueError:
        raise ValidationError(
            gettext("“%(text)s” is not a time of day.") % {"text": text}
        ) from None


class OverrideRowForm(forms.Form):
    date = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    closed = forms.BooleanField(required=False, label=gettext_lazy("Closed all day"))
    hours = RangesField(required=False, label=gettext_lazy("Hours"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pair_errors: dict[int, list[str]] = {}

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        day, closed, pairs = data.get("date"), data.get("closed"), data.get("hours") or []
        if day is None and not closed and not pairs:
            if not self.has_error("date"):
                data["empty"] = True
            return data
        if day is None:
            if not self.has_error("date"):
                self.add_error("date", gettext("Give the date this applies to."))
            return data
        if closed:
            data["ranges"] = []  # closed wins over any hours left in the row
            return data
        if not pairs:
            self.add_error(
                "hours", gettext("Give the hours for this date, or tick “Closed all day”.")
            )
            return data
        ranges, self.pair_errors = check_pairs(pairs)
        for messages in self.pair_errors.values():
            for message in messages:
                self.add_error("hours", message)
        if not self.pair_errors:
            data["ranges"] = ranges
        return data

    @property
    def range_rows(self) -> list[tuple[str, str, list[str]]]:
        """(start, end, problems) of each range to show: as typed after a refused save."""
        pairs = self.fields["hours"].to_python(self["hours"].value())
        return [(start, end, self.pair_errors.get(i, [])) for i, (start, end) in enumerate(pairs)]

    @property
    def is_blank(self) -> bool:
        """Nothing in it: the spare row offered to fill in without JavaScript."""
        if self.is_bound and self.errors:
            return False
        return not (self["date"].value() or self["closed"].value() or self.range_rows)


class BaseOverrideFormSet(forms.BaseFormSet):
    def clean(self) -> None:
        seen: set[date] = set()
        for form in self.forms:
            if self._should_delete_form(form) or not hasattr(form, "cleaned_data"):
                continue
            day = form.cleaned_data.get("date")
            if form.cleaned_data.get("empty") or day is None:
                continue
            if day in seen:
                form.add_error(
                    "date",
                    gettext("Another row already sets %(day)s.") % {"day": f"{day:%Y-%m-%d}"},
                )
            seen.add(day)

    def overrides(self) -> list[tuple[date, list[list[str]]]]:
        rows = []
        for form in self.forms:
            data = form.cleaned_data
            # An added row left untouched is skipped by Django's own cleaning: no data at all.
            if self._should_delete_form(form) or not data or data.get("empty"):
                continue
            rows.append((data["date"], data["ranges"]))
        return sorted(rows)


OverrideFormSet = forms.formset_factory(
    OverrideRowForm, formset=BaseOverrideFormSet, extra=0, can_delete=True, max_num=1000
)


def overrides_initial(overrides: list[tuple[date, list[list[str]]]]) -> list[dict[str, Any]]:
    """Existing overrides plus one empty row, to fill in without JavaScript."""
    rows: list[dict[str, Any]] = [
        {"date": day, "closed": not hours, "hours": hours} for day, hours in overrides
    ]
    return [*rows, {}]


# --- questions -----------------------------------------------------------------------------


class OptionsField(forms.CharField):
    """A choice question's options, one per line, as a list."""

    widget = forms.Textarea(attrs={"rows": 3, "placeholder": gettext_lazy("One option per line")})

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list):
            return "\n".join(str(v) for v in value)
        return value

    def to_python(self, value: Any) -> list[str]:
        text = super().to_python(value)
        return [line.strip() for line in text.splitlines() if line.strip()]

    def has_changed(self, initial: Any, data: Any) -> bool:
        # No options and an empty box are the same, so a blank new question stays unchanged.
        return list(initial or []) != self.to_python(data)


class QuestionForm(forms.ModelForm):
    choices = OptionsField(required=False, label=gettext_lazy("Options"), max_length=5000)
    # With JavaScript the editor hides it and keeps it in screen order ("Move up"/"Move
    # down"); without, people type the order. Blank sorts last.
    position = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=10_000,
        label=gettext_lazy("Order"),
        widget=forms.NumberInput(attrs={"min": 0, "class": "narrow"}),
    )

    class Meta:
        model = Question
        fields = ["label", "kind", "choices", "required", "position"]
        labels = {
            "label": gettext_lazy("Question"),
            "kind": gettext_lazy("Answer"),
            "required": gettext_lazy("Required"),
        }

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        # Options only mean something for a choice; switching a question to text keeps
        # nothing stale behind.
        if data.get("kind") != QuestionKind.CHOICE:
            data["choices"] = []
        return data

    def has_changed(self) -> bool:
        # The script numbers every row it shows, an added one left blank too: a new question
        # with nothing but a position is still a blank row, to be ignored.
        changed = self.changed_data
        if self.instance.pk is None:
            changed = [name for name in changed if name != "position"]
        return bool(changed)

    @property
    def is_blank(self) -> bool:
        """A new question with nothing typed: the spare row offered without JavaScript."""
        if self.instance.pk is not None:
            return False
        return not self.is_bound or not (self.has_changed() or self.errors)


class BaseQuestionFormSet(forms.BaseModelFormSet):
    def clean(self) -> None:
        super().clean()
        # Django silently skips a row whose id is not among this page's questions (deleted
        # meanwhile, or tampered with); say so instead of dropping the edit.
        for form in self.initial_forms:
            if form.instance._state.adding:
                raise ValidationError(
                    "A question was deleted meanwhile or is not one of this page's: reload the "
                    "page and make your changes again."
                )

    def save_in_order(self, page: BookingPage) -> None:
        """Save the questions kept, numbered 0, 1, 2… in the order asked for (each row's
        position, ties in row order), so removing or adding one leaves no gaps or
        duplicates behind. Questions keep their ids: answers are stored under them."""
        kept = [
            form
            for form in self.forms
            if not self._should_delete_form(form)
            and (form.instance.pk is not None or form.has_changed())
        ]
        # sorted() is stable: rows with the same (or no) position stay in page order.
        kept.sort(key=lambda form: _order_key(form.cleaned_data.get("position")))
        for position, form in enumerate(kept):
            question = form.save(commit=False)
            question.page = page
            question.position = position
            question.save()
        for form in self.deleted_forms:
            if form.instance.pk is not None:
                form.instance.delete()


def _order_key(position: int | None) -> tuple[bool, int]:
    return (position is None, position or 0)


def question_initial(page: BookingPage | None) -> list[dict[str, Any]]:
    """The spare question row comes after the existing ones (typed orders may have gaps)."""
    last = max((q.position for q in page.questions.all()), default=-1) if page else -1
    return [{"position": last + 1}]


QuestionFormSet = forms.modelformset_factory(
    Question,
    form=QuestionForm,
    formset=BaseQuestionFormSet,
    extra=1,
    can_delete=True,
    max_num=100,
)


class AddOwnerForm(forms.Form):
    email = forms.EmailField(
        label=gettext_lazy("Calendar owner's email"),
        widget=forms.EmailInput(attrs={"placeholder": "someone@example.com"}),
    )

    def clean_email(self) -> str:
        return self.cleaned_data["email"].strip().lower()


class CancelForm(forms.Form):
    reason = forms.CharField(
        required=False,
        max_length=500,
        label=gettext_lazy("Reason (sent to the customer)"),
        widget=forms.TextInput(),
    )


# --- team pages ----------------------------------------------------------------------------


class AddMemberForm(forms.Form):
    who = forms.CharField(
        label=gettext_lazy("Username or email of a staff member"),
        max_length=254,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )

    def __init__(self, *args: Any, page: BookingPage, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.page = page

    def clean_who(self) -> Any:
        who = self.cleaned_data["who"].strip()
        users = get_user_model().objects.filter(is_active=True, is_staff=True)
        matches = list(users.filter(Q(username__iexact=who) | Q(email__iexact=who))[:2])
        if not matches:
            raise ValidationError(
                gettext("No staff member has the username or email “%(who)s”.") % {"who": who}
            )
        if len(matches) > 1:
            raise ValidationError(
                gettext("More than one staff member matches “%(who)s”: use a username.")
                % {"who": who}
            )
        user = matches[0]
        # Someone who declined may be invited again; anyone else is on the team already.
        if self.page.members.filter(user=user).exclude(state=MemberState.DECLINED).exists():
            name = user.get_full_name() or user.get_username()
            raise ValidationError(gettext("%(name)s is already on this team.") % {"name": name})
        return user


class MemberForm(forms.ModelForm):
    """What the page's owner sets for one member."""

    class Meta:
        model = TeamMember
        fields = ["tier", "weight", "required", "max_per_day", "max_per_week"]
        labels = {
            "tier": gettext_lazy("Priority tier"),
            "required": gettext_lazy("Required"),
            "max_per_day": gettext_lazy("Most bookings a day"),
            "max_per_week": gettext_lazy("Most bookings a week"),
        }
        help_texts = {
            "tier": gettext_lazy("0 to 9: lower tiers are offered first."),
            "weight": gettext_lazy("1 to 100: share within the tier."),
            "required": gettext_lazy("Collective: the meeting needs them."),
            "max_per_day": gettext_lazy("Blank: no limit."),
            "max_per_week": gettext_lazy("Blank: no limit."),
        }
        widgets = {
            "tier": forms.NumberInput(attrs={"min": 0, "max": 9, "class": "narrow"}),
            "weight": forms.NumberInput(attrs={"min": 1, "max": 100, "class": "narrow"}),
            "max_per_day": forms.NumberInput(attrs={"min": 1, "class": "narrow"}),
            "max_per_week": forms.NumberInput(attrs={"min": 1, "class": "narrow"}),
        }

    def __init__(self, *args: Any, mode: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Tiers and weights rank round robin's members; "required" is collective's.
        drop = ["required"] if mode == TeamMode.ROUND_ROBIN else ["tier", "weight"]
        for name in drop:
            del self.fields[name]


class MemberHoursForm(forms.Form):
    """A member's own weekly hours on one page: the editor's weekly rows, and a zone."""

    hours_zone = forms.CharField(
        required=False,
        max_length=64,
        label=gettext_lazy("Time zone of these hours"),
        help_text=gettext_lazy("Blank: the page's time zone."),
        widget=forms.TextInput(
            attrs={"list": "timezones", "autocomplete": "off", "spellcheck": "false"}
        ),
    )

    def clean_hours_zone(self) -> str:
        typed = self.cleaned_data["hours_zone"].strip()
        if not typed:
            return ""
        zone = zones.resolve(typed) or typed
        validate_timezone(zone)
        return zone


def member_hours_rows(ranges: list[tuple[int, time, time]]) -> list[dict[str, Any]]:
    """The weekly rows as TeamMember.weekly_hours stores them, checked by the model's rule."""
    rows = [{"weekday": day, "start": _fmt(start), "end": _fmt(end)} for day, start, end in ranges]
    parse_member_hours(rows)
    return rows


def member_hours_ranges(member: TeamMember) -> list[tuple[int, time, time]]:
    return [(day, start, end) for day, pairs in member.weekly().items() for start, end in pairs]


class PhotoForm(forms.Form):
    photo = forms.FileField(
        label=gettext_lazy("Photo"),
        help_text=gettext_lazy(
            "PNG, JPEG or WebP, at most 200 KB. Customers see it on team pages."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": "image/png,image/jpeg,image/webp"}),
    )

    def clean_photo(self) -> bytes:
        upload = self.cleaned_data["photo"]
        if upload.size > MAX_PHOTO_BYTES:
            raise ValidationError(
                gettext("This photo is %(size)s KB: a photo may be at most 200 KB.")
                % {"size": upload.size // 1024}
            )
        data = upload.read(MAX_PHOTO_BYTES + 1)
        if len(data) > MAX_PHOTO_BYTES:
            raise ValidationError(gettext("A photo may be at most 200 KB."))
        if not photo_type(data):
            raise ValidationError(gettext("Upload a PNG, JPEG or WebP image."))
        return data
