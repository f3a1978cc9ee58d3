"""Staff pages: booking pages (settings, hours, overrides, questions), the calendars that feed
each page, and the bookings made on them.

Every view finds its objects through `_pages(request)` / `_bookings(request)`, which hold only
the signed-in user's own (a superuser's: everyone's), so another user's id is a 404. On team
pages a member also reaches their own membership and calendars (looked up with their user) and
the bookings they attend; only the page's owner changes the team.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_POST

from bookings import actions, owner_hours, team, write_status, zones
from bookings.export import write_csv
from bookings.forms import (
    DASH,
    AddMemberForm,
    AddOwnerForm,
    BookingPageForm,
    CancelForm,
    HoursFormSet,
    MemberForm,
    MemberHoursForm,
    OverrideFormSet,
    PhotoForm,
    QuestionFormSet,
    hours_initial,
    member_hours_ranges,
    member_hours_rows,
    overrides_initial,
    question_initial,
)
from bookings.models import (
    PERMISSION_HINT,
    WEEKDAYS,
    Booking,
    BookingMember,
    BookingPage,
    BookingStatus,
    EventWrite,
    MemberState,
    PageCalendar,
    PageCalendarOwner,
    Question,
    StaffProfile,
    TeamMember,
    TeamMode,
    calendar_roles,
    photo_type,
    role_problem,
    save_roles,
)
from bookings.slots import AvailabilityUnknown, schedule_for, slots_for
from bookings.teams_admin import CalendarScope, own_mailbox
from calendars import discovery
from calendars.connect import connection_for
from calendars.models import (
    CalendarRef,
    CalendarRole,
    ExchangeConnection,
    Protocol,
)

# --- whose objects -------------------------------------------------------------------------


def _pages(request: HttpRequest) -> QuerySet[BookingPage]:
    pages = BookingPage.objects.select_related("owner")
    if request.user.is_superuser:
        return pages
    return pages.filter(owner=request.user)


def _bookings(request: HttpRequest) -> QuerySet[Booking]:
    """The bookings the user reaches: their own, those of their pages (a team page's are
    its members'), and those they attend as a team member. A subquery rather than a join
    on attendees, so each booking comes once."""
    bookings = Booking.objects.select_related("page", "owner")
    if request.user.is_superuser:
        return bookings
    attending = BookingMember.objects.filter(user=request.user).values("booking_id")
    return bookings.filter(
        Q(owner=request.user) | Q(page__owner=request.user) | Q(pk__in=attending)
    )


def _listed_pages(request: HttpRequest) -> list[BookingPage]:
    """The pages the booking list offers as a filter: the user's own, and the team pages
    they are an active member of."""
    pages = _pages(request)
    if request.user.is_superuser:
        return list(pages)
    theirs = TeamMember.objects.filter(user=request.user, state=MemberState.ACTIVE)
    return list(
        BookingPage.objects.select_related("owner").filter(
            Q(owner=request.user) | Q(pk__in=theirs.values("page_id"))
        )
    )


def _fmt_span(start: datetime, end: datetime, zone: Any) -> str:
    local_start, local_end = start.astimezone(zone), end.astimezone(zone)
    day = f"{local_start:%a} {local_start.day} {local_start:%b %Y}"
    return f"{day}, {local_start:%H:%M}{DASH}{local_end:%H:%M}"


# --- booking pages -------------------------------------------------------------------------


@login_required
def page_list(request: HttpRequest) -> HttpResponse:
    pages = list(_pages(request))
    now = timezone.now()
    rows = []
    for page in pages:
        upcoming = page.bookings.filter(status=BookingStatus.CONFIRMED, start__gte=now).count()
        rows.append(
            {
                "page": page,
                "upcoming": upcoming,
                "problems": page.setup_problems(),
                "not_ready": page.not_ready_reason(),
            }
        )
    return render(request, "bookings/staff/page_list.html", {"rows": rows})


@login_required
def page_new(request: HttpRequest) -> HttpResponse:
    return _editor(request, None)


@login_required
def page_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _editor(request, get_object_or_404(_pages(request), pk=pk))


def _editor(request: HttpRequest, page: BookingPage | None) -> HttpResponse:
    """One form for everything: a save either stores all of it or none of it."""
    questions = page.questions.all() if page else Question.objects.none()
    if request.method == "POST":
        # Validation writes the submitted values onto the instance; the page header must keep
        # showing the saved title and link when the save is refused, so the form gets a copy.
        editing = BookingPage.objects.get(pk=page.pk) if page else None
        form = BookingPageForm(request.POST, request.FILES, instance=editing)
        # While the page uses the owner's Outlook hours its own rows (management form and
        # all) are shown disabled, and disabled fields are not submitted: then the stored rows
        # stay as they are, to come back when the option is turned off.
        uses_owner_hours = bool(page and page.use_owner_working_hours) or bool(
            request.POST.get("use_owner_working_hours")
        )
        hours_editable = "hours-TOTAL_FORMS" in request.POST or not uses_owner_hours
        hours = (
            HoursFormSet(request.POST, prefix="hours")
            if hours_editable
            else HoursFormSet(prefix="hours", initial=hours_initial(_stored_hours(page)))
        )
        overrides = OverrideFormSet(request.POST, prefix="overrides")
        question_forms = QuestionFormSet(
            request.POST, prefix="questions", queryset=questions, initial=question_initial(page)
        )
        valid = [f.is_valid() for f in (form, overrides, question_forms)]
        valid.append(hours.is_valid() if hours_editable else True)
        if all(valid):
            created = page is None
            was_using_owner_hours = bool(page and page.use_owner_working_hours)
            with transaction.atomic():
                page = form.save(commit=False)
                if created:
                    page.owner = request.user
                page.save()
                form.save_image(page)
                _save_schedule(page, hours if hours_editable else None, overrides, question_forms)
                if created and not page.is_team:
                    # The owner's own calendar is the one every page starts from.
                    PageCalendarOwner.objects.get_or_create(
                        page=page, member=None, email=own_mailbox(request.user)
                    )
            if page.use_owner_working_hours:
                read = (
                    owner_hours.refresh(page)
                    if not was_using_owner_hours
                    else owner_hours.refresh_if_needed(page)
                )
                if read is False:
                    messages.warning(request, page.owner_hours_error_text)
            if created and page.is_team:
                messages.success(
                    request,
                    _("Team page created. Next, add its members: each chooses their calendars."),
                )
                return redirect("page-team", pk=page.pk)
            if created:
                messages.success(
                    request, _("Booking page created. Next, choose the calendars it uses.")
                )
                return redirect("page-calendars", pk=page.pk)
            messages.success(request, _("Saved."))
            return redirect("page-edit", pk=page.pk)
        status = 400
    else:
        status = 200
        if page is None:
            # The zone of the owner's latest page; the browser's own fills in a first page's.
            latest = _pages(request).filter(owner=request.user).order_by("-created").first()
            form = BookingPageForm(initial={"timezone": latest.timezone if latest else ""})
            initial_hours = [(day, time(9), time(17)) for day in range(5)]
            initial_overrides: list = []
        else:
            form = BookingPageForm(instance=page)
            initial_hours = _stored_hours(page)
            initial_overrides = [(o.date, o.hours) for o in page.overrides.all()]
        hours = HoursFormSet(prefix="hours", initial=hours_initial(initial_hours))
        overrides = OverrideFormSet(
            prefix="overrides", initial=overrides_initial(initial_overrides)
        )
        question_forms = QuestionFormSet(
            prefix="questions", queryset=questions, initial=question_initial(page)
        )

    context = {
        "page": page,
        "form": form,
        "owner_hours": _owner_hours_context(page),
        "hours": hours,
        "overrides": overrides,
        "questions": question_forms,
        "timezones": sorted(zones.offered()),  # canonical zones only, no aliases
        "has_errors": status == 400,
        "has_bookings": bool(page and page.bookings.exists()),
        "teams_unavailable": _teams_unavailable(request.user, page),
        "my_membership": _my_membership(request, page),
    }
    return render(request, "bookings/staff/page_edit.html", context, status=status)


def _my_membership(request: HttpRequest, page: BookingPage | None) -> TeamMember | None:
    """The signed-in user's place on this team page (to link their calendars), if any."""
    if page is None or not page.is_team:
        return None
    return page.members.filter(
        user=request.user, state__in=[MemberState.INVITED, MemberState.ACTIVE]
    ).first()


def _teams_unavailable(user: AbstractBaseUser, page: BookingPage | None) -> str:
    """Why this page can't create Teams meetings, or "": only Exchange Online can, through
    Microsoft Graph (EWS's IsOnlineMeeting is read-only)."""
    main = page.main_calendar() if page else None
    if main is not None:
        if main.calendar.reached_over_graph():
            return ""
        return _(
            "This page's main booking calendar is on Exchange Server (EWS), which can't create "
            "Microsoft Teams meetings: they need a main booking calendar in Exchange Online, "
            "reached through Microsoft Graph."
        )
    conn = connection_for(user)
    if conn is None or conn.protocol != Protocol.EWS:
        return ""  # no calendar chosen yet, and one in Exchange Online can be
    return _(
        "Your Exchange connection is on Exchange Server (EWS), which can't create Microsoft "
        "Teams meetings: they need a main booking calendar in Exchange Online, reached through "
        "Microsoft Graph."
    )


def _save_schedule(
    page: BookingPage,
    hours: Any,
    overrides: Any,
    question_forms: Any,
) -> None:
    page.replace_schedule(
        weekly_hours=None
        if hours is None
        else ({"weekday": day, "start": start, "end": end} for day, start, end in hours.ranges()),
        overrides=({"date": day, "hours": ranges} for day, ranges in overrides.overrides()),
    )
    question_forms.save_in_order(page)


def _stored_hours(page: BookingPage | None) -> list[tuple[int, time, time]]:
    return [(h.weekday, h.start, h.end) for h in page.weekly_hours.all()] if page else []


def _owner_hours_context(page: BookingPage | None) -> dict[str, Any] | None:
    """What the editor shows of the Outlook working hours last read (None: never read)."""
    if page is None or page.owner_hours_read_at is None:
        return None
    zone = page.owner_hours_zone or "UTC"
    # Each column in its own zone: a range that crosses the page's midnight shows on two of
    # the page's days (a Sydney Monday morning is a London Sunday evening and Monday night).
    theirs = dict(owner_hours.describe(page))
    ours = dict(owner_hours.describe(page, in_zone=page.timezone))
    return {
        "email": page.owner_hours_email,
        "zone": zone,
        "zone_note": page.owner_hours_zone_note,
        "rows": [
            (day, theirs.get(day, ""), ours.get(day, ""))
            for day in WEEKDAYS
            if day in theirs or day in ours
        ],
        "same_zone": zone == page.timezone,
        "read_at": page.owner_hours_read_at,
    }


@login_required
@require_POST
def page_owner_hours_refresh(request: HttpRequest, pk: int) -> HttpResponse:
    """Read again now: the owner changed their work hours in Outlook a minute ago."""
    page = get_object_or_404(_pages(request), pk=pk)
    if owner_hours.refresh(page):
        messages.success(request, _("Working hours read again from Exchange."))
    else:
        messages.warning(request, page.owner_hours_error_text)
    return redirect(reverse("page-edit", args=[page.pk]) + "#weekly-hours")


@login_required
@require_POST
def page_delete(request: HttpRequest, pk: int) -> HttpResponse:
    page = get_object_or_404(_pages(request), pk=pk)
    count = page.bookings.count()
    if count:
        return render(
            request,
            "bookings/staff/page_delete_refused.html",
            {"page": page, "count": count},
            status=409,
        )
    title = page.title
    page.delete()
    messages.success(request, _("“%(title)s” was deleted.") % {"title": title})
    return redirect("page-list")


@login_required
@require_POST
def page_deactivate(request: HttpRequest, pk: int) -> HttpResponse:
    page = get_object_or_404(_pages(request), pk=pk)
    page.active = False
    page.save(update_fields=["active", "updated"])
    messages.success(
        request,
        _("“%(title)s” is deactivated: it takes no new bookings. Its bookings stay.")
        % {"title": page.title},
    )
    return redirect("page-edit", pk=page.pk)


# --- associated calendars ------------------------------------------------------------------

ROLE_ORDER = [CalendarRole.MAIN, CalendarRole.BUSY, CalendarRole.ADDITIONAL]


@dataclass
class CalendarRow:
    ref: CalendarRef
    role: str
    options: list[dict[str, Any]] = field(default_factory=list)
    refusal: str = ""  # why main/additional booking aren't offered
    problem: str = ""  # what broke since the role was chosen
    error: str = ""  # why the role just submitted was refused

    # The explanations behind `refusal`, `problem` and `error`, said once per owner's card.
    notes: list[str] = field(default_factory=list)

    @property
    def permission(self) -> str:
        return self.ref.permission_label

    @property
    def field_name(self) -> str:
        return f"role-{self.ref.pk}"


@dataclass
class OwnerSection:
    owner: PageCalendarOwner
    rows: list[CalendarRow]
    message: str = ""

    @property
    def notes(self) -> list[str]:
        """Each explanation the rows point to, once: an owner's calendars usually share
        one reason (the permission they gave, or their consent)."""
        return list(dict.fromkeys(note for row in self.rows for note in row.notes))


def _sections(
    scope: CalendarScope,
    connection: ExchangeConnection | None,
    roles: dict[int, str] | None = None,
    errors: dict[int, str] | None = None,
    messages_by_owner: dict[str, str] | None = None,
) -> list[OwnerSection]:
    """Every owner's calendars as the connection sees them, with roles and what's wrong."""
    current = {
        pc.calendar_id: pc
        for pc in scope.page_calendars().select_related("calendar", "page__owner", "member__user")
    }
    sections = []
    for owner in scope.owners():
        found = (
            CalendarRef.objects.filter(
                connection=connection, owner_email=owner.email
            ).select_related("connection")
            if connection
            else CalendarRef.objects.none()
        )
        # A calendar no longer shared is only worth showing where it still has a role here;
        # then it stays visible (even from an earlier connection): its problem must be seen.
        refs = [ref for ref in found if not ref.error or ref.pk in current]
        known = {ref.pk for ref in refs}
        refs += [
            pc.calendar
            for pc in current.values()
            if pc.calendar.owner_email == owner.email and pc.calendar_id not in known
        ]
        rows = []
        for ref in refs:
            pc = current.get(ref.pk)
            role = (roles or {}).get(ref.pk, pc.role if pc else "")
            rows.append(_row(ref, role, pc, (errors or {}).get(ref.pk, ""), scope.user))
        message = (messages_by_owner or {}).get(owner.email, "")
        sections.append(OwnerSection(owner, rows, message))
    return sections


def _row(
    ref: CalendarRef, role: str, pc: PageCalendar | None, error: str, owner: Any
) -> CalendarRow:
    roles, refusal = calendar_roles(ref, owner)
    allowed = set(roles)
    options = [{"value": "", "label": CalendarRole.NONE.label, "allowed": True}]
    for value in ROLE_ORDER:
        ok = value in allowed
        options.append(
            {
                "value": value.value,
                "label": value.label if ok else _("%(role)s (not allowed)") % {"role": value.label},
                # The role it has now stays selectable, so the form round-trips and saving
                # explains why it must change.
                "allowed": ok or role == value.value,
            }
        )
    # How to get Editor granted, or whose consent is missing, is the same for every calendar
    # of an owner: the row says what is refused, the owner's card says why and how, once.
    notes = []
    if ref.error:
        short = refusal
    elif not ref.can_create:
        short = _("Busy time only (see below).")
        notes.append(_PERMISSION_NOTE)
    elif refusal:
        short = _("Busy time only (see below).")
        notes.append(refusal)
    else:
        short = ""
    problem = pc.problem() if pc and pc.role else ""
    hint = str(PERMISSION_HINT)
    if hint in problem or hint in error:
        problem = problem.replace(hint, "").strip()
        error = error.replace(hint, "").strip()
        notes.append(_PERMISSION_NOTE)
    return CalendarRow(
        ref=ref,
        role=role,
        options=options,
        refusal=short,
        problem=problem,
        error=error,
        notes=notes,
    )


_PERMISSION_NOTE = format_lazy(
    "{} {}",
    gettext_lazy("Why busy time only: bookings need Editor or Delegate permission."),
    PERMISSION_HINT,
)


def _discover(
    scope: CalendarScope, connection: ExchangeConnection, *, only_missing: bool
) -> dict[str, str]:
    """Run discovery for the scope's calendar owners; returns why an owner shows nothing."""
    found = {}
    for owner in scope.owners():
        if (
            only_missing
            and CalendarRef.objects.filter(connection=connection, owner_email=owner.email).exists()
        ):
            continue
        result = discovery.discover(connection, owner.email)
        if result.message:
            found[owner.email] = result.message
    return found


@login_required
def page_calendars(request: HttpRequest, pk: int) -> HttpResponse:
    page = get_object_or_404(_pages(request), pk=pk)
    if page.is_team:
        # A team page books into its members' calendars, each chosen by the member.
        return redirect("page-team", pk=page.pk)
    return _calendars(request, CalendarScope(page))


@login_required
def member_calendars(request: HttpRequest, pk: int, member_pk: int) -> HttpResponse:
    """A member's own calendars on a team page: only they choose them (their consent to be
    booked is theirs to give), the page's owner sees them in the team section."""
    member = get_object_or_404(
        TeamMember.objects.select_related("page__owner", "user"),
        pk=member_pk,
        page_id=pk,
        user=request.user,
        state__in=[MemberState.INVITED, MemberState.ACTIVE],
    )
    if not member.page.is_team:
        raise Http404("Not a team page.")
    return _calendars(request, CalendarScope(member.page, member))


def _calendars(request: HttpRequest, scope: CalendarScope) -> HttpResponse:
    page, member = scope.page, scope.member
    connection = connection_for(scope.user)
    add_form = AddOwnerForm()
    roles: dict[int, str] | None = None
    errors: dict[int, str] = {}
    form_errors: list[str] = []
    found: dict[str, str] = {}
    hours_forms = _member_hours_forms(member)
    status = 200

    if not scope.owners().exists():
        PageCalendarOwner.objects.get_or_create(
            page=page, member=member, email=own_mailbox(scope.user)
        )

    action = request.POST.get("action", "") if request.method == "POST" else ""
    if action in ("refresh", "save_roles") and connection is None:
        form_errors.append(str(_NO_CONNECTION))
        status = 409
    elif action == "add_owner":
        add_form = AddOwnerForm(request.POST)
        if add_form.is_valid():
            email = add_form.cleaned_data["email"]
            if scope.owners().filter(email=email).exists():
                add_form.add_error(
                    "email", _("%(email)s is already on this page.") % {"email": email}
                )
            elif connection and (refusal := discovery.refusal_to_add(connection, email)):
                add_form.add_error("email", refusal)
            else:
                # Without a connection nothing can be checked yet: the owner is listed, and
                # discovery on a later GET explains what it finds.
                PageCalendarOwner.objects.create(page=page, member=member, email=email)
                return redirect(scope.url())
        status = 400
    elif action == "remove_owner":
        owner = get_object_or_404(scope.owners(), pk=_int(request.POST.get("owner")))
        with transaction.atomic():
            scope.page_calendars().filter(calendar__owner_email=owner.email).delete()
            owner.delete()
        messages.success(
            request,
            _("%(email)s and their calendars were removed from the page.") % {"email": owner.email},
        )
        return redirect(scope.url())
    elif action == "use_own_main":
        return _use_own_main(request, scope, connection)
    elif action == "refresh":
        assert connection is not None
        found = _discover(scope, connection, only_missing=False)
        messages.info(request, _("Calendars refreshed from Exchange."))
    elif action == "save_roles":
        assert connection is not None
        roles, errors, form_errors = _validate_roles(request, scope, connection)
        if not errors and not form_errors:
            save_roles(page, roles, member=member)
            messages.success(request, _("Calendar roles saved."))
            # A new main calendar may be someone else's: the page uses its owner's hours.
            if member is None and owner_hours.refresh_if_needed(page) is False:
                messages.warning(request, page.owner_hours_error_text)
            return redirect(scope.url())
        status = 400
    elif action == "save_hours" and member is not None and page.members_own_hours:
        hours_forms = _member_hours_forms(member, request.POST)
        if _save_member_hours(member, *hours_forms):
            messages.success(
                request,
                _("Your hours on this page are saved.")
                if member.weekly_hours
                else _("No hours of your own: the page's weekly hours apply to you."),
            )
            return redirect(scope.url() + "#own-hours")
        status = 400
    elif request.method == "POST":
        form_errors.append(_("Unknown action."))
        status = 400

    if connection is not None and not found and action != "refresh":
        found = _discover(scope, connection, only_missing=True)
    sections = _sections(scope, connection, roles, errors, found)
    problems = [row.problem for s in sections for row in s.rows if row.problem]
    context = {
        "page": page,
        "member": member,
        "scope_user": scope.user,
        "connection": connection,
        "sections": sections,
        "add_form": add_form,
        "form_errors": form_errors,
        "save_failed": action == "save_roles" and status == 400,
        "problems": problems,
        "permission_hint": PERMISSION_HINT,
        "no_connection": _no_connection(member) if connection is None else "",
        "not_ready": scope.not_ready(),
        "has_main": scope.has_main(),
        "own_main": _own_main_proposal(scope, connection),
        "hours_form": hours_forms[0] if member is not None else None,
        "hours": hours_forms[1] if member is not None else None,
        "hours_failed": action == "save_hours" and status == 400,
        "timezones": sorted(zones.offered()) if member is not None else [],
        "my_membership": member,
    }
    return render(request, "bookings/staff/page_calendars.html", context, status=status)


def _member_hours_forms(member: TeamMember | None, data: Any = None) -> tuple[MemberHoursForm, Any]:
    """The form of a member's own weekly hours on a page (and their zone)."""
    if member is None:
        return MemberHoursForm(), None
    if data is not None:
        return MemberHoursForm(data), HoursFormSet(data, prefix="hours")
    initial = hours_initial(member_hours_ranges(member))
    return (
        MemberHoursForm(initial={"hours_zone": member.hours_zone}),
        HoursFormSet(prefix="hours", initial=initial),
    )


def _save_member_hours(member: TeamMember, form: MemberHoursForm, hours: Any) -> bool:
    if not (form.is_valid() and hours.is_valid()):
        return False
    try:
        rows = member_hours_rows(hours.ranges())
    except ValidationError as exc:
        hours._non_form_errors = hours.error_class(exc.messages)
        return False
    member.weekly_hours = rows
    member.hours_zone = form.cleaned_data["hours_zone"]
    member.save(update_fields=["weekly_hours", "hours_zone"])
    return True


def _own_main_proposal(
    scope: CalendarScope, connection: ExchangeConnection | None
) -> CalendarRef | None:
    """The scope's user's own primary calendar (the page owner's, or the member's), offered
    with one click as the main booking calendar when there is none, when the connection may
    book into it (Editor or Delegate, or their own mailbox; role_problem is the rule)."""
    if connection is None or scope.has_main():
        return None
    # Not a row discovery has since found gone (an error of its own): the newest usable one.
    ref = (
        CalendarRef.objects.filter(
            connection=connection,
            owner_email__iexact=own_mailbox(scope.user),
            is_primary=True,
            error="",
        )
        .select_related("connection")
        .order_by("-pk")
        .first()
    )
    if ref is None or role_problem(ref, CalendarRole.MAIN, scope.user):
        return None
    return ref


def _use_own_main(
    request: HttpRequest, scope: CalendarScope, connection: ExchangeConnection | None
) -> HttpResponse:
    page = scope.page
    ref = _own_main_proposal(scope, connection)
    if ref is None:
        # Another tab chose a main calendar, or the permission went, since the page showed.
        messages.warning(
            request,
            _("Your own calendar can't be the main booking calendar now: choose one below.")
            if scope.member is not None
            else _(
                "The owner's own calendar can't be the main booking calendar now: choose one below."
            ),
        )
        return redirect(scope.url())
    with transaction.atomic():
        PageCalendarOwner.objects.get_or_create(
            page=page, member=scope.member, email=ref.owner_email
        )
        save_roles(page, {ref.pk: CalendarRole.MAIN}, member=scope.member)
    messages.success(
        request,
        _("%(calendar)s is the main booking calendar: bookings go into it.") % {"calendar": ref},
    )
    if scope.member is None and owner_hours.refresh_if_needed(page) is False:
        messages.warning(request, page.owner_hours_error_text)
    return redirect(scope.url())


_NO_CONNECTION = gettext_lazy(
    "This page's owner has no Exchange connection yet: connect a calendar (or attach to the "
    "corporate connection) first, then choose the page's calendars here."
)
_NO_MEMBER_CONNECTION = gettext_lazy(
    "You have no Exchange connection yet: connect your calendar (or attach to the corporate "
    "connection) first, then choose your calendars for this page here."
)


def _no_connection(member: TeamMember | None) -> str:
    return str(_NO_CONNECTION if member is None else _NO_MEMBER_CONNECTION)


def _int(value: Any) -> int | None:
    """A database id from a form, or None (not a number, or none a column can hold)."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if 0 < number < 2**31 else None


def _validate_roles(
    request: HttpRequest, scope: CalendarScope, connection: ExchangeConnection
) -> tuple[dict[int, str], dict[int, str], list[str]]:
    rows = {row.ref.pk: row for s in _sections(scope, connection) for row in s.rows}
    valid_roles = {c.value for c in CalendarRole}
    roles: dict[int, str] = {}
    errors: dict[int, str] = {}
    for pk, row in rows.items():
        role = request.POST.get(row.field_name, "")
        roles[pk] = role
        if role not in valid_roles:
            errors[pk] = _("Choose one of the roles offered.")
        elif problem := role_problem(row.ref, role, scope.user):
            errors[pk] = problem
    mains = [pk for pk, role in roles.items() if role == CalendarRole.MAIN]
    form_errors = []
    if not mains:
        form_errors.append(
            _(
                "Choose a main booking calendar: bookings are written there, and the page "
                "takes no bookings without one."
            )
        )
    elif len(mains) > 1:
        names = ", ".join(str(rows[pk].ref) for pk in mains)
        form_errors.append(
            _("Choose exactly one main booking calendar (you chose %(calendars)s).")
            % {"calendars": names}
        )
        for pk in mains:
            errors.setdefault(pk, _("Only one calendar can be the main booking calendar."))
    return roles, errors, form_errors


# --- team pages ----------------------------------------------------------------------------


def _team_page(request: HttpRequest, pk: int) -> tuple[BookingPage, bool]:
    """The team page `pk` as the signed-in user reaches it, and whether they manage it (its
    owner, or a superuser). A member who doesn't manage it reaches their own membership only;
    anyone else gets a 404."""
    page = _pages(request).filter(pk=pk).first()
    if page is not None:
        return page, True
    page = get_object_or_404(
        BookingPage.objects.select_related("owner"), pk=pk, members__user=request.user
    )
    if not page.is_team:
        raise Http404("Not a team page.")
    return page, False


STATE_WORDS = {
    MemberState.INVITED: gettext_lazy(
        "Hasn't answered the invitation yet: takes no bookings until they accept."
    ),
    MemberState.DECLINED: gettext_lazy("Declined the invitation: takes no bookings."),
}
READY = gettext_lazy("Ready: takes bookings.")
NOBODY_YET = gettext_lazy(
    "Nobody on the team has accepted yet: add members (they accept on their dashboard), or "
    "add yourself."
)


@login_required
def page_team(request: HttpRequest, pk: int) -> HttpResponse:
    page, manages = _team_page(request, pk)
    if not page.is_team:
        messages.info(
            request,
            _("This is a personal page: choose a team mode under “Who customers meet” first."),
        )
        return redirect("page-edit", pk=page.pk)
    add_form = AddMemberForm(page=page)
    bound: dict[int, MemberForm] = {}
    status = 200
    error = ""
    if request.method == "POST":
        if not manages:
            raise Http404("Only the page's owner changes its team.")
        action = request.POST.get("action", "")
        if action == "add":
            add_form = AddMemberForm(request.POST, page=page)
            if add_form.is_valid():
                _add_member(request, page, add_form.cleaned_data["who"])
                return redirect("page-team", pk=page.pk)
            status = 400
        elif action in ("update", "remove"):
            member = get_object_or_404(
                page.members.select_related("user"), pk=_int(request.POST.get("member"))
            )
            if action == "remove":
                upcoming = _upcoming_with(member)
                if not upcoming:
                    member.delete()
                    messages.success(
                        request, _("%(name)s is no longer on the team.") % {"name": member.name}
                    )
                    return redirect("page-team", pk=page.pk)
                error = ngettext(
                    "%(name)s can't be removed: they have %(count)d upcoming booking on this "
                    "page. Reassign or cancel it first.",
                    "%(name)s can't be removed: they have %(count)d upcoming bookings on this "
                    "page. Reassign or cancel them first.",
                    upcoming,
                ) % {"name": member.name, "count": upcoming}
                status = 409
            else:
                form = MemberForm(
                    request.POST, instance=member, prefix=f"m{member.pk}", mode=page.team_mode
                )
                if form.is_valid():
                    form.save()
                    messages.success(
                        request, _("%(name)s's settings are saved.") % {"name": member.name}
                    )
                    return redirect(reverse("page-team", args=[page.pk]) + f"#member-{member.pk}")
                bound[member.pk] = form
                status = 400
        else:
            error, status = _("Unknown action."), 400
    return render(
        request,
        "bookings/staff/page_team.html",
        _team_context(request, page, manages, add_form, bound, error),
        status=status,
    )


def _add_member(request: HttpRequest, page: BookingPage, user: Any) -> None:
    # Nobody's calendar fills up with a page they never agreed to: a colleague is invited
    # and accepts first. An administrator adds people at once, and so do you yourself.
    at_once = request.user.is_superuser or user.pk == request.user.pk
    state = MemberState.ACTIVE if at_once else MemberState.INVITED
    now = timezone.now()
    member, created = TeamMember.objects.update_or_create(
        page=page,
        user=user,
        defaults={
            "state": state,
            "invited_by": request.user,
            "answered_at": now if at_once else None,
            "added": now,
        },
    )
    if at_once:
        messages.success(
            request,
            _("%(name)s is on the team. They choose their calendars.") % {"name": member.name},
        )
    else:
        message = (
            _(
                "%(name)s is invited: they accept on their dashboard, then choose "
                "the calendars bookings go into."
            )
            if created
            else _(
                "%(name)s is invited again: they accept on their dashboard, then choose "
                "the calendars bookings go into."
            )
        )
        messages.success(request, message % {"name": member.name})


def _upcoming_with(member: TeamMember) -> int:
    return BookingMember.objects.filter(
        member=member,
        declined_at__isnull=True,
        booking__status=BookingStatus.CONFIRMED,
        booking__end__gte=timezone.now(),
    ).count()


def _team_context(
    request: HttpRequest,
    page: BookingPage,
    manages: bool,
    add_form: AddMemberForm,
    bound: dict[int, MemberForm],
    error: str,
) -> dict[str, Any]:
    schedule = schedule_for(page, fresh=True)
    problems = team.member_problems(page, schedule)
    loads = {row["member"].pk: row for row in team.member_load(page)}
    members = list(page.members.select_related("user"))
    if not manages:
        members = [m for m in members if m.user_id == request.user.pk]
    calendars: dict[int, list[PageCalendar]] = {}
    for pc in (
        PageCalendar.objects.filter(page=page, member__in=members)
        .exclude(role="")
        .select_related("calendar")
        .order_by("-role", "id")
    ):
        calendars.setdefault(pc.member_id or 0, []).append(pc)
    shares = _shares(page, members, loads)
    rows = []
    for m in members:
        readiness = (problems.get(m.pk) or READY) if m.is_active else STATE_WORDS[m.state]
        rows.append(
            {
                "member": m,
                "mine": m.user_id == request.user.pk,
                "ready": m.is_active and not problems.get(m.pk),
                "readiness": readiness,
                "load": loads.get(m.pk),
                "share": shares.get(m.pk),
                "calendars": calendars.get(m.pk, []),
                "form": bound.get(m.pk)
                or MemberForm(instance=m, prefix=f"m{m.pk}", mode=page.team_mode),
            }
        )
    return {
        "page": page,
        "my_membership": _my_membership(request, page),
        "manages": manages,
        "rows": rows,
        "add_form": add_form,
        "error": error,
        "round_robin": page.team_mode == TeamMode.ROUND_ROBIN,
        "not_ready": team.not_ready_reason(page, schedule) if schedule.members else NOBODY_YET,
        "invitation": next(
            (r["member"] for r in rows if r["mine"] and r["member"].state == MemberState.INVITED),
            None,
        ),
    }


def _shares(
    page: BookingPage, members: list[TeamMember], loads: dict[int, dict[str, Any]]
) -> dict[int, dict[str, Any]]:
    """Round robin's fairness as the owner reads it: each active member's part of their
    tier's bookings in the fairness period, beside the part their weight asks for."""
    if page.team_mode != TeamMode.ROUND_ROBIN:
        return {}
    tiers: dict[int, list[TeamMember]] = {}
    for m in members:
        if m.is_active:
            tiers.setdefault(m.tier, []).append(m)
    shares = {}
    for tier in tiers.values():
        total = sum(loads[m.pk]["recent"] for m in tier if m.pk in loads)
        weights = sum(m.weight for m in tier)
        for m in tier:
            recent = loads[m.pk]["recent"] if m.pk in loads else 0
            fair = m.weight / weights
            expected = total * fair
            if total == 0:
                state = _("No bookings in the period yet.")
            elif recent < expected - 0.5:
                state = _("Behind their share: next in line when free.")
            elif recent > expected + 0.5:
                state = _("Ahead of their share.")
            else:
                state = _("Even.")
            shares[m.pk] = {
                "actual": round(100 * recent / total) if total else 0,
                "fair": round(100 * fair),
                "state": state,
            }
    return shares


@login_required
@require_POST
def member_answer(request: HttpRequest, pk: int, member_pk: int) -> HttpResponse:
    """The invited member accepts or declines; nobody else can answer for them."""
    member = get_object_or_404(
        TeamMember.objects.select_related("page"), pk=member_pk, page_id=pk, user=request.user
    )
    answer = request.POST.get("answer", "")
    if answer not in ("accept", "decline"):
        messages.error(request, _("Accept or decline the invitation."))
        return redirect("dashboard")
    if member.state != MemberState.INVITED:
        messages.info(
            request,
            _("You already answered the invitation to “%(title)s”.") % {"title": member.page.title},
        )
        return redirect("dashboard")
    member.state = MemberState.ACTIVE if answer == "accept" else MemberState.DECLINED
    member.answered_at = timezone.now()
    member.save(update_fields=["state", "answered_at"])
    if answer == "decline":
        messages.success(
            request, _("You declined the invitation to “%(title)s”.") % {"title": member.page.title}
        )
        return redirect("dashboard")
    messages.success(
        request,
        _("You are on the team of “%(title)s”. Choose the calendar its bookings go into.")
        % {"title": member.page.title},
    )
    return redirect("member-calendars", pk=member.page_id, member_pk=member.pk)


def team_memberships(user: AbstractBaseUser) -> list[TeamMember]:
    """The dashboard's invitations and teams: the user's memberships they haven't declined,
    pending invitations first."""
    rows = TeamMember.objects.filter(
        user=user, state__in=[MemberState.INVITED, MemberState.ACTIVE], page__team_mode__gt=""
    ).select_related("page__owner", "invited_by")
    return sorted(rows, key=lambda m: (m.state != MemberState.INVITED, m.page.title))


# --- bookings ------------------------------------------------------------------------------

SHOW_CHOICES = [
    ("upcoming", gettext_lazy("Upcoming")),
    ("past", gettext_lazy("Past")),
    ("cancelled", gettext_lazy("Cancelled")),
]
SEARCH_MAX = 200


@dataclass
class BookingFilter:
    """The list's filters, read from the query string; the list and its CSV export share it,
    so the export holds exactly the bookings the list shows (all of them, not one page)."""

    pages: list[BookingPage]
    show: str = "upcoming"
    selected: BookingPage | None = None
    q: str = ""
    problems: list[str] = field(default_factory=list)

    @classmethod
    def from_request(cls, request: HttpRequest) -> BookingFilter:
        f = cls(pages=_listed_pages(request))
        f.show = request.GET.get("show", "upcoming")
        if f.show not in dict(SHOW_CHOICES):
            f.problems.append(_("Show upcoming, past or cancelled bookings."))
            f.show = "upcoming"
        page_id = request.GET.get("page", "")
        if page_id:
            f.selected = next((p for p in f.pages if str(p.pk) == page_id), None)
            if f.selected is None:
                f.problems.append(_("There is no such booking page of yours."))
        f.q = " ".join(request.GET.get("q", "").split())
        if len(f.q) > SEARCH_MAX:
            f.problems.append(
                ngettext(
                    "Search for at most %(count)d character.",
                    "Search for at most %(count)d characters.",
                    SEARCH_MAX,
                )
                % {"count": SEARCH_MAX}
            )
        return f

    def bookings(self, request: HttpRequest) -> QuerySet[Booking]:
        # _bookings holds only the user's own (a superuser's: everyone's): the filters narrow
        # that down and never widen it.
        bookings = _bookings(request).prefetch_related("writes")
        if self.problems:
            return bookings.none()
        if self.selected is not None:
            bookings = bookings.filter(page=self.selected)
        if self.q:
            bookings = bookings.filter(Q(name__icontains=self.q) | Q(email__icontains=self.q))
        now = timezone.now()
        if self.show == "upcoming":
            return bookings.filter(status=BookingStatus.CONFIRMED, end__gte=now).order_by("start")
        if self.show == "past":
            return bookings.filter(status=BookingStatus.CONFIRMED, end__lt=now).order_by("-start")
        return bookings.filter(status=BookingStatus.CANCELLED).order_by("-start")


@login_required
def booking_list(request: HttpRequest) -> HttpResponse:
    f = BookingFilter.from_request(request)
    paginator = Paginator(f.bookings(request), 50)
    listing = paginator.get_page(request.GET.get("p"))
    rows = [
        {
            "booking": b,
            "when": _fmt_span(b.start, b.end, b.page.zone),
            "zone": b.page.timezone,
            "write": write_status.summary(b.writes.all()),
        }
        for b in listing
    ]
    context = {
        "rows": rows,
        "listing": listing,
        "pages": f.pages,
        "selected": f.selected,
        "show": f.show,
        "q": f.q,
        "show_choices": SHOW_CHOICES,
        "problems": f.problems,
    }
    status = 400 if f.problems else 200
    return render(request, "bookings/staff/booking_list.html", context, status=status)


@login_required
def booking_export(request: HttpRequest) -> HttpResponse:
    f = BookingFilter.from_request(request)
    if f.problems:
        return HttpResponse("\n".join(f.problems), status=400, content_type="text/plain")
    bookings = f.bookings(request).prefetch_related("page__questions")
    day = timezone.localdate().isoformat()
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="bookings-{f.show}-{day}.csv"'
    write_csv(response, bookings.iterator(chunk_size=500))
    return response


CANCELLED_BY = {
    "customer": gettext_lazy("the customer"),
    "staff": gettext_lazy("staff"),
    "exchange": gettext_lazy("the calendar's owner in Outlook"),
}


def _booking(request: HttpRequest, pk: UUID) -> Booking:
    return get_object_or_404(_bookings(request), pk=pk)


def _detail(
    request: HttpRequest,
    booking: Booking,
    *,
    error: str = "",
    status: int = 200,
    cancel_form: CancelForm | None = None,
) -> HttpResponse:
    page = booking.page
    answers = booking.labelled_answers()
    names: dict[str, str] = {}  # one name lookup per calendar owner, not per write
    writes = [
        (w, write_status.describe(w, page.zone, names=names))
        for w in booking.writes.select_related("calendar")
    ]
    context = {
        "booking": booking,
        "page": page,
        "page_time": _fmt_span(booking.start, booking.end, page.zone),
        "customer_time": _fmt_span(booking.start, booking.end, booking.local_start().tzinfo),
        "cancelled_at": (
            write_status.moment(booking.cancelled_at, page.zone) if booking.cancelled_at else ""
        ),
        "cancelled_by": CANCELLED_BY.get(booking.cancelled_by, booking.cancelled_by),
        "answers": answers,
        "writes": writes,
        "cancel_form": cancel_form or CancelForm(),
        "can_change": not booking.is_cancelled and not booking.is_past,
        "error": error,
        "manages_page": _pages(request).filter(pk=page.pk).exists(),
        "attendees": list(booking.attendees.select_related("user")),
        "reassign_to": _reassign_options(booking),
    }
    return render(request, "bookings/staff/booking_detail.html", context, status=status)


@login_required
def booking_detail(request: HttpRequest, pk: UUID) -> HttpResponse:
    return _detail(request, _booking(request, pk))


@login_required
@require_POST
def booking_cancel(request: HttpRequest, pk: UUID) -> HttpResponse:
    booking = _booking(request, pk)
    form = CancelForm(request.POST)
    if not form.is_valid():
        return _detail(request, booking, status=400, cancel_form=form)
    try:
        actions.cancel(booking, by="staff", reason=form.cleaned_data["reason"])
    except actions.BookingError as exc:
        booking.refresh_from_db()
        return _detail(request, booking, error=exc.message, status=exc.status, cancel_form=form)
    messages.success(request, _("The booking is cancelled; the customer is told by email."))
    return redirect("booking-detail", pk=booking.pk)


@login_required
@require_POST
def booking_retry_write(request: HttpRequest, pk: UUID, write_pk: int) -> HttpResponse:
    booking = _booking(request, pk)
    write = get_object_or_404(EventWrite, pk=write_pk, booking=booking)
    try:
        actions.retry_write(write)
    except actions.BookingError as exc:
        return _detail(request, booking, error=exc.message, status=exc.status)
    messages.success(
        request, _("Writing to %(target)s again now.") % {"target": write.target_label}
    )
    return redirect("booking-detail", pk=booking.pk)


def _reassign_options(booking: Booking) -> list[TeamMember]:
    """Who a round-robin booking can be handed to: the page's other active members."""
    page = booking.page
    if page.team_mode != TeamMode.ROUND_ROBIN or booking.is_cancelled or booking.is_past:
        return []
    current = booking.attendees.values("member_id")
    return list(
        page.members.filter(state=MemberState.ACTIVE).exclude(pk__in=current).select_related("user")
    )


@login_required
@require_POST
def booking_reassign(request: HttpRequest, pk: UUID) -> HttpResponse:
    booking = _booking(request, pk)
    options = {m.pk: m for m in _reassign_options(booking)}
    to = options.get(_int(request.POST.get("member")) or 0)
    if to is None:
        return _detail(
            request, booking, error=_("Choose one of the team's other members."), status=400
        )
    if team.reassign(booking, to=to.pk) is None:
        booking.refresh_from_db()
        return _detail(
            request,
            booking,
            error=_("%(name)s isn't free at that time.") % {"name": to.name},
            status=409,
        )
    messages.success(
        request,
        _("The booking is now with %(name)s; the customer and both members are told.")
        % {"name": to.name},
    )
    return redirect("booking-detail", pk=booking.pk)


RESCHEDULE_DAYS = 14


@login_required
def booking_reschedule(request: HttpRequest, pk: UUID) -> HttpResponse:
    booking = _booking(request, pk)
    page = booking.page
    error = ""
    status = 200
    if booking.is_cancelled:
        error, status = _("A cancelled booking can't be moved."), 409
    elif request.method == "POST":
        new_start = actions.start_or_none(request.POST.get("start", ""))
        if new_start is None:
            error, status = _("Choose one of the free times."), 400
        else:
            try:
                actions.reschedule(booking, new_start, by="staff")
            except actions.BookingError as exc:
                error, status = exc.message, exc.status
            else:
                messages.success(request, _("The booking is moved; the customer is told by email."))
                return redirect("booking-detail", pk=booking.pk)

    days: list[dict[str, Any]] = []
    stale = False
    unknown = ""
    if not booking.is_cancelled:
        now = timezone.now()
        try:
            result = slots_for(
                page, now, now + timedelta(days=RESCHEDULE_DAYS), ignore_booking=booking
            )
        except AvailabilityUnknown as exc:
            unknown = exc.message
            if status == 200:
                status = 503
        else:
            stale = result.stale
            days = _group_by_day(result.slots, page)
    context = {
        "booking": booking,
        "page": page,
        "current": _fmt_span(booking.start, booking.end, page.zone),
        "days": days,
        "stale": stale,
        "unknown": unknown,
        "error": error,
    }
    return render(request, "bookings/staff/booking_reschedule.html", context, status=status)


def _group_by_day(slots: list[tuple[datetime, datetime]], page: BookingPage) -> list[dict]:
    days: dict[Any, dict[str, Any]] = {}
    for start, end in slots:
        local = start.astimezone(page.zone)
        day = days.setdefault(
            local.date(),
            {"label": f"{local:%A} {local.day} {local:%B %Y}", "slots": []},
        )
        day["slots"].append(
            {
                "value": start.isoformat(),
                "label": f"{local:%H:%M}{DASH}{end.astimezone(page.zone):%H:%M}",
            }
        )
    return list(days.values())


# --- your profile --------------------------------------------------------------------------


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    """The signed-in staff member's photo, shown to customers on team pages."""
    found = StaffProfile.objects.filter(user=request.user).first()
    form = PhotoForm()
    status = 200
    error = ""
    if request.method == "POST":
        action = request.POST.get("action", "")
        if action == "upload":
            form = PhotoForm(request.POST, request.FILES)
            if form.is_valid():
                found = found or StaffProfile(user=request.user)
                found.photo = form.cleaned_data["photo"]
                found.clean()  # the stored type, from the content
                found.save()
                messages.success(request, _("Your photo is saved."))
                return redirect("staff-profile")
            status = 400
        elif action == "remove":
            if found is not None:
                found.photo, found.photo_type = b"", ""
                found.save(update_fields=["photo", "photo_type", "updated"])
            messages.success(request, _("Your photo is removed."))
            return redirect("staff-profile")
        else:
            error, status = _("Unknown action."), 400
    has_photo = bool(found and found.photo_type and found.photo)
    context = {
        "form": form,
        "error": error,
        "has_photo": has_photo,
        "photo_version": int(found.updated.timestamp()) if has_photo and found else 0,
    }
    return render(request, "bookings/staff/profile.html", context, status=status)


@login_required
def profile_photo(request: HttpRequest) -> HttpResponse:
    found = StaffProfile.objects.filter(user=request.user).first()
    data = bytes(found.photo or b"") if found is not None else b""
    if found is None or not data or photo_type(data) != found.photo_type:
        raise Http404("No photo.")
    response = HttpResponse(data, content_type=found.photo_type)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, max-age=300"
    return response
