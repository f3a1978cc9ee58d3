"""Managing a team page's members, for the staff web UI and the staff API alike: who may be
added, when a member may leave, invitations, the switch between a personal and a team page,
and whose calendars a calendar list is about (CalendarScope).

Plain functions: a refusal is a TeamError whose message is said to the staff member as is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from bookings.models import (
    Booking,
    BookingMember,
    BookingPage,
    BookingStatus,
    MemberState,
    PageCalendar,
    PageCalendarOwner,
    TeamMember,
    main_calendar_problem,
    save_roles,
)
from calendars import discovery
from calendars.connect import connection_for
from calendars.models import CalendarRef, CalendarRole, CorporateMember, ExchangeConnection


class TeamError(Exception):
    """A change to a team that can't be made, in words for the staff member."""

    @property
    def message(self) -> str:
        return str(self.args[0])


# --- the page: personal or team -------------------------------------------------------


def upcoming_bookings(page: BookingPage, now: datetime | None = None) -> QuerySet[Booking]:
    """The page's confirmed bookings not over yet."""
    return page.bookings.filter(status=BookingStatus.CONFIRMED, end__gt=now or timezone.now())


def mode_change_problem(page: BookingPage, new_mode: str, now: datetime | None = None) -> str:
    """Why `page` can't become `new_mode` (a TeamMode value) now ("" when it can).

    A personal page's bookings are its owner's, with no attendees; a team page's belong to
    members (BookingMember). Switching while bookings are still to come would leave them
    with nobody the team rules know, so it waits until they are over or cancelled. Round
    robin and collective can be swapped: the bookings keep their attendees."""
    if page.pk is None or bool(page.team_mode) == bool(new_mode):
        return ""
    count = upcoming_bookings(page, now).count()
    if not count:
        return ""
    bookings = "1 upcoming booking" if count == 1 else f"{count} upcoming bookings"
    kind = "a team page" if new_mode else "a personal page"
    return (
        f"This page has {bookings}: it can become {kind} once they are over or cancelled "
        "(or make a new page for the team)."
    )


# --- members ---------------------------------------------------------------------------


def find_staff(who: str) -> Any:
    """The active staff user with this user name or email address, or None. An address two
    accounts share names nobody: the owner must give the user name."""
    who = (who or "").strip()
    if not who:
        return None
    users = get_user_model().objects.filter(is_active=True, is_staff=True)
    found = users.filter(username=who).first()
    if found is not None:
        return found
    by_email = list(users.filter(email__iexact=who)[:2])
    return by_email[0] if len(by_email) == 1 else None


def add_member(page: BookingPage, who: str, *, by: Any) -> TeamMember:
    """Put the staff member named `who` (user name or email) on `page`'s team. They are
    invited and take bookings once they accept; an administrator (`by` a superuser) adds
    them at once. Someone who declined before is invited again."""
    if not page.is_team:
        raise TeamError("This is a personal page: make it a team page first.")
    user = find_staff(who)
    if user is None:
        raise TeamError(f"There is no staff member {who.strip()!r}: give their user name or email.")
    state = MemberState.ACTIVE if by.is_superuser else MemberState.INVITED
    answered = timezone.now() if state == MemberState.ACTIVE else None
    existing = page.members.filter(user=user).first()
    if existing is not None:
        if existing.state != MemberState.DECLINED:
            raise TeamError(f"{existing.name} is already on this team.")
        existing.state, existing.answered_at, existing.invited_by = state, answered, by
        existing.added = timezone.now()
        existing.save(update_fields=["state", "answered_at", "invited_by", "added"])
        return existing
    try:
        with transaction.atomic():
            return TeamMember.objects.create(
                page=page, user=user, state=state, invited_by=by, answered_at=answered
            )
    except IntegrityError:  # added by someone else a moment ago
        raise TeamError(f"{user.get_username()} is already on this team.") from None


def member_upcoming(member: TeamMember, now: datetime | None = None) -> QuerySet[Booking]:
    """The member's confirmed bookings on their team page that are not over yet."""
    attending = BookingMember.objects.filter(member=member, declined_at__isnull=True)
    return member.page.bookings.filter(
        Q(pk__in=attending.values("booking_id")) | Q(owner_id=member.user_id),
        status=BookingStatus.CONFIRMED,
        end__gt=now or timezone.now(),
    )


def removal_problem(member: TeamMember, now: datetime | None = None) -> str:
    """Why `member` can't leave the team now ("" when they can): their upcoming bookings
    there would lose their host. Reassign or cancel them first."""
    count = member_upcoming(member, now).count()
    if not count:
        return ""
    bookings = "1 upcoming booking" if count == 1 else f"{count} upcoming bookings"
    return (
        f"{member.name} has {bookings} on this page: reassign or cancel them before removing "
        f"{member.name} from the team."
    )


def remove_member(member: TeamMember) -> None:
    """Take `member` off the team, with their calendars on the page (the CASCADE of
    PageCalendar and PageCalendarOwner); past bookings keep their attendee rows."""
    with transaction.atomic():
        locked = TeamMember.objects.select_for_update().filter(pk=member.pk).first()
        if locked is None:
            return
        if problem := removal_problem(locked):
            raise TeamError(problem)
        locked.delete()


# --- invitations -----------------------------------------------------------------------


def pending_invitations(user: Any) -> QuerySet[TeamMember]:
    """`user`'s invitations to team pages they haven't answered."""
    return (
        TeamMember.objects.filter(user=user, state=MemberState.INVITED)
        .select_related("page", "page__owner", "invited_by")
        .order_by("added", "id")
    )


def answer(member: TeamMember, *, accept: bool) -> TeamMember:
    """The invited member accepts (they take bookings once their calendars are chosen) or
    declines. Only a pending invitation can be answered: the caller finds it through
    pending_invitations(request.user), so nobody answers for someone else."""
    if member.state != MemberState.INVITED:
        raise TeamError("This invitation was already answered.")
    member.state = MemberState.ACTIVE if accept else MemberState.DECLINED
    member.answered_at = timezone.now()
    member.save(update_fields=["state", "answered_at"])
    if accept:
        CalendarScope(member.page, member).add_own_mailbox()
    return member


# --- whose calendars -------------------------------------------------------------------


@dataclass(frozen=True)
class CalendarScope:
    """The calendars one list is about: a personal page's own (member None), or one
    member's on a team page. Each has its calendar owners, roles and exactly one main, read
    through the connection of `user` and under that user's permission rules
    (models.role_problem(ref, role, scope.user))."""

    page: BookingPage
    member: TeamMember | None = None

    @property
    def user(self) -> Any:
        return self.member.user if self.member is not None else self.page.owner

    def connection(self) -> ExchangeConnection | None:
        return connection_for(self.user)

    def owners(self) -> QuerySet[PageCalendarOwner]:
        return self.page.calendar_owners.filter(member=self.member)

    def page_calendars(self) -> QuerySet[PageCalendar]:
        return self.page.page_calendars.filter(member=self.member)

    def roles(self) -> dict[int, str]:
        """CalendarRef pk -> role, for the calendars that have one."""
        return {pc.calendar_id: pc.role for pc in self.page_calendars()}

    def add_owner(self, email: str) -> PageCalendarOwner:
        owner, _ = PageCalendarOwner.objects.get_or_create(
            page=self.page, member=self.member, email=email.strip().lower()
        )
        return owner

    def save_roles(self, roles: dict[int, str]) -> None:
        save_roles(self.page, roles, member=self.member)

    def has_main(self) -> bool:
        return self.page_calendars().filter(role=CalendarRole.MAIN).exists()

    def url(self) -> str:
        """The staff page where these calendars are chosen."""
        if self.member is None:
            return reverse("page-calendars", args=[self.page.pk])
        return reverse("member-calendars", args=[self.page.pk, self.member.pk])

    def not_ready(self) -> str:
        """Why these calendars can't take bookings now ("" when they can)."""
        if self.member is None:
            return self.page.not_ready_reason()
        main = (
            self.page_calendars()
            .filter(role=CalendarRole.MAIN)
            .select_related("calendar__connection", "page", "member__user")
            .first()
        )
        return main_calendar_problem(main)

    def problems(self) -> list[str]:
        """What stops these calendars from taking bookings: the page's setup problems for
        a personal page; for a member, no main calendar or calendars that lost their role."""
        if self.member is None:
            return self.page.setup_problems()
        rows = self.page_calendars().exclude(role="").select_related("calendar__connection")
        rows = rows.select_related("member__user", "page")
        problems = [p for pc in rows if (p := pc.problem())]
        if not any(pc.role == CalendarRole.MAIN for pc in rows):
            problems.insert(0, "Choose a main booking calendar: your bookings are written there.")
        return problems

    def add_own_mailbox(self) -> None:
        """List the user's own mailbox among these calendars' owners when nothing is listed
        yet (a new member's starting point), discovering its calendars if none are known."""
        if self.owners().exists():
            return
        conn = self.connection()
        if conn is None:
            return
        mailbox = own_mailbox(self.user, conn)
        if not mailbox:
            return
        self.add_owner(mailbox)
        if not CalendarRef.objects.filter(connection=conn, owner_email=mailbox).exists():
            # Exchange unreachable: the list says so when it is asked for again.
            discovery.discover(conn, mailbox)


def own_mailbox(user: Any, conn: ExchangeConnection | None = None) -> str:
    """The mailbox a staff member means by "my calendar": their personal connection's own
    address, else their corporate membership's mailbox, else their email."""
    if conn is not None and conn.user_id == user.pk:
        return conn.email.lower()
    if conn is None:
        personal = ExchangeConnection.objects.filter(user=user).first()
        if personal is not None:
            return personal.email.lower()
    membership = CorporateMember.objects.filter(user=user).first()
    if membership is not None and membership.mailbox:
        return membership.mailbox.lower()
    return (user.email or "").lower()
