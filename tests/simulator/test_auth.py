"""Authentication: Basic in all login forms, wrong and changed passwords, locked accounts,
auth-type discovery, NTLM (incl. NTLM-only servers), and version discovery."""

from __future__ import annotations

import base64

import pytest
import requests
from exchangelib import NTLM
from exchangelib.errors import UnauthorizedError

from .conftest import connect, make_simulator


@pytest.mark.parametrize("form", ["email", "upn", "domain_user"])
def test_it_accepts_basic_auth_with_email_upn_and_domain_user(sim, new_user, form):
    alice = new_user("alice")
    username = {"email": alice.email, "upn": alice.upn, "domain_user": alice.login}[form]
    account = connect(sim, username, alice.password, mailbox=alice.email)
    assert account.calendar.name == "Calendar"
    assert sim.log[-1].caller == username
    assert sim.log[-1].auth == "basic"


def test_it_refuses_a_wrong_password_with_unauthorized_error(sim, new_user):
    alice = new_user("alice")
    account = connect(sim, alice.email, "not-the-password")
    with pytest.raises(UnauthorizedError):
        _ = account.calendar
    assert sim.log[-1].outcome == "HTTP 401"


def test_a_password_change_takes_effect_at_once(sim, new_user):
    alice = new_user("alice")
    assert connect(sim, alice.email, alice.password).calendar
    sim.set_password(alice.email, "rotated")
    with pytest.raises(UnauthorizedError):
        _ = connect(sim, alice.email, alice.password).root
    assert connect(sim, alice.email, "rotated").calendar


def test_a_locked_account_gets_401_with_a_locked_diagnostic(sim, new_user):
    alice = new_user("alice")
    sim.lock(alice.email)
    with pytest.raises(UnauthorizedError, match="locked"):
        _ = connect(sim, alice.email, alice.password).calendar
    raw = requests.post(sim.ews_url, data=b"<x/>", auth=(alice.email, alice.password), timeout=5)
    assert raw.status_code == 401
    assert 'error_category="account_locked"' in raw.headers["X-MS-Diagnostics"]
    sim.unlock(alice.email)
    assert connect(sim, alice.email, alice.password).calendar


def test_an_unauthenticated_request_lists_only_the_enabled_methods(sim):
    response = requests.post(sim.ews_url, data=b"<x/>", timeout=5)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == f'Basic realm="{sim.host}"'


def test_exchangelib_guesses_basic_and_discovers_the_server_version(sim, new_user):
    alice = new_user("alice")
    account = connect(sim, alice.email, alice.password, auth_type=None, discover_version=True)
    assert account.calendar.name == "Calendar"
    assert account.protocol.auth_type == "basic"
    build = account.version.build
    assert (build.major_version, build.minor_version) == (15, 1)
    assert [e.operation for e in sim.log[:2]] == ["ConvertId", "ConvertId"]
    assert sim.log[0].outcome == "HTTP 401"


def test_exchange_2019_reports_version_15_2(new_user):
    with make_simulator(exchange_version="Exchange2019") as sim2019:
        sim2019.add_mailbox("x@contoso.example", "X", "pw")
        account = connect(sim2019, "x@contoso.example", "pw", discover_version=True)
        _ = account.calendar
        assert account.version.build.minor_version == 2
        assert sim2019.schema_errors == []


@pytest.fixture(scope="module")
def ntlm_sim():
    with make_simulator(auth_methods=("ntlm",)) as simulator:
        simulator.add_mailbox(
            "nina@contoso.example",
            "Nina",
            "Ntlm-pw1",
            logins=["CONTOSO\\nina", "nina@corp.contoso.example"],
        )
        yield simulator


def test_an_ntlm_only_server_advertises_only_ntlm(ntlm_sim):
    response = requests.post(ntlm_sim.ews_url, data=b"<x/>", timeout=5)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "NTLM"
    basic = requests.post(
        ntlm_sim.ews_url, data=b"<x/>", auth=("nina@contoso.example", "Ntlm-pw1"), timeout=5
    )
    assert basic.status_code == 401


def test_exchangelib_logs_in_with_ntlm_as_domain_user(ntlm_sim):
    account = connect(
        ntlm_sim, "CONTOSO\\nina", "Ntlm-pw1", mailbox="nina@contoso.example", auth_type=None
    )
    assert account.calendar.name == "Calendar"
    assert account.protocol.auth_type == NTLM
    assert ntlm_sim.log[-1].caller.lower() == "contoso\\nina"
    assert ntlm_sim.log[-1].auth == "ntlm"
    assert ntlm_sim.schema_errors == []


def test_ntlm_refuses_a_wrong_password_and_sees_a_password_change(ntlm_sim):
    wrong = connect(
        ntlm_sim, "CONTOSO\\nina", "wrong", mailbox="nina@contoso.example", auth_type=NTLM
    )
    with pytest.raises(UnauthorizedError):
        _ = wrong.calendar
    ntlm_sim.set_password("nina@contoso.example", "Ntlm-pw2")
    try:
        account = connect(
            ntlm_sim, "CONTOSO\\nina", "Ntlm-pw2", mailbox="nina@contoso.example", auth_type=NTLM
        )
        assert account.calendar.name == "Calendar"
    finally:
        ntlm_sim.set_password("nina@contoso.example", "Ntlm-pw1")


def test_ntlm_reports_a_locked_account(ntlm_sim):
    ntlm_sim.lock("nina@contoso.example")
    try:
        account = connect(
            ntlm_sim, "CONTOSO\\nina", "Ntlm-pw1", mailbox="nina@contoso.example", auth_type=NTLM
        )
        with pytest.raises(UnauthorizedError, match="locked"):
            _ = account.calendar
    finally:
        ntlm_sim.unlock("nina@contoso.example")


def test_a_malformed_basic_header_is_a_401(sim):
    header = {"Authorization": "Basic " + base64.b64encode(b"no-colon-here").decode()}
    assert requests.post(sim.ews_url, data=b"<x/>", headers=header, timeout=5).status_code == 401
