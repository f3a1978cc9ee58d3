"""Corporate membership over the wire: a staff member attaches only as a mailbox proven to be
theirs, and books into a colleague's calendar only with the colleague's consent, an admin's
grant, or the open model switched on. Revoking stops writes at once."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.test import Client

from bookings import actions, writes
from bookings.models import PageCalendar, PageCalendarOwner, WriteState
from calendars import connect
from calendars.models import CalendarRef, CorporateMember, WriteGrant
from tests.world import World, monday_after

pytestmark = [pytest.mark.django_db, pytest.mark.backends("ews", "graph")]

CUSTOMER = actions.CustomerDetails(name="Customer", email="c@example.com", timezone="UTC")


def signed_in(client: Client, user) -> Client:  # type: ignore[no-untyped-def]
    client.force_login(user)
    return client


def link_in(message: mail.EmailMessage) -> str:
    match = re.search(r"https?://\S+/connection/confirm/\S+/", message.body)
    assert match, message.body
    return urlsplit(match.group(0)).path


def test_attaching_as_someone_elses_mailbox_stays_pending_and_reads_nothing(
    world: World, client: Client
) -> None:
    alice = world.staff("alice")
    mallory = world.staff("mallory")
    CorporateMember.objects.filter(user=mallory).delete()
    world.sim.clear_log()

    response = signed_in(client, mallory).post(
        "/connection/attach/", {"mailbox": alice.email}, follow=True
    )

    member = CorporateMember.objects.get(user=mallory)
    assert member.is_pending and member.access_ok is None
    assert b"Waiting for you to confirm" in response.content
    assert connect.connection_for(mallory) is None
    assert [m.to for m in mail.outbox] == [[alice.email]]
    # Nothing was asked of Exchange about Alice's mailbox on Mallory's word.
    assert not [e for e in world.sim.log if alice.email in (e.target or "")]


def test_the_address_an_admin_set_on_the_account_is_proven_at_once(world: World) -> None:
    dana = world.staff("dana")
    CorporateMember.objects.filter(user=dana).delete()
    member = connect.attach(dana, dana.email)
    assert member.is_active and member.proof == "account"
    assert member.access_ok is True
    assert mail.outbox == []


def test_the_mailed_link_proves_the_mailbox_once(world: World, client: Client) -> None:
    erin = world.staff("erin")
    other = world.person("erin-alias")
    world.sim.add_delegate(other.email, world.corporate().email)
    member = connect.attach(erin, other.email)
    assert member.is_pending
    url = link_in(mail.outbox[0])

    response = signed_in(client, erin).get(url, follow=True)
    member.refresh_from_db()
    assert member.is_active and member.proof == "email"
    assert f"Confirmed: {other.email} is your mailbox." in response.content.decode()
    assert connect.connection_for(erin) == world.corporate()

    # Single use: a second visit after a change of mailbox proves nothing.
    connect.attach(erin, world.person("erin-third").email)
    response = client.get(url, follow=True)
    assert b"already used or replaced" in response.content
    assert CorporateMember.objects.get(user=erin).is_pending


def test_a_link_opened_by_another_account_proves_nothing(world: World, client: Client) -> None:
    frank = world.staff("frank")
    grace = world.staff("grace")
    member = connect.attach(frank, world.person("frank-alias").email)
    response = signed_in(client, grace).get(link_in(mail.outbox[0]), follow=True)
    assert b"for another account" in response.content
    member.refresh_from_db()
    assert member.is_pending


def test_an_expired_link_proves_nothing(world: World, client: Client, settings) -> None:  # type: ignore[no-untyped-def]
    henry = world.staff("henry")
    member = connect.attach(henry, world.person("henry-alias").email)
    settings.MEMBERSHIP_CONFIRM_HOURS = -1
    response = signed_in(client, henry).get(link_in(mail.outbox[0]), follow=True)
    assert b"has expired" in response.content
    member.refresh_from_db()
    assert member.is_pending


def _colleague_page(world: World):  # type: ignore[no-untyped-def]
    alice, carol = world.staff("alice"), world.staff("carol")
    page = world.page(alice)
    PageCalendarOwner.objects.create(page=page, email=carol.email)
    carols = world.calendars(world.corporate(), carol.email)[0]
    return alice, carol, page, carols


def test_booking_into_a_colleagues_calendar_needs_their_consent_in_the_web_ui(
    world: World, client: Client
) -> None:
    alice, carol, page, carols = _colleague_page(world)
    mine = CalendarRef.objects.get(owner_email=alice.email, is_primary=True)
    data = {"action": "save_roles", f"role-{mine.pk}": "main", f"role-{carols.pk}": "additional"}

    response = signed_in(client, alice).post(f"/pages/{page.pk}/calendars/", data)
    assert response.status_code == 400
    assert "has not allowed you to book into their calendar" in response.content.decode()
    assert not PageCalendar.objects.filter(calendar=carols).exists()

    world.allow(carol, alice)
    response = client.post(f"/pages/{page.pk}/calendars/", data)
    assert response.status_code == 302
    assert PageCalendar.objects.get(calendar=carols).role == "additional"


def test_booking_into_a_colleagues_calendar_needs_their_consent_in_the_staff_api(
    world: World, client: Client
) -> None:
    alice, _carol, page, carols = _colleague_page(world)
    api = signed_in(client, alice)
    url = f"/api/v1/staff/pages/{page.pk}/roles/"
    body = {"roles": {str(carols.pk): "additional"}}
    response = api.put(url, body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert "has not allowed you" in str(response.json()["errors"])
    # Busy time from any calendar the mailbox sees stays open.
    body = {"roles": {str(carols.pk): "busy"}}
    assert api.put(url, body, content_type="application/json").status_code == 200


def test_an_admin_grant_or_the_open_model_allows_booking_into_a_colleague(world: World) -> None:
    from bookings.models import role_problem

    alice, carol, _page, carols = _colleague_page(world)
    assert role_problem(carols, "additional", alice)
    WriteGrant.objects.create(user=alice, mailbox=carol.email)
    assert role_problem(carols, "additional", alice) == ""
    WriteGrant.objects.all().delete()
    conn = world.corporate()
    conn.members_may_book_into_any_calendar = True
    conn.save()
    carols.refresh_from_db()
    assert role_problem(carols, "additional", alice) == ""


def test_withdrawn_consent_stops_writes_at_once_and_shows_on_the_page(world: World) -> None:
    alice, carol, page, carols = _colleague_page(world)
    world.allow(carol, alice)
    PageCalendar.objects.create(page=page, calendar=carols, role="additional")
    booking = actions.book(page, monday_after().replace(hour=10), CUSTOMER)
    carol.corporate_membership.allowed_colleagues.clear()

    copy = booking.writes.get(role="additional")
    writes.perform(copy.pk)
    copy.refresh_from_db()
    assert copy.state == WriteState.FAILING
    assert "has not allowed you to book into their calendar" in copy.last_error
    assert world.sim.events(carol.email) == []
    assert any("has not allowed you" in p for p in page.setup_problems())


def test_a_revoked_member_reads_and_writes_nothing(world: World) -> None:
    from calendars import membership

    alice = world.staff("alice")
    page = world.page(alice)
    membership.revoke(alice.corporate_membership, by=None)
    assert connect.connection_for(alice) is None
    # The page is not taking bookings: its main calendar is reached through the membership.
    with pytest.raises(actions.PageNotReady):
        actions.book(page, monday_after().replace(hour=10), CUSTOMER)
    with pytest.raises(membership.MembershipError):
        connect.attach(alice, alice.email)


def test_admins_see_members_and_revoking_one_stops_their_pages(
    world: World, client: Client
) -> None:
    admin = world.staff("ada", superuser=True)
    alice = world.staff("alice")
    page = world.page(alice)
    admin_client = signed_in(client, admin)
    listing = admin_client.get("/admin/calendars/corporatemember/")
    assert alice.email in listing.content.decode()

    member = alice.corporate_membership
    change = admin_client.get(f"/admin/calendars/corporatemember/{member.pk}/change/")
    assert change.status_code == 200 and "Active" in change.content.decode()
    response = admin_client.post(
        "/admin/calendars/corporatemember/",
        {"action": "revoke_memberships", "_selected_action": [member.pk]},
        follow=True,
    )
    assert response.status_code == 200
    member.refresh_from_db()
    assert member.revoked_at is not None and member.revoked_by == admin
    # The page is not taking bookings: its main calendar is reached through the membership.
    with pytest.raises(actions.PageNotReady):
        actions.book(page, monday_after().replace(hour=10), CUSTOMER)


def test_a_member_allows_a_named_colleague_on_their_connection_page(
    world: World, client: Client
) -> None:
    alice, carol, _page, carols = _colleague_page(world)
    stranger = world.staff("sam")
    carol_client = signed_in(Client(), carol)
    form = carol_client.get("/connection/")
    body = form.content.decode()
    assert "Who may book into your calendar" in body
    assert alice.email in body and stranger.email in body

    response = carol_client.post(
        "/connection/consent/",
        {"write_consent": "named", "allowed_colleagues": [alice.pk]},
        follow=True,
    )
    assert "Saved who may book into your calendar." in response.content.decode()
    from bookings.models import role_problem

    assert role_problem(carols, "additional", alice) == ""
    assert role_problem(carols, "additional", stranger) != ""

    # Back to "nobody": the named list is cleared, and Alice is refused again.
    carol_client.post("/connection/consent/", {"write_consent": "nobody"})
    assert list(carol.corporate_membership.allowed_colleagues.all()) == []
    assert "has not allowed you" in role_problem(carols, "additional", alice)


def test_the_consent_form_refuses_someone_who_is_not_a_colleague(world: World) -> None:
    carol = world.staff("carol")
    outsider = User.objects.create_user("outsider", "outsider@example.com")
    response = signed_in(Client(), carol).post(
        "/connection/consent/", {"write_consent": "named", "allowed_colleagues": [outsider.pk]}
    )
    assert response.status_code == 400
    assert not carol.corporate_membership.allowed_colleagues.exists()


def test_a_pending_member_cannot_give_consent(world: World) -> None:
    henry = world.staff("henry")
    connect.attach(henry, world.person("henry-alias").email)
    response = signed_in(Client(), henry).post(
        "/connection/consent/", {"write_consent": "everyone"}, follow=True
    )
    assert b"confirm your mailbox first" in response.content
    assert CorporateMember.objects.get(user=henry).write_consent == "nobody"


def test_admins_filter_members_waiting_for_confirmation(world: World) -> None:
    admin = world.staff("ada", superuser=True)
    henry = world.staff("henry")
    connect.attach(henry, world.person("henry-alias").email)
    admin_client = signed_in(Client(), admin)
    pending = admin_client.get("/admin/calendars/corporatemember/?state=pending").content.decode()
    assert "henry-alias" in pending and admin.email not in pending
    active = admin_client.get("/admin/calendars/corporatemember/?state=active").content.decode()
    assert "henry-alias" not in active and admin.email in active


def test_the_calendar_list_says_why_a_colleagues_calendar_cannot_take_bookings(
    world: World, client: Client
) -> None:
    alice, carol, page, carols = _colleague_page(world)
    body = signed_in(client, alice).get(f"/pages/{page.pk}/calendars/").content.decode()
    section = body.split(f'name="role-{carols.pk}"')[1]
    assert '<option value="additional" disabled' in section or "(not allowed)" in section
    assert f"{carol.get_full_name() or carol.email} has not allowed you" in body

    payload = client.get(f"/api/v1/staff/pages/{page.pk}/calendars/").json()
    (theirs,) = [c for o in payload["owners"] for c in o["calendars"] if c["id"] == carols.pk]
    assert theirs["allowed_roles"] == ["busy"]
    assert "has not allowed you" in theirs["refusal"]

    world.allow(carol, alice)
    payload = client.get(f"/api/v1/staff/pages/{page.pk}/calendars/").json()
    (theirs,) = [c for o in payload["owners"] for c in o["calendars"] if c["id"] == carols.pk]
    assert theirs["allowed_roles"] == ["main", "busy", "additional"]
    assert theirs["refusal"] == ""


def test_a_pending_member_is_told_to_confirm_not_that_all_is_well(world: World) -> None:
    mallory = world.staff("mallory")
    alice = world.person("alice")
    world.sim.add_delegate(alice.email, world.corporate().email)
    connect.attach(mallory, alice.email)
    world.sim.clear_log()
    client = signed_in(Client(), mallory)

    dashboard = client.get("/dashboard/").content.decode()
    assert f"Confirm that {alice.email} is your mailbox" in dashboard
    assert "All calendars are working" not in dashboard

    page = client.get("/connection/").content.decode()
    assert "Waiting for confirmation" in page
    assert "How to grant access" not in page  # nothing to grant before the mailbox is proven

    response = client.post("/connection/check/", follow=True)
    assert f"Confirm {alice.email} first" in response.content.decode()
    assert world.sim.log == []  # "Check now" asked Exchange nothing about Alice


def test_a_revoked_member_sees_it_on_the_dashboard(world: World) -> None:
    from calendars import membership

    alice = world.staff("alice")
    membership.revoke(alice.corporate_membership, by=None)
    dashboard = signed_in(Client(), alice).get("/dashboard/").content.decode()
    assert "A site administrator revoked your use of the booking mailbox" in dashboard
