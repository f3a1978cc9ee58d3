"""Hybrid organisations (issue 18): one corporate connection reaches on-premises mailboxes over
EWS and Exchange Online mailboxes over Graph, each as Autodiscover v2 says, remembered.

Over HTTP against the simulator: its EWS, Graph, Autodiscover and identity provider."""

from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from bookings.models import Booking
from calendars import connect, routing
from calendars.backends.base import CalendarTarget
from calendars.backends.hybrid import HybridBackend
from calendars.models import (
    AuthType,
    ConnectionKind,
    CorporateMember,
    ExchangeConnection,
    MailboxRoute,
    Protocol,
)
from tests.world import World, monday_after

pytestmark = [pytest.mark.django_db, pytest.mark.parametrize("protocol", ["graph"], indirect=True)]


def on_premises(world: World, email: str, value: bool = True) -> None:
    with world.sim.store.lock:
        world.sim.store.mailbox(email).on_premises = value


def operations(world: World) -> list[str]:
    return [entry.operation for entry in world.sim.log]


@pytest.fixture
def hybrid(world: World) -> ExchangeConnection:
    """The dedicated mailbox on-premises (EWS, its password) and the app registration's
    client credentials for the cloud side (Graph app-only)."""
    client_id, secret = str(uuid.uuid4()), f"secret-{uuid.uuid4().hex[:8]}"
    world.sim.identity_provider.register_application(
        client_id, secret, roles=["Calendars.ReadWrite"]
    )
    sync = world.person("booking-sync")
    on_premises(world, sync.email)
    conn = ExchangeConnection.objects.create(
        kind=ConnectionKind.CORPORATE,
        email=sync.email,
        protocol=Protocol.HYBRID,
        ews_url=world.sim.ews_url,
        auth_type=AuthType.BASIC,
        password=sync.password,
        oauth_authority=world.sim.identity_provider.authority,
        oauth_client_id=client_id,
        oauth_client_secret=secret,
    )
    world._corporate = conn
    return conn


def staff(world: World, name: str, *, cloud: bool) -> User:
    user = world.staff(name)
    on_premises(world, user.email, not cloud)
    return user


def test_the_backend_is_hybrid_and_verify_checks_both_sides(
    world: World, hybrid: ExchangeConnection
) -> None:
    assert isinstance(connect.backend_for(hybrid), HybridBackend)
    world.sim.clear_log()
    assert connect.verify(hybrid) is None
    ops = operations(world)
    assert any(not op.startswith("graph:") for op in ops)  # EWS, the password
    assert any(op.startswith("graph:") for op in ops)  # Graph, the app's token

    hybrid.oauth_client_secret = "not-the-secret"
    hybrid.save()
    connect.forget_cached(hybrid)
    error = connect.verify(hybrid)
    assert error is not None and error.code == "auth_failed"


def test_members_are_routed_by_autodiscover_and_the_route_is_remembered(
    world: World, hybrid: ExchangeConnection
) -> None:
    olga = staff(world, "olga", cloud=False)
    cara = staff(world, "cara", cloud=True)
    world.sim.clear_log()

    assert routing.protocol_for(hybrid, olga.email) == Protocol.EWS
    assert routing.protocol_for(hybrid, cara.email.upper()) == Protocol.GRAPH
    assert operations(world) == ["AutodiscoverJson", "AutodiscoverJson"]
    routes = dict(MailboxRoute.objects.values_list("mailbox", "protocol"))
    assert routes == {olga.email: "ews", cara.email: "graph"}

    world.sim.clear_log()
    day = monday_after()
    targets = [CalendarTarget(olga.email), CalendarTarget(cara.email)]
    busy = connect.backend_for(hybrid).busy(targets, day, day + timedelta(days=1))
    assert set(busy) == set(targets)
    ops = operations(world)
    assert "AutodiscoverJson" not in ops  # remembered
    assert "GetUserAvailability" in ops and "graph:getSchedule" in ops
    by_op = {e.operation: e.target for e in world.sim.log}
    assert by_op["GetUserAvailability"] == olga.email
    assert cara.email in (by_op["graph:getSchedule"] or "")


def test_membership_is_checked_on_each_members_side(
    world: World, hybrid: ExchangeConnection
) -> None:
    olga = staff(world, "olga", cloud=False)
    cara = staff(world, "cara", cloud=True)
    world.sim.clear_log()
    for user in (olga, cara):
        member = connect.check_member(CorporateMember.objects.get(user=user))
        assert member.access_ok and member.can_write, member.error
    olga_ops = [e.operation for e in world.sim.log if e.target == olga.email]
    cara_ops = [e.operation for e in world.sim.log if e.target == cara.email]
    assert olga_ops and not any(op.startswith("graph:") for op in olga_ops)
    assert "GetDelegate" in olga_ops
    assert any(op.startswith("graph:") for op in cara_ops[1:])  # after Autodiscover
    # Over EWS the calendar permission the delegate was given; over Graph what the app may do.
    levels = {m.mailbox: m.calendar_permission for m in CorporateMember.objects.all()}
    assert levels == {olga.email: "Editor", cara.email: "Editor"}


def post_booking(slug: str, start: datetime) -> Any:
    body = {
        "name": "Ann",
        "email": "ann@example.com",
        "timezone": "UTC",
        "start": start.isoformat(),
    }
    return Client().post(f"/api/v1/pages/{slug}/bookings", body, content_type="application/json")


def test_a_page_on_premises_with_busy_time_in_the_cloud(
    world: World,
    hybrid: ExchangeConnection,
    eager_writes: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    """The issue's acceptance test: the main calendar is on-premises, the busy-time calendar
    in the cloud; the cloud person's busy time blocks slots, the booking lands on-premises."""
    olga = staff(world, "olga", cloud=False)
    cara = staff(world, "cara", cloud=True)
    day = monday_after()
    world.sim.add_event(cara.email, day.replace(hour=10), day.replace(hour=11), "Cloud meeting")
    page = world.page(
        olga,
        tz="UTC",
        hours=(time(9), time(12)),
        duration_minutes=60,
        roles={olga.email: "main", cara.email: "busy"},
    )
    assert page.not_ready_reason() == ""
    world.sim.clear_log()

    response = Client().get(
        f"/api/v1/pages/{page.slug}/slots", {"start": day.date(), "end": day.date()}
    )
    assert response.status_code == 200
    starts = [datetime.fromisoformat(s["start"]) for s in response.json()["slots"]]
    assert starts == [day.replace(hour=9), day.replace(hour=11)]  # 10:00 is Cara's meeting
    ops = operations(world)
    assert "GetUserAvailability" in ops and "graph:getSchedule" in ops

    world.sim.clear_log()
    with django_capture_on_commit_callbacks(execute=True):
        assert post_booking(page.slug, day.replace(hour=11)).status_code == 201
    booking = Booking.objects.get()
    write = booking.writes.get()
    assert write.item_id and write.owner_email == olga.email
    [event] = world.sim.events(olga.email)
    assert event.start == day.replace(hour=11)
    assert "CreateItem" in operations(world)
    assert not any(op.startswith("graph:") and "event" in op.lower() for op in operations(world))
    assert len(world.sim.events(cara.email)) == 1  # nothing written in the cloud


def test_teams_meetings_need_the_main_calendar_in_the_cloud(
    world: World,
    hybrid: ExchangeConnection,
    eager_writes: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    """A hybrid page may create Teams meetings when its main calendar's owner is in Exchange
    Online (reached over Graph); an on-premises owner's page can't, and says so."""
    olga = staff(world, "olga", cloud=False)
    cara = staff(world, "cara", cloud=True)
    on_prem = world.page(olga, create_teams_meeting=True)
    assert "can't create Microsoft Teams meetings" in on_prem.not_ready_reason()

    cloud = world.page(cara, tz="UTC", create_teams_meeting=True)
    assert cloud.not_ready_reason() == ""
    start = monday_after().replace(hour=10)
    with django_capture_on_commit_callbacks(execute=True):
        assert post_booking(cloud.slug, start).status_code == 201
    [event] = world.sim.events(cara.email)
    assert event.is_online_meeting
    assert Booking.objects.get().online_meeting_url == event.online_meeting_url


def test_a_mailbox_moved_to_the_cloud_is_reached_over_graph_once_its_route_expires(
    world: World, hybrid: ExchangeConnection
) -> None:
    olga = staff(world, "olga", cloud=False)
    assert routing.protocol_for(hybrid, olga.email) == Protocol.EWS
    on_premises(world, olga.email, False)  # the migration batch moved her mailbox overnight
    # Within the route's lifetime the remembered answer stands.
    assert routing.protocol_for(hybrid, olga.email) == Protocol.EWS
    MailboxRoute.objects.filter(mailbox=olga.email).update(
        checked_at=timezone.now() - routing.ROUTE_LIFETIME - timedelta(minutes=1)
    )
    world.sim.clear_log()
    day = monday_after()
    target = CalendarTarget(olga.email)
    connect.backend_for(hybrid).busy([target], day, day + timedelta(days=1))
    ops = operations(world)
    assert ops[0] == "AutodiscoverJson" and "graph:getSchedule" in ops
    assert "GetUserAvailability" not in ops
    assert MailboxRoute.objects.get(mailbox=olga.email).protocol == Protocol.GRAPH


def test_without_autodiscover_graph_is_asked_and_on_premises_means_ews(
    world: World, hybrid: ExchangeConnection
) -> None:
    olga = staff(world, "olga", cloud=False)
    cara = staff(world, "cara", cloud=True)
    world.sim.fail_http(503, count=1)  # Autodiscover is down for the first question
    assert routing.protocol_for(hybrid, olga.email) == Protocol.EWS
    assert operations(world)[-2:][0] == "AutodiscoverJson"
    assert world.sim.log[-1].operation.startswith("graph:")  # MailboxNotEnabledForRESTAPI
    assert MailboxRoute.objects.get(mailbox=olga.email).protocol == Protocol.EWS
    world.sim.fail_http(503, count=1)
    assert routing.protocol_for(hybrid, cara.email) == Protocol.GRAPH
    assert MailboxRoute.objects.get(mailbox=cara.email).protocol == Protocol.GRAPH


def test_discovery_reads_each_owners_calendars_on_their_side(
    world: World, hybrid: ExchangeConnection
) -> None:
    olga = staff(world, "olga", cloud=False)
    cara = staff(world, "cara", cloud=True)
    world.sim.add_calendar(cara.email, "Clinic")
    backend = connect.backend_for(hybrid)
    world.sim.clear_log()
    cloud = {c.name for c in backend.discover(cara.email)}
    assert "Clinic" in cloud
    assert all(
        e.operation.startswith("graph:")
        for e in world.sim.log
        if e.target == cara.email and e.operation != "AutodiscoverJson"
    )
    assert any(c.is_primary for c in backend.discover(olga.email))


def test_the_admin_adds_a_hybrid_connection_with_both_sides_secrets(world: World) -> None:
    admin = User.objects.create_superuser("root", "root@contoso.example", "pw")
    client = Client()
    client.force_login(admin)
    add = "/admin/calendars/exchangeconnection/add/"
    # Hybrid chosen: the Graph side's secret is asked for too, never shown.
    page = client.get(add, {"protocol": "hybrid"}).content.decode()
    assert 'name="new_graph_secret"' in page and page.count('type="password"') == 2
    assert 'name="new_graph_secret"' not in client.get(add).content.decode()
    fields = {
        "kind": ConnectionKind.CORPORATE,
        "email": "booking-sync@contoso.example",
        "ews_url": world.sim.ews_url,
        "auth_type": AuthType.BASIC,
        "protocol": Protocol.HYBRID,
        "exchange_version": "auto",
        "new_secret": "the-mailbox-password",
        "oauth_tenant": "contoso.example",
        "oauth_client_id": "8a1f0000-0000-4000-8000-000000000001",
    }
    refused = client.post(add, fields)
    assert refused.status_code == 200
    errors = refused.context["adminform"].form.errors
    assert errors["new_graph_secret"] == ["Enter the app registration's client secret."]
    assert "the-mailbox-password" not in refused.content.decode()

    done = client.post(add, {**fields, "new_graph_secret": "the-app-secret"})
    assert done.status_code == 302
    conn = ExchangeConnection.objects.get()
    assert conn.protocol == Protocol.HYBRID
    assert (conn.password, conn.oauth_client_secret) == ("the-mailbox-password", "the-app-secret")

    change = client.get(f"/admin/calendars/exchangeconnection/{conn.pk}/change/").content.decode()
    assert "Microsoft Graph side" in change and world.sim.ews_url in change
    assert "the-app-secret" not in change and "the-mailbox-password" not in change


def test_the_member_list_says_where_each_member_is_reached(
    world: World, hybrid: ExchangeConnection
) -> None:
    olga = staff(world, "olga", cloud=False)
    cara = staff(world, "cara", cloud=True)
    routing.protocols_for(hybrid, [olga.email])
    admin = User.objects.create_superuser("root", "root@contoso.example", "pw")
    client = Client()
    client.force_login(admin)
    page = client.get(f"/admin/calendars/exchangeconnection/{hybrid.pk}/change/").content.decode()
    assert str(Protocol.EWS.label) in page and "Not asked yet" in page
    assert cara.email in page


def test_the_graph_sides_client_secret_rotates_on_its_own_and_both_sides_are_checked(
    world: World, hybrid: ExchangeConnection
) -> None:
    admin = User.objects.create_superuser("root", "root@contoso.example", "pw")
    client = Client()
    client.force_login(admin)
    change = client.get(f"/admin/calendars/exchangeconnection/{hybrid.pk}/change/").content
    assert b"Change mailbox password" in change and b"Rotate Graph client secret" in change
    url = f"/admin/calendars/exchangeconnection/{hybrid.pk}/rotate/?side=graph"
    assert b"client secret" in client.get(url).content

    # A secret Entra doesn't know is refused; nothing changes.
    old = (hybrid.oauth_client_secret, hybrid.password, hybrid.credential_version)
    refused = client.post(url, {"new_secret": "not-it"})
    assert b"errorlist" in refused.content
    hybrid.refresh_from_db()
    assert (hybrid.oauth_client_secret, hybrid.password, hybrid.credential_version) == old
    world.sim.identity_provider.set_client_secret(hybrid.oauth_client_id, "graph-side-new")
    response = client.post(url, {"new_secret": "graph-side-new"})

    assert response.status_code == 302
    hybrid.refresh_from_db()
    assert hybrid.oauth_client_secret == "graph-side-new"
    assert hybrid.password == old[1]  # the mailbox's password is untouched
    assert hybrid.credential_version == old[2] + 1
    assert connect.verify(hybrid) is None
