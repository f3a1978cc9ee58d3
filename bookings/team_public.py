"""What customers see of a team: who a booking is with, and the team a page books.

Only names and photos ever reach the public (pages, API, emails): never a member's email
address, tier, weight or hours. The one exception is the iTIP invitation of a collective
meeting (bookings.ics), whose ATTENDEE lines are addresses by definition: the customer is in a
meeting with those people.
"""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils.translation import gettext as _

from bookings.memo import Memo
from bookings.models import (
    Booking,
    BookingMember,
    BookingPage,
    MemberState,
    StaffProfile,
    TeamMember,
    TeamMode,
)


def join_names(names: list[str]) -> str:
    """ "Ada", "Ada and Ben", "Ada, Ben and Cy" (in the active language)."""
    if len(names) <= 1:
        return "".join(names)
    return _("%(names)s and %(last)s") % {"names": ", ".join(names[:-1]), "last": names[-1]}


def attending(booking: Booking) -> list[BookingMember]:
    """The members a team booking is with (its organiser first), without those who declined."""
    if not booking.page.is_team:
        return []
    rows = booking.attendees.filter(declined_at__isnull=True).select_related("user")
    # The organiser (Booking.owner) first: the person the customer writes to.
    return sorted(rows, key=lambda a: (a.user_id != booking.owner_id, not a.required, a.pk))


def with_names(booking: Booking) -> list[str]:
    """Who the customer meets: the assigned member (round robin), everyone attending
    (collective), or the page's owner (a personal page)."""
    if not booking.page.is_team:
        return [booking.page.owner_name]
    names = [a.name for a in attending(booking)]
    return names or [person_name(booking.owner)]


def meeting_title(booking: Booking) -> str:
    """BookingPage.meeting_title for this booking: a team booking names its members ("Intro
    call with Ada and Ben"), as a personal page names its owner."""
    page = booking.page
    if not page.is_team:
        return page.meeting_title
    return _("%(title)s with %(name)s") % {
        "title": page.title,
        "name": join_names(with_names(booking)),
    }


def contact_name(booking: Booking) -> str:
    """Whom the customer should contact about a booking: its owner (the assigned member or
    the collective meeting's organiser) on a team page."""
    if booking.page.is_team:
        return person_name(booking.owner)
    return booking.page.owner_name


def person_name(user: Any) -> str:
    return user.get_full_name() or user.get_username()


def page_members(page: BookingPage) -> list[TeamMember]:
    """The members a team page shows: those who accepted, in the team's order."""
    if not page.is_team:
        return []
    return list(page.members.filter(state=MemberState.ACTIVE).select_related("user"))


def public_team(page: BookingPage, members: list[TeamMember] | None = None) -> list[dict[str, Any]]:
    """[{"id", "name", "photo_url" (or None)}] of the page's active members, for the page and
    the slots API."""
    members = page_members(page) if members is None else members
    versions = photo_versions([m.user_id for m in members])
    return [
        {
            "id": m.pk,
            "name": m.name,
            "photo_url": photo_url(page, m, versions[m.user_id]) if m.user_id in versions else None,
        }
        for m in members
    ]


_teams: Memo[list[dict[str, Any]]] = Memo()


def public_team_reused(page: BookingPage) -> list[dict[str, Any]]:
    """public_team's answer from the last READINESS_CACHE_SECONDS (bookings/memo.py), for the
    slots API, which asks on every request: two queries saved. A new member, or one who
    left, moves the page's schedule version and so the key; a new name or photo shows within
    those seconds."""
    key = (page.pk, page.created, page.schedule_version)
    return _teams.get(key, lambda: public_team(page))


def photo_versions(user_ids: list[int]) -> dict[int, int]:
    """{user id: version} of the users who have a photo; the version (when it was saved)
    goes into the photo's address, so it can be cached long and still change at once."""
    rows = (
        StaffProfile.objects.filter(user_id__in=user_ids)
        .exclude(photo_type="")
        .values_list("user_id", "updated")
    )
    return {user_id: int(updated.timestamp()) for user_id, updated in rows}


def photo_url(page: BookingPage, member: TeamMember, version: int) -> str:
    return reverse("member-photo", args=[page.slug, member.pk]) + f"?v={version}"


def initials(name: str) -> str:
    """ "Ada Lovelace" -> "AL", "ada-1234" -> "A": the avatar of a member without a photo."""
    words = [w for w in name.replace("-", " ").replace("_", " ").split() if w[:1].isalpha()]
    if not words:
        return name[:1].upper() or "?"
    picked = words[:1] + words[1:][-1:]
    return "".join(w[0] for w in picked).upper()


def team_phrase(page: BookingPage, members: list[dict[str, Any]]) -> str:
    """How the page says whom the customer meets: "with one of our team" (round robin) or
    "with Ada, Ben and Cy" (collective)."""
    if page.team_mode == TeamMode.COLLECTIVE:
        if not members:
            return _("with our team")
        return _("with %(name)s") % {"name": join_names([m["name"] for m in members])}
    return _("with one of our team")
