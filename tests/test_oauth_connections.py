"""OAuth 2.0 connections over the wire: msal against the simulator's identity provider.

Both servers speak HTTPS with certificates from one test CA, which the app trusts through
EXCHANGE_CA_BUNDLE, exactly as a site behind a corporate CA would. Two flows:
- the corporate connection with app-only client credentials, reaching members' calendars by
  impersonation (granted to the app registration in Exchange);
- a staff member's "Connect with Microsoft" (authorization code), whose refresh token is
  stored encrypted and redeemed by msal whenever the access token runs out.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import exchangelib
import pytest
from django.db import connection as db_connection

from calendars import connect, discovery, oauth
from calendars.errors import ExchangeError
from calendars.models import (
    AuthType,
    ConnectionKind,
    CredentialRotation,
    ExchangeConnection,
    Protocol,
    SyncLogEntry,
)
from calendars.simulator import Simulator
from calendars.simulator.idp import IdentityProvider
from calendars.simulator.tls import TestCA

pytestmark = pytest.mark.django_db

REDIRECT_URI = "http://localhost:8000/connection/microsoft/callback"


@pytest.fixture(autouse=True)
def _settings(settings: Any, ca: TestCA, sim: Simulator) -> Iterator[None]:
    settings.EXCHANGE_CA_BUNDLE = str(ca.ca_cert_path)
    settings.EXCHANGE_ALLOW_HTTP = False  # everything here is https
    settings.EXCHANGE_ALLOW_PRIVATE_HOSTS = True
    sim.clear_faults()
    yield
    exchangelib.close_connections()


def mailbox(sim: Simulator, name: str) -> str:
    email = f"{name}-{uuid.uuid4().hex[:8]}@contoso.example"
    sim.add_mailbox(email, name.title(), f"pw-{email}")
    return email


# --- the corporate connection with app-only OAuth ---------------------------------------


class App:
    """An app registration in the tenant: client id and secret."""

    def __init__(self, idp: IdentityProvider) -> None:
        self.client_id = str(uuid.uuid4())
        self.secret = f"secret-{uuid.uuid4().hex}"
        idp.register_application(self.client_id, self.secret)


@pytest.fixture
def app(idp: IdentityProvider, sim: Simulator) -> Iterator[App]:
    registration = App(idp)
    yield registration
    sim.revoke_impersonation(registration.client_id)


def corporate(
    sim: Simulator, idp: IdentityProvider, app: App, secret: str = "", **fields: Any
) -> ExchangeConnection:
    return ExchangeConnection.objects.create(
        **fields,
        kind=ConnectionKind.CORPORATE,
        email=mailbox(sim, "booking-sync"),
        ews_url=sim.ews_url,
        auth_type=AuthType.OAUTH_APP,
        oauth_authority=idp.authority,
        oauth_client_id=app.client_id,
        oauth_client_secret=secret or app.secret,
    )


@pytest.fixture
def staff(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("staff", "staff@contoso.example")


def test_app_only_oauth_verifies_and_reaches_members_by_impersonation(
    sim: Simulator, idp: IdentityProvider, app: App, staff: Any
) -> None:
    conn = corporate(sim, idp, app)
    sim.grant_impersonation(app.client_id)
    assert connect.verify(conn) is None
    conn.refresh_from_db()
    assert conn.status == "ok"

    member_mailbox = mailbox(sim, "alice")
    prove_as(staff, member_mailbox)
    member = connect.attach(staff, member_mailbox)
    assert member.access_ok is True and member.can_write is True
    assert member.error == ""
    # Exchange saw the app acting as the member, with a token from our identity provider.
    entry = next(e for e in reversed(sim.log) if e.target == member_mailbox)
    assert (entry.caller, entry.auth) == (f"app:{app.client_id}", "bearer")


def test_discovery_through_impersonation_lists_the_members_calendars(
    sim: Simulator, idp: IdentityProvider, app: App
) -> None:
    conn = corporate(sim, idp, app)
    sim.grant_impersonation(app.client_id)
    owner = mailbox(sim, "carol")
    sim.add_calendar(owner, "Clinic")
    result = discovery.discover(conn, owner)
    assert result.message == ""
    by_name = {ref.name: ref for ref in result.calendars}
    assert set(by_name) == {"Calendar", "Clinic"}
    # Acting as the owner, the app may book into every one of them.
    assert all(ref.allowed_roles == ["main", "busy", "additional"] for ref in by_name.values())


def test_without_impersonation_granted_the_member_is_told_what_is_missing(
    sim: Simulator, idp: IdentityProvider, app: App, staff: Any
) -> None:
    conn = corporate(sim, idp, app)
    alice = mailbox(sim, "alice")
    prove_as(staff, alice)
    member = connect.attach(staff, alice)
    assert member.access_ok is False and member.can_write is False
    assert "not been granted impersonation" in member.error
    assert member.mailbox in member.error
    assert app.client_id in connect.delegation_instructions(member)
    # Testing the connection says the same, not that the server is unreachable.
    error = connect.verify(conn)
    assert error is not None and error.code == "access_denied"
    assert "not been granted impersonation" in error.message


def test_a_wrong_client_secret_is_said_plainly_without_echoing_it(
    sim: Simulator, idp: IdentityProvider, app: App
) -> None:
    conn = corporate(sim, idp, app, secret="wrong-secret-value-123")
    error = connect.verify(conn)
    assert error is not None
    assert error.code == "auth_failed"
    assert error.message == (
        "The OAuth client secret is wrong. Enter the secret's value, not its id."
    )
    conn.refresh_from_db()
    assert conn.status == "failing"
    shown = f"{error.message} {error.detail} {conn.last_error}"
    assert "wrong-secret-value-123" not in shown
    for entry in SyncLogEntry.objects.all():
        assert "wrong-secret-value-123" not in f"{entry.outcome} {entry.target_mailbox}"


def test_rotating_to_a_wrong_client_secret_is_refused_and_not_saved(
    sim: Simulator, idp: IdentityProvider, app: App, django_user_model: Any
) -> None:
    admin = django_user_model.objects.create_superuser("admin", "admin@contoso.example", None)
    conn = corporate(sim, idp, app)
    with pytest.raises(ExchangeError) as err:
        connect.rotate_secret(conn, "typo-in-the-secret", admin)
    assert "client secret is wrong" in err.value.message
    assert ExchangeConnection.objects.get(pk=conn.pk).oauth_client_secret == app.secret
    rotation = CredentialRotation.objects.get(connection=conn)
    assert rotation.result == "rejected" and rotation.what == "client secret"
    assert "typo-in-the-secret" not in rotation.message


def test_a_rotated_client_secret_applies_at_once(
    sim: Simulator, idp: IdentityProvider, app: App, django_user_model: Any
) -> None:
    admin = django_user_model.objects.create_superuser("admin", "admin@contoso.example", None)
    conn = corporate(sim, idp, app)
    sim.grant_impersonation(app.client_id)
    assert connect.verify(conn) is None
    idp.set_client_secret(app.client_id, "the-new-secret")  # the old one stops at once
    connect.rotate_secret(conn, "the-new-secret", admin)
    fresh = ExchangeConnection.objects.get(pk=conn.pk)
    assert fresh.oauth_client_secret == "the-new-secret"
    assert connect.verify(fresh) is None


def test_a_new_corporate_connection_never_inherits_the_old_ones_token(
    sim: Simulator, idp: IdentityProvider, app: App
) -> None:
    # Deleting the corporate connection and creating another can reuse its primary key
    # (SQLite does); the new one must sign in with its own, wrong, secret.
    old = corporate(sim, idp, app)
    sim.grant_impersonation(app.client_id)
    assert connect.verify(old) is None
    pk = old.pk
    old.delete()
    other = App(idp)
    new = corporate(sim, idp, other, secret="not-the-other-apps-secret", id=pk)
    error = connect.verify(new)
    assert error is not None and error.code == "auth_failed"


# --- "Connect with Microsoft": delegated OAuth ------------------------------------------


@pytest.fixture
def microsoft(settings: Any, idp: IdentityProvider, sim: Simulator) -> Iterator[None]:
    """The site's own app registration, as MICROSOFT_* settings name it."""
    client_id = str(uuid.uuid4())
    idp.register_application(client_id, "site-app-secret", redirect_uris=[REDIRECT_URI])
    settings.MICROSOFT_CLIENT_ID = client_id
    settings.MICROSOFT_CLIENT_SECRET = "site-app-secret"
    settings.MICROSOFT_AUTHORITY = idp.authority
    settings.MICROSOFT_GRAPH_URL = sim.graph_url
    yield
    idp.access_token_lifetime = timedelta(seconds=3599)


def sign_in_with_microsoft(idp: IdentityProvider, email: str, password: str) -> dict[str, Any]:
    """What the connect view does: msal's auth-code flow, the user signing in at the IdP."""
    app = oauth.site_app()
    flow = app.initiate_auth_code_flow(
        list(oauth.GRAPH_SCOPES_USER), redirect_uri=REDIRECT_URI, response_mode="form_post"
    )
    answer = idp.sign_in(flow["auth_uri"], email, password)
    result = app.acquire_token_by_auth_code_flow(flow, answer)
    oauth.raise_for_error(result)
    return result


def microsoft_user(sim: Simulator, idp: IdentityProvider) -> tuple[str, str]:
    email = mailbox(sim, "dora")
    password = f"Dora-{uuid.uuid4().hex[:6]}"
    idp.register_user(email, password)
    return email, password


def test_connect_with_microsoft_saves_the_refresh_token_encrypted(
    sim: Simulator, idp: IdentityProvider, microsoft: None, staff: Any
) -> None:
    email, password = microsoft_user(sim, idp)
    result = sign_in_with_microsoft(idp, email, password)
    assert result["id_token_claims"]["preferred_username"].lower() == email

    conn = connect.connect_microsoft(staff, email, result["refresh_token"])
    assert conn.pk and conn.status == "ok" and conn.auth_type == AuthType.OAUTH_USER
    assert conn.password == ""
    stored = ExchangeConnection.objects.get(pk=conn.pk).oauth_refresh_token
    assert stored  # the newest refresh token (they rotate on every use)
    with db_connection.cursor() as cursor:
        cursor.execute(
            "SELECT oauth_refresh_token FROM calendars_exchangeconnection WHERE id = %s",
            [conn.pk],
        )
        raw = cursor.fetchone()[0]
    raw = raw.tobytes() if isinstance(raw, memoryview) else raw
    assert stored.encode() not in (raw if isinstance(raw, bytes) else raw.encode())

    # Microsoft Graph (not Exchange Online's closing EWS) saw the user themself, signed in
    # with a bearer token.
    entry = sim.log[-1]
    assert conn.protocol == Protocol.GRAPH
    assert (entry.operation, entry.caller, entry.auth) == ("graph:getMe", email, "bearer")
    assert connect.verify(ExchangeConnection.objects.get(pk=conn.pk)) is None


def test_an_expired_access_token_is_refreshed_with_msal(
    sim: Simulator, idp: IdentityProvider, microsoft: None, staff: Any
) -> None:
    email, password = microsoft_user(sim, idp)
    idp.access_token_lifetime = timedelta(seconds=6)  # room for a slow CI machine
    result = sign_in_with_microsoft(idp, email, password)
    conn = connect.connect_microsoft(staff, email, result["refresh_token"])

    def load() -> ExchangeConnection:  # as each request or task does
        return ExchangeConnection.objects.get(pk=conn.pk)

    def redeemed() -> int:
        return sum(1 for e in idp.request_log if e.grant_type == "refresh_token")

    assert connect.verify(load()) is None
    before, stored = redeemed(), load().oauth_refresh_token
    assert connect.verify(load()) is None
    assert redeemed() == before  # a valid access token is reused, not fetched per call

    time.sleep(6.5)  # the access token has run out; the refresh token has not
    assert connect.verify(load()) is None
    assert redeemed() == before + 1
    assert sim.log[-1].outcome == "NoError"
    # Refresh tokens rotate: the newest is kept, so the connection outlives a restart.
    assert load().oauth_refresh_token != stored


def test_a_refresh_token_the_idp_no_longer_accepts_says_to_connect_again(
    sim: Simulator, idp: IdentityProvider, microsoft: None, staff: Any
) -> None:
    email, password = microsoft_user(sim, idp)
    result = sign_in_with_microsoft(idp, email, password)
    conn = connect.connect_microsoft(staff, email, result["refresh_token"])
    idp.set_user_password(email, "changed-in-entra")  # refresh tokens stop working
    connect.forget_cached(conn)  # as after a restart: the next call needs a new token
    error = connect.verify(ExchangeConnection.objects.get(pk=conn.pk))
    assert error is not None and error.code == "auth_failed"
    assert "Connect with Microsoft again" in error.message


def test_connecting_with_microsoft_twice_says_so_and_keeps_the_first(
    sim: Simulator, idp: IdentityProvider, microsoft: None, staff: Any
) -> None:
    email, password = microsoft_user(sim, idp)
    first = connect.connect_microsoft(
        staff, email, sign_in_with_microsoft(idp, email, password)["refresh_token"]
    )
    with pytest.raises(ExchangeError) as err:
        connect.connect_microsoft(
            staff, email, sign_in_with_microsoft(idp, email, password)["refresh_token"]
        )
    assert "already connected" in err.value.message
    assert list(ExchangeConnection.objects.values_list("pk", flat=True)) == [first.pk]


def prove_as(user, mailbox: str) -> None:  # type: ignore[no-untyped-def]
    """An administrator set this mailbox on the user's account: attaching proves it."""
    user.email = mailbox
    user.save(update_fields=["email"])


@pytest.fixture(scope="module")
def sim(tls_simulator: Simulator) -> Simulator:
    return tls_simulator


# Committed for real: the redeeming thread stores the rotated refresh token from outside
# the test's own transaction, as a pool thread does in production.
@pytest.mark.django_db(transaction=True)
def test_threads_needing_a_graph_token_at_once_redeem_the_refresh_token_once(
    sim: Simulator, idp: IdentityProvider, microsoft: None, staff: Any
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    email, password = microsoft_user(sim, idp)
    conn = connect.connect_microsoft(
        staff, email, sign_in_with_microsoft(idp, email, password)["refresh_token"]
    )
    connect.forget_cached(conn)  # as in a new process: no access token yet
    before = sum(1 for e in idp.request_log if e.grant_type == "refresh_token")
    with ThreadPoolExecutor(8) as pool:
        tokens = list(pool.map(lambda _: oauth.graph_access_token(conn), range(8)))
    redeemed = sum(1 for e in idp.request_log if e.grant_type == "refresh_token") - before
    assert redeemed == 1
    assert len(set(tokens)) == 1
