"""Connecting to Exchange over the wire: personal accounts, the corporate mailbox,
rotation and discovery, with the real exchangelib against the EWS simulator."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import exchangelib
import pytest
from django.test import override_settings

from calendars import connect, discovery
from calendars.errors import ExchangeError
from calendars.models import (
    AuthType,
    ConnectionKind,
    CredentialRotation,
    ExchangeConnection,
    SyncLogEntry,
)
from calendars.simulator import Simulator

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator() as simulator:
        yield simulator


@pytest.fixture(autouse=True)
def _settings(sim: Simulator) -> Iterator[None]:
    with override_settings(
        EXCHANGE_ALLOW_HTTP=True,
        EXCHANGE_ALLOW_PRIVATE_HOSTS=True,
        EXCHANGE_AUTODISCOVER_ENDPOINTS={"contoso.example": sim.autodiscover_url},
    ):
        sim.come_up()
        sim.clear_faults()
        yield
    exchangelib.close_connections()


def mailbox(sim: Simulator, name: str) -> tuple[str, str, str]:
    tag = uuid.uuid4().hex[:8]
    email, password, login = f"{name}-{tag}@contoso.example", f"pw-{tag}", f"CONTOSO\\{name}-{tag}"
    sim.add_mailbox(email, f"{name} {tag}", password, logins=[login])
    return email, password, login


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("staff", "staff@contoso.example", "x")


def test_a_personal_account_connects_with_email_and_password_through_autodiscover(
    sim: Simulator, staff
) -> None:
    email, password, _ = mailbox(sim, "pat")
    conn = connect.connect_personal(staff, connect.PersonalDetails(email, password))
    assert conn.pk and conn.status == "ok"
    assert conn.ews_url == sim.ews_url
    assert ExchangeConnection.objects.get(pk=conn.pk).password == password


def test_a_wrong_password_asks_for_the_extra_details_and_saves_nothing(
    sim: Simulator, staff
) -> None:
    email, _, _ = mailbox(sim, "pat")
    with pytest.raises(connect.NeedsDetails) as err:
        connect.connect_personal(staff, connect.PersonalDetails(email, "wrong"))
    assert "DOMAIN\\user" in err.value.message and "app password" not in err.value.message
    assert not ExchangeConnection.objects.exists()


def test_a_domain_without_autodiscover_asks_for_the_ews_url(sim: Simulator, staff) -> None:
    with pytest.raises(connect.NeedsDetails) as err:
        connect.connect_personal(
            staff, connect.PersonalDetails("someone@no-autodiscover.invalid", "pw")
        )
    assert err.value.cause.code == "autodiscover_failed"
    assert "EWS URL" in err.value.message


@pytest.mark.parametrize("form", ["blank", "email", "domain"])
def test_the_fallback_form_connects_with_each_user_name_form(
    sim: Simulator, staff, form: str
) -> None:
    email, password, login = mailbox(sim, "pat")
    username = {"blank": "", "email": email, "domain": login}[form]
    details = connect.PersonalDetails(email, password, ews_url=sim.ews_url, username=username)
    conn = connect.connect_personal(staff, details)
    assert conn.status == "ok"
    assert conn.username == username


def test_a_wrong_password_on_the_full_form_is_said_plainly(sim: Simulator, staff) -> None:
    email, _, _ = mailbox(sim, "pat")
    details = connect.PersonalDetails(email, "wrong", ews_url=sim.ews_url)
    with pytest.raises(ExchangeError) as err:
        connect.connect_personal(staff, details)
    assert err.value.code == "auth_failed"
    assert not ExchangeConnection.objects.exists()


def test_a_locked_account_gets_its_own_message(sim: Simulator, staff) -> None:
    email, password, _ = mailbox(sim, "pat")
    sim.lock(email)
    details = connect.PersonalDetails(email, password, ews_url=sim.ews_url)
    with pytest.raises(ExchangeError) as err:
        connect.connect_personal(staff, details)
    assert err.value.code == "account_locked"
    assert "locked" in err.value.message


def test_an_unreachable_ews_url_is_said_plainly(sim: Simulator, staff) -> None:
    email, password, _ = mailbox(sim, "pat")
    sim.go_down()
    details = connect.PersonalDetails(email, password, ews_url=sim.ews_url)
    with pytest.raises(ExchangeError) as err:
        connect.connect_personal(staff, details)
    assert err.value.code == "unreachable"
    assert not ExchangeConnection.objects.exists()


class _WebPage(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b"<html><body>Welcome to our intranet</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST

    def log_message(self, *args: object) -> None:
        pass


def test_a_server_that_is_not_exchange_is_said_plainly(staff) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _WebPage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/EWS/Exchange.asmx"
        details = connect.PersonalDetails("pat@contoso.example", "pw", ews_url=url)
        with pytest.raises(ExchangeError) as err:
            connect.connect_personal(staff, details)
        assert err.value.code == "not_exchange"
    finally:
        server.shutdown()
    assert not ExchangeConnection.objects.exists()


def test_the_connect_form_refuses_internal_addresses_by_default(staff) -> None:
    with override_settings(EXCHANGE_ALLOW_HTTP=False, EXCHANGE_ALLOW_PRIVATE_HOSTS=False):
        details = connect.PersonalDetails(
            "pat@contoso.example", "pw", ews_url="https://10.0.0.5/EWS/Exchange.asmx"
        )
        with pytest.raises(ExchangeError) as err:
            connect.connect_personal(staff, details)
    assert err.value.code == "url_not_allowed"


def test_disconnecting_deletes_the_stored_secret(sim: Simulator, staff) -> None:
    email, password, _ = mailbox(sim, "pat")
    connect.connect_personal(staff, connect.PersonalDetails(email, password))
    connect.disconnect(staff)
    assert not ExchangeConnection.objects.exists()


# --- the corporate connection ------------------------------------------------------------


def corporate(sim: Simulator) -> tuple[ExchangeConnection, str]:
    email, password, _ = mailbox(sim, "booking-sync")
    conn = ExchangeConnection.objects.create(
        kind=ConnectionKind.CORPORATE,
        email=email,
        ews_url=sim.ews_url,
        auth_type=AuthType.BASIC,
        password=password,
    )
    return conn, password


def test_an_attached_member_whose_calendar_is_delegated_is_shown_as_working(
    sim: Simulator, staff
) -> None:
    conn, _ = corporate(sim)
    member_mailbox, _, _ = mailbox(sim, "alice")
    sim.add_delegate(member_mailbox, conn.email)
    prove_as(staff, member_mailbox)
    member = connect.attach(staff, member_mailbox)
    assert member.access_ok is True
    assert member.checked_at is not None and member.error == ""


def test_a_member_who_did_not_delegate_is_told_what_is_missing(sim: Simulator, staff) -> None:
    conn, _ = corporate(sim)
    member_mailbox, _, _ = mailbox(sim, "alice")
    prove_as(staff, member_mailbox)
    member = connect.attach(staff, member_mailbox)
    assert member.access_ok is False
    assert "not delegated" in member.error
    assert conn.email in connect.delegation_instructions(member)


def test_a_member_with_reviewer_permission_is_told_it_needs_editor(sim: Simulator, staff) -> None:
    conn, _ = corporate(sim)
    member_mailbox, _, _ = mailbox(sim, "alice")
    sim.set_permission(member_mailbox, conn.email, "Reviewer")
    prove_as(staff, member_mailbox)
    member = connect.attach(staff, member_mailbox)
    assert member.access_ok is False
    assert "Editor or Delegate" in member.error


def test_rotating_the_password_verifies_it_and_applies_at_once(sim: Simulator, charlie) -> None:
    conn, _ = corporate(sim)
    assert connect.verify(conn) is None
    version = conn.credential_version
    sim.set_password(conn.email, "new-password-2026")
    assert connect.verify(conn) is not None  # the old password stopped working
    rotation = connect.rotate_secret(conn, "new-password-2026", charlie)
    assert rotation.result == "verified"
    fresh = ExchangeConnection.objects.get(pk=conn.pk)
    assert fresh.credential_version == version + 1
    assert connect.verify(fresh) is None


def test_a_password_exchange_refuses_is_not_saved(sim: Simulator, charlie) -> None:
    conn, old = corporate(sim)
    with pytest.raises(ExchangeError) as err:
        connect.rotate_secret(conn, "not-the-password", charlie)
    assert err.value.code == "auth_failed"
    assert ExchangeConnection.objects.get(pk=conn.pk).password == old
    assert CredentialRotation.objects.get().result == "rejected"
    assert "not-the-password" not in CredentialRotation.objects.get().message


def test_rotation_offers_save_anyway_when_exchange_is_down(sim: Simulator, charlie) -> None:
    conn, _ = corporate(sim)
    sim.go_down()
    with pytest.raises(connect.RotationNotVerified):
        connect.rotate_secret(conn, "new-password-2026", charlie)
    rotation = connect.rotate_secret(conn, "new-password-2026", charlie, save_anyway=True)
    assert rotation.result == "saved_unverified"
    assert ExchangeConnection.objects.get(pk=conn.pk).password == "new-password-2026"


@pytest.fixture
def charlie(django_user_model):
    return django_user_model.objects.create_superuser("charlie", "c@contoso.example", "x")


# --- discovery --------------------------------------------------------------------------


def test_discovery_lists_main_and_sub_calendars_with_the_roles_each_allows(
    sim: Simulator,
) -> None:
    conn, _ = corporate(sim)
    owner, _, _ = mailbox(sim, "carol")
    sim.add_delegate(owner, conn.email)
    sim.add_calendar(owner, "Team rota")
    sim.set_permission(owner, conn.email, "Reviewer", calendar="Team rota")
    result = discovery.discover(conn, owner)
    assert result.message == ""
    by_name = {ref.name: ref for ref in result.calendars}
    assert set(by_name) == {"Calendar", "Team rota"}
    assert by_name["Calendar"].allowed_roles == ["main", "busy", "additional"]
    assert by_name["Team rota"].allowed_roles == ["busy"]


def test_a_free_busy_only_calendar_is_offered_for_busy_time_only(sim: Simulator) -> None:
    conn, _ = corporate(sim)
    owner, _, _ = mailbox(sim, "dave")  # the org default: FreeBusyTimeOnly
    result = discovery.discover(conn, owner)
    [ref] = result.calendars
    assert ref.is_primary and ref.folder_id == ""
    assert ref.allowed_roles == ["busy"]


def test_an_unknown_owner_gets_a_clear_message(sim: Simulator) -> None:
    conn, _ = corporate(sim)
    result = discovery.discover(conn, "nobody@contoso.example")
    assert result.calendars == []
    assert "no mailbox" in result.message


def test_an_owner_who_shares_nothing_gets_a_clear_message(sim: Simulator) -> None:
    conn, _ = corporate(sim)
    owner, _, _ = mailbox(sim, "erin")
    sim.set_permission(owner, "Default", "None")
    result = discovery.discover(conn, owner)
    assert result.calendars == []
    assert "shares no calendar" in result.message


def test_every_exchange_call_is_in_the_sync_log_without_secrets(sim: Simulator) -> None:
    conn, password = corporate(sim)
    owner, _, _ = mailbox(sim, "carol")
    sim.add_delegate(owner, conn.email)
    discovery.discover(conn, owner)
    entries = list(SyncLogEntry.objects.all())
    assert {e.operation for e in entries} >= {"GetFolder", "FindFolder"}
    assert all(e.target_mailbox == owner and e.ok for e in entries)
    assert all(password not in f"{e.outcome}{e.target_mailbox}" for e in entries)


def test_no_password_reaches_the_logs_even_when_exchange_refuses_it(
    sim: Simulator, staff, caplog
) -> None:
    import logging

    email, password, _ = mailbox(sim, "dana")
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ExchangeError):
        connect.connect_personal(
            staff,
            connect.PersonalDetails(
                email=email, password="Wrong-" + password, ews_url=sim.ews_url, username=email
            ),
        )
    connect.connect_personal(
        staff,
        connect.PersonalDetails(email=email, password=password, ews_url=sim.ews_url),
    )
    logged = "\n".join(r.getMessage() + str(r.args) for r in caplog.records)
    assert password not in logged


def prove_as(user, mailbox: str) -> None:  # type: ignore[no-untyped-def]
    """An administrator set this mailbox on the user's account: attaching proves it."""
    user.email = mailbox
    user.save(update_fields=["email"])
