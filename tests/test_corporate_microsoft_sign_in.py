"""The corporate connection on Exchange Online, delegated: the booking mailbox signs in with
Microsoft from Django admin; members delegate to it as on-premises; signing in again
replaces the token in place."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import User
from django.test import Client

from calendars import connect
from calendars.models import (
    AuthType,
    ConnectionKind,
    CredentialRotation,
    ExchangeConnection,
    Protocol,
)
from tests.conftest import SITE_REDIRECT_URI
from tests.world import World, monday_after

pytestmark = [pytest.mark.django_db, pytest.mark.backends("graph")]
SIGN_IN = "/admin/calendars/exchangeconnection/microsoft-sign-in/"


@pytest.fixture
def admin_client(world: World, settings: Any) -> Client:
    settings.SITE_URL = SITE_REDIRECT_URI.split("/connection/")[0]
    admin = User.objects.create_superuser("root", "root@contoso.example", "pw")
    client = Client()
    client.force_login(admin)
    return client


def sign_in(world: World, client: Client, mailbox: str, as_email: str | None = None) -> Any:
    start = client.post(SIGN_IN, {"mailbox": mailbox})
    assert start.status_code == 302, start.content
    query = parse_qs(urlsplit(start["Location"]).query)
    assert query["login_hint"] == [mailbox]
    who = as_email or mailbox
    answer = world.sim.identity_provider.sign_in(start["Location"], who, world.people[who].password)
    return client.get("/connection/microsoft/callback/", answer, follow=True)


def said(response: Any) -> str:
    return " ".join(str(m) for m in response.context["messages"])


def test_the_booking_mailbox_signs_in_once_and_members_book_through_graph(
    world: World, admin_client: Client, eager_writes: Any, django_capture_on_commit_callbacks
) -> None:
    sync = world.person("booking-sync")
    response = sign_in(world, admin_client, sync.email)

    assert "is signed in with Microsoft (Graph)" in said(response)
    conn = ExchangeConnection.objects.get(kind=ConnectionKind.CORPORATE)
    assert (conn.protocol, conn.auth_type, conn.email) == (
        Protocol.GRAPH,
        AuthType.OAUTH_USER,
        sync.email,
    )
    assert conn.password == "" and conn.oauth_refresh_token
    world._corporate = conn

    owner = world.staff("maya")  # delegates her calendar to the booking mailbox
    member = connect.check_member(owner.corporate_membership)
    assert member.access_ok and member.error == ""
    page = world.page(owner)
    start = monday_after().replace(hour=11)
    with django_capture_on_commit_callbacks(execute=True):
        booked = Client().post(
            f"/api/v1/pages/{page.slug}/bookings",
            {
                "name": "Ann",
                "email": "ann@example.com",
                "timezone": "UTC",
                "start": start.isoformat(),
            },
            content_type="application/json",
        )
    assert booked.status_code == 201, booked.content
    [event] = world.sim.events(owner.email)
    assert event.start == start
    assert "graph:createPrimaryCalendarEvent" in {e.operation for e in world.sim.log}


def test_signing_in_again_replaces_the_token_in_place_and_members_carry_on(
    world: World, admin_client: Client
) -> None:
    sync = world.person("booking-sync")
    sign_in(world, admin_client, sync.email)
    conn = ExchangeConnection.objects.get(kind=ConnectionKind.CORPORATE)
    world._corporate = conn
    owner = world.staff("maya")
    page = world.page(owner)
    before = (conn.pk, conn.credential_version, conn.oauth_refresh_token)

    # The change page names the action; it leads to the same sign-in.
    change = admin_client.get(f"/admin/calendars/exchangeconnection/{conn.pk}/change/")
    assert "Sign in with Microsoft again" in change.content.decode()
    assert (
        admin_client.get(f"/admin/calendars/exchangeconnection/{conn.pk}/rotate/").status_code
        == 404
    )
    response = sign_in(world, admin_client, sync.email)

    assert "is signed in with Microsoft (Graph)" in said(response)
    conn.refresh_from_db()
    assert conn.pk == before[0] and conn.credential_version == before[1] + 1
    assert conn.oauth_refresh_token != before[2]
    assert CredentialRotation.objects.get(connection=conn).what == "Microsoft sign-in"
    assert ExchangeConnection.objects.count() == 1
    assert page.not_ready_reason() == ""
    assert connect.verify(conn) is None


def test_signing_in_as_someone_else_saves_nothing(world: World, admin_client: Client) -> None:
    sync = world.person("booking-sync")
    other = world.person("oscar")
    response = sign_in(world, admin_client, sync.email, as_email=other.email)

    assert f"You signed in as {other.email}, not as the booking mailbox" in said(response)
    assert not ExchangeConnection.objects.exists()


def test_without_connect_with_microsoft_configured_the_page_says_what_to_set(
    world: World, admin_client: Client, settings: Any
) -> None:
    settings.MICROSOFT_CLIENT_ID = ""
    page = admin_client.get(SIGN_IN).content.decode()
    assert "set MICROSOFT_CLIENT_ID and MICROSOFT_CLIENT_SECRET" in page
