"""The Entra ID stand-in, driven by the real msal over HTTPS with a test CA."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import msal
import pytest
import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from calendars.simulator.idp import IdentityProvider, LoginRefused, TokenInfo

EWS_DEFAULT = "https://outlook.office365.com/.default"
EWS_DELEGATED = "https://outlook.office365.com/EWS.AccessAsUser.All"
REDIRECT_URI = "http://localhost:8000/accounts/microsoft/callback"
APP_ID = "11111111-2222-3333-4444-555555555555"
WEB_APP_ID = "66666666-7777-8888-9999-000000000000"


@pytest.fixture
def idp() -> Iterator[IdentityProvider]:
    with IdentityProvider() as provider:
        provider.register_application(APP_ID, "app-secret", roles={"full_access_as_app"})
        provider.register_application(WEB_APP_ID, "web-secret", redirect_uris=[REDIRECT_URI])
        provider.register_user("alice@corp.example", "Alice pw 1")
        provider.register_user("locked@corp.example", "Locked pw 1", locked=True)
        yield provider


def http_client(idp: IdentityProvider) -> requests.Session:
    # trust_env=False: REQUESTS_CA_BUNDLE in the environment would override verify otherwise.
    session = requests.Session()
    session.trust_env = False
    session.verify = str(idp.ca_cert_path)
    return session


def confidential_app(
    idp: IdentityProvider, client_id: str = APP_ID, secret: str = "app-secret"
) -> msal.ConfidentialClientApplication:
    """Built exactly the way the app builds it."""
    return msal.ConfidentialClientApplication(
        client_id,
        client_credential=secret,
        authority=idp.authority,
        instance_discovery=False,
        http_client=http_client(idp),
    )


def web_app(idp: IdentityProvider) -> msal.ConfidentialClientApplication:
    return confidential_app(idp, WEB_APP_ID, "web-secret")


def sign_in_with_msal(
    idp: IdentityProvider, email: str = "alice@corp.example", password: str = "Alice pw 1"
) -> tuple[msal.ConfidentialClientApplication, dict[str, Any]]:
    app = web_app(idp)
    flow = start_flow(app)
    auth_response = idp.sign_in(flow["auth_uri"], email, password)
    return app, app.acquire_token_by_auth_code_flow(flow, auth_response)


def start_flow(app: msal.ConfidentialClientApplication, **kwargs: Any) -> dict[str, Any]:
    # form_post is what msal recommends (it warns about the query mode).
    kwargs.setdefault("redirect_uri", REDIRECT_URI)
    kwargs.setdefault("response_mode", "form_post")
    return app.initiate_auth_code_flow([EWS_DELEGATED], **kwargs)


def aadsts(result: dict[str, Any]) -> str:
    return result["error_description"].split(":")[0]


# -- client credentials ------------------------------------------------------------------------


def test_msal_gets_an_app_only_token_that_the_idp_validates_with_its_roles(
    idp: IdentityProvider,
) -> None:
    result = confidential_app(idp).acquire_token_for_client(scopes=[EWS_DEFAULT])

    assert result["token_type"] == "Bearer"
    info = idp.validate_access_token(result["access_token"])
    assert isinstance(info, TokenInfo)
    assert info.client_id == APP_ID
    assert info.user is None
    assert info.roles == frozenset({"full_access_as_app"})
    assert info.scopes == frozenset()
    assert info.audience == "https://outlook.office365.com"
    assert info.expires_at > datetime.now(UTC) + timedelta(minutes=55)
    assert "refresh_token" not in result and "id_token" not in result


def test_msal_also_works_with_oidc_authority(idp: IdentityProvider) -> None:
    app = msal.ConfidentialClientApplication(
        APP_ID,
        client_credential="app-secret",
        oidc_authority=idp.oidc_authority,
        http_client=http_client(idp),
    )

    result = app.acquire_token_for_client(scopes=[EWS_DEFAULT])

    assert idp.validate_access_token(result["access_token"]) is not None


def test_it_refuses_a_wrong_client_secret(idp: IdentityProvider) -> None:
    result = confidential_app(idp, secret="not-the-secret").acquire_token_for_client([EWS_DEFAULT])

    assert result["error"] == "invalid_client"
    assert aadsts(result) == "AADSTS7000215"
    assert result["error_codes"] == [7000215]
    assert "access_token" not in result


def test_it_refuses_an_expired_client_secret(idp: IdentityProvider) -> None:
    yesterday = datetime.now(UTC) - timedelta(days=1)
    idp.set_client_secret(APP_ID, "old-secret", expires_at=yesterday)

    result = confidential_app(idp, secret="old-secret").acquire_token_for_client([EWS_DEFAULT])

    assert result["error"] == "invalid_client"
    assert aadsts(result) == "AADSTS7000222"


def test_a_rotated_secret_works_at_once_and_the_old_one_stops(idp: IdentityProvider) -> None:
    idp.set_client_secret(APP_ID, "new-secret", expires_at=datetime.now(UTC) + timedelta(days=1))

    old = confidential_app(idp, secret="app-secret").acquire_token_for_client([EWS_DEFAULT])
    new = confidential_app(idp, secret="new-secret").acquire_token_for_client([EWS_DEFAULT])

    assert aadsts(old) == "AADSTS7000215"
    assert idp.validate_access_token(new["access_token"]) is not None


def test_it_refuses_an_unknown_client(idp: IdentityProvider) -> None:
    result = confidential_app(idp, client_id="no-such-app").acquire_token_for_client([EWS_DEFAULT])

    assert result["error"] == "unauthorized_client"
    assert aadsts(result) == "AADSTS700016"


def test_client_credentials_need_a_default_scope(idp: IdentityProvider) -> None:
    result = confidential_app(idp).acquire_token_for_client([EWS_DELEGATED])

    assert result["error"] == "invalid_scope"
    assert aadsts(result) == "AADSTS1002012"


def test_the_secret_may_also_come_as_http_basic_auth(idp: IdentityProvider) -> None:
    response = http_client(idp).post(
        idp.token_endpoint,
        data={"grant_type": "client_credentials", "scope": EWS_DEFAULT},
        auth=(APP_ID, "app-secret"),
        timeout=10,
    )

    assert response.status_code == 200
    assert idp.validate_access_token(response.json()["access_token"]) is not None


def test_client_errors_are_401_and_grant_errors_400(idp: IdentityProvider) -> None:
    session = http_client(idp)
    wrong_secret = session.post(
        idp.token_endpoint,
        data={"grant_type": "client_credentials", "client_id": APP_ID, "client_secret": "x"},
        timeout=10,
    )
    bad_refresh = session.post(
        idp.token_endpoint,
        data={
            "grant_type": "refresh_token",
            "client_id": WEB_APP_ID,
            "client_secret": "web-secret",
            "refresh_token": "made-up",
        },
        timeout=10,
    )

    assert (wrong_secret.status_code, wrong_secret.json()["error"]) == (401, "invalid_client")
    assert (bad_refresh.status_code, bad_refresh.json()["error"]) == (400, "invalid_grant")


# -- access token validation -------------------------------------------------------------------


def test_unknown_tokens_are_not_valid(idp: IdentityProvider) -> None:
    assert idp.validate_access_token("made-up") is None
    assert idp.validate_access_token("") is None


def test_expire_tokens_makes_issued_tokens_invalid_and_new_ones_still_work(
    idp: IdentityProvider,
) -> None:
    first = confidential_app(idp).acquire_token_for_client([EWS_DEFAULT])["access_token"]

    idp.expire_tokens()

    assert idp.validate_access_token(first) is None
    second = confidential_app(idp).acquire_token_for_client([EWS_DEFAULT])["access_token"]
    assert idp.validate_access_token(second) is not None


def test_each_provider_keeps_its_own_tokens() -> None:
    with IdentityProvider() as one, IdentityProvider() as two:
        one.register_application(APP_ID, "app-secret")
        token = confidential_app(one).acquire_token_for_client([EWS_DEFAULT])["access_token"]

        assert one.validate_access_token(token) is not None
        assert two.validate_access_token(token) is None
        assert one.port != two.port


# -- authorization code flow -------------------------------------------------------------------


def test_the_auth_code_flow_gives_access_refresh_and_id_tokens_for_the_user(
    idp: IdentityProvider,
) -> None:
    _, result = sign_in_with_msal(idp)

    assert "error" not in result, result
    assert result["refresh_token"]
    assert result["token_type"] == "Bearer"
    claims = result["id_token_claims"]
    assert claims["preferred_username"] == "alice@corp.example"
    assert claims["aud"] == WEB_APP_ID
    assert claims["iss"] == idp.issuer
    assert claims["tid"] == idp.tenant_id
    info = idp.validate_access_token(result["access_token"])
    assert info is not None
    assert info.user == "alice@corp.example"
    assert info.client_id == WEB_APP_ID
    assert info.scopes == frozenset({"EWS.AccessAsUser.All"})
    assert info.roles == frozenset()
    assert info.audience == "https://outlook.office365.com"


def test_msal_caches_the_signed_in_account(idp: IdentityProvider) -> None:
    app, _ = sign_in_with_msal(idp)

    (account,) = app.get_accounts()

    assert account["username"] == "alice@corp.example"
    assert app.acquire_token_silent([EWS_DELEGATED], account=account)["access_token"]


def test_the_id_token_is_signed_with_the_published_key(idp: IdentityProvider) -> None:
    _, result = sign_in_with_msal(idp)
    header_b64, payload_b64, signature_b64 = result["id_token"].split(".")
    jwks = (
        http_client(idp)
        .get(
            http_client(idp)
            .get(f"{idp.oidc_authority}/.well-known/openid-configuration")
            .json()["jwks_uri"]
        )
        .json()
    )
    (key,) = jwks["keys"]
    assert json.loads(unb64(header_b64))["kid"] == key["kid"]
    public_key = rsa.RSAPublicNumbers(
        int.from_bytes(unb64(key["e"]), "big"), int.from_bytes(unb64(key["n"]), "big")
    ).public_key()

    public_key.verify(  # raises InvalidSignature if wrong
        unb64(signature_b64),
        f"{header_b64}.{payload_b64}".encode(),
        padding.PKCS1v15(),
        hashes.SHA256(),
    )


def test_a_refresh_token_gets_a_new_access_token_and_a_rotated_refresh_token(
    idp: IdentityProvider,
) -> None:
    app, first = sign_in_with_msal(idp)
    idp.expire_tokens()
    assert idp.validate_access_token(first["access_token"]) is None

    second = app.acquire_token_by_refresh_token(first["refresh_token"], scopes=[EWS_DELEGATED])

    assert "error" not in second, second
    assert second["refresh_token"] != first["refresh_token"]
    info = idp.validate_access_token(second["access_token"])
    assert info is not None and info.user == "alice@corp.example"
    # Like Entra, the redeemed refresh token keeps working until it expires.
    third = app.acquire_token_by_refresh_token(first["refresh_token"], scopes=[EWS_DELEGATED])
    assert "access_token" in third


def test_a_password_change_revokes_refresh_tokens(idp: IdentityProvider) -> None:
    app, first = sign_in_with_msal(idp)

    idp.set_user_password("alice@corp.example", "Alice pw 2")
    result = app.acquire_token_by_refresh_token(first["refresh_token"], scopes=[EWS_DELEGATED])

    assert result["error"] == "invalid_grant"
    assert aadsts(result) == "AADSTS50173"


def test_a_locked_user_cannot_refresh(idp: IdentityProvider) -> None:
    app, first = sign_in_with_msal(idp)

    idp.set_user_locked("alice@corp.example")
    result = app.acquire_token_by_refresh_token(first["refresh_token"], scopes=[EWS_DELEGATED])

    assert aadsts(result) == "AADSTS50053"


def test_a_refresh_cannot_add_scopes(idp: IdentityProvider) -> None:
    app, first = sign_in_with_msal(idp)

    result = app.acquire_token_by_refresh_token(
        first["refresh_token"], scopes=["https://outlook.office365.com/Mail.Send"]
    )

    assert aadsts(result) == "AADSTS65001"


def test_a_refresh_token_of_another_app_is_refused(idp: IdentityProvider) -> None:
    _, first = sign_in_with_msal(idp)

    result = confidential_app(idp).acquire_token_by_refresh_token(
        first["refresh_token"], scopes=[EWS_DELEGATED]
    )

    assert result["error"] == "invalid_grant"


def test_a_wrong_password_is_refused_at_the_form(idp: IdentityProvider) -> None:
    flow = start_flow(web_app(idp))

    with pytest.raises(LoginRefused, match="AADSTS50126"):
        idp.sign_in(flow["auth_uri"], "alice@corp.example", "wrong")


def test_a_locked_user_is_refused_at_the_form(idp: IdentityProvider) -> None:
    flow = start_flow(web_app(idp))

    response = http_client(idp).post(
        flow["auth_uri"],
        data={"login": "locked@corp.example", "passwd": "Locked pw 1"},
        allow_redirects=False,
    )

    assert response.status_code == 403
    assert "Location" not in response.headers
    assert "AADSTS50053" in response.text


def test_an_unknown_user_is_refused_at_the_form(idp: IdentityProvider) -> None:
    flow = start_flow(web_app(idp))

    with pytest.raises(LoginRefused, match="AADSTS50034"):
        idp.sign_in(flow["auth_uri"], "nobody@corp.example", "whatever")


def test_the_login_form_has_labelled_fields_prefilled_from_login_hint(
    idp: IdentityProvider,
) -> None:
    flow = start_flow(web_app(idp), login_hint="alice@corp.example")

    page = http_client(idp).get(flow["auth_uri"]).text

    assert '<label for="login">Email address</label>' in page
    assert '<label for="passwd">Password</label>' in page
    assert 'value="alice@corp.example"' in page


@pytest.mark.filterwarnings("ignore:response_mode='form_post' is recommended:UserWarning")
def test_the_query_response_mode_redirects_with_code_and_state(idp: IdentityProvider) -> None:
    app = web_app(idp)
    flow = start_flow(app, response_mode=None)

    response = http_client(idp).post(
        flow["auth_uri"],
        data={"login": "alice@corp.example", "passwd": "Alice pw 1"},
        allow_redirects=False,
    )

    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT_URI
    query = {key: values[0] for key, values in parse_qs(location.query).items()}
    assert query["state"] == flow["state"]
    assert query["code"]
    assert "access_token" in app.acquire_token_by_auth_code_flow(flow, query)


def test_form_post_response_mode_answers_with_an_auto_submitting_form(
    idp: IdentityProvider,
) -> None:
    flow = start_flow(web_app(idp))

    response = http_client(idp).post(
        flow["auth_uri"], data={"login": "alice@corp.example", "passwd": "Alice pw 1"}
    )

    assert response.status_code == 200
    assert f'action="{REDIRECT_URI}"' in response.text
    assert 'name="code"' in response.text and flow["state"] in response.text


def test_an_unregistered_redirect_uri_is_refused_without_redirecting(
    idp: IdentityProvider,
) -> None:
    flow = start_flow(web_app(idp), redirect_uri="https://evil.example/callback")

    response = http_client(idp).get(flow["auth_uri"], allow_redirects=False)

    assert response.status_code == 400
    assert "AADSTS50011" in response.text


def test_a_code_is_single_use(idp: IdentityProvider) -> None:
    app = web_app(idp)
    flow = start_flow(app)
    auth_response = idp.sign_in(flow["auth_uri"], "alice@corp.example", "Alice pw 1")
    assert "access_token" in app.acquire_token_by_auth_code_flow(flow, auth_response)

    again = web_app(idp).acquire_token_by_auth_code_flow(flow, auth_response)

    assert again["error"] == "invalid_grant"
    assert aadsts(again) == "AADSTS54005"


def test_a_wrong_pkce_verifier_is_refused(idp: IdentityProvider) -> None:
    app = web_app(idp)
    flow = start_flow(app)
    auth_response = idp.sign_in(flow["auth_uri"], "alice@corp.example", "Alice pw 1")
    flow["code_verifier"] = "x" * 43

    result = app.acquire_token_by_auth_code_flow(flow, auth_response)

    assert result["error"] == "invalid_grant"
    assert aadsts(result) == "AADSTS501481"


def test_the_id_token_carries_msals_nonce(idp: IdentityProvider) -> None:
    # msal raises if the nonce does not match; getting claims back proves it matched.
    _, result = sign_in_with_msal(idp)

    assert result["id_token_claims"]["nonce"]


# -- transport, discovery and logging ----------------------------------------------------------


def test_a_client_that_does_not_trust_the_ca_is_refused(idp: IdentityProvider) -> None:
    session = requests.Session()
    session.trust_env = False  # default verify: the system store, which lacks the test CA

    with pytest.raises(requests.exceptions.SSLError):
        session.get(f"{idp.oidc_authority}/.well-known/openid-configuration", timeout=10)


def test_the_server_keeps_serving_after_a_refused_handshake(idp: IdentityProvider) -> None:
    untrusting = requests.Session()
    untrusting.trust_env = False
    with pytest.raises(requests.exceptions.SSLError):
        untrusting.get(idp.token_endpoint, timeout=10)

    assert "access_token" in confidential_app(idp).acquire_token_for_client([EWS_DEFAULT])


def test_discovery_names_the_endpoints_msal_needs(idp: IdentityProvider) -> None:
    config = http_client(idp).get(f"{idp.authority}/v2.0/.well-known/openid-configuration").json()

    assert config["issuer"] == idp.issuer
    assert config["token_endpoint"] == idp.token_endpoint
    assert config["authorization_endpoint"] == idp.authorization_endpoint


def test_the_tenant_id_works_in_urls_and_unknown_tenants_do_not(idp: IdentityProvider) -> None:
    session = http_client(idp)
    by_id = session.get(f"{idp.base_url}/{idp.tenant_id}/v2.0/.well-known/openid-configuration")
    unknown = session.get(f"{idp.base_url}/other-tenant/v2.0/.well-known/openid-configuration")

    assert by_id.status_code == 200
    assert unknown.status_code == 400
    assert "AADSTS90002" in unknown.json()["error_description"]


def test_the_request_log_records_outcomes_but_no_secrets(idp: IdentityProvider) -> None:
    confidential_app(idp).acquire_token_for_client([EWS_DEFAULT])
    confidential_app(idp, secret="wrong").acquire_token_for_client([EWS_DEFAULT])
    _, result = sign_in_with_msal(idp)

    tokens = [e for e in idp.request_log if e.endpoint == "token"]
    outcomes = [(e.grant_type, e.client_id, e.outcome, e.error_code) for e in tokens]

    assert ("client_credentials", APP_ID, "success", None) in outcomes
    assert ("client_credentials", APP_ID, "invalid_client", "AADSTS7000215") in outcomes
    assert ("authorization_code", WEB_APP_ID, "success", None) in outcomes
    logged = repr(idp.request_log)
    for secret in ("app-secret", "web-secret", "Alice pw 1", result["access_token"]):
        assert secret not in logged


def test_ca_and_keys_are_removed_when_the_provider_stops() -> None:
    provider = IdentityProvider().start()
    directory = provider.ca_cert_path.parent
    assert any(directory.glob("*.key"))

    provider.stop()

    assert not directory.exists()


def unb64(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


# -- certificate credentials -------------------------------------------------------------------

CERT_APP_ID = "77777777-8888-9999-aaaa-bbbbbbbbbbbb"


def make_certificate(days: int = 365, key: rsa.RSAPrivateKey | None = None) -> tuple[str, str]:
    """A self-signed certificate as an admin would make one: (private key PEM, cert PEM)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.x509.oid import NameOID

    key = key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Booking app")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=abs(days) + 1))
        .not_valid_after(now + timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return key_pem, certificate.public_bytes(serialization.Encoding.PEM).decode()


def sha1_thumbprint(cert_pem: str) -> str:
    from cryptography import x509

    certificate = x509.load_pem_x509_certificate(cert_pem.encode())
    return certificate.fingerprint(hashes.SHA1()).hex().upper()  # noqa: S303 - Entra's id


def certificate_app(
    idp: IdentityProvider, credential: dict[str, str], client_id: str = CERT_APP_ID
) -> msal.ConfidentialClientApplication:
    return msal.ConfidentialClientApplication(
        client_id,
        client_credential=credential,
        authority=idp.authority,
        instance_discovery=False,
        http_client=http_client(idp),
    )


@pytest.fixture
def certificate(idp: IdentityProvider) -> tuple[str, str]:
    key_pem, cert_pem = make_certificate()
    idp.register_application(CERT_APP_ID, roles={"Calendars.ReadWrite"}, certificates=[cert_pem])
    return key_pem, cert_pem


def test_msal_signs_in_with_a_certificate_by_sha1_thumbprint_rs256(
    idp: IdentityProvider, certificate: tuple[str, str]
) -> None:
    key_pem, cert_pem = certificate
    credential = {"private_key": key_pem, "thumbprint": sha1_thumbprint(cert_pem)}

    result = certificate_app(idp, credential).acquire_token_for_client(
        scopes=["https://graph.microsoft.com/.default"]
    )

    info = idp.validate_access_token(result["access_token"])
    assert info is not None and info.client_id == CERT_APP_ID and info.user is None
    assert info.roles == frozenset({"Calendars.ReadWrite"})


def test_msal_signs_in_with_a_certificate_given_whole_ps256_and_x5c(
    idp: IdentityProvider, certificate: tuple[str, str]
) -> None:
    key_pem, cert_pem = certificate
    credential = {"private_key": key_pem, "public_certificate": cert_pem}

    result = certificate_app(idp, credential).acquire_token_for_client([EWS_DEFAULT])

    assert idp.validate_access_token(result["access_token"]) is not None


def test_a_certificate_the_app_does_not_have_is_refused_with_its_thumbprint(
    idp: IdentityProvider, certificate: tuple[str, str]
) -> None:
    key_pem, cert_pem = make_certificate()  # never uploaded to the app registration
    credential = {"private_key": key_pem, "thumbprint": sha1_thumbprint(cert_pem)}

    result = certificate_app(idp, credential).acquire_token_for_client([EWS_DEFAULT])

    assert result["error"] == "invalid_client"
    assert aadsts(result) == "AADSTS700027"
    assert sha1_thumbprint(cert_pem) in result["error_description"]
    assert key_pem not in json.dumps(result)


def test_a_key_that_does_not_match_the_registered_certificate_fails_its_signature(
    idp: IdentityProvider, certificate: tuple[str, str]
) -> None:
    other_key, _ = make_certificate()
    _, cert_pem = certificate
    credential = {"private_key": other_key, "thumbprint": sha1_thumbprint(cert_pem)}

    result = certificate_app(idp, credential).acquire_token_for_client([EWS_DEFAULT])

    assert aadsts(result) == "AADSTS700027"
    assert "invalid signature" in result["error_description"]


def test_an_expired_certificate_is_refused(idp: IdentityProvider) -> None:
    key_pem, cert_pem = make_certificate(days=-1)
    idp.register_application(CERT_APP_ID, certificates=[cert_pem])
    credential = {"private_key": key_pem, "thumbprint": sha1_thumbprint(cert_pem)}

    result = certificate_app(idp, credential).acquire_token_for_client([EWS_DEFAULT])

    assert aadsts(result) == "AADSTS700027"
    assert "expired" in result["error_description"]


def test_a_removed_certificate_stops_at_once_and_an_added_one_works(
    idp: IdentityProvider, certificate: tuple[str, str]
) -> None:
    key_pem, cert_pem = certificate
    new_key, new_cert = make_certificate()
    new_thumbprint = idp.add_client_certificate(CERT_APP_ID, new_cert)
    assert new_thumbprint == sha1_thumbprint(new_cert)

    idp.remove_client_certificate(CERT_APP_ID, sha1_thumbprint(cert_pem))
    old = {"private_key": key_pem, "thumbprint": sha1_thumbprint(cert_pem)}
    new = {"private_key": new_key, "thumbprint": new_thumbprint}

    assert aadsts(certificate_app(idp, old).acquire_token_for_client([EWS_DEFAULT])) == (
        "AADSTS700027"
    )
    assert "access_token" in certificate_app(idp, new).acquire_token_for_client([EWS_DEFAULT])


def post_assertion(
    idp: IdentityProvider, key_pem: str, cert_pem: str, **claims: Any
) -> dict[str, Any]:
    """A hand-made assertion, for the claims msal always gets right."""
    import jwt

    now = int(datetime.now(UTC).timestamp())
    payload = {
        "aud": idp.token_endpoint,
        "iss": CERT_APP_ID,
        "sub": CERT_APP_ID,
        "jti": "one",
        "nbf": now,
        "exp": now + 600,
        **claims,
    }
    x5t = base64.urlsafe_b64encode(bytes.fromhex(sha1_thumbprint(cert_pem))).decode()
    assertion = jwt.encode(payload, key_pem, algorithm="RS256", headers={"x5t": x5t})
    form = {
        "grant_type": "client_credentials",
        "client_id": CERT_APP_ID,
        "scope": EWS_DEFAULT,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion,
    }
    return http_client(idp).post(idp.token_endpoint, data=form).json()


@pytest.mark.parametrize(
    ("claims", "code"),
    [
        ({"exp": 1_000_000_000, "nbf": 999_999_000}, "AADSTS700024"),  # expired in 2001
        ({"nbf": 4_000_000_000}, "AADSTS700024"),  # not yet valid
        ({"iss": "someone-else"}, "AADSTS700021"),
        ({"sub": "someone-else"}, "AADSTS700021"),
        ({"aud": "https://login.microsoftonline.com/other/oauth2/v2.0/token"}, "AADSTS700023"),
    ],
)
def test_an_assertion_with_wrong_claims_is_refused(
    idp: IdentityProvider, certificate: tuple[str, str], claims: dict[str, Any], code: str
) -> None:
    result = post_assertion(idp, *certificate, **claims)

    assert result["error"] == "invalid_client" and aadsts(result) == code


def test_a_well_made_hand_signed_assertion_works_and_a_garbled_one_is_malformed(
    idp: IdentityProvider, certificate: tuple[str, str]
) -> None:
    assert "access_token" in post_assertion(idp, *certificate)
    garbled = http_client(idp).post(
        idp.token_endpoint,
        data={
            "grant_type": "client_credentials",
            "client_id": CERT_APP_ID,
            "scope": EWS_DEFAULT,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": "not.a-jwt",
        },
    )
    assert garbled.status_code == 401 and aadsts(garbled.json()) == "AADSTS50027"


def test_an_app_with_only_a_certificate_has_no_secret(
    idp: IdentityProvider, certificate: tuple[str, str]
) -> None:
    result = confidential_app(idp, CERT_APP_ID, secret="guess").acquire_token_for_client(
        [EWS_DEFAULT]
    )

    assert aadsts(result) == "AADSTS7000215"
