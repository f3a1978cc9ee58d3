"""Team pages in the staff web UI, over the wire: the editor's "Who customers meet", the team
section (members added, invited, changed and removed, their load and readiness in words),
invitations answered by the invited member, each member's own calendars and hours on the
page, and handing a round-robin booking to another member from its detail page."""

from __future__ import annotations

import html
import re
from datetime import time, timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client

from bookings import actions
from bookings.forms import DASH
from bookings.models import (
    Booking,
    BookingPage,
    MemberState,
    PageCalendar,
    TeamMember,
    TeamMode,
)
from calendars.models import CalendarRef
from tests.world import World, monday_after

pytestmark = [pytest.mark.django_db, pytest.mark.backends("ews", "graph")]


def text(response) -> str:  # type: ignore[no-untyped-def]
    return html.unescape(re.sub(r"\s+", " ", response.content.decode()))


def as_user(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def editor_data(page: BookingPage, **changes: object) -> dict[str, object]:
    """What the editor posts for `page` as it is, with `changes`."""
    data: dict[str, object] = {
        "title": page.title,
        "slug": page.slug,
        "active": "on",
        "duration_minutes": page.duration_minutes,
        "interval_minutes": page.interval_minutes,
        "buffer_before_minutes": 0,
        "buffer_after_minutes": 0,
        "min_notice_minutes": page.min_notice_minutes,
        "window_days": page.window_days,
        "timezone": page.timezone,
        "blocking_statuses": ["Busy", "OOF"],
        "team_mode": page.team_mode,
        "fairness_days": page.fairness_days,
        "hours-TOTAL_FORMS": 1,
        "hours-INITIAL_FORMS": 0,
        "hours-0-weekday": 0,
        "hours-0-start": "09:00",
        "hours-0-end": "17:00",
        "overrides-TOTAL_FORMS": 0,
        "overrides-INITIAL_FORMS": 0,
        "questions-TOTAL_FORMS": 0,
        "questions-INITIAL_FORMS": 0,
    }
    data.update(changes)
    return data


def customer(name: str = "Ann Customer") -> actions.CustomerDetails:
    return actions.CustomerDetails(name, "ann@example.com", "UTC")


def primary(user: User) -> CalendarRef:
    return CalendarRef.objects.get(owner_email=user.email, is_primary=True, error="")


# --- the editor ------------------------------------------------------------------------


def test_the_editor_makes_a_page_a_round_robin_team_page_with_its_options(world: World) -> None:
    ada = world.staff("ada")
    page = world.page(ada)
    r = as_user(ada).post(
        f"/pages/{page.pk}/",
        editor_data(
            page,
            team_mode=TeamMode.ROUND_ROBIN,
            customer_picks_member="on",
            members_own_hours="on",
            fairness_days=14,
        ),
    )
    assert r.status_code == 302, text(r)
    page.refresh_from_db()
    assert (page.team_mode, page.customer_picks_member, page.members_own_hours) == (
        TeamMode.ROUND_ROBIN, True, True,
    )  # fmt: skip
    assert page.fairness_days == 14
    body = text(as_user(ada).get(f"/pages/{page.pk}/"))
    assert "Who customers meet" in body
    assert f'href="/pages/{page.pk}/team/"' in body  # the Team tab


def test_customers_choose_a_member_only_on_a_round_robin_page(world: World) -> None:
    ada = world.staff("ada")
    page = world.page(ada)
    r = as_user(ada).post(
        f"/pages/{page.pk}/",
        editor_data(page, team_mode=TeamMode.COLLECTIVE, customer_picks_member="on"),
    )
    assert r.status_code == 302
    page.refresh_from_db()
    assert page.team_mode == TeamMode.COLLECTIVE
    assert page.customer_picks_member is False


def test_a_page_with_upcoming_bookings_cant_switch_between_personal_and_team(
    world: World,
) -> None:
    ada = world.staff("ada")
    page = world.page(ada, tz="UTC")
    actions.book(page, monday_after().replace(hour=9), customer())
    actions.book(page, monday_after().replace(hour=10), customer())
    r = as_user(ada).post(f"/pages/{page.pk}/", editor_data(page, team_mode=TeamMode.ROUND_ROBIN))
    assert r.status_code == 400
    assert (
        "This page can't become a team page while it has 2 upcoming bookings: cancel or move "
        "them first, or make a new page." in text(r)
    )
    page.refresh_from_db()
    assert page.team_mode == ""


def test_a_team_page_with_an_upcoming_booking_cant_become_personal(world: World) -> None:
    ada, ben = world.staff("ada"), world.staff("ben")
    page = world.team_page(ada, [ben], tz="UTC")
    actions.book(page, monday_after().replace(hour=9), customer())
    r = as_user(ada).post(f"/pages/{page.pk}/", editor_data(page, team_mode=""))
    assert r.status_code == 400
    assert "can't become a personal page while it has 1 upcoming booking: cancel or move it" in (
        text(r)
    )
    # Round robin to collective keeps it a team page: allowed.
    r = as_user(ada).post(f"/pages/{page.pk}/", editor_data(page, team_mode=TeamMode.COLLECTIVE))
    assert r.status_code == 302


def test_a_new_team_page_goes_on_to_its_team_section(world: World) -> None:
    ada = world.staff("ada")
    page = BookingPage(title="Support", slug=f"support-{world.tag}", timezone="UTC")
    r = as_user(ada).post("/pages/new/", editor_data(page, team_mode=TeamMode.ROUND_ROBIN))
    created = BookingPage.objects.get(slug=page.slug)
    assert r.status_code == 302
    assert r["Location"] == f"/pages/{created.pk}/team/"
    assert created.owner == ada
    # The team section opens with nobody on the team yet.
    body = text(as_user(ada).get(r["Location"]))
    assert "Nobody is on the team yet: add members below." in body
    assert "Nobody on the team has accepted yet" in body


def test_the_calendars_of_a_team_page_are_its_members_so_the_page_tab_leads_to_the_team(
    world: World,
) -> None:
    ada = world.staff("ada")
    page = world.team_page(ada, [ada])
    r = as_user(ada).get(f"/pages/{page.pk}/calendars/")
    assert r.status_code == 302
    assert r["Location"] == f"/pages/{page.pk}/team/"


# --- the team section ------------------------------------------------------------------


def test_the_owner_invites_a_colleague_by_username_or_email(world: World) -> None:
    ada, ben, cy = world.staff("ada"), world.staff("ben"), world.staff("cy")
    page = world.team_page(ada, [])
    owner = as_user(ada)
    r = owner.post(f"/pages/{page.pk}/team/", {"action": "add", "who": ben.username})
    assert r.status_code == 302
    r = owner.post(f"/pages/{page.pk}/team/", {"action": "add", "who": cy.email.upper()})
    assert r.status_code == 302
    members = {m.user: m for m in page.members.all()}
    assert set(members) == {ben, cy}
    assert all(m.state == MemberState.INVITED and m.invited_by == ada for m in members.values())
    assert all(m.answered_at is None for m in members.values())
    body = text(owner.get(f"/pages/{page.pk}/team/"))
    assert body.count("Hasn't answered the invitation yet: takes no bookings until they") == 2


def test_adding_yourself_puts_you_on_the_team_at_once(world: World) -> None:
    ada = world.staff("ada")
    page = world.team_page(ada, [])
    as_user(ada).post(f"/pages/{page.pk}/team/", {"action": "add", "who": ada.username})
    member = page.members.get()
    assert member.state == MemberState.ACTIVE
    assert member.answered_at is not None


def test_an_administrator_adds_a_member_who_is_active_at_once(world: World) -> None:
    root = world.staff("root", superuser=True)
    ada, ben = world.staff("ada"), world.staff("ben")
    page = world.team_page(ada, [])
    r = as_user(root).post(f"/pages/{page.pk}/team/", {"action": "add", "who": ben.username})
    assert r.status_code == 302
    assert page.members.get().state == MemberState.ACTIVE


def test_adding_someone_unknown_or_already_on_the_team_says_so(world: World) -> None:
    ada, ben = world.staff("ada"), world.staff("ben")
    page = world.team_page(ada, [ben])
    owner = as_user(ada)
    r = owner.post(f"/pages/{page.pk}/team/", {"action": "add", "who": "nobody@example.com"})
    assert r.status_code == 400
    assert "No staff member has the username or email “nobody@example.com”." in text(r)
    r = owner.post(f"/pages/{page.pk}/team/", {"action": "add", "who": ben.username})
    assert r.status_code == 400
    assert "is already on this team." in text(r)
    # A customer-facing account that isn't staff can't be added either.
    User.objects.create_user(f"visitor-{world.tag}", "visitor@example.com", "x")
    r = owner.post(f"/pages/{page.pk}/team/", {"action": "add", "who": f"visitor-{world.tag}"})
    assert r.status_code == 400
    assert page.members.count() == 1


def test_the_owner_changes_a_members_tier_weight_and_limits(world: World) -> None:
    ada, ben = world.staff("ada"), world.staff("ben")
    page = world.team_page(ada, [ben])
    member = page.members.get()
    prefix = f"m{member.pk}"
    url = f"/pages/{page.pk}/team/"
    r = as_user(ada).post(
        url,
        {
            "action": "update",
            "member": member.pk,
            f"{prefix}-tier": 2,
            f"{prefix}-weight": 3,
            f"{prefix}-max_per_day": 4,
            f"{prefix}-max_per_week": "",
        },
    )
    assert r.status_code == 302
    member.refresh_from_db()
    assert (member.tier, member.weight, member.max_per_day, member.max_per_week) == (2, 3, 4, None)
    r = as_user(ada).post(
        url,
        {"action": "update", "member": member.pk, f"{prefix}-tier": 10, f"{prefix}-weight": 0},
    )
    assert r.status_code == 400
    body = text(r)
    assert "Ensure this value is less than or equal to 9." in body
    assert "Ensure this value is greater than or equal to 1." in body
    member.refresh_from_db()
    assert member.tier == 2


def test_a_collective_members_required_flag_is_set_in_the_team_section(world: World) -> None:
    ada, ben = world.staff("ada"), world.staff("ben")
    page = world.team_page(ada, [ada, ben], mode=TeamMode.COLLECTIVE)
    member = page.members.get(user=ben)
    as_user(ada).post(
        f"/pages/{page.pk}/team/", {"action": "update", "member": member.pk}
    )  # the unticked box: optional
    member.refresh_from_db()
    assert member.required is False
    body = text(as_user(ada).get(f"/pages/{page.pk}/team/"))
    assert "<dt>Attendance</dt><dd>Optional</dd>" in body


def test_a_member_with_upcoming_bookings_cant_be_removed_until_they_are_gone(
    world: World,
) -> None:
    ada, ben = world.staff("ada"), world.staff("ben")
    page = world.team_page(ada, [ben], tz="UTC")
    member = page.members.get()
    booking = actions.book(page, monday_after().replace(hour=9), customer())
    url = f"/pages/{page.pk}/team/"
    r = as_user(ada).post(url, {"action": "remove", "member": member.pk})
    assert r.status_code == 409
    assert "they have 1 upcoming booking on this page. Reassign or cancel it first." in text(r)
    assert page.members.filter(pk=member.pk).exists()
    actions.cancel(booking, by="staff")
    r = as_user(ada).post(url, {"action": "remove", "member": member.pk})
    assert r.status_code == 302
    assert not page.members.exists()
    assert not PageCalendar.objects.filter(member_id=member.pk).exists()


def test_the_team_section_shows_each_members_load_share_and_readiness(world: World) -> None:
    ada, ben, cy = world.staff("ada"), world.staff("ben"), world.staff("cy")
    page = world.team_page(ada, [ben], tz="UTC")
    TeamMember.objects.create(page=page, user=cy, invited_by=ada)
    booking = actions.book(page, monday_after().replace(hour=9), customer())
    assert booking.owner == ben
    body = text(as_user(ada).get(f"/pages/{page.pk}/team/"))
    ben_card = body.split(f'data-member="{ben.username}"')[1].split("</li>")[0]
    assert "Ready: takes bookings." in ben_card
    assert "1 made in the last 30 days; 1 upcoming; last booked" in ben_card
    assert "100% of their tier's bookings, 100% by weight. Even." in ben_card
    assert f"{ben.email} / Calendar (main booking calendar)" in ben_card
    cy_card = body.split(f'data-member="{cy.username}"')[1].split("</li>")[0]
    assert "Invited" in cy_card
    assert "None chosen yet" in cy_card


def test_an_active_member_without_a_main_calendar_is_listed_as_not_ready(world: World) -> None:
    ada, ben = world.staff("ada"), world.staff("ben")
    page = world.team_page(ada, [ada])
    world.add_member(page, ben, roles={})
    body = text(as_user(ada).get(f"/pages/{page.pk}/team/"))
    ben_card = body.split(f'data-member="{ben.username}"')[1].split("</li>")[0]
    assert "Active, not ready" in ben_card
    assert "Choose a main booking calendar" in ben_card


# --- invitations -----------------------------------------------------------------------


def test_an_invited_member_accepts_on_their_dashboard_and_chooses_their_calendar(
    world: World,
) -> None:
    ada, ben = world.staff("ada"), world.staff("ben")
    page = world.team_page(ada, [], tz="UTC")
    as_user(ada).post(f"/pages/{page.pk}/team/", {"action": "add", "who": ben.username})
    member = page.members.get()
    guest = as_user(ben)
    dashboard = text(guest.get("/dashboard/"))
    assert "Your teams" in dashboard
    assert f"/pages/{page.pk}/team/{member.pk}/answer/" in dashboard
    r = guest.post(f"/pages/{page.pk}/team/{member.pk}/answer/", {"answer": "accept"})
    assert r.status_code == 302
    assert r["Location"] == f"/pages/{page.pk}/team/{member.pk}/calendars/"
    member.refresh_from_db()
    assert member.state == MemberState.ACTIVE
    assert member.answered_at is not None

    # Their own mailbox is listed, its calendars discovered through their connection.
    r = guest.get(r["Location"])
    assert r.status_code == 200
    body = text(r)
    assert f'<h2 class="owner-email">{ben.email}</h2>' in body
    assert "You take no bookings on this page: choose your main booking calendar." in body
    r = guest.post(
        f"/pages/{page.pk}/team/{member.pk}/calendars/",
        {"action": "save_roles", f"role-{primary(ben).pk}": "main"},
    )
    assert r.status_code == 302, text(r)
    pc = PageCalendar.objects.get(page=page, member=member)
    assert (pc.calendar, pc.role) == (primary(ben), "main")
    assert page.not_ready_reason() == ""
    assert "Ready: takes bookings." in text(as_user(ada).get(f"/pages/{page.pk}/team/"))


def test_declining_an_invitation_keeps_the_member_off_the_team(world: World) -> None:
    ada, ben = world.staff("ada"), world.staff("ben")
    page = world.team_page(ada, [])
    member = TeamMember.objects.create(page=page, user=ben, invited_by=ada)
    r = as_user(ben).post(f"/pages/{page.pk}/team/{member.pk}/answer/", {"answer": "decline"})
    assert r.status_code == 302
    member.refresh_from_db()
    assert member.state == MemberState.DECLINED
    assert "Declined the invitation: takes no bookings." in text(
        as_user(ada).get(f"/pages/{page.pk}/team/")
    )
    # Answered once: a second answer changes nothing.
    as_user(ben).post(f"/pages/{page.pk}/team/{member.pk}/answer/", {"answer": "accept"})
    member.refresh_from_db()
    assert member.state == MemberState.DECLINED
    # The owner may invite them again.
    as_user(ada).post(f"/pages/{page.pk}/team/", {"action": "add", "who": ben.username})
    member.refresh_from_db()
    assert member.state == MemberState.INVITED


def test_the_invitation_also_shows_in_the_team_section_for_the_invited_member(
    world: World,
) -> None:
    ada, ben = world.staff("ada"), world.staff("ben")
    page = world.team_page(ada, [ada])
    member = TeamMember.objects.create(page=page, user=ben, invited_by=ada)
    r = as_user(ben).get(f"/pages/{page.pk}/team/")
    assert r.status_code == 200
    body = text(r)
    assert "You are invited to this team" in body
    assert f"/pages/{page.pk}/team/{member.pk}/answer/" in body
    # A member sees their own place, not their colleagues' settings.
    assert f'data-member="{ada.username}"' not in body
    assert "Add a member" not in body
    assert f'href="/pages/{page.pk}/"' not in body  # no Settings tab


# --- a member's calendars and hours ----------------------------------------------------


def test_a_member_has_exactly_one_main_calendar_of_their_own(world: World) -> None:
    ada, ben = world.staff("ada"), world.staff("ben")
    world.sub_calendar(ben.email, "Consults")
    page = world.team_page(ada, [ada])
    member = world.add_member(page, ben, roles={})
    url = f"/pages/{page.pk}/team/{member.pk}/calendars/"
    guest = as_user(ben)
    guest.get(url)  # lists their mailbox, discovers its calendars
    sub = CalendarRef.objects.get(owner_email=ben.email, name="Consults", error="")
    r = guest.post(
        url, {"action": "save_roles", f"role-{primary(ben).pk}": "main", f"role-{sub.pk}": "main"}
    )
    assert r.status_code == 400
    assert "Choose exactly one main booking calendar" in text(r)
    r = guest.post(
        url, {"action": "save_roles", f"role-{primary(ben).pk}": "main", f"role-{sub.pk}": "busy"}
    )
    assert r.status_code == 302
    assert dict(member.calendars.values_list("calendar__name", "role")) == {
        "Calendar": "main",
        "Consults": "busy",
    }
    # The page's owner's calendars on the page are untouched: each member has their own.
    assert PageCalendar.objects.filter(page=page, member__user=ada).count() == 1


def test_a_member_uses_their_own_calendar_as_main_with_one_click(world: World) -> None:
    ada, ben = world.staff("ada"), world.staff("ben")
    page = world.team_page(ada, [ada])
    member = world.add_member(page, ben, roles={})
    url = f"/pages/{page.pk}/team/{member.pk}/calendars/"
    body = text(as_user(ben).get(url))
    assert "Use your own calendar" in body
    r = as_user(ben).post(url, {"action": "use_own_main"})
    assert r.status_code == 302
    assert member.calendars.get().role == "main"


def test_a_member_sets_their_own_hours_when_the_page_allows_them(world: World) -> None:
    ada, ben = world.staff("ada"), world.staff("ben")
    page = world.team_page(ada, [ben], members_own_hours=True)
    member = page.members.get()
    url = f"/pages/{page.pk}/team/{member.pk}/calendars/"
    assert "Your hours on this page" in text(as_user(ben).get(url))
    hours = {
        "action": "save_hours",
        "hours_zone": "new york",
        "hours-TOTAL_FORMS": 2,
        "hours-INITIAL_FORMS": 0,
        "hours-0-weekday": 1,
        "hours-0-start": "10:00",
        "hours-0-end": "14:00",
        "hours-1-weekday": 1,
        "hours-1-start": "13:00",
        "hours-1-end": "15:00",
    }
    r = as_user(ben).post(url, hours)
    assert r.status_code == 400
    assert f"Overlaps 10:00{DASH}14:00: ranges can't overlap." in text(r)
    member.refresh_from_db()
    assert member.weekly_hours == []
    r = as_user(ben).post(url, hours | {"hours-1-start": "15:00", "hours-1-end": "16:00"})
    assert r.status_code == 302
    member.refresh_from_db()
    assert member.weekly_hours == [
        {"weekday": 1, "start": "10:00", "end": "14:00"},
        {"weekday": 1, "start": "15:00", "end": "16:00"},
    ]
    assert member.hours_zone == "America/New_York"
    assert member.weekly() == {1: [(time(10), time(14)), (time(15), time(16))]}
    r = as_user(ben).post(url, hours | {"hours_zone": "Atlantis/Nowhere"})
    assert r.status_code == 400
    assert "is not a known IANA time zone" in text(r)


def test_without_own_hours_on_the_page_a_member_cant_set_them(world: World) -> None:
    ada, ben = world.staff("ada"), world.staff("ben")
    page = world.team_page(ada, [ben])
    member = page.members.get()
    url = f"/pages/{page.pk}/team/{member.pk}/calendars/"
    assert "Your hours on this page" not in text(as_user(ben).get(url))
    r = as_user(ben).post(
        url,
        {"action": "save_hours", "hours-TOTAL_FORMS": 0, "hours-INITIAL_FORMS": 0},
    )
    assert r.status_code == 400
    member.refresh_from_db()
    assert member.weekly_hours == []


# --- bookings --------------------------------------------------------------------------


def test_a_round_robin_booking_is_handed_to_a_free_member_from_its_detail_page(
    world: World, eager_writes, django_capture_on_commit_callbacks
) -> None:
    ada, ben, cy = world.staff("ada"), world.staff("ben"), world.staff("cy")
    page = world.team_page(ada, [ben, cy], tz="UTC", hours=(time(9), time(12)))
    start = monday_after().replace(hour=9)
    with django_capture_on_commit_callbacks(execute=True):
        booking = actions.book(page, start, customer())
    first = booking.owner
    other = cy if first == ben else ben
    other_member = page.members.get(user=other)
    owner = as_user(ada)
    body = text(owner.get(f"/bookings/{booking.pk}/"))
    assert "Reassign to" in body
    assert f'<option value="{other_member.pk}">{other_member.name}</option>' in body
    assert f'<option value="{page.members.get(user=first).pk}">' not in body
    assert re.search(
        r'id="attendees">.*?' + re.escape(first.get_full_name() or first.username), body
    )

    # Busy at the booking's time: refused, the booking stays where it is.
    world.sim.add_event(other.email, start, start + timedelta(hours=1), "Dentist")
    r = owner.post(f"/bookings/{booking.pk}/reassign/", {"member": other_member.pk})
    assert r.status_code == 409
    assert f"{other_member.name} isn't free at that time." in text(r)
    booking.refresh_from_db()
    assert booking.owner == first

    later = start + timedelta(hours=2)
    with django_capture_on_commit_callbacks(execute=True):
        moved = actions.book(page, later, customer("Bea Customer"))
    target = page.members.get(user=cy if moved.owner == ben else ben)
    with django_capture_on_commit_callbacks(execute=True):
        r = owner.post(f"/bookings/{moved.pk}/reassign/", {"member": target.pk})
    assert r.status_code == 302, text(r)
    moved.refresh_from_db()
    assert moved.owner == target.user
    assert [e.start for e in world.sim.events(target.user.email) if "Bea" in e.subject] == [later]


def test_reassigning_to_someone_not_on_the_team_is_refused(world: World) -> None:
    ada, ben, cy = world.staff("ada"), world.staff("ben"), world.staff("cy")
    page = world.team_page(ada, [ben], tz="UTC")
    booking = actions.book(page, monday_after().replace(hour=9), customer())
    stranger = world.team_page(cy, [cy]).members.get()
    r = as_user(ada).post(f"/bookings/{booking.pk}/reassign/", {"member": stranger.pk})
    assert r.status_code == 400
    assert "Choose one of the team's other members." in text(r)
    r = as_user(ada).post(f"/bookings/{booking.pk}/reassign/", {"member": "99999999999999"})
    assert r.status_code == 400


def test_a_collective_booking_shows_who_it_is_with_and_offers_no_reassignment(
    world: World,
) -> None:
    ada, ben, cy = world.staff("ada"), world.staff("ben"), world.staff("cy")
    page = world.team_page(ada, [ada, ben], optional=(cy,), mode=TeamMode.COLLECTIVE, tz="UTC")
    booking = actions.book(page, monday_after().replace(hour=9), customer())
    body = text(as_user(ada).get(f"/bookings/{booking.pk}/"))
    attendees = body.split('id="attendees">')[1].split("</dd>")[0]
    assert attendees.count("(required)") == 2
    assert "(optional)" in attendees
    assert "Reassign to" not in body
    assert Booking.objects.get(pk=booking.pk).attendees.count() == 3
