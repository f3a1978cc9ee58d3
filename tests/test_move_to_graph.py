"""Exchange Online's EWS is closing: a blocked EWS connection says what to do, the email and
password form sends Microsoft 365 accounts to Connect with Microsoft, and a Microsoft 365
connection over EWS moves to Graph keeping its calendars' roles and its bookings' events."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.test import Client

from bookings import actions
from bookings.models import Booking, EventWrite
from calendars import connect, oauth
from calendars.backends.base import CalendarTarget
from calendars.models import (
    AuthType,
    CalendarRef,
    ConnectionKind,
    ExchangeConnection,
    FolderSyncState,
    Protocol,
)
from tests.conftest import SITE_REDIRECT_URI
from tests.world import World, monday_after

pytestmark = pytest.mark.django_db


def post_booking(slug: str, start: str):  # type: ignore[no-untyped-def]
    body = {"name": "Ann", "email": "ann@example.com", "timezone": "Europe/London", "start": start}
    return Client().post(f"/api/v1/pages/{slug}/bookings", body, content_type="application/json")


def test_an_ews_connection_exchange_online_blocks_is_told_to_move_to_graph(world: World) -> None:
    conn = world.corporate()
    assert connect.verify(conn) is None
    world.sim.block_ews("EWS is disabled for this user or tenant")

    error = connect.verify(conn)

    assert error is not None and error.code == "ews_blocked"
    assert "EWS is disabled for this user or tenant" in error.message
    assert "Move the connection to Microsoft Graph" in error.message
    conn.refresh_from_db()
    assert conn.status == "failing" and "1 April 2027" in conn.last_error


def test_the_password_form_sends_microsoft_365_accounts_to_connect_with_microsoft(
    world: World,
) -> None:
    user = User.objects.create_user("megan", "megan@contoso.example", "pw")
    client = Client()
    client.force_login(user)
    response = client.post(
        "/connection/personal/",
        {
            "email": "megan@contoso.example",
            "password": "her-microsoft-password",
            "details": "1",
            "ews_url": "https://outlook.office365.com/EWS/Exchange.asmx",
            "exchange_version": "auto",
            "auth_type": "basic",
        },
    )
    assert response.status_code == 400
    assert "Microsoft 365 accounts connect with Microsoft" in response.content.decode()
    assert not ExchangeConnection.objects.exists()
    assert world.sim.log == []  # the password went nowhere


# --- moving an app-only corporate connection ----------------------------------------------


@pytest.fixture
def app_only(world: World, monkeypatch: pytest.MonkeyPatch) -> ExchangeConnection:
    """The corporate connection as Microsoft 365 sites made it before Graph: EWS, app-only
    OAuth with impersonation; the same app registration also holds Graph's permission."""
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # exchangelib over the sim's http
    return world.app_only_ews_corporate(roles=("Calendars.ReadWrite",))


@pytest.mark.parametrize("protocol", ["graph"], indirect=True)
def test_an_admin_moves_the_app_only_connection_and_pages_and_bookings_carry_on(
    world: World,
    app_only: ExchangeConnection,
    eager_writes: Any,
    django_capture_on_commit_callbacks,
) -> None:
    owner = world.staff("olga")
    world.sim.add_calendar(owner.email, "Clinic")
    page = world.page(owner, roles={owner.email: "main", f"{owner.email}/Clinic": "busy"})
    start = monday_after().replace(hour=10)
    with django_capture_on_commit_callbacks(execute=True):
        assert post_booking(page.slug, start.isoformat()).status_code == 201
    booking = Booking.objects.get()
    write = booking.writes.get()
    assert world.sim.log[-1].operation == "CreateItem"  # written over EWS
    FolderSyncState.objects.create(
        connection=app_only, owner_email=owner.email, folder_id="", state="ews-sync-state"
    )
    refs_before = set(CalendarRef.objects.values_list("pk", flat=True))

    admin = User.objects.create_superuser("root", "root@contoso.example", "pw")
    client = Client()
    client.force_login(admin)
    url = f"/admin/calendars/exchangeconnection/{app_only.pk}/move-to-graph/"
    assert "Calendars.ReadWrite" in client.get(url).content.decode()
    response = client.post(url, follow=True)

    assert response.status_code == 200
    said = " ".join(str(m) for m in response.context["messages"])
    assert "2 calendars kept their roles, 1 booked event found again" in said
    app_only.refresh_from_db()
    assert app_only.protocol == Protocol.GRAPH
    # The same rows, so every page keeps its roles; Graph's ids in them.
    assert set(CalendarRef.objects.values_list("pk", flat=True)) == refs_before
    assert page.not_ready_reason() == ""
    assert not FolderSyncState.objects.exists()
    write.refresh_from_db()
    [event] = world.sim.events(owner.email)
    # The event is found again under its Graph id, where Graph says it is.
    target = CalendarTarget(owner_email=write.owner_email, folder_id=write.folder_id)
    graph = connect.backend_for(app_only)
    assert graph.event_times(target, [write.item_id]) == {write.item_id: (start, write.booking.end)}

    world.sim.clear_log()
    with django_capture_on_commit_callbacks(execute=True):
        actions.reschedule(booking, start + timedelta(hours=2), by="customer")
    [moved] = world.sim.events(owner.email)
    assert moved.id == event.id and moved.start == start + timedelta(hours=2)
    assert all(e.operation.startswith("graph:") for e in world.sim.log)
    assert any(e.operation == "graph:updateEvent" for e in world.sim.log)


@pytest.mark.parametrize("protocol", ["graph"], indirect=True)
def test_a_move_graph_refuses_changes_nothing(world: World, app_only: ExchangeConnection) -> None:
    # The app registration lacks Graph's application permission.
    world.sim.identity_provider.set_application_roles(
        app_only.oauth_client_id, ["full_access_as_app"]
    )
    admin = User.objects.create_superuser("root", "root@contoso.example", "pw")
    client = Client()
    client.force_login(admin)
    response = client.post(f"/admin/calendars/exchangeconnection/{app_only.pk}/move-to-graph/")
    assert response.status_code == 200
    assert "errorlist" in response.content.decode()
    app_only.refresh_from_db()
    assert app_only.protocol == Protocol.EWS


# --- moving a personal "Connect with Microsoft" connection --------------------------------


@pytest.mark.parametrize("protocol", ["graph"], indirect=True)
def test_a_staff_member_moves_their_microsoft_365_connection_by_signing_in_again(
    world: World, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    settings.SITE_URL = SITE_REDIRECT_URI.split("/connection/")[0]
    person = world.person("petra")
    user = User.objects.create_user("petra", person.email, "pw", is_staff=True)
    # Connected before Graph: a refresh token for EWS.
    app = oauth.site_app()
    flow = app.initiate_auth_code_flow(
        [oauth.EWS_SCOPE_USER], redirect_uri=SITE_REDIRECT_URI, response_mode="form_post"
    )
    answer = world.sim.identity_provider.sign_in(flow["auth_uri"], person.email, person.password)
    ews_token = app.acquire_token_by_auth_code_flow(flow, answer)["refresh_token"]
    conn = ExchangeConnection.objects.create(
        kind=ConnectionKind.PERSONAL,
        user=user,
        email=person.email,
        ews_url=world.sim.ews_url,
        auth_type=AuthType.OAUTH_USER,
        oauth_refresh_token=ews_token,
    )
    page = world.page(user)
    client = Client()
    client.force_login(user)
    assert "Move to Microsoft Graph" in client.get("/connection/").content.decode()

    start = client.post("/connection/microsoft/", {"move": "1"})
    assert start.status_code == 302
    assert parse_qs(urlsplit(start["Location"]).query)["login_hint"] == [person.email]
    answer = world.sim.identity_provider.sign_in(start["Location"], person.email, person.password)
    response = client.get("/connection/microsoft/callback/", answer, follow=True)

    said = " ".join(str(m) for m in response.context["messages"])
    assert "Moved to Microsoft Graph: 1 calendar kept their roles" in said
    conn.refresh_from_db()
    assert conn.protocol == Protocol.GRAPH and conn.oauth_refresh_token != ews_token
    assert ExchangeConnection.objects.count() == 1
    assert page.not_ready_reason() == ""
    assert "Move to Microsoft Graph" not in client.get("/connection/").content.decode()
    assert not mail.outbox
    assert not EventWrite.objects.exists()
