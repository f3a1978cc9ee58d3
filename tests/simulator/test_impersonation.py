"""OAuth bearer tokens from the local identity provider, and EWS impersonation."""

from __future__ import annotations

import time
from collections.abc import Iterator

import msal
import pytest
import requests
from exchangelib import DELEGATE, IMPERSONATION, OAUTH2, Account, Configuration, Identity
from exchangelib.credentials import OAuth2AuthorizationCodeCredentials
from exchangelib.errors import ErrorImpersonateUserDenied
from exchangelib.version import EXCHANGE_2016, Version

from calendars.simulator.idp import IdentityProvider

from .conftest import connect, make_simulator

EWS_DEFAULT = "https://outlook.office365.com/.default"
EWS_DELEGATED = "https://outlook.office365.com/EWS.AccessAsUser.All"
REDIRECT_URI = "http://localhost:8000/accounts/microsoft/callback"
ROLE_APP = "aaaaaaaa-0000-0000-0000-000000000001"
PLAIN_APP = "aaaaaaaa-0000-0000-0000-000000000002"
WEB_APP = "aaaaaaaa-0000-0000-0000-000000000003"


class MsalToken(OAuth2AuthorizationCodeCredentials):
    """Hands exchangelib a token msal obtained (exchangelib must not fetch its own)."""

    def __init__(self, token: str, **kwargs: object) -> None:
        super().__init__(
            access_token={
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": 3599,
                "expires_at": time.time() + 3599,
            },
            **kwargs,
        )

    def refresh(self, session: object) -> None:
        raise AssertionError("the test token should not need refreshing")


@pytest.fixture(scope="module")
def idp() -> Iterator[IdentityProvider]:
    with IdentityProvider() as provider:
        provider.register_application(ROLE_APP, "s1", roles={"full_access_as_app"})
        provider.register_application(PLAIN_APP, "s2")
        provider.register_application(WEB_APP, "s3", redirect_uris=[REDIRECT_URI])
        provider.register_user("dora@contoso.example", "Dora pw 1")
        yield provider


@pytest.fixture(scope="module")
def sim(idp):
    with make_simulator(identity_provider=idp) as simulator:
        simulator.add_mailbox("dora@contoso.example", "Dora", "Dora pw 1")
        yield simulator


@pytest.fixture(autouse=True)
def _insecure_transport(monkeypatch):
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the simulator speaks plain http


def _msal(idp, client_id, secret):
    session = requests.Session()
    session.trust_env = False
    session.verify = str(idp.ca_cert_path)
    return msal.ConfidentialClientApplication(
        client_id,
        client_credential=secret,
        authority=idp.authority,
        instance_discovery=False,
        http_client=session,
    )


def app_token(idp, client_id, secret):
    return _msal(idp, client_id, secret).acquire_token_for_client(scopes=[EWS_DEFAULT])[
        "access_token"
    ]


def oauth_account(sim, token, mailbox, access_type=IMPERSONATION):
    credentials = MsalToken(token, identity=Identity(primary_smtp_address=mailbox))
    config = Configuration(
        service_endpoint=sim.ews_url,
        credentials=credentials,
        auth_type=OAUTH2,
        version=Version(build=EXCHANGE_2016),
    )
    return Account(mailbox, config=config, autodiscover=False, access_type=access_type)


def test_an_app_with_full_access_as_app_impersonates_any_mailbox(sim, idp, new_user):
    alice = new_user("alice")
    account = oauth_account(sim, app_token(idp, ROLE_APP, "s1"), alice.email)
    assert account.calendar.name == "Calendar"
    entry = sim.log[-1]
    assert (entry.caller, entry.target, entry.auth) == (f"app:{ROLE_APP}", alice.email, "bearer")


def test_an_app_without_the_role_is_denied_impersonation(sim, idp, new_user):
    alice = new_user("alice")
    account = oauth_account(sim, app_token(idp, PLAIN_APP, "s2"), alice.email)
    with pytest.raises(ErrorImpersonateUserDenied):
        _ = account.root


def test_granting_impersonation_to_the_app_lets_it_in(sim, idp, new_user):
    alice = new_user("alice")
    sim.grant_impersonation(PLAIN_APP)
    try:
        account = oauth_account(sim, app_token(idp, PLAIN_APP, "s2"), alice.email)
        assert account.calendar.name == "Calendar"
    finally:
        sim.revoke_impersonation(PLAIN_APP)


def test_an_invalid_bearer_token_is_a_401(sim):
    response = requests.post(
        sim.ews_url, data=b"<x/>", headers={"Authorization": "Bearer nope"}, timeout=5
    )
    assert response.status_code == 401
    assert "Bearer" in response.headers["WWW-Authenticate"]


def test_a_delegated_token_opens_the_users_own_mailbox(sim, idp):
    app = _msal(idp, WEB_APP, "s3")
    flow = app.initiate_auth_code_flow(
        [EWS_DELEGATED], redirect_uri=REDIRECT_URI, response_mode="form_post"
    )
    result = app.acquire_token_by_auth_code_flow(
        flow, idp.sign_in(flow["auth_uri"], "dora@contoso.example", "Dora pw 1")
    )
    account = oauth_account(
        sim, result["access_token"], "dora@contoso.example", access_type=DELEGATE
    )
    assert account.calendar.name == "Calendar"
    assert sim.log[-1].caller == "dora@contoso.example"


def test_a_service_account_with_the_impersonation_role_uses_basic(sim, new_user):
    alice, svc = new_user("alice"), new_user("svc")
    refused = connect(sim, svc.email, svc.password, mailbox=alice.email, access_type=IMPERSONATION)
    with pytest.raises(ErrorImpersonateUserDenied):
        _ = refused.root
    sim.grant_impersonation(svc.email)
    account = connect(sim, svc.email, svc.password, mailbox=alice.email, access_type=IMPERSONATION)
    assert account.calendar.effective_rights.modify  # acting as the owner
