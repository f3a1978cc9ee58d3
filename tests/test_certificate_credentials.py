"""App-only OAuth with a certificate instead of a client secret (issue 18), over real HTTPS:
msal signs a client assertion with the connection's private key, the simulator's identity
provider checks it against the certificate uploaded to the app registration, and Graph
answers with that token. Nothing here mocks msal, requests or Graph.

The admin adds the connection with a PEM (key and certificate), sees its thumbprint and
expiry (never the key), and rotates it through "Rotate certificate": the new one is tried
against the identity provider first, saved after, and used by every process at once.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.views.debug import ExceptionReporter

from calendars import connect, oauth
from calendars.backends.base import CalendarTarget
from calendars.backends.graph import GraphBackend, forget_connection
from calendars.errors import AuthenticationFailed
from calendars.models import (
    AuthType,
    ConnectionKind,
    CredentialRotation,
    ExchangeConnection,
    Protocol,
    RotationResult,
)
from calendars.simulator import Simulator
from calendars.simulator.idp import IdentityProvider

pytestmark = pytest.mark.django_db

MONDAY = datetime(2027, 3, 1, tzinfo=UTC)


class Certificate:
    """A self-signed certificate with its RSA key, as `openssl req -x509` makes one."""

    def __init__(
        self, days: int = 365, key: Any = None, *, encrypt_with: bytes | None = None
    ) -> None:
        self.key = key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Booking app")])
        now = datetime.now(UTC)
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=abs(days) + 1))
            .not_valid_after(now + timedelta(days=days))
            .sign(self.key, hashes.SHA256())
        )
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(encrypt_with)
            if encrypt_with
            else serialization.NoEncryption()
        )
        self.key_pem = self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        ).decode()
        self.cert_pem = self.certificate.public_bytes(serialization.Encoding.PEM).decode()
        self.thumbprint = self.certificate.fingerprint(hashes.SHA1()).hex().upper()  # noqa: S303

    @property
    def pem(self) -> str:
        return self.key_pem + self.cert_pem

    def key_lines(self) -> list[str]:
        """Pieces of the key's base64 body: none may show up anywhere."""
        body = [line for line in self.key_pem.splitlines() if not line.startswith("-----")]
        return body[1:-1]


def assert_no_key(text: str, *certificates: Certificate) -> None:
    for certificate in certificates:
        for line in certificate.key_lines():
            assert line not in text


@pytest.fixture(autouse=True)
def sim(graph_tls: Simulator) -> Simulator:
    return graph_tls


def mailbox(sim: Simulator, name: str) -> str:
    email = f"{name}-{uuid.uuid4().hex[:8]}@contoso.example"
    sim.add_mailbox(email, name.title(), f"pw-{email}")
    return email


class App:
    """An app registration with a certificate (no secret), granted Graph's application
    Calendars.ReadWrite."""

    def __init__(self, idp: IdentityProvider) -> None:
        self.client_id = str(uuid.uuid4())
        self.certificate = Certificate()
        idp.register_application(
            self.client_id, roles=["Calendars.ReadWrite"], certificates=[self.certificate.cert_pem]
        )


@pytest.fixture
def app(idp: IdentityProvider) -> App:
    return App(idp)


def app_only(
    sim: Simulator,
    idp: IdentityProvider,
    app: App,
    certificate: Certificate | None = None,
    *,
    save: bool = True,
) -> ExchangeConnection:
    """The corporate connection (there is one), or an unsaved one beside it."""
    parsed = oauth.parse_client_certificate((certificate or app.certificate).pem)
    conn = ExchangeConnection(
        kind=ConnectionKind.CORPORATE,
        email=mailbox(sim, "booking-sync"),
        protocol=Protocol.GRAPH,
        auth_type=AuthType.OAUTH_APP,
        oauth_authority=idp.authority,
        oauth_client_id=app.client_id,
        oauth_client_certificate=parsed.stored,
        oauth_certificate_thumbprint=parsed.thumbprint,
        oauth_certificate_expires_on=parsed.expires_on,
    )
    if save:
        conn.save()
    return conn


@pytest.fixture
def admin(django_user_model: type[User]) -> Client:
    client = Client()
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.org"))
    return client


def rotate_url(conn: ExchangeConnection) -> str:
    return reverse("admin:calendars_exchangeconnection_rotate", args=[conn.pk])


def change_url(conn: ExchangeConnection) -> str:
    return reverse("admin:calendars_exchangeconnection_change", args=[conn.pk])


# --- signing in with the certificate -------------------------------------------------------


def test_a_certificate_connection_verifies_and_reads_busy_time(
    sim: Simulator, idp: IdentityProvider, app: App
) -> None:
    conn = app_only(sim, idp, app)
    owner = mailbox(sim, "alice")
    sim.add_event(owner, MONDAY + timedelta(hours=9), MONDAY + timedelta(hours=10))

    assert connect.verify(conn) is None
    target = CalendarTarget(owner)
    (busy,) = GraphBackend(conn).busy([target], MONDAY, MONDAY + timedelta(days=1))[target]

    assert busy.start == MONDAY + timedelta(hours=9)
    tokens = [e for e in idp.request_log if e.client_id == app.client_id]
    assert tokens and all(e.outcome == "success" for e in tokens)
    forget_connection(conn.pk)


def test_a_certificate_the_app_registration_does_not_have_fails_clearly(
    sim: Simulator, idp: IdentityProvider, app: App
) -> None:
    stranger = Certificate()
    conn = app_only(sim, idp, app, certificate=stranger)

    with pytest.raises(AuthenticationFailed) as err:
        GraphBackend(conn).verify()

    assert "not (or no longer) uploaded to the app registration" in err.value.message
    assert err.value.detail == "AADSTS700027"
    assert_no_key(f"{err.value.message} {err.value.detail}", stranger)


def test_a_certificate_removed_from_the_app_fails_once_its_token_is_refused(
    sim: Simulator, idp: IdentityProvider, app: App
) -> None:
    conn = app_only(sim, idp, app)
    backend = GraphBackend(conn)
    backend.verify()

    idp.remove_client_certificate(app.client_id, app.certificate.thumbprint)
    idp.expire_tokens()  # the cached token is refused: a fresh one is asked for, and refused

    with pytest.raises(AuthenticationFailed) as err:
        backend.verify()
    assert err.value.detail == "AADSTS700027"
    forget_connection(conn.pk)


# --- rotation ----------------------------------------------------------------------------


def test_rotating_is_verified_first_applies_at_once_and_the_old_certificate_then_fails(
    sim: Simulator, idp: IdentityProvider, app: App
) -> None:
    conn = app_only(sim, idp, app)
    assert connect.verify(conn) is None
    version = conn.credential_version
    stored = conn.oauth_client_certificate

    # A certificate the app registration doesn't know is refused and not saved.
    unknown = Certificate()
    with pytest.raises(AuthenticationFailed):
        connect.rotate_secret(conn, unknown.pem, None)
    conn.refresh_from_db()
    assert conn.oauth_client_certificate == stored and conn.credential_version == version
    assert connect.verify(conn) is None

    # The admin uploads the new certificate to the app registration, then rotates here.
    new = Certificate(days=200)
    idp.add_client_certificate(app.client_id, new.cert_pem)
    rotation = connect.rotate_secret(conn, new.pem, None)

    assert rotation.result == RotationResult.VERIFIED and rotation.what == "certificate"
    conn.refresh_from_db()
    assert conn.oauth_certificate_thumbprint == new.thumbprint
    assert conn.oauth_certificate_expires_on == new.certificate.not_valid_after_utc.date()
    assert conn.credential_version == version + 1
    # Every process compares credential versions: a copy loaded now signs with the new key,
    # and keeps working once the old certificate is deleted from the app registration.
    idp.remove_client_certificate(app.client_id, app.certificate.thumbprint)
    idp.expire_tokens()
    fresh = ExchangeConnection.objects.get(pk=conn.pk)
    assert connect.verify(fresh) is None
    # The old certificate no longer signs anyone in.
    old = app_only(sim, idp, app, save=False)
    with pytest.raises(AuthenticationFailed):
        GraphBackend(old).verify()
    results = {r.result for r in CredentialRotation.objects.filter(connection=conn)}
    assert results == {RotationResult.REJECTED, RotationResult.VERIFIED}


def test_rotate_certificate_in_admin_uploads_a_file_and_never_shows_the_key(
    sim: Simulator, idp: IdentityProvider, app: App, admin: Client
) -> None:
    conn = app_only(sim, idp, app)
    changelist = admin.get(reverse("admin:calendars_exchangeconnection_changelist"))
    assert f'<a href="{rotate_url(conn)}">Rotate certificate</a>' in changelist.content.decode()

    unknown = Certificate()
    refused = admin.post(rotate_url(conn), {"new_secret": unknown.pem})
    assert "Entra ID refused the certificate" in refused.content.decode()
    assert_no_key(refused.content.decode(), unknown, app.certificate)

    new = Certificate()
    idp.add_client_certificate(app.client_id, new.cert_pem)
    upload = SimpleUploadedFile("booking.pem", new.pem.encode(), "application/x-pem-file")
    done = admin.post(rotate_url(conn), {"new_certificate_file": upload}, follow=True)

    assert done.status_code == 200
    conn.refresh_from_db()
    assert conn.oauth_certificate_thumbprint == new.thumbprint
    page = done.content.decode()
    assert new.thumbprint in page
    assert_no_key(page, new, app.certificate)


@pytest.mark.parametrize(
    ("pem", "message"),
    [
        (lambda c: c.cert_pem, "The PEM has no private key"),
        (lambda c: Certificate().key_pem + c.cert_pem, "does not belong to the certificate"),
        (lambda c: Certificate(encrypt_with=b"pass phrase").pem, "protected by a passphrase"),
        (lambda c: Certificate(days=-1).pem, "The certificate expired on"),
        (lambda c: "not a certificate", "No certificate found"),
        (
            lambda c: Certificate(key=ec.generate_private_key(ec.SECP256R1())).pem,
            "not an RSA key",
        ),
    ],
)
def test_an_unusable_pem_is_refused_at_the_rotate_form_and_nothing_is_saved(
    sim: Simulator, idp: IdentityProvider, app: App, admin: Client, pem: Any, message: str
) -> None:
    conn = app_only(sim, idp, app)
    version, stored = conn.credential_version, conn.oauth_client_certificate
    requests_before = len(idp.request_log)

    response = admin.post(rotate_url(conn), {"new_secret": pem(app.certificate)})

    assert response.status_code == 400
    assert message in response.content.decode()
    conn.refresh_from_db()
    assert (conn.credential_version, conn.oauth_client_certificate) == (version, stored)
    assert not CredentialRotation.objects.filter(connection=conn).exists()
    assert len(idp.request_log) == requests_before  # refused before asking anyone


# --- the add form and the change page -------------------------------------------------------


def add_form(sim: Simulator, idp: IdentityProvider, app: App, **fields: Any) -> dict[str, Any]:
    return {
        "kind": ConnectionKind.CORPORATE,
        "email": mailbox(sim, "booking-sync"),
        "auth_type": AuthType.OAUTH_APP,
        "protocol": Protocol.GRAPH,
        "exchange_version": "auto",
        "oauth_authority": idp.authority,
        "oauth_client_id": app.client_id,
        **fields,
    }


def test_the_add_form_takes_a_certificate_instead_of_a_secret_and_it_works(
    sim: Simulator, idp: IdentityProvider, app: App, admin: Client
) -> None:
    form = admin.get(reverse("admin:calendars_exchangeconnection_add")).content.decode()
    assert 'name="new_certificate"' in form and 'enctype="multipart/form-data"' in form

    response = admin.post(
        reverse("admin:calendars_exchangeconnection_add"),
        add_form(sim, idp, app, new_certificate=app.certificate.pem),
    )

    assert response.status_code == 302
    conn = ExchangeConnection.objects.get(oauth_client_id=app.client_id)
    assert conn.oauth_client_secret == ""
    assert conn.oauth_certificate_thumbprint == app.certificate.thumbprint
    assert connect.verify(conn) is None
    page = admin.get(change_url(conn)).content.decode()
    assert app.certificate.thumbprint in page
    assert f"{app.certificate.certificate.not_valid_after_utc.date():%d %B %Y}" in page
    assert "Rotate certificate" in page
    assert_no_key(page, app.certificate)
    forget_connection(conn.pk)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"new_certificate": "CERT"}, "The PEM has no private key"),
        ({"new_certificate": "MISMATCH"}, "does not belong to the certificate"),
        ({"new_certificate": "EXPIRED"}, "The certificate expired on"),
        ({"new_certificate": "PEM", "new_secret": "a-secret"}, "not both"),
    ],
)
def test_the_add_form_refuses_an_unusable_certificate_and_saves_nothing(
    sim: Simulator, idp: IdentityProvider, app: App, admin: Client, fields: Any, message: str
) -> None:
    values = {
        "CERT": app.certificate.cert_pem,
        "MISMATCH": Certificate().key_pem + app.certificate.cert_pem,
        "EXPIRED": Certificate(days=-1).pem,
        "PEM": app.certificate.pem,
    }
    posted = {k: values.get(v, v) for k, v in fields.items()}

    response = admin.post(
        reverse("admin:calendars_exchangeconnection_add"), add_form(sim, idp, app, **posted)
    )

    assert response.status_code == 400
    page = response.content.decode()
    assert message in page
    assert_no_key(page, app.certificate)  # the textarea is never filled in again
    assert not ExchangeConnection.objects.filter(oauth_client_id=app.client_id).exists()


def test_a_certificate_expiring_within_14_days_is_warned_about_on_the_change_page(
    sim: Simulator, idp: IdentityProvider, admin: Client
) -> None:
    app = App(idp)
    soon = Certificate(days=10)
    idp.add_client_certificate(app.client_id, soon.cert_pem)
    conn = app_only(sim, idp, app, certificate=soon)

    page = admin.get(change_url(conn)).content.decode()

    assert f"The OAuth certificate (thumbprint {soon.thumbprint}) expires on" in page
    conn.oauth_certificate_expires_on = date.today() + timedelta(days=20)
    conn.save()
    assert "The OAuth certificate" not in admin.get(change_url(conn)).content.decode()


def test_parsing_reads_thumbprint_and_expiry_from_key_and_certificate_in_either_order() -> None:
    certificate = Certificate(days=30)

    parsed = oauth.parse_client_certificate(certificate.cert_pem + certificate.key_pem)

    assert parsed.thumbprint == certificate.thumbprint
    assert parsed.expires_on == certificate.certificate.not_valid_after_utc.date()
    assert isinstance(parsed.expires_on, date)
    assert certificate.key_lines()[0] not in repr(parsed)


# --- the key stays out of logs and error reports ------------------------------------------


def test_the_key_is_in_no_log_line(
    sim: Simulator, idp: IdentityProvider, app: App, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    conn = app_only(sim, idp, app)
    new = Certificate()
    idp.add_client_certificate(app.client_id, new.cert_pem)

    assert connect.verify(conn) is None
    with pytest.raises(AuthenticationFailed):
        connect.rotate_secret(conn, Certificate().pem, None)
    connect.rotate_secret(conn, new.pem, None)

    assert_no_key(caplog.text, app.certificate, new)
    assert_no_key(repr(idp.request_log), app.certificate, new)


def test_a_failing_admin_add_with_a_certificate_reports_no_key(
    settings: Any,
    sim: Simulator,
    idp: IdentityProvider,
    app: App,
    django_user_model: type[User],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings.DEBUG = False

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the database broke")

    monkeypatch.setattr(ExchangeConnection, "save", broken)
    client = Client(raise_request_exception=False)
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.org"))

    response = client.post(
        reverse("admin:calendars_exchangeconnection_add"),
        add_form(sim, idp, app, new_certificate=app.certificate.pem),
    )

    assert response.status_code == 500
    reporter = ExceptionReporter(response.wsgi_request, *response.exc_info, is_email=True)
    report = reporter.get_traceback_text() + reporter.get_traceback_html()
    assert "RuntimeError" in report
    assert_no_key(report, app.certificate)


def test_a_failing_certificate_rotation_reports_no_key(
    settings: Any,
    sim: Simulator,
    idp: IdentityProvider,
    app: App,
    django_user_model: type[User],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings.DEBUG = False
    conn = app_only(sim, idp, app)
    new = Certificate()

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the Exchange client broke")

    monkeypatch.setattr("calendars.connect.backend_for", broken)
    client = Client(raise_request_exception=False)
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.org"))

    upload = SimpleUploadedFile("booking.pem", new.pem.encode())
    response = client.post(rotate_url(conn), {"new_certificate_file": upload})

    assert response.status_code == 500
    reporter = ExceptionReporter(response.wsgi_request, *response.exc_info, is_email=True)
    report = reporter.get_traceback_text() + reporter.get_traceback_html()
    assert "RuntimeError" in report
    assert_no_key(report, new, app.certificate)


def test_the_add_form_takes_the_pem_as_a_file_and_the_change_form_saves_without_it(
    sim: Simulator, idp: IdentityProvider, app: App, admin: Client
) -> None:
    upload = SimpleUploadedFile("booking.pem", app.certificate.pem.encode())
    added = admin.post(
        reverse("admin:calendars_exchangeconnection_add"),
        add_form(sim, idp, app, new_certificate_file=upload),
    )
    assert added.status_code == 302
    conn = ExchangeConnection.objects.get(oauth_client_id=app.client_id)
    version = conn.credential_version

    # Saving the change page (no key on it) keeps the certificate and every process' cache.
    page = admin.get(change_url(conn))
    form = page.context["adminform"].form
    data = {name: form[name].value() or "" for name in form.fields}
    for inline in page.context["inline_admin_formsets"]:
        prefix = inline.formset.prefix
        data |= {f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"}
    assert admin.post(change_url(conn), data).status_code == 302

    conn.refresh_from_db()
    assert conn.oauth_certificate_thumbprint == app.certificate.thumbprint
    assert conn.credential_version == version
    assert connect.verify(conn) is None
    forget_connection(conn.pk)


def test_an_expiring_certificate_is_on_the_admins_dashboard_and_mailed_to_them(
    sim: Simulator, idp: IdentityProvider, admin: Client, mailoutbox: list[Any], settings: Any
) -> None:
    from calendars.tasks import warn_expiring_client_secrets

    settings.ADMINS = [("Ada", "ada@contoso.example")]
    app = App(idp)
    soon = Certificate(days=10)
    idp.add_client_certificate(app.client_id, soon.cert_pem)
    app_only(sim, idp, app, certificate=soon)

    dashboard = admin.get("/dashboard/").content.decode()
    assert "OAuth certificate expires soon" in dashboard
    warn_expiring_client_secrets()
    [warning] = mailoutbox
    assert "OAuth certificate of" in warning.subject
    assert "Rotate certificate" in warning.body
    assert_no_key(warning.subject + warning.body + dashboard, soon)
