"""A local stand-in for Microsoft Entra ID (OAuth 2.0 / OpenID Connect v2.0 endpoints).

msal talks to it exactly as to login.microsoftonline.com, over HTTPS with a test CA
(msal refuses http authorities). The app's way of constructing msal is supported and tested::

    session = requests.Session()
    session.trust_env = False          # or REQUESTS_CA_BUNDLE would override verify
    session.verify = str(idp.ca_cert_path)
    app = msal.ConfidentialClientApplication(
        client_id, client_credential=secret, authority=idp.authority,
        instance_discovery=False, http_client=session)

``instance_discovery=False`` stops msal from asking Microsoft's instance discovery; msal then
reads ``<authority>/v2.0/.well-known/openid-configuration``. ``oidc_authority=idp.oidc_authority``
(the authority plus ``/v2.0``, which equals the issuer msal checks) works too.

Endpoints, under ``/<tenant>/`` where tenant is the name given or ``tenant_id`` (a GUID):

* ``GET v2.0/.well-known/openid-configuration`` and ``GET discovery/v2.0/keys`` (JWKS).
* ``POST oauth2/v2.0/token``: ``client_credentials`` (one ``<resource>/.default`` scope; the token
  carries the application's roles), ``authorization_code`` (PKCE S256/plain verified; single-use
  codes valid 10 minutes) and ``refresh_token``. Client secrets in the body or HTTP Basic, or
  a certificate (below).
* ``GET/POST oauth2/v2.0/authorize``: a login form (fields labelled "Email address" and
  "Password", named ``login`` and ``passwd``). POSTing those two fields to the very URL msal's
  ``initiate_auth_code_flow`` returned (``flow["auth_uri"]``) signs in and redirects to the
  redirect URI with ``code``, ``state``, ``session_state`` and, as msal asks for it,
  ``client_info``; ``response_mode=form_post`` (which msal 1.39 recommends, warning otherwise)
  answers with an auto-submitting form instead. ``sign_in()`` does that POST for tests and
  returns the ``auth_response`` in either mode. A wrong password, unknown or locked user gets
  the form again with the AADSTS error (HTTP 401/403) and no redirect.

Token model:

* Access tokens are opaque random strings kept in memory; ``validate_access_token`` is the only
  way to read them (in-process, for the EWS simulator). ``TokenInfo.scopes`` holds the short
  scope names as in Entra's ``scp`` claim (``"EWS.AccessAsUser.All"``), ``TokenInfo.audience`` the
  resource (``"https://outlook.office365.com"``). App-only tokens have ``user=None``, the app's
  ``roles`` and no scopes; delegated tokens have the user's address and no roles. Tokens stay
  valid until they expire (rotating a secret or locking a user does not revoke them, as in
  Entra); ``expire_tokens()`` ends them all at once.
* ID tokens are RS256 JWTs (key published at ``jwks_uri``) with iss, aud, sub, oid, tid,
  preferred_username, name, nonce (authorization code grant only), iat, nbf, exp and ver.
  msal 1.39 no longer validates ID tokens itself but does compare ``nonce`` with its flow.
* Refresh tokens (only when ``offline_access`` was asked for, which msal always does) rotate: each
  redemption returns a new one, and like Entra the old one keeps working until it expires
  (90 days). Changing the user's password or locking the user refuses them (AADSTS50173 /
  AADSTS50053). A refresh may narrow the scopes but not add new ones (AADSTS65001).
* Applications may sign any registered user in, with any scope: consent is not modelled.

Errors have Entra's shape (``error``, ``error_description`` starting ``AADSTSnnn:``,
``error_codes``, ``timestamp``, ``trace_id``, ``correlation_id``); client authentication
failures are HTTP 401 ``invalid_client`` (AADSTS7000215 wrong secret, AADSTS7000222 expired
secret, AADSTS7000218 no secret), an unknown client 400 ``unauthorized_client`` (AADSTS700016),
bad grants 400 ``invalid_grant``.

Certificate credentials, as Entra checks them: the client sends
``client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`` and
``client_assertion``, a JWT signed with the private key of a certificate registered on the app
(``register_application(..., certificates=[pem])`` or ``add_client_certificate``). msal signs
RS256 with an ``x5t`` header (the certificate's SHA-1 thumbprint, base64url) when given
``{"private_key": ..., "thumbprint": ...}``, and PS256 with ``x5t#S256`` (SHA-256) and ``x5c``
when given ``{"private_key": ..., "public_certificate": ...}``; both are accepted. Claims: ``aud``
the token endpoint, ``iss`` = ``sub`` = the client id, ``jti``, ``exp`` (and ``nbf``/``iat``),
with five minutes' clock skew. Refusals, all HTTP 401 ``invalid_client``: AADSTS700027 (no
registered certificate has the thumbprint, the certificate has expired, or the signature does
not verify), AADSTS700024 (the assertion is not within its valid time range), AADSTS700021
(``iss``/``sub`` is not the client id), AADSTS700023 (``aud`` is not this token endpoint),
AADSTS50027 (not a JWT, an unsupported ``alg`` or ``client_assertion_type``). A certificate
removed from the app (``remove_client_certificate``) stops working at once, as a rotated
secret does; tokens issued with it stay valid until they expire.

``request_log`` records endpoint, grant type, client id, user and outcome of every request; it
never holds secrets, passwords, codes or tokens, and the HTTP server prints nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import ipaddress
import json
import secrets
import threading
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlencode, urlsplit

import requests
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from calendars.simulator.tls import TestCA, ThreadingHTTPSServer, server_context

ACCESS_TOKEN_LIFETIME = timedelta(seconds=3599)  # what Entra answers: "expires_in": 3599
REFRESH_TOKEN_LIFETIME = timedelta(days=90)
AUTH_CODE_LIFETIME = timedelta(minutes=10)
ID_TOKEN_LIFETIME = timedelta(hours=1)

# OIDC scopes: they shape the reply (id_token, refresh_token) but are not resource permissions.
OIDC_SCOPES = frozenset({"openid", "profile", "offline_access", "email"})
GRAPH_RESOURCE = "https://graph.microsoft.com"  # Entra's resource for bare names like User.Read
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
CLOCK_SKEW = timedelta(minutes=5)  # what Entra tolerates on an assertion's exp and nbf
_MAX_BODY = 1 << 20


@dataclass(frozen=True)
class TokenInfo:
    client_id: str
    user: str | None  # the signed-in mailbox (smtp address); None for app-only tokens
    roles: frozenset[str]  # application permissions, e.g. "full_access_as_app" (app-only)
    scopes: frozenset[str]  # delegated permissions, short form: "EWS.AccessAsUser.All"
    expires_at: datetime
    audience: str = ""  # the resource, e.g. "https://outlook.office365.com"


@dataclass(frozen=True)
class RequestLogEntry:
    endpoint: str  # "openid-configuration", "keys", "authorize", "token" or "unknown"
    grant_type: str | None
    client_id: str | None
    user: str | None
    outcome: str  # "success" or the OAuth error, e.g. "invalid_client"
    error_code: str | None  # e.g. "AADSTS7000215"
    at: datetime


class OAuthError(Exception):
    """An error answered in Entra's shape."""

    def __init__(self, error: str, code: int, message: str, status: int = 400) -> None:
        super().__init__(f"AADSTS{code}: {message}")
        self.error = error
        self.code = code
        self.message = message
        self.status = status

    @property
    def aadsts(self) -> str:
        return f"AADSTS{self.code}"


class LoginRefused(Exception):
    """``IdentityProvider.sign_in`` did not get a redirect back: the form refused the login."""


@dataclass
class _Application:
    client_id: str
    secret: str
    secret_expires_at: datetime | None
    roles: frozenset[str]
    redirect_uris: tuple[str, ...]
    # Uploaded certificates (public part only, as in Entra), by SHA-1 thumbprint in upper-case
    # hex, the way the portal shows it.
    certificates: dict[str, x509.Certificate] = field(default_factory=dict)


@dataclass
class _User:
    email: str
    password: str
    locked: bool
    object_id: str
    credentials_changed_at: datetime


@dataclass
class _AuthCode:
    client_id: str
    user: str
    redirect_uri: str
    scopes: tuple[str, ...]
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str
    expires_at: datetime
    redeemed: bool = False


@dataclass
class _RefreshToken:
    client_id: str
    user: str
    scopes: tuple[str, ...]
    issued_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class _AuthRequest:
    """The parameters of one authorization request, validated."""

    application: _Application
    redirect_uri: str
    scopes: tuple[str, ...]
    state: str | None
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str
    response_mode: str
    login_hint: str
    wants_client_info: bool


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(moment: datetime | None) -> datetime | None:
    # Naive datetimes are taken as UTC so callers can't make comparisons blow up.
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_json(payload: Mapping[str, Any]) -> str:
    return _b64url(json.dumps(payload, separators=(",", ":")).encode())


def _split_scopes(raw: str | None) -> tuple[str, ...]:
    return tuple(dict.fromkeys((raw or "").split()))  # de-duplicated, order kept


def _resource_and_name(scope: str) -> tuple[str, str]:
    resource, _, name = scope.rpartition("/")
    return (resource or GRAPH_RESOURCE), name


def _same_secret(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _load_certificate(pem: str | bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode() if isinstance(pem, str) else pem)


def certificate_thumbprint(certificate: x509.Certificate) -> str:
    """SHA-1 of the DER certificate in upper-case hex: what Entra shows as the thumbprint."""
    return certificate.fingerprint(hashes.SHA1()).hex().upper()  # noqa: S303 - an identifier, not a signature


def _pkce_matches(verifier: str, challenge: str, method: str) -> bool:
    if method == "plain":
        return hmac.compare_digest(verifier.encode(), challenge.encode())
    computed = _b64url(hashlib.sha256(verifier.encode("ascii", "replace")).digest())
    return hmac.compare_digest(computed.encode(), challenge.encode())


class _Signer:
    """RS256 signing for ID tokens, with the public key published as a JWKS."""

    def __init__(self) -> None:
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = secrets.token_hex(8)

    def sign(self, claims: Mapping[str, Any]) -> str:
        header = {"typ": "JWT", "alg": "RS256", "kid": self.kid}
        signing_input = f"{_b64url_json(header)}.{_b64url_json(claims)}"
        signature = self._key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64url(signature)}"

    def jwks(self) -> dict[str, Any]:
        numbers = self._key.public_key().public_numbers()

        def encode(value: int) -> str:
            return _b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))

        key = {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid}
        return {"keys": [{**key, "n": encode(numbers.n), "e": encode(numbers.e)}]}


class IdentityProvider:
    """A threaded HTTPS server playing Microsoft Entra ID for one tenant.

    Applications and users can be registered before or after ``start()``; ``ca_cert_path`` is
    known from construction. Start it once: ``stop()`` also deletes a CA it created itself.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        tenant: str = "simulator-tenant",
        ca: TestCA | None = None,
    ) -> None:
        self.host = host
        self.tenant = tenant
        self.tenant_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"ews-simulator:{tenant}"))
        self.access_token_lifetime = ACCESS_TOKEN_LIFETIME
        self._requested_port = port
        self._owns_ca = ca is None
        self._ca = ca or TestCA()
        self._signer = _Signer()
        self._lock = threading.Lock()
        self._applications: dict[str, _Application] = {}
        self._users: dict[str, _User] = {}
        self._codes: dict[str, _AuthCode] = {}
        self._access_tokens: dict[str, TokenInfo] = {}
        self._refresh_tokens: dict[str, _RefreshToken] = {}
        self._log: list[RequestLogEntry] = []
        self._server: ThreadingHTTPSServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> IdentityProvider:
        if self._server is not None:
            return self
        names = ["localhost"] + ([self.host] if not _is_ip(self.host) else [])
        ips = sorted({"127.0.0.1", "::1"} | ({self.host} if _is_ip(self.host) else set()))
        issued = self._ca.issue_server_certificate(dict.fromkeys(names), ips, name="idp")
        context = server_context(issued.cert_path, issued.key_path)
        server = ThreadingHTTPSServer((self.host, self._requested_port), _Handler, context)
        server.idp = self  # type: ignore[attr-defined]
        self._server = server
        # A short poll interval keeps stop() (and so every test's teardown) quick.
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.05,), name=f"idp-{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._owns_ca:
            self._ca.close()

    def __enter__(self) -> IdentityProvider:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- addresses ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the identity provider is not started")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}"

    @property
    def authority(self) -> str:
        return f"{self.base_url}/{self.tenant}"

    @property
    def oidc_authority(self) -> str:
        """For ``msal.ConfidentialClientApplication(oidc_authority=...)``; equals the issuer."""
        return f"{self.authority}/v2.0"

    @property
    def issuer(self) -> str:
        return self.oidc_authority

    @property
    def token_endpoint(self) -> str:
        return f"{self.authority}/oauth2/v2.0/token"

    @property
    def authorization_endpoint(self) -> str:
        return f"{self.authority}/oauth2/v2.0/authorize"

    @property
    def jwks_uri(self) -> str:
        return f"{self.authority}/discovery/v2.0/keys"

    @property
    def ca_cert_path(self) -> Path:
        return self._ca.ca_cert_path

    # -- directory ---------------------------------------------------------------------------

    def register_application(
        self,
        client_id: str,
        client_secret: str = "",
        *,
        roles: Iterable[str] = frozenset(),
        secret_expires_at: datetime | None = None,
        redirect_uris: list[str] | None = None,
        certificates: Iterable[str | bytes] = (),
    ) -> None:
        """Register (or replace) an app; without redirect URIs only client credentials work.

        ``certificates`` are PEM certificates (the public part) the app may sign client
        assertions with; an app with only certificates has no secret ("" matches none).
        """
        loaded = [_load_certificate(pem) for pem in certificates]
        application = _Application(
            client_id=client_id,
            secret=client_secret,
            secret_expires_at=_aware(secret_expires_at),
            roles=frozenset(roles),
            redirect_uris=tuple(redirect_uris or ()),
            certificates={certificate_thumbprint(c): c for c in loaded},
        )
        with self._lock:
            self._applications[client_id] = application

    def set_client_secret(
        self, client_id: str, secret: str, expires_at: datetime | None = None
    ) -> None:
        """Rotate the app's secret; the old one stops working at once."""
        with self._lock:
            application = self._applications[client_id]
            application.secret = secret
            application.secret_expires_at = _aware(expires_at)

    def add_client_certificate(self, client_id: str, pem: str | bytes) -> str:
        """Upload a certificate's public part to the app; returns its SHA-1 thumbprint."""
        certificate = _load_certificate(pem)
        thumbprint = certificate_thumbprint(certificate)
        with self._lock:
            application = self._applications[client_id]
            application.certificates = {**application.certificates, thumbprint: certificate}
        return thumbprint

    def remove_client_certificate(self, client_id: str, thumbprint: str) -> None:
        """Delete a certificate from the app: assertions it signs are refused at once."""
        with self._lock:
            application = self._applications[client_id]
            application.certificates = {
                t: c for t, c in application.certificates.items() if t != thumbprint.upper()
            }

    def set_application_roles(self, client_id: str, roles: Iterable[str]) -> None:
        """Change granted app roles; tokens issued before keep the roles they had."""
        with self._lock:
            self._applications[client_id].roles = frozenset(roles)

    def register_user(self, email: str, password: str, *, locked: bool = False) -> None:
        key = email.lower()
        with self._lock:
            existing = self._users.get(key)
            self._users[key] = _User(
                email=email,
                password=password,
                locked=locked,
                object_id=existing.object_id if existing else str(uuid.uuid4()),
                credentials_changed_at=_now(),
            )

    def set_user_password(self, email: str, password: str) -> None:
        """Change the password; the user's refresh tokens stop working (AADSTS50173)."""
        with self._lock:
            user = self._users[email.lower()]
            user.password = password
            user.credentials_changed_at = _now()

    def set_user_locked(self, email: str, locked: bool = True) -> None:
        with self._lock:
            self._users[email.lower()].locked = locked

    # -- tokens ------------------------------------------------------------------------------

    def validate_access_token(self, token: str) -> TokenInfo | None:
        """The token's grant if it was issued here and has not expired, else None."""
        with self._lock:
            info = self._access_tokens.get(token)
        if info is None or info.expires_at <= _now():
            return None
        return info

    def expire_tokens(self) -> None:
        """Make every access token issued so far expire now (refresh tokens keep working)."""
        expired = _now() - timedelta(seconds=1)
        with self._lock:
            for token, info in self._access_tokens.items():
                self._access_tokens[token] = replace(info, expires_at=expired)

    @property
    def request_log(self) -> list[RequestLogEntry]:
        with self._lock:
            return list(self._log)

    def sign_in(self, auth_uri: str, email: str, password: str) -> dict[str, str]:
        """Fill in the login form at ``auth_uri`` (msal's ``flow["auth_uri"]``).

        Returns what the browser would deliver to the redirect URI (the query parameters, or the
        fields of the ``form_post`` form), i.e. the ``auth_response`` for msal's
        ``acquire_token_by_auth_code_flow``. Raises ``LoginRefused`` when the form says no.
        """
        with requests.Session() as session:
            session.trust_env = False
            session.verify = str(self.ca_cert_path)
            response = session.post(
                auth_uri, data={"login": email, "passwd": password}, allow_redirects=False
            )
        if response.status_code == 302:
            query = urlsplit(response.headers["Location"]).query
            return _single_values(parse_qs(query))
        fields = _form_post_fields(response.text) if response.status_code == 200 else {}
        if "code" in fields:
            return fields
        raise LoginRefused(_alert_text(response.text) or f"HTTP {response.status_code}")

    # -- request handling (called from the HTTP handler threads) ------------------------------

    def _record(
        self,
        endpoint: str,
        *,
        grant_type: str | None = None,
        client_id: str | None = None,
        user: str | None = None,
        error: OAuthError | None = None,
        outcome: str | None = None,
    ) -> None:
        entry = RequestLogEntry(
            endpoint=endpoint,
            grant_type=grant_type,
            client_id=client_id,
            user=user,
            outcome=outcome or (error.error if error else "success"),
            error_code=error.aadsts if error else None,
            at=_now(),
        )
        with self._lock:
            self._log.append(entry)

    def _knows_tenant(self, tenant: str) -> bool:
        return tenant.lower() in {self.tenant.lower(), self.tenant_id}

    def _openid_configuration(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": self.authorization_endpoint,
            "token_endpoint": self.token_endpoint,
            "jwks_uri": self.jwks_uri,
            "response_types_supported": ["code"],
            "response_modes_supported": ["query", "form_post"],
            "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": [
                "client_secret_post",
                "private_key_jwt",
                "client_secret_basic",
            ],
            "code_challenge_methods_supported": ["S256", "plain"],
            "scopes_supported": sorted(OIDC_SCOPES),
            "claims_supported": [
                "sub",
                "iss",
                "aud",
                "exp",
                "iat",
                "nbf",
                "nonce",
                "name",
                "oid",
                "tid",
                "preferred_username",
                "email",
                "ver",
            ],
            "tenant_region_scope": None,
            "cloud_instance_name": "microsoftonline.com",
        }

    def _jwks(self) -> dict[str, Any]:
        return self._signer.jwks()

    # token endpoint

    def _token(self, form: Mapping[str, str], basic_auth: tuple[str, str] | None) -> dict[str, Any]:
        grant_type = form.get("grant_type", "")
        if basic_auth is not None:
            form = {**form, "client_id": basic_auth[0], "client_secret": basic_auth[1]}
        if not grant_type:
            raise OAuthError(
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'grant_type'.",
            )
        handlers = {
            "client_credentials": self._grant_client_credentials,
            "authorization_code": self._grant_authorization_code,
            "refresh_token": self._grant_refresh_token,
        }
        if grant_type not in handlers:
            raise OAuthError(
                "unsupported_grant_type", 70003, "The app requested an unsupported grant type."
            )
        application = self._authenticate_client(form.get("client_id", ""), form)
        return handlers[grant_type](application, form)

    def _authenticate_client(self, client_id: str, form: Mapping[str, str]) -> _Application:
        with self._lock:
            application = self._applications.get(client_id)
            if application is not None:
                application = replace(application)  # a snapshot, safe outside the lock
        if application is None:
            raise OAuthError(
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory "
                f"'{self.tenant}'.",
            )
        if form.get("client_assertion") or form.get("client_assertion_type"):
            self._check_client_assertion(application, form)
            return application
        secret = form.get("client_secret")
        if not secret:
            raise OAuthError(
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' "
                "or 'client_secret'.",
                status=401,
            )
        if not _same_secret(secret, application.secret):
            raise OAuthError(
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is "
                f"the client secret value, not the client secret ID, for a secret added to app "
                f"'{client_id}'.",
                status=401,
            )
        expires_at = application.secret_expires_at
        if expires_at is not None and expires_at <= _now():
            raise OAuthError(
                "invalid_client",
                7000222,
                f"The provided client secret keys for app '{client_id}' are expired. Visit the "
                "Azure portal to create new keys for your app.",
                status=401,
            )
        return application

    def _check_client_assertion(self, application: _Application, form: Mapping[str, str]) -> None:
        """Entra's certificate credential check: the JWT's signature against a certificate
        registered on the app (found by thumbprint), then its claims."""
        client_id = application.client_id
        malformed = OAuthError(
            "invalid_client", 50027, "JWT token is invalid or malformed.", status=401
        )
        if form.get("client_assertion_type") != JWT_BEARER:
            raise OAuthError(
                "invalid_client",
                50027,
                f"Invalid client_assertion_type; expected '{JWT_BEARER}'.",
                status=401,
            )
        parts = form.get("client_assertion", "").split(".")
        if len(parts) != 3:
            raise malformed
        try:
            header = json.loads(_b64url_decode(parts[0]))
            claims = json.loads(_b64url_decode(parts[1]))
            signature = _b64url_decode(parts[2])
        except ValueError as exc:
            raise malformed from exc
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise malformed
        algorithm = header.get("alg")
        if algorithm not in {"RS256", "PS256"}:
            raise malformed
        certificate, thumbprint = self._assertion_certificate(application, header)
        if certificate is None:
            raise OAuthError(
                "invalid_client",
                700027,
                "The certificate with identifier used to sign the client assertion is not "
                "registered on application. [Reason - The key was not found., Thumbprint of "
                f"key used by client: '{thumbprint}', Please visit the Azure Portal to see "
                f"configured keys for app Id '{client_id}'.]",
                status=401,
            )
        now = _now()
        if certificate.not_valid_after_utc <= now:
            raise OAuthError(
                "invalid_client",
                700027,
                "Client assertion failed signature validation. [Reason - The key used is "
                f"expired., Thumbprint of key used by client: '{thumbprint}']",
                status=401,
            )
        public_key = certificate.public_key()
        if not isinstance(public_key, rsa.RSAPublicKey):
            raise malformed
        pad: padding.AsymmetricPadding = (
            padding.PKCS1v15()
            if algorithm == "RS256"
            else padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO)
        )
        try:
            public_key.verify(signature, f"{parts[0]}.{parts[1]}".encode(), pad, hashes.SHA256())
        except InvalidSignature as exc:
            raise OAuthError(
                "invalid_client",
                700027,
                "Client assertion contains an invalid signature.",
                status=401,
            ) from exc
        if claims.get("iss") != client_id or claims.get("sub") != client_id:
            raise OAuthError(
                "invalid_client",
                700021,
                "Client assertion application identifier doesn't match 'client_id' parameter.",
                status=401,
            )
        if claims.get("aud") != self.token_endpoint:
            raise OAuthError(
                "invalid_client",
                700023,
                "Client assertion audience claim does not match Realm issuer.",
                status=401,
            )
        try:
            expires = datetime.fromtimestamp(float(claims["exp"]), UTC)
            not_before = datetime.fromtimestamp(float(claims.get("nbf", 0)), UTC)
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise malformed from exc
        if expires + CLOCK_SKEW <= now or not_before - CLOCK_SKEW > now:
            raise OAuthError(
                "invalid_client",
                700024,
                f"Client assertion is not within its valid time range. Current time: "
                f"{now:%Y-%m-%dT%H:%M:%SZ}, assertion valid from {not_before:%Y-%m-%dT%H:%M:%SZ}, "
                f"expiry time of assertion {expires:%Y-%m-%dT%H:%M:%SZ}.",
                status=401,
            )

    @staticmethod
    def _assertion_certificate(
        application: _Application, header: Mapping[str, Any]
    ) -> tuple[x509.Certificate | None, str]:
        """The registered certificate the header names (x5t: SHA-1, x5t#S256: SHA-256)."""
        try:
            if header.get("x5t#S256"):
                wanted = _b64url_decode(str(header["x5t#S256"]))
                for thumbprint, certificate in application.certificates.items():
                    if certificate.fingerprint(hashes.SHA256()) == wanted:
                        return certificate, thumbprint
                return None, wanted.hex().upper()
            thumbprint = _b64url_decode(str(header.get("x5t", ""))).hex().upper()
        except ValueError:
            return None, ""
        return application.certificates.get(thumbprint), thumbprint

    def _grant_client_credentials(
        self, application: _Application, form: Mapping[str, str]
    ) -> dict[str, Any]:
        scopes = [s for s in _split_scopes(form.get("scope")) if s not in OIDC_SCOPES]
        if len(scopes) != 1 or not scopes[0].endswith("/.default"):
            raise OAuthError(
                "invalid_scope",
                1002012,
                f"The provided value for scope {' '.join(scopes)} is not valid. Client "
                "credential flows must have a scope value with /.default suffixed to the "
                "resource identifier (application ID URI).",
            )
        audience = scopes[0].removesuffix("/.default")
        info = TokenInfo(
            client_id=application.client_id,
            user=None,
            roles=application.roles,
            scopes=frozenset(),
            expires_at=_now() + self.access_token_lifetime,
            audience=audience,
        )
        return self._access_token_reply(info)

    def _grant_authorization_code(
        self, application: _Application, form: Mapping[str, str]
    ) -> dict[str, Any]:
        code = self._redeem_code(application.client_id, form)
        user = self._active_user(code.user)
        nonce = code.nonce
        return self._delegated_reply(application, user, code.scopes, form, nonce=nonce)

    def _redeem_code(self, client_id: str, form: Mapping[str, str]) -> _AuthCode:
        invalid = OAuthError(
            "invalid_grant", 70000, "The provided value for the 'code' parameter is not valid."
        )
        with self._lock:
            code = self._codes.get(form.get("code", ""))
            if code is None or code.client_id != client_id:
                raise invalid
            already_redeemed, code.redeemed = code.redeemed, True  # single use, even on failure
        if already_redeemed:
            raise OAuthError(
                "invalid_grant", 54005, "OAuth2 Authorization code was already redeemed."
            )
        if code.expires_at <= _now():
            raise OAuthError(
                "invalid_grant",
                70008,
                "The provided authorization code or refresh token has expired due to inactivity.",
            )
        if form.get("redirect_uri", "") != code.redirect_uri:
            raise OAuthError(
                "invalid_grant",
                50011,
                "The redirect URI specified in the request does not match the redirect URI "
                "used in the authorization request.",
            )
        if code.code_challenge is not None and not _pkce_matches(
            form.get("code_verifier", ""), code.code_challenge, code.code_challenge_method
        ):
            raise OAuthError(
                "invalid_grant",
                501481,
                "The Code_Verifier does not match the code_challenge supplied in the "
                "authorization request.",
            )
        return code

    def _grant_refresh_token(
        self, application: _Application, form: Mapping[str, str]
    ) -> dict[str, Any]:
        with self._lock:
            stored = self._refresh_tokens.get(form.get("refresh_token", ""))
        if stored is None or stored.client_id != application.client_id:
            raise OAuthError(
                "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid."
            )
        if stored.expires_at <= _now():
            raise OAuthError(
                "invalid_grant",
                700082,
                "The refresh token has expired due to inactivity.",
            )
        user = self._active_user(stored.user)
        if user.credentials_changed_at > stored.issued_at:
            raise OAuthError(
                "invalid_grant",
                50173,
                "The provided grant has expired due to it being revoked, a fresh auth token is "
                "needed. The user might have changed or reset their password.",
            )
        requested = _split_scopes(form.get("scope")) or stored.scopes
        added = {s for s in requested if s not in OIDC_SCOPES} - set(stored.scopes)
        if added:
            raise OAuthError(
                "invalid_grant",
                65001,
                "The user or administrator has not consented to use the application for "
                f"{' '.join(sorted(added))}.",
            )
        return self._delegated_reply(application, user, requested, form, nonce=None)

    def _active_user(self, email: str) -> _User:
        with self._lock:
            user = self._users.get(email.lower())
            user = replace(user) if user is not None else None
        if user is None:
            raise OAuthError(
                "invalid_grant",
                50034,
                "The user account does not exist in the directory.",
            )
        if user.locked:
            raise OAuthError(
                "invalid_grant",
                50053,
                "Your account is locked because the user tried to sign in too many times with "
                "an incorrect user ID or password.",
            )
        return user

    def _access_token_reply(self, info: TokenInfo) -> dict[str, Any]:
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._access_tokens[token] = info
        lifetime = int((info.expires_at - _now()).total_seconds())
        return {
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": token,
        }

    def _delegated_reply(
        self,
        application: _Application,
        user: _User,
        requested: tuple[str, ...],
        form: Mapping[str, str],
        *,
        nonce: str | None,
    ) -> dict[str, Any]:
        resource_scopes = tuple(s for s in requested if s not in OIDC_SCOPES)
        audience = self._single_audience(resource_scopes)
        info = TokenInfo(
            client_id=application.client_id,
            user=user.email,
            roles=frozenset(),
            scopes=frozenset(_resource_and_name(s)[1] for s in resource_scopes),
            expires_at=_now() + self.access_token_lifetime,
            audience=audience,
        )
        reply = self._access_token_reply(info)
        reply["scope"] = " ".join(resource_scopes)
        if "offline_access" in requested:
            reply["refresh_token"] = self._new_refresh_token(application, user, requested)
        if "openid" in requested:
            reply["id_token"] = self._id_token(application, user, requested, nonce)
        if form.get("client_info") == "1":  # msal asks for it to key its token cache
            reply["client_info"] = _b64url_json({"uid": user.object_id, "utid": self.tenant_id})
        return reply

    @staticmethod
    def _single_audience(resource_scopes: tuple[str, ...]) -> str:
        audiences = {_resource_and_name(s)[0] for s in resource_scopes} or {GRAPH_RESOURCE}
        if len(audiences) > 1:
            raise OAuthError(
                "invalid_scope",
                28000,
                "Provided value for the input parameter scope is not valid because it contains "
                "more than one resource.",
            )
        return audiences.pop()

    def _new_refresh_token(
        self, application: _Application, user: _User, scopes: tuple[str, ...]
    ) -> str:
        token = secrets.token_urlsafe(48)
        now = _now()
        with self._lock:
            self._refresh_tokens[token] = _RefreshToken(
                client_id=application.client_id,
                user=user.email,
                scopes=scopes,
                issued_at=now,
                expires_at=now + REFRESH_TOKEN_LIFETIME,
            )
        return token

    def _id_token(
        self,
        application: _Application,
        user: _User,
        scopes: tuple[str, ...],
        nonce: str | None,
    ) -> str:
        now = int(_now().timestamp())
        # Entra's "sub" is pairwise: stable per user and app, different between apps.
        subject = _b64url(
            hashlib.sha256(f"{user.object_id}:{application.client_id}".encode()).digest()
        )
        claims: dict[str, Any] = {
            "aud": application.client_id,
            "iss": self.issuer,
            "iat": now,
            "nbf": now,
            "exp": now + int(ID_TOKEN_LIFETIME.total_seconds()),
            "name": user.email.partition("@")[0],
            "oid": user.object_id,
            "preferred_username": user.email,
            "sub": subject,
            "tid": self.tenant_id,
            "ver": "2.0",
        }
        if "email" in scopes:
            claims["email"] = user.email
        if nonce:
            claims["nonce"] = nonce
        return self._signer.sign(claims)

    # authorization endpoint

    def _parse_auth_request(self, query: Mapping[str, str]) -> _AuthRequest:
        """Validate what the app sent; errors here are shown, never redirected (as in Entra)."""
        client_id = query.get("client_id", "")
        with self._lock:
            application = self._applications.get(client_id)
            application = replace(application) if application else None
        if application is None:
            raise OAuthError(
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory "
                f"'{self.tenant}'.",
            )
        redirect_uri = query.get("redirect_uri", "")
        if redirect_uri not in application.redirect_uris:
            raise OAuthError(
                "invalid_request",
                50011,
                f"The redirect URI '{redirect_uri}' specified in the request does not match the "
                f"redirect URIs configured for the application '{client_id}'.",
            )
        if query.get("response_type") != "code":
            raise OAuthError(
                "unsupported_response_type", 9002339, "Only response_type=code is supported."
            )
        method = query.get("code_challenge_method") or "plain"
        if method not in {"S256", "plain"}:
            raise OAuthError(
                "invalid_request", 501491, f"Invalid code_challenge_method '{method}'."
            )
        response_mode = query.get("response_mode") or "query"
        if response_mode not in {"query", "form_post"}:
            raise OAuthError(
                "invalid_request", 900144, f"Unsupported response_mode '{response_mode}'."
            )
        scopes = _split_scopes(query.get("scope"))
        if not scopes:
            raise OAuthError(
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'scope'.",
            )
        self._single_audience(tuple(s for s in scopes if s not in OIDC_SCOPES))
        return _AuthRequest(
            application=application,
            redirect_uri=redirect_uri,
            scopes=scopes,
            state=query.get("state"),
            nonce=query.get("nonce"),
            code_challenge=query.get("code_challenge") or None,
            code_challenge_method=method,
            response_mode=response_mode,
            login_hint=query.get("login_hint", ""),
            wants_client_info=query.get("client_info") == "1",
        )

    def _check_login(self, email: str, password: str) -> _User:
        with self._lock:
            user = self._users.get(email.lower())
            user = replace(user) if user is not None else None
        if user is None:
            raise OAuthError(
                "invalid_grant",
                50034,
                "The user account does not exist in the directory. To sign into this "
                "application, the account must be added to the directory.",
                status=401,
            )
        if not _same_secret(password, user.password):
            raise OAuthError(
                "invalid_grant",
                50126,
                "Error validating credentials due to invalid username or password.",
                status=401,
            )
        if user.locked:
            raise OAuthError(
                "invalid_grant",
                50053,
                "Your account is locked. Contact your administrator.",
                status=403,
            )
        return user

    def _issue_code(self, request: _AuthRequest, user: _User) -> dict[str, str]:
        code = secrets.token_urlsafe(48)
        with self._lock:
            self._codes[code] = _AuthCode(
                client_id=request.application.client_id,
                user=user.email,
                redirect_uri=request.redirect_uri,
                scopes=request.scopes,
                nonce=request.nonce,
                code_challenge=request.code_challenge,
                code_challenge_method=request.code_challenge_method,
                expires_at=_now() + AUTH_CODE_LIFETIME,
            )
        params = {"code": code}
        if request.state is not None:
            params["state"] = request.state
        params["session_state"] = str(uuid.uuid4())
        if request.wants_client_info:
            params["client_info"] = _b64url_json({"uid": user.object_id, "utid": self.tenant_id})
        return params


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class _HiddenInputs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "input" and values.get("type") == "hidden" and values.get("name"):
            self.fields[values["name"] or ""] = values.get("value") or ""


def _form_post_fields(page: str) -> dict[str, str]:
    parser = _HiddenInputs()
    parser.feed(page)
    return parser.fields


def _alert_text(page: str) -> str:
    start = page.find('role="alert">')
    if start < 0:
        return ""
    start += len('role="alert">')
    return html.unescape(page[start : page.find("</p>", start)])


_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>{title}</title></head>
<body><main>
{body}
</main></body>
</html>
"""

_LOGIN_FORM = """<h1>Sign in</h1>
<p>Application: {client_id}</p>
{alert}
<form method="post" action="{action}">
  <p><label for="login">Email address</label>
     <input id="login" name="login" type="email" autocomplete="username" value="{login}"
            required></p>
  <p><label for="passwd">Password</label>
     <input id="passwd" name="passwd" type="password" autocomplete="current-password"
            required></p>
  <p><button type="submit">Sign in</button></p>
</form>"""

_FORM_POST = """<h1>Signing in…</h1>
<form method="post" action="{action}" id="response">
{fields}
<noscript><button type="submit">Continue</button></noscript>
</form>
<script>document.getElementById("response").submit();</script>"""


class _Handler(BaseHTTPRequestHandler):
    # Headers and body go out in separate sends; without TCP_NODELAY every response waits
    # ~40 ms for the client's delayed ACK, which would dwarf the latency we simulate.
    disable_nagle_algorithm = True
    protocol_version = "HTTP/1.1"
    server_version = "EntraSimulator/1.0"
    sys_version = ""
    routes: ClassVar[dict[str, str]] = {
        "v2.0/.well-known/openid-configuration": "openid-configuration",
        "discovery/v2.0/keys": "keys",
        "oauth2/v2.0/token": "token",
        "oauth2/v2.0/authorize": "authorize",
    }

    @property
    def idp(self) -> IdentityProvider:
        return self.server.idp  # type: ignore[attr-defined,no-any-return]

    def log_message(self, format: str, *args: Any) -> None:
        # The default prints request lines, whose query strings hold codes and states.
        pass

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        body = self._read_body()
        parts = urlsplit(self.path)
        if parts.path == "/favicon.ico":
            # login.microsoftonline.com has an icon; a browser asks for it on the sign-in page.
            self._send_favicon()
            return
        tenant, _, rest = parts.path.lstrip("/").partition("/")
        endpoint = self.routes.get(rest, "unknown")
        if endpoint == "unknown" or not self.idp._knows_tenant(tenant):
            self._not_found(endpoint, tenant)
            return
        query = _single_values(parse_qs(parts.query))
        form = _single_values(parse_qs(body.decode("utf-8", "replace")))
        if endpoint == "token" and method == "POST":
            self._token(form)
        elif endpoint == "authorize":
            self._authorize(method, query, form)
        elif endpoint == "openid-configuration" and method == "GET":
            self.idp._record(endpoint)
            self._json(200, self.idp._openid_configuration())
        elif endpoint == "keys" and method == "GET":
            self.idp._record(endpoint)
            self._json(200, self.idp._jwks())
        else:
            self._send(405, b"", "text/plain", {"Allow": "POST" if endpoint == "token" else "GET"})

    def _send_favicon(self) -> None:
        icon = (
            b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 2 2">'
            b'<path fill="#f25022" d="M0 0h1v1H0z"/><path fill="#7fba00" d="M1 0h1v1H1z"/>'
            b'<path fill="#00a4ef" d="M0 1h1v1H0z"/><path fill="#ffb900" d="M1 1h1v1H1z"/></svg>'
        )
        self._send(200, icon, "image/svg+xml")

    def _not_found(self, endpoint: str, tenant: str) -> None:
        if endpoint == "unknown":
            self.idp._record("unknown", outcome="not_found")
            self._send(404, b"Not found", "text/plain")
            return
        error = OAuthError(
            "invalid_tenant",
            90002,
            f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID.",
        )
        self.idp._record(endpoint, error=error)
        self._json(400, self._error_body(error))

    def _token(self, form: dict[str, str]) -> None:
        basic_auth = self._basic_auth()
        grant_type = form.get("grant_type")
        client_id = basic_auth[0] if basic_auth else form.get("client_id")
        try:
            reply = self.idp._token(form, basic_auth)
        except OAuthError as error:
            self.idp._record("token", grant_type=grant_type, client_id=client_id, error=error)
            self._json(error.status, self._error_body(error))
            return
        user = self.idp.validate_access_token(reply["access_token"])
        self.idp._record(
            "token", grant_type=grant_type, client_id=client_id, user=user and user.user
        )
        self._json(200, reply)

    def _authorize(self, method: str, query: dict[str, str], form: dict[str, str]) -> None:
        client_id = query.get("client_id")
        try:
            request = self.idp._parse_auth_request(query)
        except OAuthError as error:
            self.idp._record("authorize", client_id=client_id, error=error)
            self._page(error.status, "Sign in", f'<p role="alert">{html.escape(str(error))}</p>')
            return
        if method == "GET":
            self.idp._record("authorize", client_id=client_id)
            self._login_form(200, request, request.login_hint, None)
            return
        email = form.get("login", "")
        try:
            user = self.idp._check_login(email, form.get("passwd", ""))
        except OAuthError as error:
            self.idp._record("authorize", client_id=client_id, user=email, error=error)
            self._login_form(error.status, request, email, str(error))
            return
        self.idp._record("authorize", client_id=client_id, user=user.email)
        self._respond_with_code(request, self.idp._issue_code(request, user))

    def _respond_with_code(self, request: _AuthRequest, params: dict[str, str]) -> None:
        if request.response_mode == "form_post":
            fields = "\n".join(
                f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                for k, v in params.items()
            )
            body = _FORM_POST.format(action=html.escape(request.redirect_uri), fields=fields)
            self._page(200, "Signing in", body)
            return
        separator = "&" if urlsplit(request.redirect_uri).query else "?"
        location = f"{request.redirect_uri}{separator}{urlencode(params)}"
        self._send(302, b"", "text/plain", {"Location": location})

    def _login_form(
        self, status: int, request: _AuthRequest, login: str, alert: str | None
    ) -> None:
        body = _LOGIN_FORM.format(
            client_id=html.escape(request.application.client_id),
            alert=f'<p role="alert">{html.escape(alert)}</p>' if alert else "",
            action=html.escape(self.path),  # same URL, so the request parameters come back
            login=html.escape(login),
        )
        self._page(status, "Sign in to your account", body)

    def _basic_auth(self) -> tuple[str, str] | None:
        scheme, _, value = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except ValueError:
            return None
        client_id, _, secret = decoded.partition(":")
        return client_id, secret

    def _error_body(self, error: OAuthError) -> dict[str, Any]:
        now = _now()
        trace_id = str(uuid.uuid4())
        correlation_id = self.headers.get("client-request-id") or str(uuid.uuid4())
        stamp = now.strftime("%Y-%m-%d %H:%M:%SZ")
        return {
            "error": error.error,
            "error_description": (
                f"{error}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\n"
                f"Timestamp: {stamp}"
            ),
            "error_codes": [error.code],
            "timestamp": stamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": f"{self.idp.base_url}/error?code={error.code}",
        }

    def _read_body(self) -> bytes:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        if length > _MAX_BODY:
            # The rest of an oversized body would be read as the next request: drop the connection.
            self.close_connection = True
        return self.rfile.read(min(length, _MAX_BODY)) if length > 0 else b""

    def _json(self, status: int, payload: Mapping[str, Any]) -> None:
        body = json.dumps(payload).encode()
        self._send(status, body, "application/json; charset=utf-8")

    def _page(self, status: int, title: str, body: str) -> None:
        page = _PAGE.format(title=html.escape(title), body=body).encode()
        self._send(status, page, "text/html; charset=utf-8")

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str,
        extra_headers: Mapping[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")  # token replies must never be cached
        self.send_header("Pragma", "no-cache")
        for name, value in (extra_headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


def _single_values(parsed: dict[str, list[str]]) -> dict[str, str]:
    return {key: values[0] for key, values in parsed.items()}


__all__ = [
    "IdentityProvider",
    "LoginRefused",
    "OAuthError",
    "RequestLogEntry",
    "TokenInfo",
]
