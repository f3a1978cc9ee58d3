"""OAuth 2.0 tokens for Exchange, always through msal.

Two flows: the corporate connection's app-only client credentials (client id + secret, or a
certificate, of an app registration, impersonating members), and a staff member's "Connect
with Microsoft" (authorization code with PKCE; the refresh token is stored encrypted and used
to get new access tokens). Tokens live in msal's in-memory cache, per process; nothing is logged.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import msal
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.utils.translation import gettext
from django.views.decorators.debug import sensitive_variables

from calendars import transport
from calendars.errors import AuthenticationFailed, ExchangeError, ServerUnreachable, url_refusal
from calendars.models import AuthType, ExchangeConnection

EWS_SCOPE_APP = "https://outlook.office365.com/.default"
EWS_SCOPE_USER = "https://outlook.office365.com/EWS.AccessAsUser.All"
# Microsoft Graph: app-only takes the permissions the app registration was granted (scoped to
# mailboxes by RBAC for Applications); delegated asks for calendars shared with or delegated
# to the signed-in user. msal adds offline_access (the refresh token) and openid/profile.
GRAPH_SCOPE_APP = "https://graph.microsoft.com/.default"
GRAPH_SCOPES_USER = (
    "https://graph.microsoft.com/Calendars.ReadWrite.Shared",
    "https://graph.microsoft.com/User.Read",
)

_AADSTS_MESSAGES = {
    "AADSTS7000215": "The OAuth client secret is wrong. Enter the secret's value, not its id.",
    "AADSTS7000222": "The OAuth client secret has expired. Create a new one and enter it here.",
    "AADSTS700016": "No application with this client id exists in the tenant.",
    "AADSTS700027": "Entra ID refused the certificate: it is not (or no longer) uploaded to the "
    "app registration, it has expired, or the private key is not the certificate's. Upload the "
    "certificate's public part under Certificates & secrets.",
    "AADSTS700024": "Entra ID refused the sign-in as outside its valid time. Check this "
    "server's clock.",
    "AADSTS50034": "No such user in the directory.",
    "AADSTS50053": "The account is locked. Ask your IT department to unlock it.",
    "AADSTS50126": "Wrong user name or password.",
    "AADSTS50173": "Your Microsoft password changed since you connected. Connect with Microsoft "
    "again.",
    "AADSTS70008": "The sign-in has expired. Connect with Microsoft again.",
    "AADSTS700082": "The sign-in has expired. Connect with Microsoft again.",
}


class CertificateInvalid(ExchangeError):
    """An uploaded certificate the app can't sign in with; said before anything is saved."""

    code = "certificate_invalid"
    default_message = "This is not a certificate with its private key in PEM format."


@dataclass(frozen=True)
class ClientCertificate:
    """An app registration's certificate credential: the key signs msal's client assertion,
    Entra ID holds the certificate (public part) and finds it by its SHA-1 thumbprint."""

    private_key_pem: str
    certificate_pem: str
    thumbprint: str  # SHA-1, upper-case hex, as Entra's "Certificates & secrets" shows it
    expires_on: date  # the certificate's not-after date (UTC)

    def __repr__(self) -> str:  # never the key, whatever prints this
        return f"ClientCertificate(thumbprint={self.thumbprint!r}, expires_on={self.expires_on})"

    @property
    def stored(self) -> str:
        """What the encrypted column holds: the key (unencrypted PKCS#8) and the certificate."""
        return self.private_key_pem + self.certificate_pem


_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----.+?-----END \1-----", re.DOTALL)


@sensitive_variables()
def parse_client_certificate(pem: str | bytes, *, check_expiry: bool = True) -> ClientCertificate:
    """The private key and certificate from one PEM (key and certificate pasted together, or
    a file with both), checked as Entra ID and msal would use them; CertificateInvalid says
    what is wrong. Nothing of the key is ever in a message."""
    text = pem.decode("utf-8", "replace") if isinstance(pem, bytes) else pem
    blocks = [(m.group(1), m.group(0)) for m in _PEM_BLOCK.finditer(text)]
    certificates = [block for label, block in blocks if label in ("CERTIFICATE",)]
    keys = [(label, block) for label, block in blocks if label.endswith("PRIVATE KEY")]
    if not certificates:
        raise CertificateInvalid(
            "No certificate found: paste the certificate (-----BEGIN CERTIFICATE-----) and its "
            "private key in PEM format, or upload a .pem file with both."
        )
    if not keys:
        raise CertificateInvalid(
            "The PEM has no private key: the app signs in with the key, Entra ID holds only the "
            "certificate. Paste the private key (-----BEGIN PRIVATE KEY-----) with the "
            "certificate."
        )
    if len(keys) > 1:
        raise CertificateInvalid("The PEM holds more than one private key: paste just one.")
    label, key_block = keys[0]
    if label == "ENCRYPTED PRIVATE KEY" or "Proc-Type: 4,ENCRYPTED" in key_block:
        raise CertificateInvalid(
            "The private key is protected by a passphrase. Export it without one (openssl pkey "
            "-in key.pem -out key-plain.pem); it is stored encrypted here."
        )
    try:
        key = serialization.load_pem_private_key(key_block.encode(), password=None)
    except TypeError as exc:  # "Password was not given but private key is encrypted"
        raise CertificateInvalid(
            "The private key is protected by a passphrase. Export it without one (openssl pkey "
            "-in key.pem -out key-plain.pem); it is stored encrypted here."
        ) from exc
    except ValueError:
        raise CertificateInvalid("The private key could not be read.") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise CertificateInvalid(
            "The private key is not an RSA key. Entra ID's certificate sign-in takes RSA "
            "(2048 bits or more): create the certificate with an RSA key."
        )
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    certificate: x509.Certificate | None = None
    for block in certificates:
        try:
            candidate = x509.load_pem_x509_certificate(block.encode())
        except ValueError:
            continue
        spki = candidate.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        if spki == public:  # the app's own certificate; others are a chain
            certificate = candidate
            break
    if certificate is None:
        raise CertificateInvalid(
            "The private key does not belong to the certificate: paste the key the "
            "certificate was made with."
        )
    expires = certificate.not_valid_after_utc
    if check_expiry and expires <= datetime.now(UTC):
        raise CertificateInvalid(
            f"The certificate expired on {expires:%d %B %Y}. Create a new one, upload its "
            "public part to the app registration, and use it here."
        )
    return ClientCertificate(
        private_key_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode(),
        certificate_pem=certificate.public_bytes(serialization.Encoding.PEM).decode(),
        # SHA-1 is Entra's identifier for the certificate (x5t), not a signature.
        thumbprint=certificate.fingerprint(hashes.SHA1()).hex().upper(),  # noqa: S303
        expires_on=expires.date(),
    )


def _http_client() -> requests.Session:
    # The transport every Exchange connection uses: TLS 1.2+, and each connection (each
    # redirect hop too) to an address the SSRF guard vetted; the authority is typed in by an
    # admin, and on-premises ones are often internal.
    session = transport.session()
    if settings.EXCHANGE_CA_BUNDLE:
        # With trust_env on, REQUESTS_CA_BUNDLE from the environment would override ours.
        session.trust_env = False
        session.verify = settings.EXCHANGE_CA_BUNDLE
    return session


def authority_for(tenant: str, authority: str = "") -> str:
    if authority:
        return authority.rstrip("/")
    return f"https://login.microsoftonline.com/{tenant or 'organizations'}"


_lock = threading.Lock()
_apps: dict[tuple[Any, ...], msal.ConfidentialClientApplication] = {}


# Functions holding a client secret or tokens show no local variables in an error report,
# nor does anything they call (msal, requests).
@sensitive_variables()
def _app(
    client_id: str,
    secret: str,
    authority: str,
    key: tuple[Any, ...],
    certificate: ClientCertificate | None = None,
) -> Any:
    # The app's own settings are part of the key: a primary key can be reused (SQLite does,
    # after the last row is deleted) and an unsaved candidate has none, so (pk, version)
    # alone could hand one registration's cached tokens to another. A certificate is told
    # apart by its thumbprint, a secret by its digest.
    if certificate is not None:
        digest = f"certificate:{certificate.thumbprint}"
        # msal signs the client assertion RS256 with x5t (the SHA-1 thumbprint), which
        # Entra ID and ADFS both accept.
        credential: str | dict[str, str] = {
            "private_key": certificate.private_key_pem,
            "thumbprint": certificate.thumbprint,
        }
    else:
        digest = hashlib.sha256(secret.encode()).hexdigest()
        credential = secret
    key = (*key, client_id, authority, digest)
    with _lock:
        app = _apps.get(key)
        if app is None:
            try:
                app = msal.ConfidentialClientApplication(
                    client_id,
                    client_credential=credential,
                    authority=authority,
                    # Instance discovery asks Microsoft about the authority: off for
                    # on-premises identity providers and the simulator.
                    instance_discovery=False,
                    http_client=_http_client(),
                )
            except requests.exceptions.SSLError as exc:
                raise ServerUnreachable(
                    "The sign-in server's certificate is not trusted.", detail=str(exc)
                ) from exc
            except (requests.exceptions.ConnectionError, ValueError) as exc:
                raise url_refusal(exc) or ServerUnreachable(
                    "The sign-in server (OAuth authority) could not be reached.", detail=str(exc)
                ) from exc
            _apps[key] = app
        return app


@sensitive_variables()
def connection_certificate(conn: ExchangeConnection) -> ClientCertificate | None:
    """The connection's certificate credential, or None where it signs in with a secret."""
    if conn.auth_type != AuthType.OAUTH_APP or not conn.oauth_client_certificate:
        return None
    # Not refused here when expired: Entra ID says so (AADSTS700027), and the admin is warned
    # 14 days ahead.
    return parse_client_certificate(conn.oauth_client_certificate, check_expiry=False)


@sensitive_variables()
def _connection_app(conn: ExchangeConnection) -> Any:
    if conn.auth_type == AuthType.OAUTH_APP:
        return _app(
            conn.oauth_client_id,
            conn.oauth_client_secret,
            authority_for(conn.oauth_tenant, conn.oauth_authority),
            ("conn", conn.pk, conn.credential_version),
            certificate=connection_certificate(conn),
        )
    return site_app()


def site_app() -> Any:
    """The site's app registration for "Connect with Microsoft"."""
    if not settings.MICROSOFT_CLIENT_ID:
        raise ExchangeError(gettext("Connect with Microsoft is not configured on this site."))
    return _app(
        settings.MICROSOFT_CLIENT_ID,
        settings.MICROSOFT_CLIENT_SECRET,
        authority_for(settings.MICROSOFT_TENANT, settings.MICROSOFT_AUTHORITY),
        ("site", settings.MICROSOFT_CLIENT_ID, settings.MICROSOFT_AUTHORITY),
    )


def raise_for_error(result: dict[str, Any]) -> None:
    if "access_token" in result:
        return
    description = result.get("error_description", "") or ""
    # Entra's descriptions start "AADSTSnnn: "; match the whole code (AADSTS70008 is a prefix
    # of AADSTS700082).
    code = description.partition(":")[0].strip()
    if code in _AADSTS_MESSAGES:
        raise AuthenticationFailed(_AADSTS_MESSAGES[code], detail=code)
    raise AuthenticationFailed(
        "The sign-in server refused the credentials.", detail=result.get("error", "")
    )


@sensitive_variables()
def _as_exchangelib_token(result: dict[str, Any]) -> dict[str, Any]:
    expires_in = int(result.get("expires_in", 3600))
    return {
        "access_token": result["access_token"],
        "token_type": "Bearer",
        "expires_in": expires_in,
        "expires_at": time.time() + expires_in,
    }


@sensitive_variables()
def access_token_for(conn: ExchangeConnection, *, force: bool = False) -> dict[str, Any]:
    """A valid access token for this connection's EWS, as exchangelib wants it."""
    return _as_exchangelib_token(_acquire(conn, [EWS_SCOPE_APP], [EWS_SCOPE_USER], force=force))


# Graph access tokens per connection, until shortly before they expire: msal's client
# credentials cache does this for app-only tokens, but a refresh-token redemption always goes
# to the authority, and Graph calls are many and short.
_graph_tokens: dict[tuple[Any, ...], tuple[str, float]] = {}
_fetching: dict[tuple[Any, ...], threading.Lock] = {}
_EXPIRY_MARGIN = 300  # seconds: never hand out a token about to expire mid-request


@sensitive_variables()
def graph_access_token(conn: ExchangeConnection, *, force: bool = False) -> str:
    """A valid Microsoft Graph access token for this connection (app-only or delegated)."""
    # Who the token is for is part of the key (a primary key can be reused, an unsaved
    # candidate has none): the app and its certificate's thumbprint or its secret, or the
    # signed-in mailbox. Not the refresh token itself, which rotates with every redemption.
    if conn.auth_type != AuthType.OAUTH_APP:
        who = conn.email
    elif conn.oauth_client_certificate:
        # The thumbprint as stored beside the PEM (rotation sets both); the PEM's digest if
        # a row was written without it.
        who = "certificate:" + (
            conn.oauth_certificate_thumbprint
            or hashlib.sha256(conn.oauth_client_certificate.encode()).hexdigest()
        )
    else:
        who = conn.oauth_client_secret
    digest = hashlib.sha256(f"{conn.oauth_client_id}\0{who}".encode()).hexdigest()
    key = ("conn", conn.pk, conn.credential_version, conn.auth_type, digest)
    with _lock:
        cached = _graph_tokens.get(key)
        fetching = _fetching.setdefault(key, threading.Lock())
    if cached and not force and cached[1] > time.time():
        return cached[0]
    # One redemption per connection at a time: the threads of a parallel read that all
    # find the token expired wait for the first one's answer instead of each redeeming (and
    # rotating, and storing) the refresh token.
    with fetching:
        with _lock:
            fresh = _graph_tokens.get(key)
        if fresh and fresh is not cached and fresh[1] > time.time():
            return fresh[0]
        result = _acquire(conn, [GRAPH_SCOPE_APP], list(GRAPH_SCOPES_USER), force=force)
        token, lifetime = result["access_token"], int(result.get("expires_in", 3600))
        # Renewed a little early (Entra's tokens live an hour: 5 minutes early), never used up.
        renew_at = time.time() + lifetime - min(_EXPIRY_MARGIN, lifetime / 10)
        with _lock:
            _graph_tokens[key] = (token, renew_at)
        return token


@sensitive_variables()
def _acquire(
    conn: ExchangeConnection, app_scopes: list[str], user_scopes: list[str], *, force: bool
) -> dict[str, Any]:
    if force and conn.pk:
        # Exchange refused a token msal still thinks is valid (revoked, or the app's
        # permissions changed): a fresh msal app has an empty token cache.
        forget_connection(conn.pk)
    app = _connection_app(conn)
    try:
        if conn.auth_type == AuthType.OAUTH_APP:
            result = app.acquire_token_for_client(scopes=app_scopes)
        else:
            result = app.acquire_token_by_refresh_token(
                conn.oauth_refresh_token, scopes=user_scopes
            )
            if result.get("refresh_token") and result["refresh_token"] != conn.oauth_refresh_token:
                # Refresh tokens rotate; keep the newest so the connection survives restarts.
                conn.oauth_refresh_token = result["refresh_token"]
                if conn.pk:
                    ExchangeConnection.objects.filter(pk=conn.pk).update(
                        oauth_refresh_token=conn.oauth_refresh_token
                    )
    except requests.exceptions.RequestException as exc:
        raise url_refusal(exc) or ServerUnreachable(
            "The sign-in server (OAuth authority) could not be reached.", detail=str(exc)
        ) from exc
    raise_for_error(result)
    return result


def forget_connection(conn_pk: int) -> None:
    with _lock:
        for key in [k for k in _apps if k[0] == "conn" and k[1] == conn_pk]:
            del _apps[key]
        for key in [k for k in _graph_tokens if k[1] == conn_pk]:
            del _graph_tokens[key]
        for key in [k for k in _fetching if k[1] == conn_pk]:
            del _fetching[key]
